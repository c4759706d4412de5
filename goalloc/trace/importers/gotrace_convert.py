"""The Go execution trace converter's kernel: merged Go trace events in, goalloc events out
(the mapping is described in gotrace.py, which drives it one generation at a time).

`convert` is the event loop: it reads one event, asks the event's handler whether the maps
it writes have room (else it returns the GROW_* status and the index to resume at, and the
driver grows the map), and lets the handler write the goalloc rows. Every row goes through
`_row`. The state is passed as a few named tuples of arrays (columns, span table, object ids,
id maps, generation tables, clock); the per-event handlers are `inline="always"`, so numba
compiles them into the loop, while the span handlers, which loop over pages, are ordinary
functions called for the rarer span events.

`convert` is compiled without reference counting (`_nrt=False`). With it, numba increfs and
decrefs every array of a named tuple handed to a handler that branches, on every event (#13,
measured: a whole import of a 2.3 M event Go 1.27 trace took 3.6-3.9 s of CPU, 0.83-0.92 s
without; main's hand-written loop 0.88-0.92 s). The loop allocates nothing (numba refuses to
compile an allocation without NRT) and only reads and writes arrays its caller holds, so the
counts were never needed; the called span and map functions count their own references as
usual. benchmarks/bench_nrt_import.py counts the NRT calls left in its body (0).
"""

from __future__ import annotations

from collections import namedtuple
from typing import NamedTuple

import numpy as np

from goalloc.jit import kernel, prefetch
from goalloc.trace import format as fmt
from goalloc.trace.addrmap import EMPTY, TOMB, map_get, map_insert, map_remove
from goalloc.trace.importers import gotrace_wire as w

MALLOC_HEADER = 8
MIN_SIZE_FOR_HEADER = 512  # runtime minSizeForMallocHeader (amd64)
TINY_BLOCK = 16  # maxTinySize: the tiny allocator's blocks are slots of the 16 B noscan class
TAG_P = 1 << 16  # otag = mcache epoch * TAG_P + P + 1
# runtime/cpuprof.go profBufWordCount (1 << 17 uint64) and profBufTagCount (1 << 14 pointers),
# the same 1.23-1.27: the buffers' slots (large objects, whole pages)
TRACER_DATA = (1 << 17) * 8
TRACER_TAGS = (1 << 14) * 8

PREFETCH_AHEAD = 16  # events: convert prefetches the columns of the event this far ahead

# Status codes of convert.
DONE = 0
GROW_OBJECTS = 1
GROW_OWED = 2
GROW_SPANS = 3
GROW_STACKS = 4
GROW_POOL = 5  # the slot-id pool of the span arrays
GROW_SPILL = 6  # the hash map of objects whose span array is gone
OUT_FULL = 7  # `out` may have no room for the next event's rows: go on in other columns

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
C_TINY_IN_BLOCK = 12  # [1.24+] traced tiny requests placed in a live 16 B block
C_TINY_NO_BLOCK = 13  # a tiny request inside a block the trace never allocated
C_BEYOND_INLINE_MARKS = 14  # objects in slots Green Tea's span layout does not have
C_TRACER_BUFFERS = 15  # the execution tracer's own buffers in the snapshot (FLAG_TRACER)
C_TRACER_BYTES = 16
C_LATE_SPAN_FREES = 17  # a replaced span's SpanFree after the replacing SpanAlloc: dropped
C_OWED_EXPIRED = 18  # late frees owed that had not come by the next mark termination
C_LARGE_CARRIED = 19  # large objects traced a generation after their span: allocated at it
N_COUNTERS = 20

# A converter-only row kind (never written): P `p` (the row's p) had its mcache flushed here,
# after the last mark termination, and the rows that follow are the stale spans it swept:
# - an M that held no P swept objects and then started P p: acquirep's prepareForSweep
#   flushes a P's mcache before the ProcStart is traced (_stale_flush);
# - the goroutine that ended a mark termination sweeps objects right after its stop: its
#   forEachP flushing every idle P's mcache, one row per P no M held then (_idle_p_flush).
# gotrace._take_mcache_flushes turns these rows into the header's `mcache_flushes`.
MCACHE_FLUSH_ROW = 250
IDLE_P_FLUSH_ROW = 251  # the second kind: a guess, dropped where the first names that P


class Events(NamedTuple):
    """A generation's decoded events (gotrace_wire.decode_events) and their merge order."""
    order: np.ndarray
    typ: np.ndarray
    key: np.ndarray  # time in ns
    m: np.ndarray  # M index
    a1: np.ndarray
    a2: np.ndarray
    a3: np.ndarray


# The goalloc event columns written, named as the format names them.
Columns = namedtuple("Columns", list(fmt.COLUMNS))


class SpanTable(NamedTuple):
    """The heap's spans by base page (page offsets from the lowest heap address)."""
    pagemap: np.ndarray  # page -> base page of the live span holding it, -1 none
    npages: np.ndarray
    kc: np.ndarray  # the trace's span type and class: class << 2 | noscan << 1 | not-heap
    slot0: np.ndarray  # offset in ObjectIds.pool of the span's slot ids (-1: no array)
    nslots: np.ndarray
    rcap: np.ndarray  # capacity of that pool region
    # the mcache epoch (Clock.epoch) at which this heap span took the base page of a live
    # span whose SpanFree had not come (-1: none did): that free may still come (_span_free)
    replaced: np.ndarray
    snap: np.ndarray  # 1: the span at this base page was in the trace-start snapshot
    # a large span whose object's HeapObjectAlloc comes in a later generation
    # (gotrace._large_allocs_at_their_span): e + 1 where SpanAlloc event e of this generation
    # is one, -1 once its object was allocated at it (the later event is then dropped), else 0
    carried: np.ndarray


