"""The replay kernel: one numba call per trace chunk applies every event to the engine state
(mallocgc for allocs, deaths for frees, pacer trigger tests after refills and large
allocations, or the trace's GC markers in recorded mode). Trace time (the largest ts so far)
drives the mark's end, periodic GC, the background sweeper and scavenger (gc.timed), and the
timeline is sampled every P_SAMPLE_EVERY events, both independent of chunking. Before an event that could outgrow
an array it returns (status, index) so the Python driver grows the arrays and resumes there.
"""

from __future__ import annotations

from goalloc.engine import gc, locks, mcache, mspan, pacer, pagealloc
from goalloc.engine.locks import S_CUR_P, S_LK_N
from goalloc.engine.state import (
    CYK_FORCED,
    CYK_HEAP,
    CYK_RECORDED,
    NEED_CHUNKS,
    NEED_CYC,
    NEED_LK,
    NEED_NONE,
    NEED_OBJS,
    NEED_SPANS,
    NEED_TB,
    NEED_TL,
    OB_SPAN,
    P_NPROCS,
    P_RECORDED,
    P_SAMPLE_EVERY,
    P_SWEEP_FREES,
    PAGE_SIZE,
    S_CYCLE_GOAL,
    S_CYCLES,
    S_EVENT,
    S_HEAP_LIVE,
    S_INIT,
    S_LIVE_SLOT_BYTES,
    S_MAPPED_CHUNKS,
    S_MARK_BY_GOAL,
    S_NEXT_SAMPLE,
    S_NEXT_TIMED,
    S_NOW,
    S_OBJ_BYTES,
    S_PAGES_FREE,
    S_PAGES_INUSE,
    S_PAGES_RELEASED,
    S_PEAK_H,
    S_PEAK_H_L,
    S_PEAK_ID,
    S_PEAK_L,
    S_PEAK_L_H,
    S_PHASE,
    S_PK_DEAD,
    S_PK_EVENT,
    S_PK_FREE,
    S_PK_FREESLOT,
    S_PK_INUSE,
    S_PK_OBJ,
    S_PK_RELEASED,
    S_PK_ROUND,
    S_PK_TAIL,
    S_PK_UNUSED,
    S_REQ_LIVE,
    S_TAIL_BYTES,
    S_TL_N,
    S_TS,
    TLK_END,
    TLK_SAMPLE,
)
from goalloc.jit import kernel
from goalloc.trace.format import ALLOC, FLAG_NOSCAN, FREE, GC_MARK_TERM, GC_START

# Engine-internal event kind (never in a trace file): the driver turns a gc_start whose trace
# says the program forced it (aux GC_TRIGGER_FORCED: runtime.GC) into this in pacer mode when
# Config.replay_forced_gcs; the kernel runs a forced cycle there.
FORCED_GC = 64


@kernel
def _init(s):
    if s.sc[S_INIT] == 0:
        pacer.commit(s, False)
        s.sc[S_INIT] = 1


def init(s):
    _init(s)


@kernel
def _event_p(pv, nprocs):
    """The P an event runs on: events on no P (-1) use P 0; Ps beyond GOMAXPROCS wrap."""
    q = int(pv)
    if q < 0:
        return 0
    if q >= nprocs:
        return q % nprocs
    return q


@kernel
def _peaks(s, event):
    sc = s.sc
    inuse = sc[S_PAGES_INUSE] * PAGE_SIZE
    h = inuse + sc[S_PAGES_FREE] * PAGE_SIZE
    live = sc[S_REQ_LIVE]
    if live > sc[S_PEAK_L]:
        sc[S_PEAK_L] = live
        sc[S_PEAK_L_H] = h
    if h > sc[S_PEAK_H]:
        sc[S_PEAK_H] = h
        sc[S_PEAK_ID] += 1
        sc[S_PEAK_H_L] = live
        obj = sc[S_OBJ_BYTES]
        sc[S_PK_OBJ] = obj
        sc[S_PK_UNUSED] = inuse - obj
        sc[S_PK_FREE] = sc[S_PAGES_FREE] * PAGE_SIZE
        sc[S_PK_RELEASED] = sc[S_PAGES_RELEASED] * PAGE_SIZE
        sc[S_PK_ROUND] = sc[S_LIVE_SLOT_BYTES] - live
        sc[S_PK_TAIL] = sc[S_TAIL_BYTES]
        sc[S_PK_FREESLOT] = inuse - obj - sc[S_TAIL_BYTES]
        sc[S_PK_DEAD] = obj - sc[S_LIVE_SLOT_BYTES]
        sc[S_PK_INUSE] = inuse
        sc[S_PK_EVENT] = event
    elif h == sc[S_PEAK_H] and live > sc[S_PEAK_H_L]:
        sc[S_PEAK_H_L] = live  # J&W L at peak H: the largest L while H is at its maximum


