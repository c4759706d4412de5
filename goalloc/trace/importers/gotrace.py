"""Importer for Go execution traces recorded with GODEBUG=traceallocfree=1 (Go 1.23+; wire
format of Go 1.22-1.25, gotrace_wire.py).

The file is read one generation at a time (Go flushes generations in order, about one a
second): its batches are decoded by numba kernels, the Ms' event streams are merged by time
with a stable sort that puts frees before everything else at equal times, and one more kernel
(gotrace_convert.py) turns the merged events into goalloc events, carrying the heap state
(spans, live objects, each M's P) from one generation to the next. It converts a slice of a
generation at a time into an output slot, which a worker thread writes (zstd) while the
next slice is converted; slots are reused once written. Memory is bounded by one generation.

Mapping (docs/importers.md has the reasons):
- objects are keyed by slot base (span base + k * slot size): pointerful objects > 512 B are
  allocated 8 B after the slot base (malloc header) but freed at the slot base. Each live heap
  span has an array of object ids indexed by slot (the runtime allocates and sweeps a span's
  slots in address order, so lookups walk memory sequentially); an object whose span is freed
  or overlapped while it is still live (its free comes late) moves to a small hash map keyed
  by its slot base, which is also looked up when a slot's array entry is empty;
- an alloc of a slot that is still live means the sweep free of the earlier object was
  stamped later than the reuse (a sweeping M's clock runs ahead when it writes many events a
  tick); the importer frees the earlier object right there (p = -1) and drops its late free;
- requested sizes are estimated from the type: the largest multiple of the type size that
  fits the slot (one object, or a slice grown to its size class), else the slot size;
- a span allocated again while live lost its SpanFree: a span_free is emitted first.
"""

from __future__ import annotations

import math
import os
import re
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from goalloc import limits, releases
from goalloc.errors import TraceError
from goalloc.jit import kernel
from goalloc.sizeclasses import get_table, profile
from goalloc.trace import format as fmt
from goalloc.trace.addrmap import EMPTY, AddrMap
from goalloc.trace.header import Header
from goalloc.trace.importers import gometrics
from goalloc.trace.importers import gotrace_convert as cv
from goalloc.trace.importers import gotrace_wire as w
from goalloc.trace.importers.gomark import MarkCpu
from goalloc.trace.importers.gometrics import MetricLog
from goalloc.trace.sites import SiteTable
from goalloc.trace.writer import Writer

READ_BLOCK = 4 << 20
# a generation's event batches from this size on are decoded by two threads (_decode_events),
# and from this many events on the merge's sort runs on the second (_generation)
DECODE_SPLIT_BYTES = 1 << 20
AHEAD_EVENTS = 1 << 17
MAX_FIRST_BUFFER = 256 << 20  # _Generations' first buffer at most (larger generations grow it)
WRITE_SLICE = 1 << 18  # events converted per write queued (4 zstd chunks)
SLOT_ROWS = 2 * WRITE_SLICE + 64  # rows of an output slot (_Slot): a slice's, almost always
SLOTS_QUEUED = 6  # output slots queued for the writer at most (once the output is open)
# late mcache flushes the header lists at most (a few per GC cycle; 16 Ki keep it < 300 KB)
MAX_MCACHE_FLUSHES = 1 << 14
MAX_TYPE_ID = 1 << 24
# a metric sample record without a read age was read at most this long before it: the
# docs' sampler reads again past 50 us (1 ms before 2026-12-06; _metric_samples_at_their_read)
READ_WINDOW_NS = 1_000_000
TRACER_TYPES = (b"uint64", b"unsafe.Pointer")  # the element types of the tracer's buffers

# Functions whose frame on a GCBegin stack means the program forced the cycle: runtime.GC
# (debug.FreeOSMemory calls it too, as does the testing package before each benchmark run).
GC_FORCED_FUNCS = frozenset({"runtime.GC", "runtime/debug.FreeOSMemory"})

# Function names only 1.24+ (mallocgc's split paths) and 1.27 (size-specialised malloc, an
# experiment in 1.26) have, as they appear in a generation's string table.
_SPLIT_MALLOC_BYTES = re.compile(rb"runtime\.mallocgc(?:Tiny|Small|Large)")
_GENERATED_MALLOC_BYTES = re.compile(rb"runtime\.mallocgc\w*(?:SC\d|SlowPath)")

_SPLIT_MALLOC_RE = re.compile(r"runtime\.mallocgc((?:Tiny|Small|Large)\w*)$")
LATE_NOSCAN, LATE_SCAN, LATE_ANY = 1, 2, 3

RECORD_HINT = ("record with `GODEBUG=traceallocfree=1 go test -trace=out.trace ...` "
               "(Go 1.23 or newer)")

# -- driver ----------------------------------------------------------------------------------


class _Batch:
    """A batch of the trace: its header's values, and its data as a memoryview of the buffer
    its generation was read into (_Generations), from index `at`; `off` and `data_off` are
    the file offsets of its header and data. The buffer is reused for the next generation:
    nothing may keep `data` (or a view of it) past its generation."""
    __slots__ = ("gen", "exp", "is_exp", "m", "time", "data", "off", "data_off", "at")

    def __init__(self, gen, exp, is_exp, m, time, data, off, data_off, at):
        self.gen, self.exp, self.is_exp, self.m, self.time = gen, exp, is_exp, m, time
        self.data, self.off, self.data_off, self.at = data, off, data_off, at


def _read_header(f, path) -> int:
    head = f.read(w.HEADER_LEN)
    match = w.HEADER_RE.fullmatch(head)
    if match is None:
        if head.startswith(b"go 1.") and b" trace" in head:
            raise TraceError(path, f"unrecognised Go trace header {head!r}", 0)
        raise TraceError(path, "not a Go execution trace (no `go 1.N trace` header)", 0)
    version = int(match.group(1))
    if version not in w.SUPPORTED_VERSIONS:
        if version > max(w.SUPPORTED_VERSIONS):
            raise TraceError(path, f"go 1.{version} trace format is newer than goalloc knows: "
                                   f"it reads the formats of Go 1.22 to 1.{w.NEWEST_RELEASE}", 0)
        if version < min(w.SUPPORTED_VERSIONS):
            raise TraceError(path, f"go 1.{version} trace is in the execution trace format "
                                   "before Go 1.22 (no alloc/free events), which goalloc does "
                                   f"not read: record with Go 1.23 to 1.{w.NEWEST_RELEASE}", 0)
        raise TraceError(path, f"go 1.{version} trace is not a format Go writes (goalloc reads "
                               f"those of Go 1.22 to 1.{w.NEWEST_RELEASE})", 0)
    return version


class _Generations:
    """The file's batches (after the header) grouped by generation, read into one buffer that
    is reused from one generation to the next. Until 2026-12-05 each batch was its own bytes
    object, copied from a bytearray the reads were appended to, and a generation's event
    batches were joined into a third copy to decode: ~19 K of the ~50 K page faults of
    bench_import's 4.6 M-event import (in-process, numpy's huge pages on), each on a fresh
    4 KiB page. From 1.26 the lone EvEndOfGeneration byte after each
    generation is checked and stepped over (the batches' generation numbers already say
    where a generation ends)."""

    def __init__(self, f, path, version: int):
        self.f, self.path, self.version = f, path, version
        # the whole file when it is not large (a buffer grown by doubling touches its pages
        # again at each copy: 12 K page faults on bench_import's 29 MB trace); pages past
        # the largest generation are never touched
        try:
            size = os.fstat(f.fileno()).st_size
        except (OSError, AttributeError):
            size = 0
        self.buf = np.empty(min(max(size + 1, 2 * READ_BLOCK), MAX_FIRST_BUFFER), np.uint8)
        self.view = memoryview(self.buf)
        self.filled = 0  # bytes of buf read from the file
        self.base = w.HEADER_LEN  # file offset of buf[0]
        self.eof = False

    def __iter__(self):
        """Yield (the batches of one generation, file bytes read since the last yield, the
        buffer their data are views of)."""
        gen = None
        batches: list[_Batch] = []
        done_bytes = w.HEADER_LEN
        pos = 0
        while True:
            head = self._batch_header(pos)
            if head is None:
                break
            if isinstance(head, int):  # a lone EvEndOfGeneration byte
                pos = head
                continue
            g, exp, is_exp, m, time, size, i = head
            off = self.base + pos
            if gen is None:
                gen = g
            if g != gen:
                if g < gen:
                    raise TraceError(self.path, f"corrupt trace: generation {g} after "
                                                f"generation {gen}", off)
                yield batches, off - done_bytes, self.buf
                done_bytes = off
                batches = []
                gen = g
                i -= pos
                pos = self._drop_before(pos)  # the last generation's batches are done
                i += pos
            batches.append(_Batch(g, exp, is_exp, m, time, self.view[i:i + size], off,
                                  self.base + i, i))
            pos = i + size
        if not batches:
            raise TraceError(self.path, "the trace has no events: " + RECORD_HINT)
        # (what was read, not f.tell(): a pipe cannot tell, "Illegal seek" until 2026-12-05)
        yield batches, self.base + self.filled - done_bytes, self.buf

    def _fill(self, pos: int, need: int) -> bool:
        """Read until buf holds `need` bytes from pos (False: the file ends first). A full
        buffer is replaced by one twice the size: the views of the batches taken from the
        old one keep it, and their indices hold in the new one."""
        while not self.eof and self.filled - pos < need:
            want = max(READ_BLOCK, need)
            if self.filled + want > self.buf.shape[0]:
                grown = np.empty(max(2 * self.buf.shape[0], self.filled + want), np.uint8)
                grown[:self.filled] = self.buf[:self.filled]
                self.buf, self.view = grown, memoryview(grown)
            n = self.f.readinto(self.view[self.filled:self.filled + want])
            if not n:
                self.eof = True
            self.filled += n
        return self.filled - pos >= need

    def _drop_before(self, pos: int) -> int:
        """Move buf[pos:] to the front (the batches before pos are done with); pos's index
        there (0)."""
        left = self.filled - pos
        self.buf[:left] = self.buf[pos:self.filled].copy()
        self.filled = left
        self.base += pos
        return 0

    def _batch_header(self, pos: int):
        """The batch header at buf[pos]: (generation, experiment, is_exp, M, time, size,
        index of its data), its data read in; the index past a lone EvEndOfGeneration
        byte (1.26+); None at the end of the file."""
        self._fill(pos, 48)  # a header takes at most 42 bytes
        if pos >= self.filled:
            return None
        path, buf, off = self.path, self.view, self.base + pos
        kind = buf[pos]
        if kind == w.EV_END_OF_GENERATION and self.version >= 26:
            return pos + 1
        if kind not in (w.EV_EVENT_BATCH, w.EV_EXPERIMENTAL_BATCH):
            raise TraceError(path, f"corrupt trace: expected a batch (byte 1 or 49), found {kind}",
                             off)
        i = pos + 1
        is_exp = kind == w.EV_EXPERIMENTAL_BATCH
        exp = 0
        if is_exp:
            if i >= self.filled:
                raise TraceError(path, "truncated: the file ends inside a batch header", off)
            exp = buf[i]
            i += 1
        vals = []
        for what in ("generation", "M", "time", "size"):
            v, i = w.uvarint(buf, i, self.filled)
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
        if not self._fill(pos, i - pos + size):
            have = self.filled - i
            raise TraceError(path, f"truncated: batch declares {size} data bytes, the file "
                                   f"ends after {have}", off)
        return gen, exp, is_exp, m, time, size, i


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