class ObjectIds(NamedTuple):
    """Where each live object's id is kept, and the ids handed out.

    pool holds the spans' slot-id regions (pctr[0]: its bump pointer); freed regions are kept
    on a free list per size class (fl_head; pool[r] = next region, pool[r + 1] = capacity).
    xkeys/xvals/xctr ([0] live, [1] used, [2] room wanted on GROW_SPILL) is the spill hash map
    of objects whose span array is gone, keyed by slot base. ofree/octr ([0] live objects,
    [2] free-id stack depth, [3] next fresh id) hand out ids exactly as AddrMap does (the id of
    a reused slot is taken before the old one is given back), so ids do not depend on where an
    object is kept. otag[id] is the mcache epoch and P the object was allocated in."""
    pool: np.ndarray
    pctr: np.ndarray
    fl_head: np.ndarray
    xkeys: np.ndarray
    xvals: np.ndarray
    xctr: np.ndarray
    ofree: np.ndarray
    octr: np.ndarray
    otag: np.ndarray


class IdMap(NamedTuple):
    """The arrays of one goalloc.trace.addrmap.AddrMap."""
    keys: np.ndarray
    vals: np.ndarray
    free: np.ndarray
    ctr: np.ndarray


class GenTables(NamedTuple):
    """What the generation's tables say, by the ids its events use."""
    class_size: np.ndarray  # the Go size classes
    gt_objs: np.ndarray  # objects per span under Green Tea's layout (class * 2 + noscan)
    t_size: np.ndarray  # type id -> size (-1 unknown)
    t_site: np.ndarray  # type id -> trace-wide attribution site (#17)
    tracer_types: np.ndarray  # ids of uint64 and unsafe.Pointer
    reasons: np.ndarray  # STW reason string id -> fmt.STW_REASONS index
    flush_reason: np.ndarray  # fmt.FLUSH_REASON


class Clock(NamedTuple):
    """Per-M and per-P state carried from one generation to the next."""
    mp: np.ndarray  # P held by each M (by M index), -1 none
    mfree: np.ndarray  # objects each M swept holding no P since its last other event
    mterm: np.ndarray  # per M: 1 in a mark termination's stop, 2 just past it (_idle_p_flush)
    mstop: np.ndarray  # per M: when its last mark termination's stop ended
    lastp: np.ndarray  # each P's last timestamp: a P's events stay in order
    pstart: np.ndarray  # each P's last ProcStart (its time)
    gcseq: np.ndarray  # [0] the GC cycle running
    # the stop-the-world being recorded (_stw_proc): [begin (-1: none), the last P's stop,
    # how many Ps stopped during it, the sum of their stop times, the restart (0: not yet),
    # GOMAXPROCS as the last ProcsChange said (0: none seen)]
    stw: np.ndarray
    epoch: np.ndarray  # [0] mcache flushes so far (mark terminations, ReadMemStats stops)
    # [P, span class]: the goalloc id of the snapshot span P's first allocation of that class
    # went into before the first mcache flush, -1 none (the header's snapshot_mcaches)
    mcache0: np.ndarray
    t0: int
    ashift: int  # log2 of the heap address unit (min_heap_align)
    pshift: int  # log2 of the page size
    nprocs: int  # Ps seen so far (the highest P id + 1)


@kernel(_nrt=False)  # no reference counting: see the module's docstring
def convert(start, ev, out, o, heap, ids, owed, spans, stacks, tab, clk, cnt):
    """Turn generation events ev.order[start:] into goalloc events written to `out` from row
    o. Returns (status, index, rows): DONE, or GROW_* with the index to resume at once the
    named map has grown (a handler checks for room before it changes anything), or
    OUT_FULL with the index to resume at in other columns."""
    order, typ, key, mm, a1, a2, a3 = ev
    mp, lastp = clk.mp, clk.lastp
    room = clk.nprocs + 4  # rows an event writes at most (_idle_p_flush: one per P)
    last = order.shape[0] - 1
    for i in range(start, order.shape[0]):
        if o + room > out.kind.shape[0]:
            return OUT_FULL, i, o
        _prefetch_event(ev, order[min(i + PREFETCH_AHEAD, last)])
        j = order[i]
        e = typ[j]
        m = mm[j]
        p = mp[m]
        ts = _event_time(key[j] - clk.t0, p, lastp)
        o = _stale_flush(e, m, p, a1[j], ts, o, out, clk.mfree)
        if e == w.EV_STW_BEGIN or clk.mterm[m] != 0:
            o = _idle_p_flush(e, m, a1[j], ts, o, out, tab, clk)
        if e == w.EV_HEAP_OBJECT_ALLOC or e == w.EV_HEAP_OBJECT:
            status = _object_alloc_room(ids, owed)
            if status != DONE:
                return status, i, o
            o = _object_alloc(e, a1[j] << clk.ashift, a2[j], ts, p, o, out, heap, ids, owed,
                              spans, tab, clk, cnt)
        elif e == w.EV_HEAP_OBJECT_FREE:
            status = _object_free_room(ids, owed)
            if status != DONE:
                return status, i, o
            o = _object_free(a1[j], ts, p, o, out, heap, ids, owed, tab, clk, cnt)
        elif e == w.EV_SPAN_ALLOC or e == w.EV_SPAN:
            status, nslots = _span_alloc_room(a1[j], a2[j], a3[j], heap, ids, spans, tab, clk)
            carried = heap.carried[a1[j]] == j + 1
            if status == DONE and carried:
                status = _object_alloc_room(ids, owed)
            if status != DONE:
                return status, i, o
            o = _span_alloc(e == w.EV_SPAN, a1[j], a2[j], a3[j], nslots, ts, p, o, out, heap,
                            ids, spans, tab, clk, cnt)
            if carried:
                o = _carried_object(a1[j], ts, p, o, out, heap, ids, owed, spans, tab, clk,
                                    cnt)
        elif e == w.EV_SPAN_FREE:
            status = _span_free_room(a1[j], heap, ids, spans)
            if status != DONE:
                return status, i, o
            o = _span_free(a1[j], ts, p, o, out, heap, ids, spans, tab, clk, cnt)
        elif e == w.EV_GOROUTINE_STACK_ALLOC or e == w.EV_GOROUTINE_STACK:
            if _map_full(stacks):
                return GROW_STACKS, i, o
            o = _stack_alloc(e == w.EV_GOROUTINE_STACK, a1[j], a2[j], ts, p, o, out, stacks,
                             cnt)
        elif e == w.EV_GOROUTINE_STACK_FREE:
            if _ids_full(stacks):
                return GROW_STACKS, i, o
            o = _stack_free(a1[j], ts, p, o, out, stacks, cnt)
        elif e <= w.EV_PROC_STATUS:  # ProcStart, ProcStop, ProcSteal, ProcStatus: no row
            _track_p(e, m, a1[j], a2[j], a3[j], ts, mp, clk.pstart)
            _stw_proc(e, a1[j], ts, clk.stw)
        elif e == w.EV_GC_BEGIN or e == w.EV_GC_END or e == w.EV_STW_BEGIN \
                or e == w.EV_STW_END:
            o = _gc_phase(e, a1[j], ts, p, o, out, owed, tab, clk, cnt)
        elif e == w.EV_HEAP_ALLOC or e == w.EV_HEAP_GOAL:
            kind = fmt.HEAP_LIVE if e == w.EV_HEAP_ALLOC else fmt.HEAP_GOAL
            o = _row(out, o, kind, ts, p, 0, a1[j], 0, 0)
        elif e == w.EV_USER_LOG:
            # trace.Log: a placeholder (message and category string ids) that gometrics
            # turns into metric samples or drops once the strings are read
            o = _row(out, o, fmt.METRIC, ts, p, a3[j], 0, 0, a2[j])
    return DONE, order.shape[0], o


