"""GC cycle (runtime/mgc.go gcStart / gcMarkDone / gcMarkTermination, Go 1.19-1.26) with
liveness taken from the trace: at mark start every object not dead by then is marked (each P's
current tiny block too), objects allocated while marking are black; mark termination sets
heapMarked = heapLive = marked bytes, sweepgen += 2 (swapping mcentral's swept/unswept sets),
commits the pacer and flushes every mcache (releaseAll). Sweep termination finishes all
sweeping before marking starts. Deaths (`death` frees) clear a live bit now and so take effect
at the next mark start.
"""

from __future__ import annotations

from goalloc.engine import mcache, mcentral, mspan, pacer
from goalloc.engine.state import (
    CS_LIVE_SLOT_BYTES,
    CS_REQ_LIVE,
    CY_END_EVENT,
    CY_END_TS,
    CY_GOAL,
    CY_HEAP_AT_END,
    CY_HEAP_AT_TRIGGER,
    CY_INUSE_AT_END,
    CY_LIMIT_BOUND,
    CY_MARKED,
    CY_START_EVENT,
    CY_START_TS,
    CY_TRIGGER,
    OB_SIZE,
    OB_SLOT,
    OB_SPAN,
    OB_TB,
    P_NPROCS,
    P_TINY_SPC,
    PAGE_SIZE,
    S_CYCLE_GOAL,
    S_CYCLES,
    S_DEATHS,
    S_HEAP_LIVE,
    S_HEAP_MARKED,
    S_LAST_HEAP_SCAN,
    S_LIVE_SLOT_BYTES,
    S_MARKED_NOW,
    S_MARKED_SCAN_NOW,
    S_PAGES_INUSE,
    S_PHASE,
    S_REQ_LIVE,
    S_SG,
    S_SPAN_HW,
    S_SPANS_INUSE,
    S_TRIGGERED,
    SP_INUSE,
    SP_NELEMS,
    SP_SPC,
    TB_CNT,
    TB_OWNER,
)
from goalloc.jit import njit


@njit(cache=True)
def finish_sweep(s):
    """Sweep termination: sweep every span still unswept (finishsweep_m)."""
    idx = mcentral.swept_idx(s)
    un = 1 - idx
    nspc = s.mc.shape[1]
    for spc in range(nspc):
        for full in (False, True):
            lid = mcentral.set_id(spc, full, un)
            while True:
                sid = mcentral.pop(s, lid)
                if sid < 0:
                    break
                mcentral.sweep_and_place(s, spc, sid)


@njit(cache=True)
def mark_start(s, event, ts, trigger, goal, limit_bound):
    """gcStart through the start of concurrent mark."""
    finish_sweep(s)
    sc = s.sc
    sc[S_PHASE] = 1
    for sid in range(sc[S_SPAN_HW]):
        if s.sp[sid, SP_INUSE] == 1:
            words = (s.sp[sid, SP_NELEMS] + 63) >> 6
            for w in range(words):
                s.mbits[sid, w] = s.lbits[sid, w]
    sc[S_MARKED_NOW] = sc[S_LIVE_SLOT_BYTES]
    scan = 0
    for spc in range(0, s.cs.shape[0], 2):
        scan += s.cs[spc, CS_LIVE_SLOT_BYTES]
    sc[S_MARKED_SCAN_NOW] = scan
    sc[S_TRIGGERED] = sc[S_HEAP_LIVE]
    if not limit_bound and goal < sc[S_HEAP_LIVE] + (64 << 10):
        goal = sc[S_HEAP_LIVE] + (64 << 10)
    sc[S_CYCLE_GOAL] = goal
    n = sc[S_CYCLES]
    cyc = s.cyc
    cyc[n, CY_START_EVENT] = event
    cyc[n, CY_START_TS] = ts
    cyc[n, CY_HEAP_AT_TRIGGER] = sc[S_HEAP_LIVE]
    cyc[n, CY_TRIGGER] = trigger
    cyc[n, CY_GOAL] = goal
    cyc[n, CY_LIMIT_BOUND] = 1 if limit_bound else 0
    cyc[n, CY_END_EVENT] = -1


@njit(cache=True)
def mark_term(s, event, ts):
    """gcMarkTermination, then every P's mcache flush."""
    sc = s.sc
    n = sc[S_CYCLES]
    cyc = s.cyc
    cyc[n, CY_HEAP_AT_END] = sc[S_HEAP_LIVE]
    cyc[n, CY_MARKED] = sc[S_MARKED_NOW]
    cyc[n, CY_END_EVENT] = event
    cyc[n, CY_END_TS] = ts
    sc[S_HEAP_MARKED] = sc[S_MARKED_NOW]
    sc[S_HEAP_LIVE] = sc[S_MARKED_NOW]
    sc[S_LAST_HEAP_SCAN] = sc[S_MARKED_SCAN_NOW]
    sc[S_PHASE] = 0
    sc[S_TRIGGERED] = -1
    sc[S_SG] += 2
    pacer.commit(s, sc[S_SPANS_INUSE] > 0)
    for p in range(s.prm[P_NPROCS]):
        mcache.release_all(s, p)
    cyc[n, CY_INUSE_AT_END] = sc[S_PAGES_INUSE] * PAGE_SIZE
    sc[S_CYCLES] = n + 1


@njit(cache=True)
def free_object(s, oid):
    """The trace says object oid died (or, for sweep-observed frees, was swept)."""
    sid = s.ob[oid, OB_SPAN]
    s.sc[S_DEATHS] += 1
    if sid == -2:
        s.ob[oid, OB_SPAN] = -1
        return
    if sid < 0:
        return
    size = s.ob[oid, OB_SIZE]
    b = s.ob[oid, OB_TB]
    spc = s.prm[P_TINY_SPC] if b >= 0 else s.sp[sid, SP_SPC]
    s.cs[spc, CS_REQ_LIVE] -= size
    s.sc[S_REQ_LIVE] -= size
    if b >= 0:
        s.tb[b, TB_CNT] -= 1
        if s.tb[b, TB_CNT] == 0 and s.tb[b, TB_OWNER] < 0:
            mcache.tb_kill(s, b)
    else:
        mspan.slot_dead(s, sid, s.ob[oid, OB_SLOT])
    s.ob[oid, OB_SPAN] = -1
    s.ob[oid, OB_TB] = -1