class _Slot:
    """SLOT_ROWS rows of goalloc event columns the converter writes a slice into, and how
    many it wrote (the site column is zero past them)."""
    __slots__ = ("cols", "used")

    def __init__(self):
        self.cols = {name: (np.zeros if name == "site" else np.empty)(SLOT_ROWS, dt)
                     for name, dt in fmt.COLUMNS.items()}  # (zeros: no page is touched)
        self.used = 0


class _State:
    """Everything carried from one generation to the next."""

    def __init__(self):
        self.m_index: dict[int, int] = {}
        self.mp = np.full(16, -1, np.int64)  # P held by each M (by M index), -1 none
        self.mfree = np.zeros(16, np.int64)  # gotrace_convert.Clock.mfree
        self.mterm = np.zeros(16, np.int64)  # gotrace_convert.Clock.mterm
        self.mstop = np.zeros(16, np.int64)  # gotrace_convert.Clock.mstop
        self.stw = np.array([-1, 0, 0, 0, 0, 0], np.int64)  # gotrace_convert.Clock.stw
        self.nprocs = 0  # Ps seen so far: the highest P id + 1
        self.rows_out = 0  # rows given to the writer so far
        self.mcache_flushes: list[list[int]] = []  # [event index, P, idle]: _take_mcache_flushes
        self.gc_start_rows: list[int] = []  # event indices of the gc_start rows written
        self.late_flushes: list[list[int]] = []  # the header's mcache_flushes (_late_flushes)
        self.idle_p_flushes = 0  # how many of them the mark terminator's forEachP made
        self.lastkey = np.full(16, -(1 << 62), np.int64)
        self.lastp = np.zeros(8, np.int64)
        self.pstart = np.zeros(8, np.int64)  # gotrace_convert.Clock.pstart
        self.pagemap = np.full(1 << 12, -1, np.int64)
        self.span_np = np.zeros(1 << 12, np.int64)
        self.span_kc = np.ones(1 << 12, np.int64)
        self.span_slot0 = np.full(1 << 12, -1, np.int64)  # region of each span's slot ids
        self.span_replaced = np.full(1 << 12, -1, np.int64)  # SpanTable.replaced
        self.span_snap = np.zeros(1 << 12, np.int64)  # SpanTable.snap
        self.span_carried = np.zeros(1 << 12, np.int64)  # SpanTable.carried
        # Clock.mcache0: -2 no allocation of the class on the P yet (P ids past 255: none kept)
        self.mcache0 = np.full((256, 2 * 256), -2, np.int64)
        self.span_ns = np.zeros(1 << 12, np.int64)
        self.span_rcap = np.zeros(1 << 12, np.int64)
        self.slot_ids = np.full(1 << 16, -1, np.int64)
        self.pctr = np.zeros(1, np.int64)
        self.fl_head = None  # per size class, set once the size-class table is known
        self.xkeys = np.full(1 << 10, EMPTY, np.int64)  # spill map: slot base -> object id
        self.xvals = np.zeros(1 << 10, np.int64)
        self.xctr = np.zeros(3, np.int64)  # live, used (live + tombstones), room wanted
        self.dec = None  # decode buffers (decode_buffers)
        self.free_slots: list[_Slot] = []  # output slots the writer is done with
        self.queued: deque = deque()  # (the last write queued from a slot, the slot)
        self.ofree = np.zeros(1024, np.int64)  # object ids: free-id stack and counters
        self.otag = np.zeros(1024, np.int64)  # per object id: mcache epoch and P at alloc
        self.epoch = np.zeros(1, np.int64)  # mcache flushes seen so far
        self.octr = np.zeros(4, np.int64)
        self.owed = AddrMap(10)
        self.spans = AddrMap(12)
        self.stacks = AddrMap(10)
        self.gcseq = np.zeros(1, np.int64)
        self.cnt = np.zeros(cv.N_COUNTERS, np.int64)
        self.tcount = np.zeros(256, np.int64)
        self.info = None  # (min_heap_addr, page_size, min_heap_align, fixed_stack)
        self.freq = None
        self.t0 = None
        self.gens = 0
        self.trigger_allocs_moved = 0  # [1.24+] triggering allocations put before GCBegin
        self.large_allocs_moved = 0  # large objects traced after delayed zeroing, put at their span
        self.lowest_span_page = None  # [1.26+] the randomized heap base's padding pages
        self.span_pages = None  # the header's source.span_pages (_span_pages)
        self.metric_samples_moved = 0  # to their read (_metric_samples_at_their_read)
        self.metric_samples_by_read_age = 0  # of them, placed by the age their record gives
        self.split_malloc_frames = False  # release evidence from the first generation
        self.cur_g = np.full(16, -1, np.int64)  # goroutine running on each M (by M index)
        self.generated_malloc_frames = False
        self.release = self.release_how = None
        self.packed_span_scan = None  # the recording CPU's (import_gotrace), None: not known
        self.cpus = None  # the CPUs the recorded program could run on (import_gotrace)
        self.writer = None
        self.pool = None  # the writer's thread
        self.decode_pool = None  # a second decoding thread (decoder)
        self.gomaxprocs = 1
        self.sites = SiteTable("go-type")  # attribution table over all generations (#17)
        self.metrics = MetricLog()  # trace.Log metric samples (#20)
        self.mark = MarkCpu()  # mark workers' and assists' time per GC cycle (gomark.py)

    def m_idx(self, m: int) -> int:
        idx = self.m_index.get(m)
        if idx is None:
            idx = self.m_index[m] = len(self.m_index)
            if idx >= self.mp.shape[0]:
                self.mp = _grow(self.mp, 2 * idx, -1)
                self.mfree = _grow(self.mfree, 2 * idx, 0)
                self.mterm = _grow(self.mterm, 2 * idx, 0)
                self.mstop = _grow(self.mstop, 2 * idx, 0)
                self.lastkey = _grow(self.lastkey, 2 * idx, -(1 << 62))
        return idx

    def ensure_pages(self, n: int) -> None:
        if n > self.pagemap.shape[0]:
            size = max(n, 2 * self.pagemap.shape[0])
            self.pagemap = _grow(self.pagemap, size, -1)
            self.span_np = _grow(self.span_np, size, 0)
            self.span_kc = _grow(self.span_kc, size, 1)
            self.span_slot0 = _grow(self.span_slot0, size, -1)
            self.span_replaced = _grow(self.span_replaced, size, -1)
            self.span_snap = _grow(self.span_snap, size, 0)
            self.span_carried = _grow(self.span_carried, size, 0)
            self.span_ns = _grow(self.span_ns, size, 0)
            self.span_rcap = _grow(self.span_rcap, size, 0)

    def decode_buffers(self, cap: int) -> tuple:
        """typ, key, m, a1, a2, a3 of at least `cap` events, reused from one generation to the
        next (fresh arrays each time cost a page fault per 4 KiB)."""
        if self.dec is None or self.dec[0].shape[0] < cap:
            self.dec = (np.empty(cap, np.uint8),) + tuple(np.empty(cap, np.int64)
                                                         for _ in range(5))
        return self.dec

    def decoder(self) -> ThreadPoolExecutor:
        """The thread that decodes the arguments of large generations (_decode_events)."""
        if self.decode_pool is None:
            self.decode_pool = ThreadPoolExecutor(max_workers=1,
                                                  thread_name_prefix="gotrace-decode")
        return self.decode_pool

    def take_slot(self) -> _Slot:
        """An output slot to convert into: a free one, else a new one while fewer than
        SLOTS_QUEUED are queued, else the oldest queued one once written. Slots are
        reused from one slice to the next, so the output's pages are touched once: the
        two whole-generation buffers they replace (2026-12-04) took 0.2 GB of fresh pages
        on bench_import's trace, 20% of the main thread's time in the kernel zeroing them."""
        while self.queued and (self.queued[0][0].done() or len(self.queued) >= SLOTS_QUEUED):
            write, slot = self.queued.popleft()
            write.result()
            self.free_slots.append(slot)
        slot = self.free_slots.pop() if self.free_slots else _Slot()
        slot.cols["site"][:slot.used].fill(0)  # the converter writes the site of allocs only
        slot.used = 0
        return slot

    def grow_pool(self, need: int) -> None:
        size = max(2 * self.slot_ids.shape[0], int(self.pctr[0]) + need)
        self.slot_ids = _grow(self.slot_ids, size, -1)

    def grow_spill(self, incoming: int) -> None:
        """Rehash into a table at most half full after `incoming` more entries."""
        cap = self.xkeys.shape[0]
        while (int(self.xctr[0]) + incoming) * 2 > cap:
            cap *= 2
        keys = np.full(cap, EMPTY, np.int64)
        vals = np.zeros(cap, np.int64)
        cv.spill_rehash(self.xkeys, self.xvals, keys, vals)
        self.xkeys, self.xvals = keys, vals
        self.xctr[1] = self.xctr[0]

    def span_table(self) -> cv.SpanTable:
        return cv.SpanTable(self.pagemap, self.span_np, self.span_kc, self.span_slot0,
                            self.span_ns, self.span_rcap, self.span_replaced, self.span_snap,
                            self.span_carried)

    def object_ids(self) -> cv.ObjectIds:
        return cv.ObjectIds(self.slot_ids, self.pctr, self.fl_head, self.xkeys, self.xvals,
                            self.xctr, self.ofree, self.octr, self.otag)

    def grow_ids(self, at_least: int = 0) -> None:
        """Room for more object ids: double, or to at_least ids."""
        self.ofree = _grow(self.ofree, max(2 * self.ofree.shape[0], at_least), 0)
        self.otag = _grow(self.otag, max(2 * self.otag.shape[0], at_least), 0)

    def reserve_ids(self, allocs: int) -> None:
        """Room for the ids of `allocs` more objects at once (a generation's: the converter
        then never stops to grow them, each doubling a copy of what was touched before). An id
        is a fresh one (octr[3]) only when none is free, so the ids stay below octr[3] +
        allocs, and the stack of free ones is no deeper; the arrays are zeroed, so pages past
        the ids a trace reaches are never touched."""
        need = int(self.octr[3]) + allocs + 1
        if need > min(self.ofree.shape[0], self.otag.shape[0]):
            self.grow_ids(need)