@kernel(inline="always")
def _prefetch_event(ev, j):
    """Prefetch event j's columns. The merge order interleaves the Ms' runs, so an event's
    columns are gathered from as many places as there are Ms, and the loop's body is too
    long for the CPU to start the next events' loads itself: perf put a third of convert's
    samples on those loads (/tmp/s16/json.trace, 2026-12-04)."""
    prefetch(ev.typ, j, 0)
    prefetch(ev.key, j, 0)
    prefetch(ev.m, j, 0)
    prefetch(ev.a1, j, 0)
    prefetch(ev.a2, j, 0)
    prefetch(ev.a3, j, 0)


@kernel(inline="always")
def _row(out, o, kind, ts, p, oid, size, flags, aux):
    """Write goalloc event row o (the site column is written by _object_alloc only, and
    zeroed by the driver); returns the next row."""
    out.kind[o] = kind
    out.ts[o] = ts
    out.p[o] = p
    out.id[o] = oid
    out.size[o] = size
    out.flags[o] = flags
    out.aux[o] = aux
    return o + 1


@kernel(inline="always")
def _event_time(ts, p, lastp):
    """The event's time from the first event written, never before its P's previous event
    (Ms' clocks differ slightly; a P's events must stay in order for the replay)."""
    ts = max(ts, 0)
    if p >= 0:
        ts = max(ts, lastp[p])
        lastp[p] = ts
    return ts


@kernel(inline="always")
def _map_full(mp):
    """An id map (AddrMap's arrays) has no room for one more insert."""
    return (mp.ctr[1] + 1) * 2 > mp.keys.shape[0] or mp.ctr[2] + 1 > mp.free.shape[0]


@kernel(inline="always")
def _ids_full(mp):
    """An id map has no room to take back one more id."""
    return mp.ctr[2] + 1 > mp.free.shape[0]


@kernel(inline="always")
def _stale_flush(e, m, p, a1, ts, o, out, mfree):
    """Objects an M sweeps while it holds no P, then the ProcStart of P a1 by that M: the
    flush of P a1's stale mcache (acquirepNoTrace runs prepareForSweep before the ProcStart is
    traced), written as a MCACHE_FLUSH_ROW. Span and stack frees and heap samples may come in
    between; any other event of the M ends the run. An M holding a P cannot start one, so
    nothing is looked at then (one test per event)."""
    if p < 0:
        if e == w.EV_HEAP_OBJECT_FREE:
            mfree[m] += 1
        elif e == w.EV_PROC_START:
            if mfree[m] > 0:
                o = _row(out, o, MCACHE_FLUSH_ROW, ts, a1, 0, 0, 0, 0)
            mfree[m] = 0
        elif not _passes_by(e):
            mfree[m] = 0
    return o


@kernel(inline="always")
def _passes_by(e):
    """An M's event that does not end a run of flush frees: span and stack frees, heap
    samples, user logs, syscalls (kept for gomark.py only)."""
    return e == w.EV_SPAN_FREE or e == w.EV_GOROUTINE_STACK_FREE or e == w.EV_HEAP_ALLOC \
        or e == w.EV_HEAP_GOAL or e == w.EV_USER_LOG or w.EV_GO_SYSCALL_BEGIN <= e <= \
        w.EV_GO_SYSCALL_END_BLOCKED


