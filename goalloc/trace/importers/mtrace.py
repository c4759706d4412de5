"""Importer for glibc MALLOC_TRACE text (malloc/mtrace-impl.c, glibc 2.34+).

Lines: `@ caller + 0xPTR 0xSIZE` (malloc/calloc/memalign...), `@ caller - 0xPTR` (free),
`< 0xOLD` then `> 0xNEW 0xSIZE` (realloc: free + alloc), `! 0xOLD 0xSIZE` (failed realloc,
ignored), `= Start` / `= End`. No time and no thread: ts is the event ordinal (1 ns apart) and
every event runs on P 0. Sizes are exact requests; frees are deaths. Parsing is a numba kernel
over raw bytes, so the importer streams large files at tens of millions of lines a second.
"""

from __future__ import annotations

import os

import numpy as np

from goalloc.jit import kernel
from goalloc.trace import format as fmt
from goalloc.trace.addrmap import AddrMap, map_insert, map_remove
from goalloc.trace.header import Header
from goalloc.trace.importers.text import BAD, NIL, bad_line, line_blocks, parse_hex, skip_spaces
from goalloc.trace.writer import Writer

# Kernel status codes.
OK = 0
BAD_LINE = 1

# Counters (`cnt`): what the importer could not map, reported after the import.
C_LINES = 0
C_UNKNOWN_FREES = 1  # free of an address allocated before tracing started
C_REALLOC_FAILED = 2
C_NULL = 3  # failed malloc (NULL result)
C_REPLACED = 4  # alloc at an address that was live: its free was not traced
C_EVENTS = 5
N_COUNTERS = 6


@kernel
def _parse_block(buf, keys, vals, free_ids, ctr, cnt, kind, ids, size):
    """Parse the complete lines of `buf`. Returns (status, events written, byte of bad line)."""
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
        if j < end and buf[j] == 64:  # '@ caller-prefix ': skip to after the last ']'
            k = end - 1
            while k > j and buf[k] != 93:
                k -= 1
            if k == j:
                return BAD_LINE, out, start
            j = skip_spaces(buf, k + 1, end)
        if j >= end:
            i = end + 1
            continue  # blank line
        op = buf[j]
        j += 1
        if op == 61:  # '=' Start / End
            pass
        elif op == 43 or op == 62:  # '+' alloc, '>' realloc's new block
            ptr, j = parse_hex(buf, j, end, True)
            sz, j = parse_hex(buf, j, end, True)
            if ptr == BAD or sz < 0:
                return BAD_LINE, out, start
            if ptr == NIL:
                cnt[C_NULL] += 1
            else:
                oid, old = map_insert(keys, vals, free_ids, ctr, ptr)
                if old >= 0:
                    cnt[C_REPLACED] += 1
                    kind[out] = fmt.FREE
                    ids[out] = old
                    size[out] = 0
                    out += 1
                kind[out] = fmt.ALLOC
                ids[out] = oid
                size[out] = sz
                out += 1
        elif op == 45 or op == 60:  # '-' free, '<' realloc's old block
            ptr, j = parse_hex(buf, j, end, True)
            if ptr == BAD:
                return BAD_LINE, out, start
            if ptr != NIL:
                oid = map_remove(keys, vals, free_ids, ctr, ptr)
                if oid < 0:
                    cnt[C_UNKNOWN_FREES] += 1
                else:
                    kind[out] = fmt.FREE
                    ids[out] = oid
                    size[out] = 0
                    out += 1
        elif op == 33:  # '!' failed realloc: the old block stays
            cnt[C_REALLOC_FAILED] += 1
        else:
            return BAD_LINE, out, start
        i = end + 1
    cnt[C_EVENTS] += out
    return OK, out, 0


def import_mtrace(src: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
                  codec: str = "raw", progress=None) -> dict:
    """Convert a MALLOC_TRACE file to a goalloc trace; returns what could not be mapped."""
    header = Header(producer="goalloc import mtrace", sizes="requested", frees="death",
                    gomaxprocs=1, source={"recorder": "glibc mtrace", "file": os.path.basename(src)})
    amap = AddrMap()
    cnt = np.zeros(N_COUNTERS, np.int64)
    ts = 0
    with Writer(out, header, codec=codec, force=force) as w:
        for buf, chunk, offset in line_blocks(src):
            lines = int(np.count_nonzero(buf == 10)) + 1
            if amap.needs_grow(lines):
                amap.grow(lines)
            kind = np.empty(2 * lines, np.uint8)
            ids = np.empty(2 * lines, np.int64)
            size = np.empty(2 * lines, np.int64)
            first_line = int(cnt[C_LINES]) + 1
            status, n, bad_at = _parse_block(buf, amap.keys, amap.vals, amap.free_ids, amap.ctr,
                                             cnt, kind, ids, size)
            if status != OK:
                raise bad_line(src, "an mtrace", buf, chunk, bad_at, offset, first_line)
            w.write(kind=kind[:n], ts=np.arange(ts, ts + n, dtype=np.int64), id=ids[:n],
                    size=size[:n])
            ts += n
            if progress is not None:
                progress(len(buf))
    return {
        "lines": int(cnt[C_LINES]),
        "events": int(cnt[C_EVENTS]),
        "unknown_frees": int(cnt[C_UNKNOWN_FREES]),
        "failed_reallocs": int(cnt[C_REALLOC_FAILED]),
        "null_results": int(cnt[C_NULL]),
        "untraced_frees": int(cnt[C_REPLACED]),
        "live_at_end": int(amap.ctr[0]),
    }
