"""Importer for Go execution traces recorded with GODEBUG=traceallocfree=1 (Go 1.23+; wire
format of Go 1.22-1.25, gotrace_wire.py).

The file is read one generation at a time (Go flushes generations in order, about one a
second): its batches are decoded by numba kernels, the Ms' event streams are merged by time
with a stable sort that puts frees before everything else at equal times, and one more kernel
turns the merged events into goalloc events, carrying the heap state (spans, live objects,
each M's P) from one generation to the next. Memory is bounded by one generation.

Mapping (docs/importers.md has the reasons):
- objects are keyed by slot base (span base + k * slot size): pointerful objects > 512 B are
  allocated 8 B after the slot base (malloc header) but freed at the slot base;
- an alloc of a slot that is still live means the sweep free of the earlier object was
  stamped later than the reuse (a sweeping M's clock runs ahead when it writes many events a
  tick); the importer frees the earlier object right there (p = -1) and drops its late free;
- requested sizes are estimated from the type: the largest multiple of the type size that
  fits the slot (one object, or a slice grown to its size class), else the slot size;
- a span allocated again while live lost its SpanFree: a span_free is emitted first.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from goalloc.errors import TraceError
from goalloc.jit import kernel
from goalloc.sizeclasses import get_table
from goalloc.trace import format as fmt
from goalloc.trace.addrmap import AddrMap, map_insert, map_remove
from goalloc.trace.header import Header
from goalloc.trace.importers import gotrace_wire as w
from goalloc.trace.writer import Writer

READ_BLOCK = 4 << 20
MALLOC_HEADER = 8
MIN_SIZE_FOR_HEADER = 512  # runtime minSizeForMallocHeader (amd64)
MAX_PAGES = 1 << 28  # span ids beyond 2 TiB above the lowest heap page are taken as corrupt
MAX_TYPE_ID = 1 << 24

RECORD_HINT = ("record with `GODEBUG=traceallocfree=1 go test -trace=out.trace ...` "
               "(Go 1.23 or newer)")

# Main-kernel status codes.
DONE = 0
GROW_OBJECTS = 1
GROW_OWED = 2
GROW_SPANS = 3
GROW_STACKS = 4

# Counters (`cnt`).
C_SLOT_REUSED = 0  # alloc of a live slot: earlier object freed at the reuse (its free came late)
C_LATE_FREES = 1  # the late frees dropped for those
C_UNKNOWN_FREES = 2  # HeapObjectFree of a slot with no live object
C_NO_SPAN = 3  # object in no known heap span: skipped
C_UNKNOWN_TYPES = 4  # type id missing from the generation's type table: slot size used
C_LOST_SPAN_FREES = 5
C_UNKNOWN_SPAN_FREES = 6
C_LOST_STACK_FREES = 7
C_UNKNOWN_STACK_FREES = 8
C_MISPLACED = 9  # object address not at its slot base (or base + 8 with a malloc header)
C_DOUBLE_REUSE = 10  # a slot reused twice before its late free arrived
C_NO_P = 11  # object events that ran on no P (sweep frees; a fact, mapped with p = -1)
N_COUNTERS = 12


@kernel
def _convert(start, order, typ, key, mm, a1, a2, a3,
             mp, pagemap, span_np, span_kc, class_size, t_size, t_ptr, reasons,
             okeys, ovals, ofree, octr, wkeys, wvals, wfree, wctr,
             skeys, svals, sfree, sctr, kkeys, kvals, kfree, kctr,
             t0, align, page_size, lastp, gcseq, cnt,
             k_out, ts_out, p_out, id_out, size_out, flags_out, aux_out, n_out):
    """Turn generation events order[start:] (the merge order) into goalloc events, appended to the *_out
    arrays from n_out. Returns (status, index, events out): status DONE, or GROW_* with the
    index to resume at once the named map has grown."""
    n = order.shape[0]
    o = n_out
    for i in range(start, n):
        j = order[i]
        ev = typ[j]
        m = mm[j]
        p = mp[m]
        ts = key[j] - t0
        if ts < 0:
            ts = 0
        if p >= 0:
            if ts < lastp[p]:
                ts = lastp[p]
            lastp[p] = ts
        if ev == w.EV_HEAP_OBJECT_ALLOC or ev == w.EV_HEAP_OBJECT:
            if (octr[1] + 1) * 2 > okeys.shape[0] or octr[2] + 1 > ofree.shape[0]:
                return GROW_OBJECTS, i, o
            if (wctr[1] + 1) * 2 > wkeys.shape[0] or wctr[2] + 1 > wfree.shape[0]:
                return GROW_OWED, i, o
            off = a1[j] * align
            page = off // page_size
            base = pagemap[page] if 0 <= page < pagemap.shape[0] else np.int64(-1)
            kc = span_kc[base] if base >= 0 else np.int64(1)
            sc = kc >> 2
            if kc & 1 or sc >= class_size.shape[0]:
                cnt[C_NO_SPAN] += 1
                continue
            noscan = (kc >> 1) & 1
            base_off = base * page_size
            slot = span_np[base] * page_size if sc == 0 else class_size[sc]
            if slot <= 0:
                cnt[C_NO_SPAN] += 1
                continue
            slot_off = base_off + ((off - base_off) // slot) * slot
            usable = slot
            if noscan == 0 and sc != 0 and slot > MIN_SIZE_FOR_HEADER:
                usable = slot - MALLOC_HEADER
            # HeapObjectAlloc names the object (after any malloc header); the snapshot's
            # HeapObject names the slot (runtime traceSnapshotMemory: base + i*elemsize).
            if off - slot_off != (slot - usable if ev == w.EV_HEAP_OBJECT_ALLOC else 0):
                cnt[C_MISPLACED] += 1
            tid = a2[j]
            size = usable
            if tid > 0:
                if tid < t_size.shape[0] and t_size[tid] >= 0:
                    tsz = t_size[tid]
                    if 0 < tsz <= usable:
                        size = (usable // tsz) * tsz
                else:
                    cnt[C_UNKNOWN_TYPES] += 1
            k = slot_off // align
            oid, old = map_insert(okeys, ovals, ofree, octr, k)
            if old >= 0:
                cnt[C_SLOT_REUSED] += 1
                _, dup = map_insert(wkeys, wvals, wfree, wctr, k)
                if dup >= 0:
                    cnt[C_DOUBLE_REUSE] += 1
                k_out[o] = fmt.FREE
                ts_out[o] = ts
                p_out[o] = -1
                id_out[o] = old
                size_out[o] = 0
                flags_out[o] = 0
                aux_out[o] = 0
                o += 1
            if p < 0:
                cnt[C_NO_P] += 1
            fl = fmt.FLAG_SIZE_ESTIMATED
            if noscan:
                fl |= fmt.FLAG_NOSCAN
            if ev == w.EV_HEAP_OBJECT:
                fl |= fmt.FLAG_SNAPSHOT
            k_out[o] = fmt.ALLOC
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = oid
            size_out[o] = size
            flags_out[o] = fl
            aux_out[o] = slot
            o += 1
        elif ev == w.EV_HEAP_OBJECT_FREE:
            k = a1[j]
            if wctr[2] + 1 > wfree.shape[0]:
                return GROW_OWED, i, o
            if wctr[0] > 0 and map_remove(wkeys, wvals, wfree, wctr, k) >= 0:
                cnt[C_LATE_FREES] += 1
                continue
            if octr[2] + 1 > ofree.shape[0]:
                return GROW_OBJECTS, i, o
            oid = map_remove(okeys, ovals, ofree, octr, k)
            if oid < 0:
                cnt[C_UNKNOWN_FREES] += 1
                continue
            if p < 0:
                cnt[C_NO_P] += 1
            k_out[o] = fmt.FREE
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = oid
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_SPAN_ALLOC or ev == w.EV_SPAN:
            sid = a1[j]
            npages = a2[j]
            kc = a3[j]
            if (sctr[1] + 1) * 2 > skeys.shape[0] or sctr[2] + 1 > sfree.shape[0]:
                return GROW_SPANS, i, o
            did, old = map_insert(skeys, svals, sfree, sctr, sid)
            if old >= 0:
                cnt[C_LOST_SPAN_FREES] += 1
                _unmap_span(pagemap, span_np, sid)
                k_out[o] = fmt.SPAN_FREE
                ts_out[o] = ts
                p_out[o] = p
                id_out[o] = old
                size_out[o] = 0
                flags_out[o] = 0
                aux_out[o] = 0
                o += 1
            for pg in range(sid, sid + npages):
                pagemap[pg] = sid
            span_np[sid] = npages
            span_kc[sid] = kc
            k_out[o] = fmt.SPAN_ALLOC
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = did
            size_out[o] = npages
            flags_out[o] = fmt.FLAG_SNAPSHOT if ev == w.EV_SPAN else 0
            aux_out[o] = -1 if kc & 1 else kc >> 1
            o += 1
        elif ev == w.EV_SPAN_FREE:
            sid = a1[j]
            if sctr[2] + 1 > sfree.shape[0]:
                return GROW_SPANS, i, o
            did = map_remove(skeys, svals, sfree, sctr, sid)
            if did < 0:
                cnt[C_UNKNOWN_SPAN_FREES] += 1
                continue
            _unmap_span(pagemap, span_np, sid)
            k_out[o] = fmt.SPAN_FREE
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = did
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_GOROUTINE_STACK_ALLOC or ev == w.EV_GOROUTINE_STACK:
            if (kctr[1] + 1) * 2 > kkeys.shape[0] or kctr[2] + 1 > kfree.shape[0]:
                return GROW_STACKS, i, o
            did, old = map_insert(kkeys, kvals, kfree, kctr, a1[j])
            if old >= 0:
                cnt[C_LOST_STACK_FREES] += 1
                k_out[o] = fmt.STACK_FREE
                ts_out[o] = ts
                p_out[o] = p
                id_out[o] = old
                size_out[o] = 0
                flags_out[o] = 0
                aux_out[o] = 0
                o += 1
            sorder = a2[j]
            k_out[o] = fmt.STACK_ALLOC
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = did
            # runtime traceCompressStackSize: order = bits.Len64(size), size a power of two
            size_out[o] = np.int64(1) << (sorder - 1) if 1 <= sorder <= 41 else 0
            flags_out[o] = fmt.FLAG_SNAPSHOT if ev == w.EV_GOROUTINE_STACK else 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_GOROUTINE_STACK_FREE:
            if kctr[2] + 1 > kfree.shape[0]:
                return GROW_STACKS, i, o
            did = map_remove(kkeys, kvals, kfree, kctr, a1[j])
            if did < 0:
                cnt[C_UNKNOWN_STACK_FREES] += 1
                continue
            k_out[o] = fmt.STACK_FREE
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = did
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_PROC_START:
            mp[m] = a1[j]
        elif ev == w.EV_PROC_STOP:
            mp[m] = -1
        elif ev == w.EV_PROC_STEAL:
            victim = a3[j]
            if victim == m:
                mp[m] = -1
            elif victim >= 0 and mp[victim] == a1[j]:
                mp[victim] = -1
        elif ev == w.EV_PROC_STATUS:
            if a2[j] == w.PROC_RUNNING or a2[j] == w.PROC_SYSCALL:
                mp[m] = a1[j]
        elif ev == w.EV_GC_BEGIN or ev == w.EV_GC_END:
            if ev == w.EV_GC_BEGIN:
                gcseq[0] = a1[j]
            k_out[o] = fmt.GC_START if ev == w.EV_GC_BEGIN else fmt.GC_END
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = a1[j]
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_STW_BEGIN or ev == w.EV_STW_END:
            reason = 0
            if ev == w.EV_STW_BEGIN:
                sidx = a1[j]
                reason = reasons[sidx] if 0 <= sidx < reasons.shape[0] else 0
            k_out[o] = fmt.STW_BEGIN if ev == w.EV_STW_BEGIN else fmt.STW_END
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = 0
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = reason
            o += 1
            if reason == fmt.STW_GC_MARK_TERM:
                k_out[o] = fmt.GC_MARK_TERM
                ts_out[o] = ts
                p_out[o] = p
                id_out[o] = gcseq[0]
                size_out[o] = 0
                flags_out[o] = 0
                aux_out[o] = 0
                o += 1
        elif ev == w.EV_HEAP_ALLOC or ev == w.EV_HEAP_GOAL:
            k_out[o] = fmt.HEAP_LIVE if ev == w.EV_HEAP_ALLOC else fmt.HEAP_GOAL
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = 0
            size_out[o] = a1[j]
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
    return DONE, n, o


@kernel
def _unmap_span(pagemap, span_np, sid):
    npages = span_np[sid]
    for pg in range(sid, sid + npages):
        if pagemap[pg] == sid:
            pagemap[pg] = -1


# -- driver ----------------------------------------------------------------------------------


class _Batch:
    __slots__ = ("gen", "exp", "is_exp", "m", "time", "data", "off", "data_off")

    def __init__(self, gen, exp, is_exp, m, time, data, off, data_off):
        self.gen, self.exp, self.is_exp, self.m, self.time = gen, exp, is_exp, m, time
        self.data, self.off, self.data_off = data, off, data_off


def _read_header(f, path) -> int:
    head = f.read(w.HEADER_LEN)
    match = w.HEADER_RE.fullmatch(head)
    if match is None:
        if head.startswith(b"go 1.") and b" trace" in head:
            raise TraceError(path, f"unrecognised Go trace header {head!r}", 0)
        raise TraceError(path, "not a Go execution trace (no `go 1.N trace` header)", 0)
    version = int(match.group(1))
    if version not in w.SUPPORTED_VERSIONS:
        raise TraceError(path, f"go 1.{version} trace is not supported: goalloc reads "
                               "Go 1.22-1.25 execution traces")
    return version


def _read_batches(f, path):
    """Yield the file's batches (after the header) in file order."""
    buf = bytearray()
    pos = 0
    base = w.HEADER_LEN  # file offset of buf[0]
    eof = False

    def fill(need):
        nonlocal eof
        while not eof and len(buf) - pos < need:
            data = f.read(max(READ_BLOCK, need))
            if not data:
                eof = True
            buf.extend(data)
        return len(buf) - pos >= need

    while True:
        fill(48)
        if pos >= len(buf):
            return
        off = base + pos
        kind = buf[pos]
        if kind not in (w.EV_EVENT_BATCH, w.EV_EXPERIMENTAL_BATCH):
            raise TraceError(path, f"corrupt trace: expected a batch (byte 1 or 49), found {kind}",
                             off)
        i = pos + 1
        is_exp = kind == w.EV_EXPERIMENTAL_BATCH
        exp = 0
        if is_exp:
            if i >= len(buf):
                raise TraceError(path, "truncated: the file ends inside a batch header", off)
            exp = buf[i]
            i += 1
        vals = []
        for what in ("generation", "M", "time", "size"):
            v, i = w.uvarint(buf, i, len(buf))
            if i == -1:
                raise TraceError(path, "truncated: the file ends inside a batch header", off)
            if i == -2:
                raise TraceError(path, f"corrupt trace: bad varint for the batch {what}", off)
            vals.append(v)
        gen, m, time, size = vals
        if size > w.MAX_BATCH_SIZE:
            raise TraceError(path, f"corrupt trace: batch size {size} is over the maximum "
                                   f"{w.MAX_BATCH_SIZE}", off)
        if gen == 0:
            raise TraceError(path, "corrupt trace: batch of generation 0", off)
        if not fill(i - pos + size):
            have = len(buf) - i
            raise TraceError(path, f"truncated: batch declares {size} data bytes, the file "
                                   f"ends after {have}", off)
        yield _Batch(gen, exp, is_exp, m, time, bytes(buf[i:i + size]), off, base + i)
        pos = i + size
        if pos > READ_BLOCK:
            del buf[:pos]
            base += pos
            pos = 0