@kernel(inline="always")
def _idle_p_flush(e, m, a1, ts, o, out, tab, clk):
    """gcMarkTermination restarts the world (procresize hands every P with work to an M,
    whose acquirep flushes its mcache; the rest stay idle), then calls forEachP: the
    terminating goroutine runs prepareForSweep itself for every idle P (runtime/mgc.go and
    proc.go forEachPInternal, Go 1.19-1.27), sweeping their stale spans, and only then goes
    on. So when its M's first events after the mark termination's stop are object frees,
    those are the idle Ps' flushes (with 4 Ps on 2 CPUs they can come milliseconds after the
    stop, while the other Ps allocate): at the first, an IDLE_P_FLUSH_ROW for each P no M
    holds and none has started since the stop ended (the Ps the world's restart started were
    flushed then). Span, stack and metric events may come before it; any other event of the
    M ends the wait."""
    if e == w.EV_STW_BEGIN:
        reason = tab.reasons[a1] if 0 <= a1 < tab.reasons.shape[0] else 0
        clk.mterm[m] = 1 if reason == fmt.STW_GC_MARK_TERM else 0
    elif clk.mterm[m] == 1:
        if e == w.EV_STW_END:
            clk.mterm[m] = 2
            clk.mstop[m] = ts
    elif e == w.EV_HEAP_OBJECT_FREE:
        clk.mterm[m] = 0
        for q in range(clk.nprocs):
            if clk.pstart[q] < clk.mstop[m] and not _held(q, clk.mp):
                o = _row(out, o, IDLE_P_FLUSH_ROW, ts, q, 0, 0, 0, 0)
    elif not (_passes_by(e) or e == w.EV_GC_END):
        clk.mterm[m] = 0
    return o


@kernel(inline="always")
def _held(q, mp):
    """Some M holds P q."""
    for k in range(mp.shape[0]):
        if mp[k] == q:
            return True
    return False


@kernel(inline="always")
def _track_p(e, m, a1, a2, a3, ts, mp, pstart):
    """Which P each M holds (object events take their M's P), and when each P last started."""
    if e == w.EV_PROC_START:
        mp[m] = a1
        pstart[a1] = ts
    elif e == w.EV_PROC_STOP:
        mp[m] = -1
    elif e == w.EV_PROC_STEAL:  # a3: the M stolen from (an M index, set by the driver)
        if a3 == m:
            mp[m] = -1
        elif a3 >= 0 and mp[a3] == a1:
            mp[a3] = -1
    elif e == w.EV_PROC_STATUS:
        if a2 == w.PROC_RUNNING or a2 == w.PROC_SYSCALL:
            mp[m] = a1


@kernel(inline="always")
def _stw_proc(e, a1, ts, stw):
    """What the Ps do while the world is stopped (stopTheWorldWithSema, startTheWorldWithSema).
    A P stops (ProcStop: its goroutine reached a preemption point; ProcSteal: it was in a
    syscall): the last such stop is finishedStopping (the stopping P and the idle ones stop
    at the start, untraced). The restart's procresize traces GOMAXPROCS (ProcsChange): the
    world runs again from there, although the stopping M traces STWDone only later, after
    it woke Ms for the Ps (a Go 1.27 recording: a 4.16 ms STW range whose world ran again
    after 75 us, the other P's goroutines running meanwhile). The runtime's pause figures
    run to STWDone, its GC pause CPU to the restart (engine/pauses.py)."""
    if e == w.EV_PROCS_CHANGE:
        if 0 < a1 < 1 << 20:
            stw[5] = a1
        if stw[0] >= 0 and stw[4] == 0:
            stw[4] = ts
    elif (e == w.EV_PROC_STOP or e == w.EV_PROC_STEAL) and stw[0] >= 0 and stw[4] == 0:
        stw[1] = ts
        stw[2] += 1
        stw[3] += ts


@kernel(inline="always")
def _stw_end_row(ts, p, o, out, stw, nprocs):
    """The stw_end row: `id` the ns from stw_begin to the restart, `size` to
    finishedStopping, `aux` stoppingCPUTime (each P's time stopped before it: GOMAXPROCS -
    the Ps that stopped during it from the start, those from their own stop); zeros when
    its begin is not in the trace."""
    if stw[0] < 0:
        return _row(out, o, fmt.STW_END, ts, p, 0, 0, 0, 0)
    begin = stw[0]
    restart = stw[4] if stw[4] > 0 else ts
    procs = stw[5] if stw[5] > 0 else nprocs
    early = procs - stw[2] if procs > stw[2] else 0
    cpu = early * (stw[1] - begin) + stw[2] * stw[1] - stw[3]
    stw[0] = -1
    return _row(out, o, fmt.STW_END, ts, p, restart - begin, stw[1] - begin, 0, cpu)


@kernel(inline="always")
def _gc_phase(e, a1, ts, p, o, out, owed, tab, clk, cnt):
    """GCBegin / GCEnd (a1: the cycle) and STWBegin / STWEnd (a1: the reason's string id):
    their rows, a mark termination's gc_mark_term row, the mcache flushes they imply, and
    at a mark's end the late frees still owed (_expire_owed)."""
    if e == w.EV_GC_BEGIN:
        clk.gcseq[0] = a1
        return _row(out, o, fmt.GC_START, ts, p, a1, 0, 0, 0)
    if e == w.EV_GC_END:
        clk.epoch[0] += 1  # mark termination flushed every mcache (releaseAll)
        _expire_owed(owed, cnt)
        return _row(out, o, fmt.GC_END, ts, p, a1, 0, 0, 0)
    if e == w.EV_STW_END:
        return _stw_end_row(ts, p, o, out, clk.stw, clk.nprocs)
    reason = tab.reasons[a1] if 0 <= a1 < tab.reasons.shape[0] else 0
    clk.stw[0] = ts
    clk.stw[1] = ts
    clk.stw[2] = 0
    clk.stw[3] = 0
    clk.stw[4] = 0
    if tab.flush_reason[reason]:
        clk.epoch[0] += 1  # readmemstats_m: flushallmcaches
    o = _row(out, o, fmt.STW_BEGIN, ts, p, 0, 0, 0, reason)
    if reason == fmt.STW_GC_MARK_TERM:
        o = _row(out, o, fmt.GC_MARK_TERM, ts, p, clk.gcseq[0], 0, 0, 0)
    return o


# -- heap objects ---------------------------------------------------------------------------