@kernel
def replay_chunk(s, kind, ts, p, ids, size, flags, start, i0):
    """Replay events i0.. of one chunk. Returns (status, index): NEED_NONE and n when done,
    else the capacity to grow and the event to resume at (not yet applied)."""
    n = kind.shape[0]
    sc = s.sc
    prm = s.prm
    nprocs = prm[P_NPROCS]
    recorded = prm[P_RECORDED] != 0
    sweep_frees = prm[P_SWEEP_FREES] != 0
    every = prm[P_SAMPLE_EVERY]
    now = sc[S_NOW]
    # array sizes change only between calls (the driver grows them), so hoist them
    ob = s.ob
    n_ob = ob.shape[0]
    tl_cap = s.tl.shape[0] - 4
    cyc_cap = s.cyc.shape[0] - 2
    chunk_cap = s.palloc.shape[0] - 1
    lk_cap = s.lk.shape[0]
    for i in range(i0, n):
        k = kind[i]
        ev = start + i
        # room for what a GC boundary or a sample writes (cycle record, timeline rows)
        if sc[S_TL_N] > tl_cap:
            return NEED_TL, i
        if sc[S_CYCLES] > cyc_cap:
            return NEED_CYC, i
        if lk_cap - sc[S_LK_N] < locks.reserve(s):
            return NEED_LK, i
        t = ts[i]
        if t > now:
            now = t
            sc[S_NOW] = t
        if ev >= sc[S_NEXT_SAMPLE]:
            gc.sample(s, TLK_SAMPLE, ev)
            sc[S_NEXT_SAMPLE] = (ev // every + 1) * every
        sc[S_CUR_P] = _event_p(p[i], nprocs)  # the P this event's work (and heap locks) runs on
        if now >= sc[S_NEXT_TIMED]:
            sc[S_EVENT] = ev
            gc.timed(s)
        if k == ALLOC:
            oid = ids[i]
            sz = size[i]
            if oid >= n_ob:
                return NEED_OBJS, i
            if mspan.free_records(s) < 2:
                return NEED_SPANS, i
            if mcache.tb_free_records(s) < 2:
                return NEED_TB, i
            npages = (sz + PAGE_SIZE - 1) // PAGE_SIZE + 1
            if chunk_cap - sc[S_MAPPED_CHUNKS] < pagealloc.chunks_needed(npages):
                return NEED_CHUNKS, i
            sc[S_EVENT] = ev
            sc[S_TS] = t
            pi = _event_p(p[i], nprocs)
            if sweep_frees and ob[oid, OB_SPAN] != -1:
                gc.free_object(s, oid)  # the id's earlier object was swept unobserved
            test = mcache.malloc(s, pi, oid, sz, (flags[i] & FLAG_NOSCAN) != 0)
            if test and not recorded:
                if sc[S_PHASE] == 0:
                    goal, trig, lb = pacer.goal_and_trigger(s)
                    if sc[S_HEAP_LIVE] >= trig:
                        gc.mark_start(s, ev, t, trig, goal, lb, CYK_HEAP)
                elif sc[S_HEAP_LIVE] >= sc[S_CYCLE_GOAL]:
                    sc[S_MARK_BY_GOAL] = 1
                    gc.mark_term(s, ev, t)
            _peaks(s, ev)
        elif k == FREE:
            oid = ids[i]
            if oid < n_ob and ob[oid, OB_SPAN] != -1:
                gc.free_object(s, oid)
        elif recorded and (k == GC_START or k == GC_MARK_TERM):
            if k == GC_START and sc[S_PHASE] == 0:
                goal, trig, lb = pacer.goal_and_trigger(s)
                gc.mark_start(s, ev, t, -1, goal, lb, CYK_RECORDED)
            elif k == GC_MARK_TERM and sc[S_PHASE] == 1:
                gc.mark_term(s, ev, t)
        elif k == FORCED_GC and not recorded:
            # runtime.GC: wait for a cycle in progress to end, then a whole cycle; the caller
            # blocks until mark termination (idle Ps mark), so it ends at the same event
            sc[S_EVENT] = ev
            sc[S_TS] = t
            if sc[S_PHASE] == 1:
                gc.mark_term(s, ev, t)
            goal, trig, lb = pacer.goal_and_trigger(s)
            gc.mark_start(s, ev, t, -1, goal, lb, CYK_FORCED)
            gc.mark_term(s, ev, t)
    return NEED_NONE, n


@kernel
def force_gc(s, event, ts):
    """A whole cycle now (runtime.GC-like): used at trace end by tests and reports."""
    if s.sc[S_PHASE] == 0:
        goal, trig, lb = pacer.goal_and_trigger(s)
        gc.mark_start(s, event, ts, -1, goal, lb, CYK_FORCED)
    gc.mark_term(s, event, ts)


@kernel
def sample_end(s, event):
    """The timeline's last sample, after the last event (the caller made room)."""
    gc.sample(s, TLK_END, event)


@kernel
def current_goal(s):
    """The heap goal the pacer would use now (INF when GOGC=off and no limit)."""
    goal, trig, lb = pacer.goal_and_trigger(s)
    return goal
