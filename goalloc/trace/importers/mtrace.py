"""Importer for glibc MALLOC_TRACE text (malloc/mtrace-impl.c, glibc 2.34+).

Lines: `@ caller + 0xPTR 0xSIZE` (malloc/calloc/memalign...), `@ caller - 0xPTR` (free),
`< 0xOLD` then `> 0xNEW 0xSIZE` (realloc: free + alloc), `! 0xOLD 0xSIZE` (failed realloc,
ignored), `= Start` / `= End`. No time and no thread: ts is the event ordinal (1 ns apart) and
every event runs on P 0. Sizes are exact requests; frees are deaths. Parsing is a numba kernel
over raw bytes (goalloc/trace/importers/text.py holds the shared streaming and emitting).
"""

from __future__ import annotations

import os

import numpy as np

from goalloc.jit import kernel
from goalloc.trace.header import Header
from goalloc.trace.importers import text as tx
from goalloc.trace.sites import SiteTable

C_REALLOC_FAILED = tx.N_SHARED
C_NULL = tx.N_SHARED + 1  # failed malloc (NULL result)
N_COUNTERS = tx.N_SHARED + 2


@kernel
def _parse_block(buf, keys, vals, free_ids, ctr, cnt, kind, ids, size, ts, chash, cat, clen):
    """Parse the complete lines of `buf`. Returns (status, events written, byte of bad line).
    Each alloc's caller (`file:(func+off)[addr]`, #17): its FNV-1a hash in chash (0: none),
    where its text starts in buf (cat) and its length (clen)."""
    n = buf.shape[0]
    out = 0
    i = 0
    while i < n:
        end = tx.line_end(buf, i)
        start = i
        cnt[tx.C_LINES] += 1
        j = tx.skip_spaces(buf, i, end)
        h = np.uint64(0)
        c0 = 0
        c1 = 0
        if j < end and buf[j] == 64:  # '@ caller-prefix ': skip to after the last ']'
            k = end - 1
            while k > j and buf[k] != 93:
                k -= 1
            if k == j:
                return tx.BAD_LINE, out, start
            c0 = tx.skip_spaces(buf, j + 1, k)
            h = np.uint64(0xCBF29CE484222325)
            for q in range(c0, k + 1):
                h = (h ^ np.uint64(buf[q])) * np.uint64(0x100000001B3)
            h |= np.uint64(1)  # never 0, which means no caller
            c1 = k + 1
            j = tx.skip_spaces(buf, k + 1, end)
        if j >= end:
            i = end + 1
            continue  # blank line
        op = buf[j]
        j += 1
        if op == 61:  # '=' Start / End
            pass
        elif op == 43 or op == 62:  # '+' alloc, '>' realloc's new block
            ptr, j = tx.parse_hex(buf, j, end, True)
            sz, j = tx.parse_hex(buf, j, end, True)
            if ptr == tx.BAD or sz < 0:
                return tx.BAD_LINE, out, start
            if ptr == tx.NIL:
                cnt[C_NULL] += 1
            else:
                out = tx.emit_alloc(keys, vals, free_ids, ctr, cnt, ptr, sz, kind, ids, size, ts, out)
                chash[out - 1] = np.int64(h)
                cat[out - 1] = c0
                clen[out - 1] = c1 - c0
        elif op == 45 or op == 60:  # '-' free, '<' realloc's old block
            ptr, j = tx.parse_hex(buf, j, end, True)
            if ptr == tx.BAD:
                return tx.BAD_LINE, out, start
            if ptr != tx.NIL:
                out = tx.emit_free(keys, vals, free_ids, ctr, cnt, ptr, kind, ids, size, ts, out)
        elif op == 33:  # '!' failed realloc: the old block stays
            cnt[C_REALLOC_FAILED] += 1
        else:
            return tx.BAD_LINE, out, start
        i = end + 1
    return tx.OK, out, 0


def import_mtrace(src: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
                  codec: str = "raw", progress=None) -> dict:
    """Convert a MALLOC_TRACE file to a goalloc trace; returns what could not be mapped."""
    header = Header(producer="goalloc import mtrace", sizes="requested", frees="death",
                    gomaxprocs=1, source={"recorder": "glibc mtrace", "file": os.path.basename(src)})
    sites = SiteTable("call-site")
    cnt, amap = tx.run_import(src, out, header, _parse_block, "an mtrace", N_COUNTERS,
                           force=force, codec=codec, progress=progress, sites=sites)
    return tx.text_report(cnt, amap, {"unknown_frees": int(cnt[tx.C_UNKNOWN_FREES]),
                                   "failed_reallocs": int(cnt[C_REALLOC_FAILED]),
                                   "null_results": int(cnt[C_NULL])})