@kernel(inline="always")
def _object_alloc_room(ids, owed):
    """GROW_* when one more object could overflow the id stack, the spill map or the map of
    frees owed (a slot reused before its free), else DONE."""
    if ids.octr[2] + 1 > ids.ofree.shape[0] or ids.octr[3] + 1 > ids.otag.shape[0]:
        return GROW_OBJECTS
    if (ids.xctr[1] + 1) * 2 > ids.xkeys.shape[0]:
        ids.xctr[2] = 1
        return GROW_SPILL
    return GROW_OWED if _map_full(owed) else DONE


@kernel(inline="always")
def _object_free_room(ids, owed):
    return GROW_OWED if _ids_full(owed) else GROW_OBJECTS if \
        ids.octr[2] + 1 > ids.ofree.shape[0] else DONE


@kernel(inline="always")
def _span_of(off, heap, pshift):
    """Base page of the live span holding heap offset `off`, or -1."""
    page = off >> pshift
    return heap.pagemap[page] if 0 <= page < heap.pagemap.shape[0] else np.int64(-1)


@kernel(inline="always")
def _slot_size(base, sc, heap, class_size, pshift):
    """A span's slot size: its class's, or the whole span for a large object (class 0)."""
    return heap.npages[base] << pshift if sc == 0 else class_size[sc]


@kernel(inline="always")
def _object_alloc(e, off, tid, ts, p, o, out, heap, ids, owed, spans, tab, clk, cnt):
    """HeapObjectAlloc (off: the object's heap offset, tid its type) or a snapshot
    HeapObject: an alloc row, after a free row of the slot's earlier object when its sweep
    free is still to come (the slot is reused, so the earlier object is dead)."""
    base = _span_of(off, heap, clk.pshift)
    kc = heap.kc[base] if base >= 0 else np.int64(1)
    sc = kc >> 2
    if kc & 1 or sc >= tab.class_size.shape[0]:
        cnt[C_NO_SPAN] += 1
        return o
    noscan = (kc >> 1) & 1
    slot = _slot_size(base, sc, heap, tab.class_size, clk.pshift)
    if slot <= 0:
        cnt[C_NO_SPAN] += 1
        return o
    base_off = base << clk.pshift
    if sc == 0 and heap.carried[base] < 0 and e == w.EV_HEAP_OBJECT_ALLOC:
        heap.carried[base] = 0
        if off == base_off:  # the object _carried_object allocated at its span
            cnt[C_LARGE_CARRIED] += 1
            return o
    sidx = (off - base_off) // slot
    slot_off = base_off + sidx * slot
    header = noscan == 0 and sc != 0 and slot > MIN_SIZE_FOR_HEADER
    usable = slot - MALLOC_HEADER if header else slot
    r0 = heap.slot0[base] if sidx < heap.nslots[base] else np.int64(-1)
    if sc != 0 and sidx >= tab.gt_objs[sc * 2 + noscan]:
        cnt[C_BEYOND_INLINE_MARKS] += 1  # this runtime's spans have no inline marks
    tag = clk.epoch[0] * TAG_P + p + 1
    if e == w.EV_HEAP_OBJECT_ALLOC and sc != 0:
        _first_in_snapshot_span(base, sc * 2 + noscan, p, heap, spans, clk)
    if e == w.EV_HEAP_OBJECT_ALLOC and noscan and slot == TINY_BLOCK:
        if _tiny_in_block(off, slot_off, r0, sidx, tag, ids, clk.ashift, cnt):
            return o
    # HeapObjectAlloc names the object (after any malloc header); the snapshot's
    # HeapObject names the slot (runtime traceSnapshotMemory: base + i*elemsize).
    elif off - slot_off != (slot - usable if e == w.EV_HEAP_OBJECT_ALLOC else 0):
        cnt[C_MISPLACED] += 1
    size = _requested_size(tid, usable, tab.t_size, cnt)
    k = slot_off >> clk.ashift
    oid, old = _slot_new_object(r0, sidx, k, tag, ids)
    if old >= 0:
        o = _free_reused(k, old, ts, o, out, owed, cnt)
    if p < 0:
        cnt[C_NO_P] += 1
    fl, aux = _alloc_flags(e, noscan, slot, sc, tid, base, sidx, spans, tab, cnt)
    if 0 < tid < tab.t_site.shape[0]:  # the type as a trace-wide attribution site (#17)
        out.site[o] = tab.t_site[tid]
    return _row(out, o, fmt.ALLOC, ts, p, oid, size, fl, aux)


@kernel(inline="always")
def _carried_object(sid, ts, p, o, out, heap, ids, owed, spans, tab, clk, cnt):
    """The object of large span sid, whose HeapObjectAlloc the trace has in a later
    generation: mallocgc zeroed it preemptibly between allocLarge and the trace hook, and the
    tracer began a new generation meanwhile (gotrace._large_allocs_at_their_span). Allocated
    here with the span's time and P, its slot as its size (the type, so the request and the
    site, is in the later event); that event is dropped (_object_alloc)."""
    o = _object_alloc(w.EV_HEAP_OBJECT_ALLOC, sid << clk.pshift, np.int64(0), ts, p, o, out,
                      heap, ids, owed, spans, tab, clk, cnt)
    heap.carried[sid] = -1
    return o


@kernel(inline="always")
def _first_in_snapshot_span(base, spc, p, heap, spans, clk):
    """Before the first mcache flush, P p's first allocation of span class spc into a span of
    the trace-start snapshot names the span its mcache held (or, if that one was full, the
    one its refill took): the replay caches it there (snapshot.Plan.build), which the trace
    does not otherwise say."""
    if (clk.epoch[0] == 0 and heap.snap[base] != 0 and 0 <= p < clk.mcache0.shape[0]
            and spc < clk.mcache0.shape[1] and clk.mcache0[p, spc] == -2):
        clk.mcache0[p, spc] = map_get(spans.keys, spans.vals, base)
    elif 0 <= p < clk.mcache0.shape[0] and spc < clk.mcache0.shape[1] and clk.mcache0[p, spc] == -2:
        clk.mcache0[p, spc] = -1  # its first allocation of the class went elsewhere


