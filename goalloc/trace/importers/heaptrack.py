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

import numpy as np

from goalloc.jit import kernel
from goalloc.trace import format as fmt
from goalloc.trace.addrmap import AddrMap, map_insert, map_remove
from goalloc.trace.header import Header
from goalloc.trace.importers.text import BAD, bad_line, line_blocks, parse_hex, skip_spaces
from goalloc.trace.writer import Writer

OK = 0
BAD_LINE = 1

C_LINES = 0
C_UNKNOWN_FREES = 1  # free of an address allocated before tracing started
C_REPLACED = 2  # alloc at a live address: its free was not traced
C_EVENTS = 3
C_NOW_NS = 4  # time of the last `c` marker
C_LAST_TS = 5  # timestamp given to the last event
C_MARKERS = 6
N_COUNTERS = 7


@kernel
def _parse_block(buf, keys, vals, free_ids, ctr, cnt, kind, ids, size, ts):
    """Parse the whole lines of `buf`. Returns (status, events written, byte of a bad line)."""
    n = buf.shape[0]
    out = 0
    i = 0
    while i < n:
        end = i
        while end < n and buf[end] != 10:
            end += 1
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
            _trace, j = parse_hex(buf, j, end, False)
            ptr, j = parse_hex(buf, j, end, False)
            if sz < 0 or _trace < 0 or ptr < 0:
                return BAD_LINE, out, start
            oid, old = map_insert(keys, vals, free_ids, ctr, ptr)
            t = max(cnt[C_NOW_NS], cnt[C_LAST_TS] + 1)
            if old >= 0:
                cnt[C_REPLACED] += 1
                kind[out] = fmt.FREE
                ids[out] = old
                size[out] = 0
                ts[out] = t
                out += 1
            kind[out] = fmt.ALLOC
            ids[out] = oid
            size[out] = sz
            ts[out] = t
            cnt[C_LAST_TS] = t
            out += 1
        elif op == 45:  # '-' ptr
            ptr, j = parse_hex(buf, j, end, False)
            if ptr == BAD or ptr < 0:
                return BAD_LINE, out, start
            oid = map_remove(keys, vals, free_ids, ctr, ptr)
            if oid < 0:
                cnt[C_UNKNOWN_FREES] += 1
            else:
                t = max(cnt[C_NOW_NS], cnt[C_LAST_TS] + 1)
                kind[out] = fmt.FREE
                ids[out] = oid
                size[out] = 0
                ts[out] = t
                cnt[C_LAST_TS] = t
                out += 1
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
    cnt[C_EVENTS] += out
    return OK, out, 0


def import_heaptrack(src: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
                     codec: str = "raw", progress=None) -> dict:
    """Convert a heaptrack raw file to a goalloc trace; returns what could not be mapped."""
    header = Header(producer="goalloc import heaptrack", sizes="requested", frees="death",
                    gomaxprocs=1,
                    source={"recorder": "heaptrack -r", "file": os.path.basename(src)})
    amap = AddrMap()
    cnt = np.zeros(N_COUNTERS, np.int64)
    cnt[C_LAST_TS] = -1
    with Writer(out, header, codec=codec, force=force) as w:
        for buf, chunk, offset in line_blocks(src):
            lines = int(np.count_nonzero(buf == 10)) + 1
            if amap.needs_grow(lines):
                amap.grow(lines)
            kind = np.empty(2 * lines, np.uint8)
            ids = np.empty(2 * lines, np.int64)
            size = np.empty(2 * lines, np.int64)
            ts = np.empty(2 * lines, np.int64)
            first_line = int(cnt[C_LINES]) + 1
            status, n, bad_at = _parse_block(buf, amap.keys, amap.vals, amap.free_ids, amap.ctr,
                                             cnt, kind, ids, size, ts)
            if status != OK:
                raise bad_line(src, "a heaptrack raw", buf, chunk, bad_at, offset, first_line)
            w.write(kind=kind[:n], ts=ts[:n], id=ids[:n], size=size[:n])
            if progress is not None:
                progress(len(buf))
    return {
        "lines": int(cnt[C_LINES]),
        "events": int(cnt[C_EVENTS]),
        "time_markers": int(cnt[C_MARKERS]),
        "unknown_frees": int(cnt[C_UNKNOWN_FREES]),
        "untraced_frees": int(cnt[C_REPLACED]),
        "live_at_end": int(amap.ctr[0]),
    }
