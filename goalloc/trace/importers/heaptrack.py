"""Importer for heaptrack's raw files (`heaptrack -r`, heaptrack 1.4 src/track/libheaptrack.cpp).

One hex line per record, no `0x`: `+ <size> <trace> <ptr>` (malloc/calloc/aligned variants:
requested size), `- <ptr>` (free), realloc as `- old` then `+ size trace new`, and a timer
thread's `c <elapsed ms>` every 10 ms. Other records (v, x, X, I, m, t, R, ...) describe the
process, modules and stacks and are skipped. No thread ids: every event runs on P 0. Plain,
gzip or zstd (`.raw.zst`) files are read as a stream.

Timestamps: an event gets the last `c` marker's time (ms -> ns), moved up by 1 ns per event
where needed so time is strictly increasing; the 10 ms markers keep it anchored to real time.

Call sites (#17): `t <ip> <parent>` adds node k (1, 2, ... in file order; heaptrack's
tracetree.h, never cleared) to the trace tree, its ip already moved back by one into the call
instruction; an alloc's trace index is the node of its innermost frame, the caller of malloc
(heaptrack's Trace::fill skips its own frames). That frame, named by the module holding it
(`m <len> <file> <base> (<vaddr> <memsz>)*` lines, the list restarted by `m 1 -` whenever
heaptrack re-reads it, written before the nodes that need it; `x` for the main program names
the executable) as `file+0xOFFSET` from the module's base (what `addr2line -e file` takes),
is the alloc's site; an ip in no listed module is named by its address. The outer frames of
the tree are not used. Raw files carry no symbols.
"""

from __future__ import annotations

import os

import numpy as np

from goalloc.jit import kernel
from goalloc.trace.header import Header
from goalloc.trace.importers.text import (
    BAD_LINE,
    C_LINES,
    C_NOW_NS,
    C_UNKNOWN_FREES,
    N_SHARED,
    OK,
    emit_alloc,
    emit_free,
    line_end,
    parse_hex,
    run_import,
    skip_spaces,
    text_report,
)
from goalloc.trace.sites import SiteTable

C_MARKERS = N_SHARED
C_NODES = N_SHARED + 1  # trace-tree nodes so far
C_MODULE_LINES = N_SHARED + 2  # `m` lines so far
C_BLOCK_NAMES = N_SHARED + 3  # `m` and `x` lines of the current block (their starts: `names`)
C_UNKNOWN_TRACES = N_SHARED + 4  # allocs naming a trace index the tree does not have
N_COUNTERS = N_SHARED + 5


@kernel
def _parse_block(buf, keys, vals, free_ids, ctr, cnt, kind, ids, size, ts, node_ip,
                 node_modules, names, trace_of):
    """Parse the whole lines of `buf`. Returns (status, events written, byte of a bad line).
    Trace tree: node k's ip in node_ip[k] and the number of `m` lines before it in
    node_modules[k]; each alloc's trace index in trace_of (0: none); where each `m` or `x`
    line starts in names."""
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
            if trace_index > cnt[C_NODES]:
                cnt[C_UNKNOWN_TRACES] += 1
                trace_index = 0
            trace_of[out - 1] = trace_index
        elif op == 116:  # 't' ip parent: the next trace-tree node
            ip, j = parse_hex(buf, j, end, False)
            parent, j = parse_hex(buf, j, end, False)
            if ip < 0 or parent < 0:
                return BAD_LINE, out, start
            k = cnt[C_NODES] + 1
            cnt[C_NODES] = k
            node_ip[k] = ip
            node_modules[k] = cnt[C_MODULE_LINES]
        elif op == 109 or op == 120:  # 'm' module, 'x' executable: read in Python
            names[cnt[C_BLOCK_NAMES]] = start
            cnt[C_BLOCK_NAMES] += 1
            if op == 109:
                cnt[C_MODULE_LINES] += 1
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