@kernel(inline="always")
def _tiny_in_block(off, slot_off, r0, sidx, tag, ids, ashift, cnt):
    """[1.24+] mallocgcTiny traces a request that fits the P's current 16 B block at its
    address inside the block (1.23 returned before the trace hook). The block is the slot's
    object, allocated at the slot base and freed whole by the sweep: the request is counted,
    not replayed as an object of its own. Ids are addresses / 8, so a request at offset 1..7
    has the block's id: it is in the block when the block is live and was allocated on this P
    since its mcache was last flushed (a live block from before the flush is a block whose
    sweep free comes late, and this is a new block in its slot). True: counted, no row."""
    cur = _slot_object(r0, sidx, slot_off >> ashift, ids)
    if off != slot_off or (cur >= 0 and ids.otag[cur] == tag):
        if cur >= 0:
            cnt[C_TINY_IN_BLOCK] += 1
            return True
        cnt[C_TINY_NO_BLOCK] += 1  # block never seen: replayed as the block
    return False


@kernel(inline="always")
def _requested_size(tid, usable, t_size, cnt):
    """The request estimated from the type: the largest multiple of the type size that fits
    the slot (one object, or a slice grown to its size class), else the slot."""
    if tid <= 0:
        return usable
    if tid >= t_size.shape[0] or t_size[tid] < 0:
        cnt[C_UNKNOWN_TYPES] += 1
        return usable
    tsz = t_size[tid]
    return (usable // tsz) * tsz if 0 < tsz <= usable else usable


@kernel(inline="always")
def _slot_new_object(r0, sidx, k, tag, ids):
    """Give the object allocated in slot sidx (slot base k) an id and keep it in the span's
    array (r0 >= 0) or the spill map. Returns (id, the id of the slot's earlier object still
    live, or -1). Ids as AddrMap hands them out: the new one is taken, then the old given
    back."""
    old = ids.pool[r0 + sidx] if r0 >= 0 else np.int64(-1)
    if old < 0 and ids.xctr[0] > 0:
        old = _spill_take(ids.xkeys, ids.xvals, ids.xctr, k)
    octr = ids.octr
    reuse = np.int64(octr[2] > 0)  # straight-line: no branch for numba to keep refs over
    octr[2] -= reuse
    oid = ids.ofree[octr[2]] if reuse else octr[3]
    octr[3] += 1 - reuse
    ids.otag[oid] = tag
    if old >= 0:
        ids.ofree[octr[2]] = old
        octr[2] += 1
    else:
        octr[0] += 1
    if r0 >= 0:
        ids.pool[r0 + sidx] = oid
    else:
        _spill_put(ids.xkeys, ids.xvals, ids.xctr, k, oid)
    return oid, old


@kernel(inline="always")
def _expire_owed(owed, cnt):
    """Forget the late frees still owed at a mark's end. A slot is reused before its
    object's free is traced when the sweep that freed it stamps the free late; both come in
    the sweep phase after one mark termination, which finishsweep_m ends before the next mark
    (mgc.go gcStart). An owed free the trace has not brought by the next mark's end is not
    coming (the "reuse" was not one: e.g. a [1.24+] tiny request at offset 1-7 of a live 16 B
    block, whose id is the block's, read as a new block): kept, it would drop the slot's
    next real free, and the object that free was for would stay live for the rest of the
    trace."""
    if owed.ctr[0] > 0:
        cnt[C_OWED_EXPIRED] += owed.ctr[0]
        owed.keys[:] = EMPTY
        owed.ctr[:] = 0


@kernel(inline="always")
def _free_reused(k, old, ts, o, out, owed, cnt):
    """The free row of a reused slot's earlier object (its sweep free was stamped after the
    reuse: a sweeping M's clock runs ahead when it writes many events a tick), on no P; the
    late free is owed and dropped when it comes."""
    cnt[C_SLOT_REUSED] += 1
    _, dup = map_insert(owed.keys, owed.vals, owed.free, owed.ctr, k)
    if dup >= 0:
        cnt[C_DOUBLE_REUSE] += 1
    return _row(out, o, fmt.FREE, ts, -1, old, 0, 0, 0)


@kernel(inline="always")
def _alloc_flags(e, noscan, slot, sc, tid, base, sidx, spans, tab, cnt):
    """The alloc row's flags and aux: the slot size, or for a snapshot object its placement
    (header snapshot: "placed"): the span's goalloc id and the slot."""
    fl = fmt.FLAG_SIZE_ESTIMATED | (fmt.FLAG_NOSCAN if noscan else 0)
    if e != w.EV_HEAP_OBJECT:
        return fl, slot
    fl |= fmt.FLAG_SNAPSHOT
    # runtime.StartTrace's CPU-sample buffers (tracecpu.go traceInitReadCPU: two profBufs of
    # 1 MiB of uint64 and 128 KiB of unsafe.Pointer, made just before the snapshot): live for
    # the whole trace, absent from an untraced run. The pointer buffers carry their type; the
    # noscan ones do not (large noscan spans keep no type) and are told after the generation
    # (gotrace._tracer_data_buffers).
    if sc == 0 and tid > 0 and tid == tab.tracer_types[1] and slot == TRACER_TAGS:
        fl |= fmt.FLAG_TRACER
        cnt[C_TRACER_BUFFERS] += 1
        cnt[C_TRACER_BYTES] += slot
    did = map_get(spans.keys, spans.vals, base)
    return fl, ((did + 1) << fmt.PLACEMENT_SHIFT) | sidx if did >= 0 else np.int64(0)


@kernel(inline="always")
def _object_free(k, ts, p, o, out, heap, ids, owed, tab, clk, cnt):
    """HeapObjectFree of slot base k (heap address units): a free row, unless the free was
    owed (its slot was reused first) or no live object is known there."""
    if owed.ctr[0] > 0 and map_remove(owed.keys, owed.vals, owed.free, owed.ctr, k) >= 0:
        cnt[C_LATE_FREES] += 1
        return o
    oid = _slot_take(k << clk.ashift, heap, ids, tab.class_size, clk.pshift)
    if oid < 0 and ids.xctr[0] > 0:
        oid = _spill_take(ids.xkeys, ids.xvals, ids.xctr, k)
    if oid < 0:
        cnt[C_UNKNOWN_FREES] += 1
        return o
    ids.ofree[ids.octr[2]] = oid
    ids.octr[2] += 1
    ids.octr[0] -= 1
    if p < 0:
        cnt[C_NO_P] += 1
    return _row(out, o, fmt.FREE, ts, p, oid, 0, 0, 0)


@kernel(inline="always")
def _slot_take(off, heap, ids, class_size, pshift):
    """Remove and return the id in the slot array of the span holding heap offset `off`, if
    off is one of its slot bases; else -1."""
    oid = np.int64(-1)
    base = _span_of(off, heap, pshift)
    if base >= 0 and heap.slot0[base] >= 0:
        slot = _slot_size(base, heap.kc[base] >> 2, heap, class_size, pshift)
        rel = off - (base << pshift)
        sidx = rel // slot
        if sidx * slot == rel and sidx < heap.nslots[base]:
            oid = ids.pool[heap.slot0[base] + sidx]
            ids.pool[heap.slot0[base] + sidx] = -1
    return oid


# -- spans and stacks -----------------------------------------------------------------------


@kernel
def _span_alloc_room(sid, npages, kc, heap, ids, spans, tab, clk):
    """(GROW_* or DONE, the span's slot count). The arrays of the spans these pages belong
    to (and of a live span at sid) go to the spill map: it needs room for all their slots,
    and the pool for the new span's region."""
    if _map_full(spans):
        return GROW_SPANS, np.int64(0)
    spill = heap.nslots[sid] if heap.slot0[sid] >= 0 else 0
    prev = np.int64(-1)
    for pg in range(sid, sid + npages):
        q = heap.pagemap[pg]
        if q >= 0 and q != prev and q != sid and heap.slot0[q] >= 0:
            spill += heap.nslots[q]
        prev = q
    if (ids.xctr[1] + spill + 1) * 2 > ids.xkeys.shape[0]:
        ids.xctr[2] = spill + 1
        return GROW_SPILL, np.int64(0)
    sc = kc >> 2
    nslots = np.int64(0)
    if kc & 1 == 0 and sc < tab.class_size.shape[0]:
        sz = npages << clk.pshift if sc == 0 else tab.class_size[sc]
        if sz > 0:
            nslots = (npages << clk.pshift) // sz
    if ids.pctr[0] + nslots + 2 > ids.pool.shape[0]:
        return GROW_POOL, nslots
    return DONE, nslots


@kernel
def _span_alloc(snapshot, sid, npages, kc, nslots, ts, p, o, out, heap, ids, spans, tab, clk,
                cnt):
    """SpanAlloc or a snapshot Span at base page sid: the span takes its pages (spans it
    overlaps lose their slot arrays; a live span at sid lost its SpanFree, written first)."""
    did, old = map_insert(spans.keys, spans.vals, spans.free, spans.ctr, sid)
    _detach(sid, heap, ids, tab.class_size, clk)
    for pg in range(sid, sid + npages):
        q = heap.pagemap[pg]
        if q >= 0 and q != sid:
            _detach(q, heap, ids, tab.class_size, clk)
    heap.replaced[sid] = -1
    if heap.carried[sid] < 0:  # (a marked SpanAlloc of this generation keeps its mark)
        heap.carried[sid] = 0
    if old >= 0:
        cnt[C_LOST_SPAN_FREES] += 1
        _unmap_span(heap, sid)
        o = _row(out, o, fmt.SPAN_FREE, ts, p, old, 0, 0, 0)
        if kc & 1 == 0:
            heap.replaced[sid] = clk.epoch[0]
    for pg in range(sid, sid + npages):
        heap.pagemap[pg] = sid
    heap.npages[sid] = npages
    heap.kc[sid] = kc
    heap.snap[sid] = 1 if snapshot else 0
    if nslots > 0:
        _attach(sid, nslots, kc >> 2, heap, ids)
    flags = fmt.FLAG_SNAPSHOT if snapshot else 0
    return _row(out, o, fmt.SPAN_ALLOC, ts, p, did, npages, flags, -1 if kc & 1 else kc >> 1)


@kernel(inline="always")
def _span_free_room(sid, heap, ids, spans):
    """GROW_* when freeing span sid could overflow the span map or the spill map (its live
    objects move there), else DONE (also when no span was ever there: the handler skips)."""
    if sid < 0 or sid >= heap.nslots.shape[0]:
        return DONE
    if _ids_full(spans):
        return GROW_SPANS
    if (ids.xctr[1] + heap.nslots[sid] + 1) * 2 > ids.xkeys.shape[0]:
        ids.xctr[2] = heap.nslots[sid] + 1
        return GROW_SPILL
    return DONE


@kernel
def _span_free(sid, ts, p, o, out, heap, ids, spans, tab, clk, cnt):
    """SpanFree of base page sid: its live objects move to the spill map (their frees come
    late), its pages are unmapped. A heap span is freed only by a sweep, after a mark
    termination that followed its SpanAlloc (mgcsweep.go sweep -> mheap.freeSpan); a SpanFree
    before any, of a span that replaced a live one (_span_alloc), is the replaced span's own
    free come late: Ms' clocks disagree by microseconds, and freeSpan traces the free before
    it takes the heap lock, so the merge order can put it after the allocation that reused
    the pages (measured: 2 us on a 2-P Go 1.27 recording). It was written at the SpanAlloc;
    dropped here."""
    did = -1
    if 0 <= sid < heap.nslots.shape[0]:  # else no span was ever there
        if heap.replaced[sid] == clk.epoch[0]:  # (-1: it replaced no live span)
            heap.replaced[sid] = -1
            cnt[C_LATE_SPAN_FREES] += 1
            return o
        did = map_remove(spans.keys, spans.vals, spans.free, spans.ctr, sid)
    if did < 0:
        cnt[C_UNKNOWN_SPAN_FREES] += 1
        return o
    if heap.carried[sid] < 0:
        heap.carried[sid] = 0
    _detach(sid, heap, ids, tab.class_size, clk)
    _unmap_span(heap, sid)
    return _row(out, o, fmt.SPAN_FREE, ts, p, did, 0, 0, 0)


@kernel(inline="always")
def _stack_alloc(snapshot, sid, sorder, ts, p, o, out, stacks, cnt):
    """GoroutineStackAlloc or a snapshot GoroutineStack at sid; a live stack there lost its
    free, written first."""
    did, old = map_insert(stacks.keys, stacks.vals, stacks.free, stacks.ctr, sid)
    if old >= 0:
        cnt[C_LOST_STACK_FREES] += 1
        o = _row(out, o, fmt.STACK_FREE, ts, p, old, 0, 0, 0)
    # runtime traceCompressStackSize: order = bits.Len64(size), size a power of two
    size = np.int64(1) << (sorder - 1) if 1 <= sorder <= 41 else 0
    return _row(out, o, fmt.STACK_ALLOC, ts, p, did, size,
                fmt.FLAG_SNAPSHOT if snapshot else 0, 0)


@kernel(inline="always")
def _stack_free(sid, ts, p, o, out, stacks, cnt):
    did = map_remove(stacks.keys, stacks.vals, stacks.free, stacks.ctr, sid)
    if did < 0:
        cnt[C_UNKNOWN_STACK_FREES] += 1
        return o
    return _row(out, o, fmt.STACK_FREE, ts, p, did, 0, 0, 0)


# -- object ids: per-span slot arrays, a spill map -------------------------------------------


@kernel(inline="always")
def _hash(key, mask):
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h >> np.uint64(20)) & np.uint64(mask))


