"""Importer for heaptrack's raw files (`heaptrack -r`, heaptrack 1.4 src/track/libheaptrack.cpp).

One hex line per record, no `0x`: `+ <size> <trace> <ptr>` (malloc/calloc/aligned variants:
requested size), `- <ptr>` (free), realloc as `- old` then `+ size trace new`, and a timer
thread's `c <elapsed ms>` every 10 ms. Other records (v, x, X, I, m, t, R, ...) describe the
process, modules and stacks and are skipped. No thread ids: every event runs on P 0. Plain,
gzip or zstd (`.raw.zst`) files are read as a stream.

Timestamps: an event gets the last `c` marker's time (ms -> ns), moved up by 1 ns per event
where needed so time is strictly increasing; the 10 ms markers keep it anchored to real time.
"""

from __future__ import annotations

import os

from goalloc.jit import kernel
from goalloc.trace.header import Header
from goalloc.trace.importers.text import (
    BAD_LINE,
    C_EVENTS,
    C_LINES,
    C_NOW_NS,
    C_REPLACED,
    C_UNKNOWN_FREES,
    N_SHARED,
    OK,
    emit_alloc,
    emit_free,
    line_end,
    parse_hex,
    run_import,
    skip_spaces,
)

C_MARKERS = N_SHARED
N_COUNTERS = N_SHARED + 1


@kernel
def _parse_block(buf, keys, vals, free_ids, ctr, cnt, kind, ids, size, ts):
    """Parse the whole lines of `buf`. Returns (status, events written, byte of a bad line)."""
    n = buf.shape[0]
    out = 0
    i = 0
    while i < n:
        end = line_end(buf, i)
        start = i
        cnt[C_LINES] += 1
        j = skip_spaces(buf, i, end)
        if j >= end:
            i = end + 1
            continue
        op = buf[j]
        j += 1
        if op == 43:  # '+' size trace ptr
            sz, j = parse_hex(buf, j, end, False)
            trace_index, j = parse_hex(buf, j, end, False)
            ptr, j = parse_hex(buf, j, end, False)
            if sz < 0 or trace_index < 0 or ptr < 0:
                return BAD_LINE, out, start
            out = emit_alloc(keys, vals, free_ids, ctr, cnt, ptr, sz, kind, ids, size, ts, out)
        elif op == 45:  # '-' ptr
            ptr, j = parse_hex(buf, j, end, False)
            if ptr < 0:
                return BAD_LINE, out, start
            out = emit_free(keys, vals, free_ids, ctr, cnt, ptr, kind, ids, size, ts, out)
        elif op == 99:  # 'c' elapsed ms
            ms, j = parse_hex(buf, j, end, False)
            if ms < 0:
                return BAD_LINE, out, start
            cnt[C_NOW_NS] = max(cnt[C_NOW_NS], ms * 1_000_000)
            cnt[C_MARKERS] += 1
        elif (65 <= op <= 90) or (97 <= op <= 122) or op == 35:
            pass  # a record about the process, modules, stacks or RSS; '#' comments
        else:
            return BAD_LINE, out, start
        i = end + 1
    return OK, out, 0


def import_heaptrack(src: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
                     codec: str = "raw", progress=None) -> dict:
    """Convert a heaptrack raw file to a goalloc trace; returns what could not be mapped."""
    header = Header(producer="goalloc import heaptrack", sizes="requested", frees="death",
                    gomaxprocs=1,
                    source={"recorder": "heaptrack -r", "file": os.path.basename(src)})
    cnt, amap = run_import(src, out, header, _parse_block, "a heaptrack raw", N_COUNTERS,
                           force=force, codec=codec, progress=progress)
    return {
        "lines": int(cnt[C_LINES]),
        "events": int(cnt[C_EVENTS]),
        "time_markers": int(cnt[C_MARKERS]),
        "unknown_frees": int(cnt[C_UNKNOWN_FREES]),
        "untraced_frees": int(cnt[C_REPLACED]),
        "live_at_end": int(amap.ctr[0]),
    }