def _parse_freq(b: _Batch, version: int, path) -> int | None:
    """The frequency of a frequency batch (< 1.25: a lone EvFrequency) or sync batch (1.25:
    EvSync, then EvFrequency and EvClockSnapshot events)."""
    data = b.data
    i = 0
    freq = None
    while i < len(data):
        ev = data[i]
        i += 1
        if ev == w.EV_FREQUENCY:
            freq, i = w.uvarint(data, i, len(data))
        elif ev == w.EV_SYNC and version >= 25 and i == 1:
            continue
        elif ev == w.EV_CLOCK_SNAPSHOT and version >= 25:
            for _ in range(4):
                _, i = w.uvarint(data, i, len(data))
                if i < 0:
                    break
        else:
            raise TraceError(path, f"corrupt trace: unexpected event {ev} in a sync batch",
                             b.off)
        if i < 0:
            raise TraceError(path, "corrupt trace: bad frequency batch", b.off)
        if version < 25:
            break
    if freq is not None and freq <= 0:
        raise TraceError(path, "corrupt trace: clock frequency 0", b.off)
    return freq


class _State:
    """Everything carried from one generation to the next."""

    def __init__(self):
        self.m_index: dict[int, int] = {}
        self.mp = np.full(16, -1, np.int64)  # P held by each M (by M index), -1 none
        self.lastkey = np.full(16, -(1 << 62), np.int64)
        self.lastp = np.zeros(8, np.int64)
        self.pagemap = np.full(1 << 12, -1, np.int64)
        self.span_np = np.zeros(1 << 12, np.int64)
        self.span_kc = np.ones(1 << 12, np.int64)
        self.objects = AddrMap(16)
        self.owed = AddrMap(10)
        self.spans = AddrMap(12)
        self.stacks = AddrMap(10)
        self.gcseq = np.zeros(1, np.int64)
        self.cnt = np.zeros(N_COUNTERS, np.int64)
        self.tcount = np.zeros(256, np.int64)
        self.info = None  # (min_heap_addr, page_size, min_heap_align, fixed_stack)
        self.freq = None
        self.t0 = None
        self.gens = 0
        self.writer = None
        self.pending = None  # the previous generation's write (compression), on self.pool
        self.pool = None
        self.gomaxprocs = 1

    def m_idx(self, m: int) -> int:
        idx = self.m_index.get(m)
        if idx is None:
            idx = self.m_index[m] = len(self.m_index)
            if idx >= self.mp.shape[0]:
                self.mp = _grow(self.mp, 2 * idx, -1)
                self.lastkey = _grow(self.lastkey, 2 * idx, -(1 << 62))
        return idx

    def ensure_pages(self, n: int) -> None:
        if n > self.pagemap.shape[0]:
            size = max(n, 2 * self.pagemap.shape[0])
            self.pagemap = _grow(self.pagemap, size, -1)
            self.span_np = _grow(self.span_np, size, 0)
            self.span_kc = _grow(self.span_kc, size, 1)