@kernel
def _spill_put(keys, vals, ctr, key, val):
    """Insert `key` (known absent) with `val`; the caller guarantees room. As the key is
    absent, it goes to the first slot of its probe run that holds no live key: a tombstone
    (reused) or the empty slot that ends the run."""
    mask = keys.shape[0] - 1
    j = _hash(key, mask)
    while keys[j] >= 0:  # keys are slot bases >= 0; EMPTY and TOMB are negative
        j = (j + 1) & mask
    if keys[j] == EMPTY:
        ctr[1] += 1
    keys[j] = key
    vals[j] = val
    ctr[0] += 1


@kernel
def _slot_object(r0, sidx, key, ids):
    """The id of the live object in a slot (index sidx of the span whose id region is r0, or
    the spill map's `key` when r0 < 0 or the region's entry is empty), else -1. The spill
    map hashes and probes as AddrMap does, so map_get reads it."""
    if r0 >= 0 and ids.pool[r0 + sidx] >= 0:
        return ids.pool[r0 + sidx]
    if ids.xctr[0] == 0:
        return np.int64(-1)
    return map_get(ids.xkeys, ids.xvals, key)


@kernel
def _spill_take(keys, vals, ctr, key):
    """Remove `key`; its value, or -1."""
    mask = keys.shape[0] - 1
    j = _hash(key, mask)
    while keys[j] != EMPTY and keys[j] != key:
        j = (j + 1) & mask
    if keys[j] == EMPTY:
        return np.int64(-1)
    keys[j] = TOMB
    ctr[0] -= 1
    return vals[j]