def _pool_need(npages: int, kc: int, page_size: int, class_size, path, off) -> int:
    """Slot ids the span event needs in the pool, as gotrace_convert counts them (#18: a
    large span needs one, not a slot per 8 bytes; a size-class span of more pages than any
    table's is corrupt, and would need npages * 1024)."""
    sc = kc >> 2
    if kc & 1 or sc >= class_size.shape[0]:
        return 2
    if sc > 0 and npages > limits.MAX_CLASS_PAGES:
        raise TraceError(path, f"corrupt trace: a {npages}-page span of size class {sc}", off)
    size = npages * page_size if sc == 0 else int(class_size[sc])
    return (npages * page_size // size if size > 0 else 0) + 2


def _grow(a: np.ndarray, n: int, fill) -> np.ndarray:
    # (zeros from calloc: a large block is fresh mapped memory, not touched until used)
    out = (np.zeros(max(n, a.shape[0]), a.dtype) if fill == 0
           else np.full(max(n, a.shape[0]), fill, a.dtype))
    out[: a.shape[0]] = a
    return out


def _locate(idx: int, bstart: np.ndarray, data_off: list[int]) -> int:
    b = int(np.searchsorted(bstart, idx, side="right")) - 1
    return data_off[b] + idx - int(bstart[b])


def _table_entries(batches: list[_Batch], decode, what: str, path):
    """Yield (batch, ids, byte offsets, counts) of each string or stack batch, decoded by
    `decode` (gotrace_wire.decode_strings or decode_stacks: at most one entry per 3 bytes)."""
    for b in batches:
        sd = np.frombuffer(b.data, np.uint8)
        cap = len(b.data) // 3 + 1
        ids, offs, cnt = (np.empty(cap, np.int64) for _ in range(3))
        status, k, at = decode(sd, 0, len(sd), ids, offs, cnt, 0)
        if status != w.OK:
            raise TraceError(path, f"corrupt trace: bad {what} table entry", b.data_off + at)
        yield b, ids[:k], offs[:k], cnt[:k]


def _type_name(data: memoryview, at: int) -> str:
    """The name whose length varint starts at data[at] (a types batch entry); "" when the
    length runs past the data."""
    n, at = w.uvarint(data, at, len(data))
    return str(data[at:at + n], "utf-8", "replace") if at >= 0 else ""


def _strings(strings: list[_Batch], wanted: np.ndarray, path) -> dict[int, str]:
    """The strings of this generation's string batches whose ids are in `wanted`."""
    table = {}
    for b, ids, offs, lns in _table_entries(strings, w.decode_strings, "string", path):
        for j in np.flatnonzero(np.isin(ids, wanted)):
            table[int(ids[j])] = str(b.data[offs[j]:offs[j] + lns[j]], "utf-8", "replace")
    return table


def _stack_funcs(stacks: list[_Batch], wanted: set[int], path) -> dict[int, list[int]]:
    """Stack id -> the function-name string ids of its frames (innermost first), for the
    stacks of this generation's stack batches whose ids are in `wanted`."""
    out: dict[int, list[int]] = {}
    if not wanted:
        return out
    want = np.array(sorted(wanted), np.int64)
    for b, ids, offs, nfr in _table_entries(stacks, w.decode_stacks, "stack", path):
        for j in np.flatnonzero(np.isin(ids, want)).tolist():
            i, fr = int(offs[j]), []
            for _ in range(int(nfr[j])):
                vals = []
                for _ in range(4):  # pc, func string id, file string id, line
                    v, i = w.uvarint(b.data, i, len(b.data))
                    vals.append(v)
                # a string id past int64 names no string (the tables' ids are int64): -1
                fr.append(vals[1] if vals[1] < 1 << 63 else -1)
            out[int(ids[j])] = fr
    return out


def _gc_trigger(funcs: list[str]) -> int:
    """gc_start aux from the function names of the GCBegin stack (runtime/mgc.go gcTrigger
    kinds: gcTriggerCycle is runtime.GC, gcTriggerTime forcegchelper, gcTriggerHeap mallocgc
    and user arenas)."""
    names = set(funcs)
    if names & GC_FORCED_FUNCS:
        return fmt.GC_TRIGGER_FORCED
    if "runtime.forcegchelper" in names:
        return fmt.GC_TRIGGER_TIME
    # 1.24+ splits mallocgc (mallocgcSmallNoscan, ...; 1.27's generated mallocgc*SC<n>): the
    # heap test may run in a frame below mallocgc, or with no mallocgc frame at all.
    if any(f.startswith("runtime.mallocgc") for f in names) or \
            "runtime.newUserArenaChunk" in names:
        return fmt.GC_TRIGGER_HEAP
    return fmt.GC_TRIGGER_UNKNOWN


def _late_alloc_kind(funcs: list[str]) -> int:
    """Whether the allocation that started a cycle is traced after its GCBegin, and of which
    kind: [1.24+] the size-specialised malloc paths (mallocgcTiny, mallocgcSmallNoscan,
    mallocgcSmallScanNoHeader, mallocgcSmallScanHeader, mallocgcLarge; 1.27's generated
    mallocgc*SC<n> and *SlowPath) run gcStart before mallocgc's postMallocgcDebug traces the
    object, where 1.23's mallocgc traced it first. LATE_NOSCAN / LATE_SCAN / LATE_ANY (large
    objects: either), or 0 when the stack shows no such path (1.23, or not a heap trigger)."""
    for f in funcs:
        m = _SPLIT_MALLOC_RE.match(f)
        if m:
            kind = m.group(1)
            if kind.startswith(("Tiny", "SmallNoscan", "SmallNoScan")):  # 1.27: TinySC, ...
                return LATE_NOSCAN
            if kind.startswith("SmallScan"):
                return LATE_SCAN
            return LATE_ANY
    return 0


def _trigger_allocs_first(order, typ, key, mm, a1, a2, a3, t_ptr, gcb, gc_funcs, st,
                          status_ms, per_page, start_blocks=()):
    """The merge order with each cycle's triggering allocation moved to just before its
    GCBegin, where the runtime allocated it ([1.24+]: see _late_alloc_kind). It is the first
    HeapObjectAlloc after the GCBegin by the goroutine that began the cycle (which may resume
    on another M: gcStart stops the world, and the goroutine can be preempted before its
    allocation is traced) whose type matches the malloc path on the GCBegin stack (scan or
    noscan) - for a large object, the one at the base of the large span the goroutine allocated
    before the GCBegin - and traced after the cycle's sweep-termination stop ends (gcStart
    allocates mark workers, their channel and stacks before that stop). It takes the GCBegin's
    time. Goroutines that blocked in gcStart while another began the cycle (start_blocks: a
    GoBlock whose stack holds gcStart) allocated too before they checked the trigger: their
    next allocation of their stack's kind moves likewise, when the cycle began after their
    previous allocation. Counted in st.trigger_allocs_moved. status_ms: _status_ms's."""
    late = [(int(j), kind) for j in gcb
            if (kind := _late_alloc_kind(gc_funcs.get(int(a1[j]), []))) != 0]
    if not late:
        return order
    ga = _GoAllocs.of_generation(order, typ, mm, a1, a2, a3, t_ptr, st, *status_ms)
    moved = _move_cycle_starters(late, ga, key, per_page)
    moved += _move_blocked_starters(start_blocks, late, ga, key, per_page)
    st.trigger_allocs_moved += moved
    return ga.reordered() if moved else order


class _GoAllocs:
    """A generation's events in merge order, the goroutine each ran on, and the allocations
    moved so far (event -> its new merge position: half or a quarter of a step from an event
    that stays; a move only ever takes an allocation earlier).

    The functions that move allocations look for the first or last event of a kind after or
    before a merge position: numba kernels scan the order from there (the event is usually
    near), skipping moved allocations, which are looked at apart (a few per generation).
    Until 2026-12-04 they masked every allocation of the generation once per cycle and
    re-sorted the whole order by float positions at the end: 0.25 s of a 4.6 M-event
    import, now ~0.03 s (most of it _running_g's one pass)."""

    def __init__(self, order, typ, a1, a2, a3, t_ptr, g_of, at):
        self.order, self.typ, self.a1, self.a2, self.a3 = order, typ, a1, a2, a3
        self.t_ptr = t_ptr
        self.g_of = g_of  # the goroutine each event ran on (-1: none known)
        self.at = at  # the merge position of each GCBegin and GoBlock (others: not set)
        self.is_moved = np.zeros(typ.shape[0], np.bool_)
        self.moved: dict[int, float] = {}
        self.was: dict[int, int] = {}  # a moved event's merge position before its first move

    @classmethod
    def of_generation(cls, order, typ, mm, a1, a2, a3, t_ptr, st, status, m_of) -> _GoAllocs:
        if st.cur_g.shape[0] < len(st.m_index):
            st.cur_g = _grow(st.cur_g, len(st.m_index), -1)
        g_of, at = _running_g(order, typ, mm, a1, a3, status, m_of, st.cur_g)
        return cls(order, typ, a1, a2, a3, t_ptr, g_of, at)

    def move(self, e: int, now: float, to: float) -> None:
        """Move event e, at merge position `now`, to `to`."""
        self.was.setdefault(e, int(now))
        self.is_moved[e] = True
        self.moved[e] = to

    def next_alloc(self, lo: float, hi: float, g: int, kind: int,
                   base: int | None = None) -> tuple[int, float]:
        """The first allocation (least merge position, then least event index) in the open
        range (lo, hi) by goroutine g of a malloc path's kind (LATE_ANY: any; at heap offset
        `base` when given), and its position; (-1, -1.0) if none."""
        p = _next_alloc(self.order, self.typ, self.a1, self.a2, self.g_of, self.t_ptr,
                        self.is_moved, math.floor(lo) + 1,
                        min(math.ceil(hi), self.order.shape[0]), g, kind, base is not None,
                        0 if base is None else base)
        best = (float(p), int(self.order[p])) if p >= 0 else (-1.0, -1)
        for e, q in self.moved.items():
            if lo < q < hi and self.g_of[e] == g and _kind_fits(self.a2, self.t_ptr, e, kind) and \
                    (base is None or self.a1[e] == base) and (best[1] < 0 or (q, e) < best):
                best = (q, e)
        return best[1], best[0]

    def ran(self, lo: float, hi: float, g: int) -> bool:
        """Whether goroutine g ran an event in the open range (lo, hi) of merge positions."""
        a, b = math.floor(lo) + 1, min(math.ceil(hi), self.order.shape[0])
        return a < b and bool(np.any(self.g_of[self.order[a:b]] == g))

    def reordered(self) -> np.ndarray:
        """The merge order with the moved allocations at their new positions (at equal
        positions by event index, as a stable sort by position places them)."""
        ev = sorted(self.moved, key=lambda e: (self.moved[e], e))
        to = np.array([self.moved[e] for e in ev], np.float64)
        was = np.sort(np.array([self.was[e] for e in ev], np.int64))
        # the kept events before each: the positions below it less the moved events there
        idx = np.ceil(to).astype(np.int64) - np.searchsorted(was, to)
        return _moved(self.order, was, idx, np.array(ev, np.int64))


@kernel(inline="always")
def _kind_fits(a2, t_ptr, e, kind):
    """Allocation e is of a malloc path's kind (scan: its type, a2, has pointers; LATE_ANY:
    either): _next_alloc's test, and next_alloc's for the moved allocations."""
    if kind == LATE_ANY:
        return True
    tid = a2[e]
    scan = 0 < tid < t_ptr.shape[0] and t_ptr[tid] > 0
    return scan == (kind == LATE_SCAN)


@kernel
def _next_alloc(order, typ, a1, a2, g_of, t_ptr, is_moved, lo, hi, g, kind, by_base, base):
    """The first merge position in [lo, hi) of a HeapObjectAlloc not moved, by goroutine g,
    of a malloc path's kind (scan: its type has pointers; LATE_ANY: either), at heap offset
    `base` when by_base; -1 if none."""
    for p in range(lo, hi):
        e = order[p]
        if typ[e] != w.EV_HEAP_OBJECT_ALLOC or g_of[e] != g or is_moved[e]:
            continue
        if by_base and a1[e] != base:
            continue
        if _kind_fits(a2, t_ptr, e, kind):
            return p
    return np.int64(-1)


@kernel
def _next_event(order, typ, a1, lo, hi, t1, t2, by_a1, want):
    """The first merge position in [lo, hi) of an event of type t1 or t2 (whose a1 is
    `want` when by_a1); hi if none."""
    for p in range(lo, hi):
        e = order[p]
        if (typ[e] == t1 or typ[e] == t2) and (not by_a1 or a1[e] == want):
            return p
    return hi


@kernel
def _last_span(order, typ, a1, a2, a3, g_of, lo, hi, g, large, by_addr, addr, per_page):
    """The last merge position in [lo, hi) of a SpanAlloc by goroutine g (a heap span of
    class 0 when `large`; holding heap offset addr when by_addr); -1 if none."""
    for p in range(hi - 1, lo - 1, -1):
        e = order[p]
        if typ[e] != w.EV_SPAN_ALLOC or g_of[e] != g:
            continue
        if large and (a3[e] & 1 != 0 or a3[e] >> 2 != 0):
            continue
        if by_addr and not (a1[e] * per_page <= addr < (a1[e] + a2[e]) * per_page):
            continue
        return p
    return np.int64(-1)


def _move_cycle_starters(late, ga: _GoAllocs, key, per_page: int) -> int:
    """Move each late cycle's triggering allocation before its GCBegin; how many moved."""
    order, typ, a1, g_of = ga.order, ga.typ, ga.a1, ga.g_of
    n = order.shape[0]
    moved = 0
    for j, kind in late:
        g = int(g_of[j])
        if g < 0:
            continue
        pj = int(ga.at[j])
        after = _next_event(order, typ, a1, pj + 1, n, w.EV_STW_END, w.EV_STW_END, False, 0)
        after = pj if after == n else after  # the cycle's sweep-termination stop's end
        end, base = n, None
        if kind == LATE_ANY:  # large: the object at the base of the goroutine's last large span
            ps = _last_span(order, typ, a1, ga.a2, ga.a3, g_of, 0, pj, g, True, False, 0,
                            per_page)
            if ps < 0:
                continue
            span = int(order[ps])
            base = int(a1[span]) * per_page
            # while that span lives: a later object at its base (after its SpanFree, in another
            # span there) is not its object
            end = _next_event(order, typ, a1, ps + 1, n, w.EV_SPAN_ALLOC, w.EV_SPAN_FREE, True,
                              a1[span])
        first, now = ga.next_alloc(after, end, g, kind, base)
        if first < 0:
            continue
        ga.move(first, now, pj - 0.5)
        key[first] = key[j]
        moved += 1
    return moved


def _move_blocked_starters(start_blocks, late, ga: _GoAllocs, key, per_page: int) -> int:
    """Move the next allocation of each goroutine blocked in gcStart before the GCBegin of
    the last late cycle begun before it, unless that cycle began before the goroutine's
    previous allocation or the goroutine ran between its block and that GCBegin; how many
    moved. An object in a span the goroutine allocated after
    that GCBegin (and before it blocked) goes just after its span's SpanAlloc instead: the
    malloc paths take the slot (a fresh span's first, or a large span's object) before they
    check the trigger, so the goroutine, running on another P while the cycle began, made
    the object there, and an object cannot come before its span."""
    order, g_of = ga.order, ga.g_of
    n = order.shape[0]
    late_pos = np.sort(np.array([ga.at[j] for j, _ in late], np.int64))
    late_at = {int(ga.at[j]): j for j, _ in late}
    moved = 0
    for b, kind in start_blocks:
        g = int(g_of[b])
        if g < 0:
            continue
        pb = int(ga.at[b])
        a, now = ga.next_alloc(pb, n, g, kind)
        if a < 0:
            continue
        k = np.searchsorted(late_pos, now) - 1  # the last such cycle begun before it
        if k < 0:
            continue
        pj = int(late_pos[k])
        j = late_at[pj]
        if g_of[j] == g:
            continue  # it began that cycle itself: _move_cycle_starters placed its object
        if ga.next_alloc(pj, pb, g, LATE_ANY)[0] >= 0:
            continue  # the cycle began before the goroutine's previous allocation
        if ga.ran(pb, pj, g):
            # it ran between the block and that cycle's GCBegin (allocated, blocked again):
            # the block had ended, so it did not wait for that cycle. E.g. a cycle's starter
            # blocks in its own gcStart, runs on, blocks in an assist's gcMarkDone until the
            # next cycle, and only then finishes the allocation the assist was for
            continue
        to, at = pj - 0.25, key[j]
        ps = _last_span(order, ga.typ, ga.a1, ga.a2, ga.a3, g_of, pj + 1, pb, g, False, True,
                        ga.a1[a], per_page)
        if ps >= 0:  # the object's span came after the GCBegin
            to, at = ps + 0.5, key[order[ps]]
        ga.move(a, now, to)
        key[a] = at
        moved += 1
    return moved


def _large_allocs_at_their_span(order, typ, key, mm, a1, a3, st, per_page):
    """The merge order with each large object's HeapObjectAlloc moved to just after the
    SpanAlloc of its span, where the runtime allocated it. mallocgc zeroes a large object
    after allocLarge with preemption enabled (memclrNoHeapPointersChunked, "delayed zeroing",
    malloc.go of every release since 1.17, golang/go #47302) and traces the object only after
    that, so a goroutine preempted while zeroing leaves its span in use (and heapLive counted)
    for milliseconds before the object appears: a GC cycle that begins in between marks a heap
    that holds the span. The object's alloc is the next event at its span's base (a large span
    holds one object). It takes the SpanAlloc's time and M (so its P). Counted in
    st.large_allocs_moved. A large SpanAlloc with no later event at its base in this
    generation had the tracer begin a new generation while its goroutine zeroed: its object
    comes in a later one, and the converter allocates it at the span (SpanTable.carried,
    gotrace_convert._carried_object; measured: a 2-P Go 1.24 recording's span of 45 pages
    taken 0.2 ms before a GCBegin, its object traced 3.1 ms later in the next generation,
    the in-use heap at that mark start -2.6% of the runtime's without it)."""
    # only an object at a page boundary can be at a span's base: the rest (most of a
    # generation's events) need not be sorted
    ev, base, pos = _at_span_bases(order, typ, a1, a3, per_page)
    if not ev.size:
        return order
    by = np.argsort(base, kind="stable")  # by base, then in merge order
    ev, base, pos = ev[by], base[by], pos[by]
    last = np.append(base[1:] != base[:-1], True)  # the last event at its base
    unpaired = ev[last & (typ[ev] == w.EV_SPAN_ALLOC)]
    st.span_carried[a1[unpaired]] = unpaired + 1
    # an alloc right after (in its base's events) a large SpanAlloc at the same base
    hit = np.flatnonzero((base[1:] == base[:-1]) & (typ[ev[:-1]] == w.EV_SPAN_ALLOC)
                         & (typ[ev[1:]] == w.EV_HEAP_OBJECT_ALLOC))
    span_ev, alloc_ev = ev[hit], ev[hit + 1]
    span_at, alloc_at = pos[hit], pos[hit + 1]
    late = alloc_at > span_at + 1  # not already next to it
    if not late.any():
        return order
    span_ev, alloc_ev, span_at, alloc_at = span_ev[late], alloc_ev[late], span_at[late], \
        alloc_at[late]
    key[alloc_ev] = key[span_ev]
    mm[alloc_ev] = mm[span_ev]
    st.large_allocs_moved += int(alloc_ev.shape[0])
    # each moved alloc out of the order and back in right after its span
    was = np.sort(alloc_at)
    return _moved(order, was, span_at - np.searchsorted(was, span_at) + 1, alloc_ev)


def _moved(order, was, idx, ev) -> np.ndarray:
    """np.insert(np.delete(order, was), idx, ev): the order without the events at the
    (sorted) positions `was`, with ev[k] put before the idx[k]-th event left (equal indices
    in the order given), in one pass into one new array instead of two."""
    by = np.argsort(idx, kind="stable")
    return _reinsert(order, was, idx[by], ev[by])


@kernel
def _reinsert(order, was, idx, ev):
    """_moved's pass: idx sorted."""
    out = np.empty(order.shape[0] - was.shape[0] + ev.shape[0], np.int64)
    w, k, kept, o = 0, 0, 0, 0
    for p in range(order.shape[0]):
        if w < was.shape[0] and was[w] == p:
            w += 1
            continue
        while k < idx.shape[0] and idx[k] == kept:
            out[o] = ev[k]
            o += 1
            k += 1
        out[o] = order[p]
        o += 1
        kept += 1
    while k < idx.shape[0]:  # after the last event left
        out[o] = ev[k]
        o += 1
        k += 1
    return out


@kernel
def _at_span_bases(order, typ, a1, a3, per_page):
    """The events that may pair a large object with its span, in merge order: large heap
    SpanAllocs (class 0), HeapObjectAllocs at a page boundary and SpanFrees (a span freed
    in between breaks the pair); with the heap offset of each one's base and its merge
    position. One pass over the order, where masks, gathers and an inverse of the order
    over all events took 0.02 s of a 2.7 M-event generation."""
    n = order.shape[0]
    ev = np.empty(n, np.int64)
    base = np.empty(n, np.int64)
    pos = np.empty(n, np.int64)
    k = 0
    for p in range(n):
        j = order[p]
        t = typ[j]
        if t == w.EV_HEAP_OBJECT_ALLOC:
            if a1[j] % per_page != 0:
                continue
            b = a1[j]
        elif t == w.EV_SPAN_ALLOC:
            if a3[j] & 1 != 0 or a3[j] >> 2 != 0:
                continue
            b = a1[j] * per_page
        elif t == w.EV_SPAN_FREE:
            b = a1[j] * per_page
        else:
            continue
        ev[k] = j
        base[k] = b
        pos[k] = p
        k += 1
    return ev[:k].copy(), base[:k].copy(), pos[:k].copy()


def _status_ms(typ, a2, st: _State) -> tuple[np.ndarray, np.ndarray]:
    """The GoStatus events of a generation and the M (index) each names: where the goroutine
    runs when the generation starts."""
    status = np.flatnonzero((typ == w.EV_GO_STATUS) | (typ == w.EV_GO_STATUS_STACK))
    m_of = np.array([st.m_idx(int(m) & 0xFFFF_FFFF_FFFF_FFFF) for m in a2[status]], np.int64)
    return status, m_of


@kernel
def _running_g(order, typ, mm, a1, a3, status, m_of, cur):
    """The goroutine running on each event's M when it happened (-1: none known), following
    GoStart / GoSwitch (the M runs g), GoStatus at a generation's start (g runs on M
    m_of[k] for the GoStatus event status[k]) and GoStop / GoBlock / GoDestroy (it no longer
    does). `cur` (by M index) carries across generations. Also the merge position of each
    GCBegin and GoBlock (the entries of other events are not set)."""
    g_of = np.empty(typ.shape[0], np.int64)  # all set: order holds every event once
    at = np.empty(typ.shape[0], np.int64)
    for i in range(order.shape[0]):
        j = order[i]
        t = typ[j]
        m = mm[j]
        if t == w.EV_GO_START or t == w.EV_GO_SWITCH or t == w.EV_GO_SWITCH_DESTROY:
            cur[m] = a1[j]
        elif t == w.EV_GO_STATUS or t == w.EV_GO_STATUS_STACK:
            sm = m_of[np.searchsorted(status, j)]
            if (a3[j] == w.GO_RUNNING or a3[j] == w.GO_SYSCALL) and 0 <= sm < cur.shape[0]:
                cur[sm] = a1[j]
        elif t == w.EV_GC_BEGIN or t == w.EV_GO_BLOCK:
            at[j] = i
        g_of[j] = cur[m]
        if t == w.EV_GO_STOP or t == w.EV_GO_BLOCK or t == w.EV_GO_DESTROY:
            cur[m] = -1
    return g_of, at


def _snapshot_mcaches(mcache0: np.ndarray) -> list[list[int]]:
    """The header's `snapshot_mcaches`: [P, span id] for each P and span class whose first
    allocation before the first mcache flush went into a span of the trace-start snapshot
    (gotrace_convert._first_in_snapshot_span), by P then span id."""
    ps, cls = np.nonzero(mcache0 >= 0)
    pairs = sorted([int(p), int(mcache0[p, c])]
                   for p, c in zip(ps.tolist(), cls.tolist(), strict=True))
    return pairs[:fmt.MAX_HEADER_LIST]  # (Ps x classes could pass a header list's room)


class _GcStacks:
    """What a generation's stacks and strings say about its GC cycles."""
    __slots__ = ("gcb", "reasons", "strings", "funcs", "trigger", "start_blocks",
                 "scav_stacks")


def _generation(batches: list[_Batch], buf: np.ndarray, st: _State, version: int, path,
                writer_for, class_size, gt_objs) -> None:
    """Decode one generation (its batches' data in buf), merge its Ms' events and convert
    them (queued for writing)."""
    gen_off = batches[0].off
    events, strings, types, stacks = _sort_batches(batches, st, version, path)
    st.gens += 1
    _check_first_generation(st, version, path, gen_off)
    _min_heap, page_size, align, _fixed_stack = st.info
    ev = _decode_events(events, buf, st, version, path)
    typ, key, mm, a1, a2, a3 = ev
    # the merge's sort on the decoding thread (the kernels and numpy's sort release the
    # GIL), while the tables and checks below run here: none of them writes typ or key
    sorting = (st.decoder().submit(_time_order, typ, key)
               if typ.shape[0] >= AHEAD_EVENTS else None)
    gc = _gc_stacks(ev, strings, stacks, path)
    t_size, t_ptr, t_site, tracer_types = _type_tables(types, st, path)
    pmax = _check_procs(ev, st, path, gen_off)
    spans = _rows_of(typ, w.EV_SPAN, w.EV_SPAN_ALLOC)  # (the span events, for both)
    st.ensure_pages(_pages_reached(ev, spans, path, gen_off))
    st.lowest_span_page = _lowest_span_page(a1, spans, st.lowest_span_page)
    status, m_of = _status_ms(typ, a2, st)  # once: the merge and the mark CPU both follow it
    order = _merge_order(ev, st, gc, t_ptr, page_size // align, (status, m_of),
                         sorting.result() if sorting is not None else _time_order(typ, key))
    if st.gens == 1:
        st.span_pages = _span_pages(typ, a1, a2, order)
    label_ids = np.unique(a1[typ == w.EV_GO_LABEL])
    st.mark.generation(typ, key, mm, a1, a2, a3, order, status, m_of,
                       _strings(strings, label_ids, path) if label_ids.size else {},
                       len(st.m_index), gc.scav_stacks)
    if st.writer is None:
        _first_generation_facts(st, ev, pmax, strings)
    if st.fl_head is None:
        st.fl_head = np.full(class_size.shape[0], -1, np.int64)
    tab = cv.GenTables(class_size, gt_objs, t_size, t_site, tracer_types, gc.reasons,
                       fmt.FLUSH_REASON)
    clk = cv.Clock(st.mp, st.mfree, st.mterm, st.mstop, st.lastp, st.pstart, st.gcseq, st.stw,
                   st.epoch, st.mcache0, st.t0, align.bit_length() - 1,
                   page_size.bit_length() - 1, st.nprocs)  # (shifts: powers of two)
    _convert_and_write(cv.Events(order, typ, key, mm, a1, a2, a3), st, tab, clk, gc,
                       writer_for, path, gen_off)


def _sort_batches(batches: list[_Batch], st: _State, version: int, path):
    """A generation's event batches, and its string, type and stack tables; the alloc/free
    info and the clock frequency go to st."""
    events, strings, types, stacks = [], [], [], []
    for b in batches:
        if not b.data:
            continue
        first = b.data[0]
        if b.is_exp:
            if b.exp != w.EXPERIMENT_ALLOC_FREE:
                continue  # an experiment this importer does not know: nothing it needs
            if first == w.EXP_INFO_BATCH:
                st.info = _alloc_free_info(b, path)
            elif first == w.EXP_TYPES_BATCH:
                types.append(b)
            else:
                raise TraceError(path, f"corrupt trace: unknown alloc/free batch kind {first}",
                                 b.off)
        elif first == w.EV_STRINGS:
            strings.append(b)
        elif first == w.EV_STACKS:
            stacks.append(b)
        elif first == w.EV_CPU_SAMPLES:
            pass
        elif (first == w.EV_FREQUENCY and version < 25) or (first == w.EV_SYNC and version >= 25):
            freq = _parse_freq(b, version, path)
            if freq is not None and st.freq is None:
                st.freq = freq
        else:
            events.append(b)
    return events, strings, types, stacks


def _alloc_free_info(b: _Batch, path) -> tuple:
    """(min_heap_addr, page_size, min_heap_align, fixed_stack) of the alloc/free info batch."""
    vals, i = [], 1
    for _ in range(4):
        v, i = w.uvarint(b.data, i, len(b.data))
        if i < 0:
            raise TraceError(path, "corrupt trace: bad alloc/free info batch", b.off)
        vals.append(v)
    if vals[1] <= 0 or vals[2] <= 0 or vals[1] % vals[2] or \
            vals[1] & (vals[1] - 1) or vals[2] & (vals[2] - 1) or \
            not 8 <= vals[1] <= limits.MAX_PAGE_SIZE:  # #18: Go's page is 8 KiB
        raise TraceError(path, f"corrupt trace: alloc/free info {vals}", b.off)
    return tuple(vals)


def _check_first_generation(st: _State, version: int, path, gen_off: int) -> None:
    """The first generation must say how the heap is laid out and how the clock ticks."""
    if st.info is None:
        if version == 22:
            raise TraceError(path, "a Go 1.22 trace has no alloc/free events: " + RECORD_HINT)
        raise TraceError(path, "recorded without GODEBUG=traceallocfree=1 (no alloc/free "
                               "info in the first generation): " + RECORD_HINT)
    if st.freq is None:
        raise TraceError(path, "corrupt trace: no clock frequency in the first generation",
                         gen_off)


def _decode_events(events: list[_Batch], buf: np.ndarray, st: _State, version: int,
                   path) -> tuple:
    """typ, key (ns), M index, a1, a2, a3 of the kept events of the event batches, in batch
    order: decoded in one pass where they were read (buf), into buffers kept across
    generations (an event takes at least two bytes, and pages of the buffers that are never
    written are never touched)."""
    bstart = np.array([b.at for b in events], np.int64)
    bend = bstart + np.array([len(b.data) for b in events], np.int64)
    data = buf
    bm = np.array([st.m_idx(b.m) for b in events], np.int64)
    btime = np.array([b.time for b in events], np.uint64).astype(np.int64)
    tcount = np.zeros(256, np.int64)
    nbytes = int((bend - bstart).sum())
    cols = st.decode_buffers(nbytes // 2 + 1)

    def decode(part: int) -> tuple:
        # ns per tick computed as Go's reader does (generation.go), to the last bit: each
        # truncation after it must land where Go's does
        return w.decode_events(data, bstart, bend, bm, btime, 1.0 / (st.freq / 1e9),
                               w.nargs_table(version), w.kept_table(), st.lastkey, part,
                               *cols, tcount)

    if nbytes < DECODE_SPLIT_BYTES:
        status, n, at, detail = decode(w.PART_ALL)
    else:  # the arguments' columns on the decode thread, the times' here (the kernel
        # releases the GIL): a generation's decode is mostly first touches of its columns
        args = st.decoder().submit(decode, w.PART_ARGS)
        status, n, at, detail = decode(w.PART_TIMES)
        if args.result() != (status, n, at, detail):  # both read the same bytes
            raise AssertionError("the two parts of a generation's decode disagree")
    if status != w.OK:
        off = _locate(int(at), bstart, [b.data_off for b in events])
        if status == w.ERR_UNKNOWN_EVENT:
            raise TraceError(path, f"corrupt trace: unknown event type {detail} (not in the "
                                   f"Go 1.{version} trace spec)", off)
        name = w.EVENT_NAMES.get(int(detail), str(detail))
        what = "ends inside" if status == w.ERR_TRUNCATED_EVENT else "has a bad varint in"
        raise TraceError(path, f"corrupt trace: batch {what} a {name} event", off)
    st.tcount += tcount
    st.reserve_ids(int(tcount[w.EV_HEAP_OBJECT_ALLOC] + tcount[w.EV_HEAP_OBJECT]))
    return tuple(a[:n] for a in cols)


def _gc_stacks(ev: tuple, strings: list[_Batch], stacks: list[_Batch], path) -> _GcStacks:
    """Why each cycle started (gc_start aux): the stack of the goroutine that ran gcStart,
    which the runtime records with GCBegin (traceLocker.GCStart): runtime.GC for a forced
    cycle (runtime.GC, debug.FreeOSMemory, the testing package), runtime.forcegchelper for the
    periodic one, mallocgc for a heap trigger. Also the STW reasons, [1.24+] the goroutines
    that blocked in gcStart while another began the cycle, and the GoBlock stacks of the
    background scavenger's sleeps and parks (scav_stacks, for gomark). Only the strings these
    need (and the categories and messages of trace.Log records, for gometrics) are read."""
    typ, _key, _mm, a1, a2, a3 = ev
    gc = _GcStacks()
    gc.gcb = np.flatnonzero(typ == w.EV_GC_BEGIN)
    gc_stack = {int(a1[j]): int(a2[j]) for j in gc.gcb}  # GC seq -> stack id (0: none)
    blocks = np.flatnonzero(typ == w.EV_GO_BLOCK)
    block_sids = set(np.unique(a2[blocks]).tolist()) - {0}
    frames = _stack_funcs(stacks, {sid for sid in gc_stack.values() if sid > 0} | block_sids,
                          path)
    stw = typ == w.EV_STW_BEGIN
    wanted = np.unique(a1[stw]) if stw.any() else np.zeros(0, np.int64)
    wanted = wanted[(wanted >= 0) & (wanted < 1 << 24)]
    fids = np.array(sorted({f for fr in frames.values() for f in fr}), np.int64)
    ulog = typ == w.EV_USER_LOG
    fids = np.union1d(fids, np.union1d(a2[ulog], a3[ulog])) if ulog.any() else fids
    table = _strings(strings, np.union1d(wanted, fids), path) if wanted.size or fids.size \
        else {}
    gc.strings = table
    gc.reasons = _stw_reasons(wanted, table)
    gc.funcs = {seq: [table.get(f, "") for f in frames.get(sid, ())]
                for seq, sid in gc_stack.items()}
    gc.trigger = {seq: _gc_trigger(funcs) for seq, funcs in gc.funcs.items()}
    gc.start_blocks = []  # (GoBlock event, its malloc path) of goroutines blocked in gcStart
    scav = []
    for sid in block_sids:
        funcs = [table.get(f, "") for f in frames.get(sid, ())]
        if gc.gcb.size and "runtime.gcStart" in funcs and (kind := _late_alloc_kind(funcs)):
            gc.start_blocks += [(int(b), kind) for b in blocks[a2[blocks] == sid]]
        if _between_scavenger_calls(funcs):
            scav.append(sid)
    gc.scav_stacks = np.array(sorted(scav), np.int64)
    return gc


def _between_scavenger_calls(funcs: list[str]) -> bool:
    """A GoBlock stack of the background scavenger parking or sleeping between run() calls:
    through runtime.bgscavenge but not scavengerState.run. It names the scavenger's goroutine
    and marks the runs that end with a call returned (gomark). Go 1.27 gives the GC's
    stack-scan park ("preempted") a stack too, inside run()."""
    return "runtime.bgscavenge" in funcs and "runtime.(*scavengerState).run" not in funcs


def _stw_reasons(wanted: np.ndarray, table: dict[int, str]) -> np.ndarray:
    """STW reason string id -> fmt.STW_REASONS index (0: unknown)."""
    if not wanted.size:
        return np.zeros(1, np.int64)
    reasons = np.zeros(int(wanted.max()) + 1, np.int64)
    index = {r: k for k, r in enumerate(fmt.STW_REASONS)}
    for sid in wanted.tolist():
        if sid in table:
            reasons[sid] = index.get(table[sid], 0)
    return reasons


def _type_tables(types: list[_Batch], st: _State, path) -> tuple:
    """t_size, t_ptr, t_site (the type as a trace-wide attribution site, #17) by this
    generation's type ids (ids are per generation), and the ids of the tracer's buffer
    element types (gotrace_convert._alloc_flags)."""
    t_size = np.full(1, -1, np.int64)
    t_ptr = np.zeros(1, np.int64)
    t_site = np.zeros(1, np.int32)
    tracer_types = np.full(2, -1, np.int64)
    for b in types:
        td = np.frombuffer(b.data, np.uint8)
        cap = len(b.data) // 5 + 1
        ids, sizes, ptrs, name_at = (np.empty(cap, np.int64) for _ in range(4))
        status, k, at = w.decode_types(td, 0, len(td), ids, sizes, ptrs, name_at, 0)
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
        t_site = _grow(t_site, t_size.shape[0], 0)
        for j in range(k):  # per type, not per event: a generation names a few thousand
            t_site[ids[j]] = st.sites.site(_type_name(b.data, int(name_at[j])), int(sizes[j]),
                                           int(ptrs[j]))
        for j in np.flatnonzero(sizes[:k] == 8):
            name = bytes(b.data[name_at[j] + 1:name_at[j] + 1 + b.data[name_at[j]]])
            if name in TRACER_TYPES:
                tracer_types[TRACER_TYPES.index(name)] = ids[j]
    return t_size, t_ptr, t_site, tracer_types


def _check_procs(ev: tuple, st: _State, path, gen_off: int) -> int:
    """The highest P id of the generation (-1: none), checked; ProcSteal's victim M id is
    turned into an M index."""
    typ, _key, _mm, a1, _a2, a3 = ev
    for j in _rows_of(typ, w.EV_PROC_STEAL):
        a3[j] = st.m_idx(int(a3[j]) & 0xFFFF_FFFF_FFFF_FFFF)
    procs = _rows_of(typ, w.EV_PROC_START, w.EV_PROC_STATUS, w.EV_PROC_STEAL)
    if not procs.size:
        return -1
    pmax = int(a1[procs].max())
    if a1[procs].min() < 0 or pmax >= 1 << 15:
        raise TraceError(path, "corrupt trace: P id out of range", gen_off)
    if pmax >= st.lastp.shape[0]:
        st.lastp = _grow(st.lastp, pmax + 1, 0)
        st.pstart = _grow(st.pstart, pmax + 1, 0)
    st.nprocs = max(st.nprocs, pmax + 1)
    return pmax


def _rows_of(typ: np.ndarray, *types: int) -> np.ndarray:
    """The indices of the events of these types (np.flatnonzero of their mask, without the
    generation-sized masks numpy would build for it)."""
    table = np.zeros(256, np.bool_)
    table[list(types)] = True
    return _rows_in_table(typ, table)


@kernel
def _rows_in_table(typ, table):
    n = 0
    for j in range(typ.shape[0]):
        n += table[typ[j]]
    out = np.empty(n, np.int64)
    n = 0
    for j in range(typ.shape[0]):
        if table[typ[j]]:
            out[n] = j
            n += 1
    return out


FIRST_SPAN_ALLOCS = 256  # span allocations after the snapshot whose pages the header keeps
# a larger snapshot (a program traced long after it began) keeps no span_pages: the header
# stays small (readers take lists of at most 2^16 entries, headers of at most 1 MiB)
MAX_SNAPSHOT_SPAN_PAGES = 8192


def _span_pages(typ, a1, a2, order) -> dict | None:
    """The header's `span_pages`: where the runtime had its pages at the trace's start. Span
    ids are page offsets from the page heap's lowest address, which the goalloc format's dense
    span ids drop: [base page, pages] of each span of the trace-start snapshot (a Span event:
    a span_alloc row flagged snapshot, heap or manual, in the order the rows are written), and
    of the first FIRST_SPAN_ALLOCS span allocations after it (SpanAlloc: the other span_alloc
    rows, in order); the rows give the P. The replay places the snapshot's spans there, holes
    and all, and from each P's first small span the 64-page block its page cache held
    (engine/snapshot.py). None past MAX_SNAPSHOT_SPAN_PAGES snapshot spans."""
    ev = order[typ[order] == w.EV_SPAN]
    if ev.shape[0] > MAX_SNAPSHOT_SPAN_PAGES:
        return None
    al = order[typ[order] == w.EV_SPAN_ALLOC][:FIRST_SPAN_ALLOCS]
    return {"snapshot": np.stack([a1[ev], a2[ev]], axis=1).tolist(),
            "first_allocs": np.stack([a1[al], a2[al]], axis=1).tolist()}


def _lowest_span_page(a1: np.ndarray, sp: np.ndarray, lowest: int | None) -> int | None:
    """The lowest page a span starts at so far (None: no span yet). Span ids count pages from
    the page heap's lowest address (trace.minPageHeapAddr, the first chunk's base); from Go
    1.26 the runtime places its first span after the randomized heap base's padding
    (mheap.grow, markRandomPaddingPages), so this is the padding's size (engine/replay.py
    heap_base_padding). `sp`: the span events' indices. Checked ids only (_pages_reached
    runs first)."""
    if not sp.size:
        return lowest
    low = int(a1[sp].min())
    return low if lowest is None or low < lowest else lowest


def _pages_reached(ev: tuple, sp: np.ndarray, path, gen_off: int) -> int:
    """Pages the spans of this generation reach (objects outside them count as unmapped).
    The converter indexes the page tables with the span's id and the class table with its
    class: a span of no pages would sit past the tables sized by id + pages, and a class the
    runtime cannot write (traceSpanTypeAndClass: spanclass << 1, or 1; spanclass is a uint8)
    would index outside the class table (a negative one wraps around). `sp`: the span
    events' indices (_rows_of)."""
    _typ, _key, _mm, a1, a2, a3 = ev
    if not sp.size:
        return 0
    if a1[sp].min() < 0 or a2[sp].min() < 1:
        raise TraceError(path, "corrupt trace: a span with a negative id or no pages", gen_off)
    kc = a3[sp]
    if kc.min() < 0 or kc.max() >= limits.GO_SPAN_CLASS_END:
        bad = int(kc[(kc < 0) | (kc >= limits.GO_SPAN_CLASS_END)][0])
        raise TraceError(path, f"corrupt trace: span type and class {bad} (the runtime "
                         f"writes 0..{limits.GO_SPAN_CLASS_END - 1})", gen_off)
    # as uint64: two int64 values up to 2^63 - 1 add up without wrapping to negative
    need = int((a1[sp].astype(np.uint64) + a2[sp].astype(np.uint64)).max())
    if need > limits.MAX_GO_HEAP_PAGES:
        raise TraceError(path, f"corrupt trace (or a heap beyond the importer's limit): a span "
                         f"reaches page {need} above the lowest heap page, more than "
                         f"{limits.MAX_GO_HEAP_PAGES}", gen_off)
    return need


def _time_order(typ: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, int]:
    """The Ms' events merged by time (at equal times frees go first; a stable sort keeps each
    M's order), and the time of the first event that is written (P changes are not)."""
    if not typ.shape[0]:
        return np.zeros(0, np.int64), 0
    shown = np.arange(256) > w.EV_PROC_STATUS
    shown[list(w.SCHED_ONLY)] = False
    kmin, first_shown = _key_min(typ, key, shown)
    return np.argsort(_sort_keys(typ, key, kmin), kind="stable"), int(first_shown)


def _merge_order(ev: tuple, st: _State, gc: _GcStacks, t_ptr, per_page: int,
                 status_ms: tuple, by_time: tuple[np.ndarray, int]) -> np.ndarray:
    """The Ms' events merged by time (by_time: _time_order's), with the allocations the
    runtime made before the trace shows them moved to where they were made."""
    typ, key, mm, a1, a2, a3 = ev
    order, first_shown = by_time
    if st.t0 is None:  # the first event written is at 0
        st.t0 = first_shown
    if not typ.shape[0]:
        return order
    order = _trigger_allocs_first(order, typ, key, mm, a1, a2, a3, t_ptr, gc.gcb, gc.funcs,
                                  st, status_ms, per_page, gc.start_blocks)
    order = _large_allocs_at_their_span(order, typ, key, mm, a1, a3, st, per_page)
    return _metric_samples_at_their_read(order, typ, key, mm, a2, a3, gc.strings, st)


def _metric_samples_at_their_read(order, typ, key, mm, a2, a3, strings: dict, st
                                  ) -> np.ndarray:
    """Each runtime/metrics sample record (a trace.Log of category goalloc.metrics) moved to
    where its values were read. A record that says how long before it its read returned
    (gometrics.READ_AGE_NAME, which docs/go/goallocmetrics adds) goes to that time, after the
    last event at or before it, whatever its M did since (a sampler preempted between its
    read and its record resumes on an M whose previous event is that resumption, after the
    read: 2 of 194 Go 1.23 samples). Otherwise it goes right after its M's previous event, at
    that event's time: the sampler reads as soon as it runs, then formats and logs, and the
    record's time comes after the message has gone into the trace's string table, some
    microseconds in which other Ps allocate (a span that grew the heap 9 us before a Go 1.23
    record, after the read: docs/model.md "Scavenger over time"); but at most
    READ_WINDOW_NS before the record: a sampler that took longer reads again (goallocmetrics:
    50 us, 1 ms before 2026-12-06), so an M whose previous event is older lost its CPU to
    the OS between its wake-up and the read (a Go 1.23 sampler logged 4.6 ms after its
    wake-up, its values counting 3.7 MiB another P allocated meanwhile). A record that is
    its M's first event of the generation stays (or takes its read age)."""
    logs = np.flatnonzero(typ[order] == w.EV_USER_LOG)
    if not logs.shape[0]:
        return order
    cats = a2[order[logs]]  # category string ids: a few kinds, however many records
    ours = [c for c in np.unique(cats).tolist() if strings.get(c) == fmt.METRICS_LOG_CATEGORY]
    logs = logs[np.isin(cats, ours)]
    if not logs.shape[0]:
        return order
    ms = mm[order]
    keys = key[order]  # in time order (the merge is by time)
    rank = np.arange(order.shape[0], dtype=np.float64)
    moved = by_age = 0
    for i in logs.tolist():  # one per sample (every 20 ms or so), not per event
        age = gometrics.read_age(strings.get(int(a3[order[i]]), ""))
        if age is not None:
            t = int(keys[i]) - age
        else:
            lo = max(i - 4096, 0)  # (the sampler ran just before: look near first)
            before = lo + np.flatnonzero(ms[lo:i] == ms[i])
            if not before.shape[0] and lo:
                before = np.flatnonzero(ms[:lo] == ms[i])
            if not before.shape[0]:
                continue
            prev = int(before[-1])
            t = int(keys[i]) - READ_WINDOW_NS
        if age is None and t <= keys[prev]:  # right after the M's previous event
            at, t = prev, int(keys[prev])
        else:  # the last event at or before t, among those before the record
            at = int(np.searchsorted(keys[:i], t, side="right")) - 1
        if at < 0:
            continue
        rank[i] = at + 0.5
        key[order[i]] = t
        moved += 1
        by_age += age is not None
    st.metric_samples_moved += moved
    st.metric_samples_by_read_age += by_age
    return order[np.argsort(rank, kind="stable")]


@kernel
def _key_min(typ, key, shown):
    """The least key, and the least of the events whose type `shown` marks (the least key if
    there are none). One pass: masks and a gather made arrays of the generation's size."""
    kmin = key[0]
    smin = key[0]
    seen = False
    for j in range(key.shape[0]):
        k = key[j]
        kmin = min(kmin, k)
        if shown[typ[j]] and (not seen or k < smin):
            smin = k
            seen = True
    return kmin, (smin if seen else kmin)


@kernel
def _sort_keys(typ, key, kmin):
    """The merge's sort keys: time from kmin, then frees before other events at equal
    times. One pass, where numpy's masks and arithmetic made four arrays of the
    generation's size."""
    out = np.empty(key.shape[0], np.int64)
    for j in range(key.shape[0]):
        t = typ[j]
        free = t == w.EV_HEAP_OBJECT_FREE or t == w.EV_SPAN_FREE or \
            t == w.EV_GOROUTINE_STACK_FREE
        out[j] = (key[j] - kmin) * 2 + (0 if free else 1)
    return out


def _first_generation_facts(st: _State, ev: tuple, pmax: int, strings: list[_Batch]) -> None:
    """GOMAXPROCS and the release evidence in the malloc paths' names, for the header."""
    typ, _key, _mm, a1, _a2, _a3 = ev
    procs_change = a1[typ == w.EV_PROCS_CHANGE]
    st.gomaxprocs = int(min(max(1, pmax + 1, int(procs_change.max()) if procs_change.size
                                else 1), 1 << 15))
    joined = b"".join(b.data for b in strings)
    st.split_malloc_frames = _SPLIT_MALLOC_BYTES.search(joined) is not None
    st.generated_malloc_frames = _GENERATED_MALLOC_BYTES.search(joined) is not None


def _convert_and_write(ev: cv.Events, st: _State, tab: cv.GenTables, clk: cv.Clock,
                       gc: _GcStacks, writer_for, path, gen_off: int) -> None:
    """Convert in slices of WRITE_SLICE events, each into an output slot (st.take_slot),
    and queue each slice's output for writing (and zstd compression) on the worker thread,
    so compression runs alongside the conversion of the same generation, not only of the
    next one: the last generation's write, which nothing follows, is then one slice long.
    The Writer cuts chunks by event count, so the file does not depend on the slicing. The
    first generation's writes start once its snapshot is converted (_tracer_data_buffers
    needs all of it: its slices are held until then); the header, which names the release
    its evidence tells (tiny requests in blocks, slots past Green Tea's layout), is set
    when the whole generation is. Until 2026-12-04 nothing was written before then, and the
    first generation (half the events of the trace of bench_import) was compressed after
    its conversion, with one core idle."""
    n = ev.order.shape[0]
    first = st.writer is None
    snapshot_end = _after_last(ev.order, ev.typ, w.EV_HEAP_OBJECT,
                               np.count_nonzero(ev.typ == w.EV_HEAP_OBJECT)) if first else 0
    held: list[_Slot] = []  # converted before the output is open
    start, stop = 0, 0
    while stop < n:
        stop = min(n, stop + WRITE_SLICE)
        sliced = ev._replace(order=ev.order[:stop])
        while start < stop:  # (a slice fills its slot only with many rows an event)
            slot = st.take_slot()
            out = cv.Columns(*(slot.cols[name] for name in cv.Columns._fields))
            start, slot.used = _convert_slice(sliced, start, out, st, tab, clk, path, gen_off)
            _gc_trigger_aux(slot.cols, 0, slot.used, gc.trigger)
            held.append(slot)
            if st.writer is None:
                if stop < snapshot_end:
                    continue
                _tracer_data_buffers(held, st.cnt)
                writer_for(st, False)
            for slot in held:
                _queue_write(slot, st, gc)
            held = []
    if first:
        writer_for(st, True)


def _queue_write(slot: _Slot, st: _State, gc: _GcStacks) -> None:
    """Queue the slot's rows for the worker, which runs queued writes in order (the kernels
    and zstd release the GIL); the slot is free again once the last of them is written."""
    part = st.metrics.expand({name: col[:slot.used] for name, col in slot.cols.items()},
                             gc.strings)
    write = None
    for piece in _take_mcache_flushes(part, st):
        write = st.pool.submit(st.writer.write, **piece)
    if write is None:
        st.free_slots.append(slot)
    else:
        st.queued.append((write, slot))


@kernel
def _after_last(order, typ, t, count):
    """The merge position just after the last of the `count` events of type t (0 if none):
    the scan stops there (the first generation's snapshot comes first)."""
    if count == 0:
        return np.int64(0)
    for p in range(order.shape[0]):
        if typ[order[p]] == t:
            count -= 1
            if count == 0:
                return np.int64(p + 1)
    return np.int64(order.shape[0])


def _take_mcache_flushes(part: dict, st: _State) -> list[dict]:
    """The slice's columns without its flush rows (MCACHE_FLUSH_ROW, IDLE_P_FLUSH_ROW), as the
    pieces between them (views: nothing is copied), each row noted in st.mcache_flushes as
    [index of the event it came before, P, 1 for IDLE_P_FLUSH_ROW] for _late_flushes, with
    the gc_start rows' indices in st.gc_start_rows (both bounded: 2 x MAX_MCACHE_FLUSHES)."""
    kind = part["kind"]
    rows = np.flatnonzero((kind == cv.MCACHE_FLUSH_ROW) | (kind == cv.IDLE_P_FLUSH_ROW))
    room = 2 * MAX_MCACHE_FLUSHES - len(st.mcache_flushes)
    if room > 0:
        starts = np.flatnonzero(kind == fmt.GC_START)
        st.gc_start_rows += (st.rows_out + starts - np.searchsorted(rows, starts)).tolist()
        at = st.rows_out + rows - np.arange(rows.size)
        idle = kind[rows] == cv.IDLE_P_FLUSH_ROW
        st.mcache_flushes += np.stack([at, part["p"][rows], idle], 1)[:room].tolist()
    st.rows_out += int(kind.shape[0] - rows.size)
    if not rows.size:
        return [part]
    cuts = [-1, *rows.tolist(), int(kind.shape[0])]
    return [{name: col[a + 1:b] for name, col in part.items()}
            for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a + 1]


def _late_flushes(st: _State) -> tuple[list[list[int]], int]:
    """The header's `mcache_flushes` ([event index, P] pairs, at most MAX_MCACHE_FLUSHES) and
    how many of them are idle-P flushes.
    An idle-P flush (the mark terminator's forEachP, IDLE_P_FLUSH_ROW) is a guess from which
    Ps no M held: a P the restarted world had handed to an M that had not run yet looks the
    same, and that M's acquirep flushes it later. So it is dropped when the same P shows an
    acquire flush (MCACHE_FLUSH_ROW: its stale spans swept then, so forEachP had not) later
    in the same sweep phase (before the next gc_start)."""
    if not st.mcache_flushes:
        return [], 0
    fl = np.array(st.mcache_flushes, np.int64).reshape(-1, 3)
    starts = np.array(st.gc_start_rows, np.int64)
    keep = np.ones(fl.shape[0], np.bool_)
    for p in np.unique(fl[fl[:, 2] == 1, 1]).tolist():
        acq = fl[(fl[:, 1] == p) & (fl[:, 2] == 0), 0]  # in event order
        for k in np.flatnonzero((fl[:, 1] == p) & (fl[:, 2] == 1)).tolist():
            e = fl[k, 0]
            nxt = np.searchsorted(starts, e, side="right")
            phase_end = starts[nxt] if nxt < starts.size else np.iinfo(np.int64).max
            a = np.searchsorted(acq, e)
            keep[k] = not (a < acq.size and acq[a] < phase_end)
    kept = fl[keep][:MAX_MCACHE_FLUSHES]
    return kept[:, :2].tolist(), int(kept[:, 2].sum())


def _convert_slice(ev: cv.Events, start: int, out: cv.Columns, st: _State,
                   tab: cv.GenTables, clk: cv.Clock, path, gen_off: int) -> tuple[int, int]:
    """Run the converter over ev.order[start:] into `out`, growing what it asks for, until
    the end or until `out` has no room for another event's rows; (where it stopped, rows)."""
    maps = {cv.GROW_OWED: st.owed, cv.GROW_SPANS: st.spans, cv.GROW_STACKS: st.stacks}
    o = 0
    while True:
        status, start, o = cv.convert(start, ev, out, o, st.span_table(), st.object_ids(),
                                   _id_map(st.owed), _id_map(st.spans), _id_map(st.stacks),
                                   tab, clk, st.cnt)
        if status == cv.DONE or status == cv.OUT_FULL:
            return start, o
        if status == cv.GROW_OBJECTS:
            st.grow_ids()
        elif status == cv.GROW_POOL:
            j = ev.order[start]
            st.grow_pool(_pool_need(int(ev.a2[j]), int(ev.a3[j]), 1 << clk.pshift,
                                    tab.class_size, path, gen_off))
        elif status == cv.GROW_SPILL:
            st.grow_spill(max(1024, int(st.xctr[0]), int(st.xctr[2])))
        else:
            amap = maps[status]
            amap.grow(max(1024, int(amap.ctr[0]), int(amap.ctr[2])))


def _id_map(m: AddrMap) -> cv.IdMap:
    return cv.IdMap(m.keys, m.vals, m.free_ids, m.ctr)


def _gc_trigger_aux(cols, start: int, stop: int, trigger: dict[int, int]) -> None:
    """Set the aux of the gc_start rows in start:stop: why the cycle began."""
    if trigger:
        gs = start + np.flatnonzero(cols["kind"][start:stop] == fmt.GC_START)
        for j in gs.tolist():
            cols["aux"][j] = trigger.get(int(cols["id"][j]), fmt.GC_TRIGGER_UNKNOWN)


def _tracer_data_buffers(slots: list[_Slot], cnt) -> None:
    """Flag the tracer's two 1 MiB noscan CPU-sample buffers among the first generation's
    snapshot objects (all in `slots`): the noscan 1 MiB snapshot objects, when there are
    exactly as many as pointer buffers were found (else a program's own buffers of that size
    could be among them, and none is flagged)."""
    want = fmt.FLAG_SNAPSHOT | fmt.FLAG_NOSCAN
    cands = []
    for slot in slots:
        n = slot.used
        k, f, size = slot.cols["kind"][:n], slot.cols["flags"][:n], slot.cols["size"][:n]
        cands.append(np.flatnonzero((k == fmt.ALLOC) & ((f & want) == want)
                                    & ((f & fmt.FLAG_TRACER) == 0) & (size == cv.TRACER_DATA)))
    found = sum(c.shape[0] for c in cands)
    if found and found == cnt[cv.C_TRACER_BUFFERS]:
        for slot, cand in zip(slots, cands, strict=True):
            slot.cols["flags"][cand] |= fmt.FLAG_TRACER
        cnt[cv.C_TRACER_BUFFERS] += found
        cnt[cv.C_TRACER_BYTES] += found * cv.TRACER_DATA


def _wait_write(st: _State) -> None:
    """Wait for every queued write."""
    while st.queued:
        write, slot = st.queued.popleft()
        write.result()
        st.free_slots.append(slot)


def _release_of(st: _State, version: int, exact: str | None) -> tuple[str, str]:
    """The release that wrote the trace, and how that is known (from the first slice)."""
    if exact:
        return exact, "go version (goalloc record)"
    return releases.infer_release(releases.Evidence(
        trace_format=version, tiny_in_block=int(st.cnt[cv.C_TINY_IN_BLOCK]),
        split_malloc_frames=st.split_malloc_frames,
        generated_malloc_frames=st.generated_malloc_frames,
        beyond_inline_marks=int(st.cnt[cv.C_BEYOND_INLINE_MARKS])))


def import_gotrace(src: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
                   codec: str = "zstd-shuffle", progress=None, go_version: str | None = None,
                   packed_span_scan: bool | None = None, cpus: int | None = None) -> dict:
    """Convert a Go execution trace (GODEBUG=traceallocfree=1) to a goalloc trace; returns the
    counts of what could not be mapped (and a few facts about the trace). `go_version` is the
    exact release that recorded it when known (`goalloc record` runs `go version`); otherwise
    the release is inferred from the trace (goalloc.releases.infer_release).
    `packed_span_scan`: whether the recording CPU runs Green Tea's packed span scan
    (gocpu.packed_span_scan_here, when the program ran here), noted in the header; None: not
    known (the trace does not carry it). `cpus`: the CPUs the program could run on
    (gocpu.cpus_here), noted likewise: a trace has the Ps, not the CPUs under them."""
    try:
        f = open(src, "rb")
    except OSError as e:
        raise TraceError(src, f"cannot open: {e.strerror}") from None
    table = get_table("go")
    class_size = np.ascontiguousarray(table.class_size, dtype=np.int64)
    # objects per span (by span class: class * 2 + noscan) under Green Tea's layout
    gt = profile(table, "1.26", green_tea=True)
    gt_objs = np.ascontiguousarray(np.stack([gt.objs_scan, gt.objs_noscan], 1).ravel(),
                                   dtype=np.int64)
    st = _State()
    st.packed_span_scan = packed_span_scan
    st.cpus = cpus
    with f:
        version = _read_header(f, src)

        def writer_for(state: _State, first_done: bool) -> None:
            """Open the output (once the first generation's snapshot is converted, so that its
            writes can start), and set its header once that generation has told what the
            header says (first_done): until then the header written is provisional."""
            state.release, state.release_how = _release_of(state, version, go_version)
            if state.writer is None:
                state.writer = Writer(out, _header(state, version, src), codec=codec,
                                      force=force)
                state.pool = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix="gotrace-write")
            elif first_done:
                state.writer.set_header(_header(state, version, src), as_first=True)

        try:
            for batches, done, buf in _Generations(f, src, version):
                _generation(batches, buf, st, version, src, writer_for, class_size, gt_objs)
                if progress is not None:
                    progress(done)
            _wait_write(st)
            mark = st.mark.summary()
            if mark is not None:
                st.writer.header.source["mark_cpu"] = mark
                st.writer.set_header(st.writer.header)
            if (scav := st.mark.scavenger(st.t0 or 0)) is not None:
                st.writer.header.source["scavenger"] = scav
                st.writer.set_header(st.writer.header)
            if (sched := st.mark.scheduling(st.gomaxprocs)) is not None:
                st.writer.header.source["scheduling"] = sched
                st.writer.set_header(st.writer.header)
            if (sweep := st.mark.sweep()) is not None:
                st.writer.header.source["sweep"] = sweep
                st.writer.set_header(st.writer.header)
            if len(st.sites):
                st.writer.header.sites = st.sites.sites
                st.writer.set_header(st.writer.header)
            st.late_flushes, st.idle_p_flushes = _late_flushes(st)
            if st.late_flushes:
                st.writer.header.extra["mcache_flushes"] = st.late_flushes
                st.writer.set_header(st.writer.header)
            # written even when empty: the list is complete, so a P not in it for a class did
            # not allocate into a snapshot span of it (snapshot._cache_never_swept)
            st.writer.header.extra["snapshot_mcaches"] = _snapshot_mcaches(st.mcache0)
            st.writer.set_header(st.writer.header)
            if st.span_pages is not None:
                st.writer.header.source["span_pages"] = st.span_pages
                st.writer.set_header(st.writer.header)
            if st.writer.header.source.get("lowest_span_page") != st.lowest_span_page:
                # a span below the first generation's came later (the first one was freed)
                st.writer.header.source["lowest_span_page"] = st.lowest_span_page
                st.writer.set_header(st.writer.header)
            st.writer.close()
        except BaseException:
            _abort(st)
            raise
        finally:
            for pool in (st.pool, st.decode_pool):
                if pool is not None:
                    pool.shutdown()
    return _report(st)


def _abort(st: _State) -> None:
    """Drop the partly written output after an error (the error itself is re-raised)."""
    if st.writer is not None:
        try:
            _wait_write(st)
        except BaseException:
            pass
        st.writer.abort()


def _header(st: _State, version: int, src) -> Header:
    mh, ps, al, fs = st.info
    return Header(
        producer="goalloc import gotrace", sizes="requested", frees="sweep",
        gomaxprocs=st.gomaxprocs,
        source={"recorder": "go execution trace (traceallocfree)",
                "go_version": st.release, "go_version_source": st.release_how,
                "trace_version": version,
                "beyond_inline_marks": int(st.cnt[cv.C_BEYOND_INLINE_MARKS]),
                "tracer_buffer_bytes": int(st.cnt[cv.C_TRACER_BYTES]),
                "file": os.path.basename(src), "clock_hz": int(st.freq),
                "min_heap_addr": hex(mh), "page_size": ps, "min_heap_align": al,
                "fixed_stack": fs, "lowest_span_page": st.lowest_span_page,
                **({} if st.packed_span_scan is None
                   else {"packed_span_scan": bool(st.packed_span_scan)}),
                **({} if st.cpus is None else {"cpus": int(st.cpus)})},
        extra={"snapshot": fmt.SNAPSHOT_PLACED})


def _report(st: _State) -> dict:
    tc = st.tcount
    c = st.cnt
    return {
        "events": int(st.writer.events),
        "generations": st.gens,
        "gomaxprocs": st.gomaxprocs,
        "trace_events": int(tc.sum()),
        "go_events": {w.EVENT_NAMES[k]: int(tc[k]) for k in w.KEPT if tc[k]},
        "live_at_end": int(st.octr[0]),
        "slot_reused_before_free": int(c[cv.C_SLOT_REUSED]),
        "late_frees_dropped": int(c[cv.C_LATE_FREES]),
        # reused live slots whose free never came (by the next mark's end or the trace's):
        # not a reuse (convert._expire_owed), or a runtime that frees without tracing it
        # (GOEXPERIMENT=runtimefreegc, 1.26+) - replayed as freed at the reuse
        "reused_slots_never_freed": int(c[cv.C_OWED_EXPIRED] + st.owed.ctr[0]),
        "unknown_frees": int(c[cv.C_UNKNOWN_FREES]),
        "objects_outside_spans": int(c[cv.C_NO_SPAN]),
        "late_mcache_flushes": len(st.late_flushes),
        "snapshot_mcaches": len(_snapshot_mcaches(st.mcache0)),
        "idle_p_flushes": st.idle_p_flushes,
        "unknown_types": int(c[cv.C_UNKNOWN_TYPES]),
        "lost_span_frees": int(c[cv.C_LOST_SPAN_FREES]),
        "unknown_span_frees": int(c[cv.C_UNKNOWN_SPAN_FREES]),
        "late_span_frees_dropped": int(c[cv.C_LATE_SPAN_FREES]),
        "lost_stack_frees": int(c[cv.C_LOST_STACK_FREES]),
        "unknown_stack_frees": int(c[cv.C_UNKNOWN_STACK_FREES]),
        "misplaced_objects": int(c[cv.C_MISPLACED]),
        "double_reuses": int(c[cv.C_DOUBLE_REUSE]),
        "frees_without_p": int(c[cv.C_NO_P]),
        "tiny_allocs_in_block": int(c[cv.C_TINY_IN_BLOCK]),
        "trigger_allocs_moved": st.trigger_allocs_moved,
        "large_allocs_moved": st.large_allocs_moved,
        "large_allocs_carried": int(c[cv.C_LARGE_CARRIED]),
        "beyond_inline_marks": int(c[cv.C_BEYOND_INLINE_MARKS]),
        "tracer_buffers": int(c[cv.C_TRACER_BUFFERS]),
        "tracer_buffer_bytes": int(c[cv.C_TRACER_BYTES]),
        "go_version": st.release,
        "go_version_source": st.release_how,
        "tiny_allocs_without_block": int(c[cv.C_TINY_NO_BLOCK]),
        "metric_samples": st.metrics.groups,
        "metric_samples_moved": st.metric_samples_moved,  # to their read
        "metric_samples_by_read_age": st.metric_samples_by_read_age,
        "metric_records_unread": st.metrics.bad,
        "mark_cpu": st.mark.summary(),
        "scavenger": st.mark.scavenger(),  # the header has its runs too
        "scheduling": st.mark.scheduling(st.gomaxprocs),
        "sweep": st.mark.sweep(),
        # per cycle marked wholly inside the trace: [GC seq, wall, background, idle, assist]
        # ns (gomark.R_*), gctrace's "assist/background/idle ms cpu"
        "mark_cycles": st.mark.cycles().tolist(),
    }