def _grow(a: np.ndarray, n: int, fill) -> np.ndarray:
    out = np.full(max(n, a.shape[0]), fill, a.dtype)
    out[: a.shape[0]] = a
    return out


def _locate(idx: int, bstart: np.ndarray, data_off: list[int]) -> int:
    b = int(np.searchsorted(bstart, idx, side="right")) - 1
    return data_off[b] + idx - int(bstart[b])


def _generation(batches: list[_Batch], st: _State, version: int, path, header_for, codec,
                force, out, class_size) -> None:
    gen_off = batches[0].off
    events, strings, types = [], [], []
    for b in batches:
        if not b.data:
            continue
        first = b.data[0]
        if b.is_exp:
            if b.exp != w.EXPERIMENT_ALLOC_FREE:
                continue  # an experiment this importer does not know: nothing it needs
            if first == w.EXP_INFO_BATCH:
                vals, i = [], 1
                for _ in range(4):
                    v, i = w.uvarint(b.data, i, len(b.data))
                    if i < 0:
                        raise TraceError(path, "corrupt trace: bad alloc/free info batch", b.off)
                    vals.append(v)
                if vals[1] <= 0 or vals[2] <= 0 or vals[1] % vals[2]:
                    raise TraceError(path, f"corrupt trace: alloc/free info {vals}", b.off)
                st.info = tuple(vals)
            elif first == w.EXP_TYPES_BATCH:
                types.append(b)
            else:
                raise TraceError(path, f"corrupt trace: unknown alloc/free batch kind {first}",
                                 b.off)
        elif first == w.EV_STRINGS:
            strings.append(b)
        elif first in (w.EV_STACKS, w.EV_CPU_SAMPLES):
            pass
        elif (first == w.EV_FREQUENCY and version < 25) or (first == w.EV_SYNC and version >= 25):
            freq = _parse_freq(b, version, path)
            if freq is not None and st.freq is None:
                st.freq = freq
        else:
            events.append(b)
    st.gens += 1
    if st.info is None:
        if version == 22:
            raise TraceError(path, "a Go 1.22 trace has no alloc/free events: " + RECORD_HINT)
        raise TraceError(path, "recorded without GODEBUG=traceallocfree=1 (no alloc/free "
                               "info in the first generation): " + RECORD_HINT)
    if st.freq is None:
        raise TraceError(path, "corrupt trace: no clock frequency in the first generation",
                         gen_off)
    _min_heap, page_size, align, _fixed_stack = st.info

    # Event batches: one buffer, decoded twice (count, then write).
    data = np.frombuffer(b"".join(b.data for b in events), np.uint8)
    lens = np.array([len(b.data) for b in events], np.int64)
    bend = np.cumsum(lens)
    bstart = bend - lens
    bm = np.array([st.m_idx(b.m) for b in events], np.int64)
    btime = np.array([b.time for b in events], np.uint64).astype(np.int64)
    data_off = [b.data_off for b in events]
    nargs = w.nargs_table(version)
    nspt = 1e9 / st.freq
    kept = w.kept_table()
    e0 = np.zeros(0, np.int64)
    tcount = np.zeros(256, np.int64)
    status, n, at, detail = w.decode_events(data, bstart, bend, bm, btime, nspt, nargs, kept,
                                            st.lastkey, False, e0.astype(np.uint8), e0,
                                            e0, e0, e0, e0, tcount)
    if status != w.OK:
        off = _locate(int(at), bstart, data_off)
        if status == w.ERR_UNKNOWN_EVENT:
            raise TraceError(path, f"corrupt trace: unknown event type {detail} (not in the "
                                   f"Go 1.{version} trace spec)", off)
        name = w.EVENT_NAMES.get(int(detail), str(detail))
        what = "ends inside" if status == w.ERR_TRUNCATED_EVENT else "has a bad varint in"
        raise TraceError(path, f"corrupt trace: batch {what} a {name} event", off)
    st.tcount += tcount
    typ = np.empty(n, np.uint8)
    key = np.empty(n, np.int64)
    mm = np.empty(n, np.int64)
    a1 = np.empty(n, np.int64)
    a2 = np.empty(n, np.int64)
    a3 = np.empty(n, np.int64)
    w.decode_events(data, bstart, bend, bm, btime, nspt, nargs, kept, st.lastkey, True,
                    typ, key, mm, a1, a2, a3, np.zeros(256, np.int64))
    del data

    # Strings: only the STW kinds are needed.
    reasons = np.zeros(1, np.int64)
    stw = typ == w.EV_STW_BEGIN
    if stw.any():
        wanted = np.unique(a1[stw])
        wanted = wanted[(wanted >= 0) & (wanted < 1 << 24)]
        table = {}
        for b in strings:
            sd = np.frombuffer(b.data, np.uint8)
            cap = len(b.data) // 3 + 1
            ids, offs, lns = (np.empty(cap, np.int64) for _ in range(3))
            status, k, at = w.decode_strings(sd, 0, len(sd), ids, offs, lns, 0)
            if status != w.OK:
                raise TraceError(path, "corrupt trace: bad string table entry", b.data_off + at)
            hit = np.isin(ids[:k], wanted)
            for j in np.flatnonzero(hit):
                table[int(ids[j])] = b.data[offs[j]:offs[j] + lns[j]].decode("utf-8", "replace")
        if wanted.size:
            reasons = np.zeros(int(wanted.max()) + 1, np.int64)
            index = {r: k for k, r in enumerate(fmt.STW_REASONS)}
            for sid, text in table.items():
                reasons[sid] = index.get(text, 0)

    # Types of this generation (ids are per generation).
    t_size = np.full(1, -1, np.int64)
    t_ptr = np.zeros(1, np.int64)
    for b in types:
        td = np.frombuffer(b.data, np.uint8)
        cap = len(b.data) // 5 + 1
        ids, sizes, ptrs = (np.empty(cap, np.int64) for _ in range(3))
        status, k, at = w.decode_types(td, 0, len(td), ids, sizes, ptrs, 0)
        if status != w.OK:
            raise TraceError(path, "corrupt trace: bad type table entry", b.data_off + at)
        ids = ids[:k]
        if k and (ids.min() < 0 or ids.max() >= MAX_TYPE_ID):
            raise TraceError(path, "corrupt trace: type id out of range", b.data_off)
        if k and ids.max() >= t_size.shape[0]:
            t_size = _grow(t_size, int(ids.max()) + 1, -1)
            t_ptr = _grow(t_ptr, int(ids.max()) + 1, 0)
        t_size[ids] = sizes[:k]
        t_ptr[ids] = ptrs[:k]

    # ProcSteal names the M it stole from by id: turn it into an M index.
    steal = np.flatnonzero(typ == w.EV_PROC_STEAL)
    for j in steal:
        a3[j] = st.m_idx(int(a3[j]) & 0xFFFF_FFFF_FFFF_FFFF)
    procs = (typ == w.EV_PROC_START) | (typ == w.EV_PROC_STATUS) | (typ == w.EV_PROC_STEAL)
    if procs.any():
        pmax = int(a1[procs].max())
        if a1[procs].min() < 0 or pmax >= 1 << 15:
            raise TraceError(path, "corrupt trace: P id out of range", gen_off)
        if pmax >= st.lastp.shape[0]:
            st.lastp = _grow(st.lastp, pmax + 1, 0)
    else:
        pmax = -1

    # Pages the spans of this generation reach (objects outside them count as unmapped).
    sp = (typ == w.EV_SPAN) | (typ == w.EV_SPAN_ALLOC)
    need = 0
    if sp.any():
        if a1[sp].min() < 0 or a2[sp].min() < 0:
            raise TraceError(path, "corrupt trace: negative span id or size", gen_off)
        need = int((a1[sp] + a2[sp]).max())
    if need > MAX_PAGES:
        raise TraceError(path, f"corrupt trace: span id beyond {MAX_PAGES} pages", gen_off)
    st.ensure_pages(need)

    # Merge the Ms by time; at equal times frees go first.
    frees = (typ == w.EV_HEAP_OBJECT_FREE) | (typ == w.EV_SPAN_FREE) | \
        (typ == w.EV_GOROUTINE_STACK_FREE)
    if n:
        kmin = int(key.min())
        if st.t0 is None:  # the first event written is at 0 (P changes are not written)
            shown = typ > w.EV_PROC_STATUS
            st.t0 = int(key[shown].min()) if shown.any() else kmin
        order = np.argsort((key - kmin) * 2 + (~frees), kind="stable")
    else:
        order = np.zeros(0, np.int64)
        if st.t0 is None:
            st.t0 = 0

    if st.writer is None:
        procs_change = a1[typ == w.EV_PROCS_CHANGE]
        st.gomaxprocs = int(min(max(1, pmax + 1, int(procs_change.max()) if procs_change.size
                                    else 1), 1 << 15))
        st.writer = Writer(out, header_for(st), codec=codec, force=force)
        st.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gotrace-write")

    cap = 2 * n + 1
    cols = dict(k=np.empty(cap, np.uint8), ts=np.empty(cap, np.int64), p=np.empty(cap, np.int16),
                id=np.empty(cap, np.int64), size=np.empty(cap, np.int64),
                flags=np.empty(cap, np.uint8), aux=np.empty(cap, np.int64))
    start, o = 0, 0
    maps = {GROW_OBJECTS: st.objects, GROW_OWED: st.owed, GROW_SPANS: st.spans,
            GROW_STACKS: st.stacks}
    while True:
        ob, ow, sp_, sk = st.objects, st.owed, st.spans, st.stacks
        status, start, o = _convert(
            start, order, typ, key, mm, a1, a2, a3, st.mp, st.pagemap, st.span_np, st.span_kc,
            class_size, t_size, t_ptr, reasons,
            ob.keys, ob.vals, ob.free_ids, ob.ctr, ow.keys, ow.vals, ow.free_ids, ow.ctr,
            sp_.keys, sp_.vals, sp_.free_ids, sp_.ctr, sk.keys, sk.vals, sk.free_ids, sk.ctr,
            st.t0, align, page_size, st.lastp, st.gcseq, st.cnt,
            cols["k"], cols["ts"], cols["p"], cols["id"], cols["size"], cols["flags"],
            cols["aux"], o)
        if status == DONE:
            break
        amap = maps[status]
        amap.grow(max(1024, int(amap.ctr[0]), int(amap.ctr[2])))
    # Write (and compress) on a worker thread while the next generation is decoded and
    # converted (the kernels and zstd release the GIL); one write in flight at a time.
    _wait_write(st)
    st.pending = st.pool.submit(
        st.writer.write, kind=cols["k"][:o], ts=cols["ts"][:o], p=cols["p"][:o],
        id=cols["id"][:o], size=cols["size"][:o], flags=cols["flags"][:o], aux=cols["aux"][:o])