class _CallSites:
    """The trace tree and module lists read so far, and each alloc's site from them: the
    parse_block and site_name run_import calls (importers/text.py)."""

    def __init__(self):
        self.node_ip = np.zeros(1024, np.int64)
        self.node_modules = np.zeros(1024, np.int64)
        self.lists: list[tuple] = [()]  # module list after each `m` line (index: lines seen)
        self.exe = "x"

    def parse_block(self, buf, keys, vals, free_ids, ctr, cnt, kind, ids, size, ts, trace_of,
                    _a, _b):
        lines = int(np.count_nonzero(buf == 10)) + 1
        need = int(cnt[C_NODES]) + lines + 1
        if need > self.node_ip.shape[0]:
            grow = max(need, 2 * self.node_ip.shape[0]) - self.node_ip.shape[0]
            self.node_ip = np.concatenate([self.node_ip, np.zeros(grow, np.int64)])
            self.node_modules = np.concatenate([self.node_modules, np.zeros(grow, np.int64)])
        names = np.empty(lines, np.int64)
        cnt[C_BLOCK_NAMES] = 0
        res = _parse_block(buf, keys, vals, free_ids, ctr, cnt, kind, ids, size, ts,
                           self.node_ip, self.node_modules, names, trace_of)
        for at in names[:cnt[C_BLOCK_NAMES]].tolist():
            self._name_line(bytes(buf[at:_line_end(buf, at)]).decode("utf-8", "replace"))
        return res

    def _name_line(self, line: str) -> None:
        """An `x <len> <path>` or `m <len> <file> <base> (<vaddr> <memsz>)*` line; a module
        line that does not parse lists nothing (its ips are then named by address)."""
        op, _, rest = line.strip().partition(" ")
        try:
            n_hex, _, rest = rest.partition(" ")
            n = int(n_hex, 16)
            name, rest = rest[:n], rest[n:].split()
            if op == "x":
                self.exe = os.path.basename(name) or "x"
                return
            if name == "-":
                self.lists.append(())
                return
            base = int(rest[0], 16)
            segs = tuple((base + int(a, 16), base + int(a, 16) + int(b, 16))
                         for a, b in zip(rest[1::2], rest[2::2], strict=False))
            module = (name, base, segs)
        except (ValueError, IndexError):
            module = None
        self.lists.append(self.lists[-1] + ((module,) if module else ()))

    def site_name(self, buf, trace_index: int, _a: int, _b: int) -> str:
        """`file+0xOFFSET` of the node's ip in the module list written before the node."""
        ip = int(self.node_ip[trace_index])
        for name, base, segs in self.lists[int(self.node_modules[trace_index])]:
            if any(lo <= ip < hi for lo, hi in segs):
                file = self.exe if name == "x" else os.path.basename(name)
                return f"{file}+0x{ip - base:x}"
        return f"0x{ip:x}"


def _line_end(buf, at: int) -> int:
    """Where the line starting at `at` ends (its newline, or the end of buf)."""
    nl = np.flatnonzero(buf[at:] == 10)
    return at + int(nl[0]) if nl.size else buf.shape[0]


def import_heaptrack(src: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
                     codec: str = "raw", progress=None) -> dict:
    """Convert a heaptrack raw file to a goalloc trace; returns what could not be mapped."""
    header = Header(producer="goalloc import heaptrack", sizes="requested", frees="death",
                    gomaxprocs=1,
                    source={"recorder": "heaptrack -r", "file": os.path.basename(src)})
    calls = _CallSites()
    cnt, amap = run_import(src, out, header, calls.parse_block, "a heaptrack raw", N_COUNTERS,
                           force=force, codec=codec, progress=progress,
                           sites=SiteTable("call-site"), site_name=calls.site_name)
    return text_report(cnt, amap, {"time_markers": int(cnt[C_MARKERS]),
                                   "trace_nodes": int(cnt[C_NODES]),
                                   "unknown_traces": int(cnt[C_UNKNOWN_TRACES]),
                                   "unknown_frees": int(cnt[C_UNKNOWN_FREES])})