@kernel
def spill_rehash(okeys, ovals, keys, vals):
    """Put the live entries of one spill table into a new, empty one."""
    ctr = np.zeros(3, np.int64)  # the new table's counters are set by the caller
    for i in range(okeys.shape[0]):
        if okeys[i] >= 0:
            _spill_put(keys, vals, ctr, okeys[i], ovals[i])


@kernel
def _attach(sid, nslots, sc, heap, ids):
    """Give span sid an empty region of nslots ids (a freed one of its class if big enough;
    the caller guarantees room in the pool for a new one)."""
    pool = ids.pool
    r = ids.fl_head[sc]
    if r >= 0 and pool[r + 1] >= nslots:
        ids.fl_head[sc] = pool[r]
        cap = pool[r + 1]
    else:
        r = ids.pctr[0]
        cap = max(nslots, np.int64(2))
        ids.pctr[0] += cap
    for k in range(nslots):
        pool[r + k] = -1
    heap.slot0[sid] = r
    heap.nslots[sid] = nslots
    heap.rcap[sid] = cap


@kernel
def _detach(sid, heap, ids, class_size, clk):
    """Span sid loses its array: live ids move to the spill map, the region to the free list.
    The caller guarantees room in the spill map."""
    r = heap.slot0[sid]
    if r < 0:
        return
    sc = heap.kc[sid] >> 2
    slot = _slot_size(sid, sc, heap, class_size, clk.pshift)
    base_off = sid << clk.pshift
    for k in range(heap.nslots[sid]):
        oid = ids.pool[r + k]
        if oid >= 0:
            _spill_put(ids.xkeys, ids.xvals, ids.xctr, (base_off + k * slot) >> clk.ashift, oid)
    ids.pool[r] = ids.fl_head[sc]
    ids.pool[r + 1] = heap.rcap[sid]
    ids.fl_head[sc] = r
    heap.slot0[sid] = -1


@kernel
def _unmap_span(heap, sid):
    for pg in range(sid, sid + heap.npages[sid]):
        if heap.pagemap[pg] == sid:
            heap.pagemap[pg] = -1