def _wait_write(st: _State) -> None:
    if st.pending is not None:
        pending, st.pending = st.pending, None
        pending.result()


def import_gotrace(src: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
                   codec: str = "zstd", progress=None) -> dict:
    """Convert a Go execution trace (GODEBUG=traceallocfree=1) to a goalloc trace; returns the
    counts of what could not be mapped (and a few facts about the trace)."""
    try:
        f = open(src, "rb")
    except OSError as e:
        raise TraceError(src, f"cannot open: {e.strerror}") from None
    class_size = np.ascontiguousarray(get_table("go").class_size, dtype=np.int64)
    st = _State()
    with f:
        version = _read_header(f, src)

        def header_for(state: _State) -> Header:
            mh, ps, al, fs = state.info
            return Header(
                producer="goalloc import gotrace", sizes="requested", frees="sweep",
                gomaxprocs=state.gomaxprocs,
                source={"recorder": "go execution trace (traceallocfree)",
                        "go_version": f"1.{version}", "trace_version": version,
                        "file": os.path.basename(src), "clock_hz": int(state.freq),
                        "min_heap_addr": hex(mh), "page_size": ps, "min_heap_align": al,
                        "fixed_stack": fs})

        try:
            gen = None
            batches: list[_Batch] = []
            done_bytes = w.HEADER_LEN
            for b in _read_batches(f, src):
                if gen is None:
                    gen = b.gen
                if b.gen != gen:
                    if b.gen < gen:
                        raise TraceError(src, f"corrupt trace: generation {b.gen} after "
                                              f"generation {gen}", b.off)
                    _generation(batches, st, version, src, header_for, codec, force, out,
                                class_size)
                    if progress is not None:
                        progress(b.off - done_bytes)
                        done_bytes = b.off
                    batches = []
                    gen = b.gen
                batches.append(b)
            if not batches:
                raise TraceError(src, "the trace has no events: " + RECORD_HINT)
            _generation(batches, st, version, src, header_for, codec, force, out, class_size)
            if progress is not None:
                progress(f.tell() - done_bytes)
            _wait_write(st)
            st.writer.close()
        except BaseException:
            if st.writer is not None:
                try:
                    _wait_write(st)
                except BaseException:
                    pass
                st.writer.abort()
            raise
        finally:
            if st.pool is not None:
                st.pool.shutdown()
    tc = st.tcount
    c = st.cnt
    return {
        "events": int(st.writer.events),
        "generations": st.gens,
        "gomaxprocs": st.gomaxprocs,
        "trace_events": int(tc.sum()),
        "go_events": {w.EVENT_NAMES[k]: int(tc[k]) for k in w.KEPT if tc[k]},
        "live_at_end": int(st.objects.ctr[0]),
        "slot_reused_before_free": int(c[C_SLOT_REUSED]),
        "late_frees_dropped": int(c[C_LATE_FREES]),
        "unknown_frees": int(c[C_UNKNOWN_FREES]),
        "objects_outside_spans": int(c[C_NO_SPAN]),
        "unknown_types": int(c[C_UNKNOWN_TYPES]),
        "lost_span_frees": int(c[C_LOST_SPAN_FREES]),
        "unknown_span_frees": int(c[C_UNKNOWN_SPAN_FREES]),
        "lost_stack_frees": int(c[C_LOST_STACK_FREES]),
        "unknown_stack_frees": int(c[C_UNKNOWN_STACK_FREES]),
        "misplaced_objects": int(c[C_MISPLACED]),
        "double_reuses": int(c[C_DOUBLE_REUSE]),
        "frees_without_p": int(c[C_NO_P]),
    }
