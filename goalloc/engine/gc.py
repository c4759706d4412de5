"""GC cycle (runtime/mgc.go gcStart / gcMarkDone / gcMarkTermination, mgcpacer.go endCycle;
Go 1.19-1.26, 1.19/1.23 source read) with liveness taken from the trace: at mark start every
object not dead by then is marked (each P's current tiny block too), objects allocated while
marking are black. Sweep termination finishes all sweeping before marking starts.

Mark progress (engine/mark.py): background workers at 25% of GOMAXPROCS scan at the mark cost
model's rate and mutator assists pay for heapLive's growth, paced by revise() to finish by the
goal and skipped while the GC CPU limiter (engine/limiter.py) is on; in pacer mode the mark ends
when the scan work is done. Mark termination, in the runtime's order: endCycle
(consMark from this cycle: 1.22+ max of current and last 4, 1.19 PI controller), heapMarked =
heapLive = marked, gcSweep (sweepgen += 2, sweep pacing state reset), lastHeapInUse, commit
(pacer, sweep pacing, scavenger goals), scavenger generation, every mcache flushed.
Deaths (`death` frees) clear a live bit now and so take effect at the next mark start.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import gcbits, limiter, mark, mcache, mspan, pacer, scavenge, spanset, sweep
from goalloc.engine.state import (
    CS_REQ_LIVE,
    CY_BG_NS,
    CY_BY_GOAL,
    CY_CONS_MARK_PPM,
    CY_END_EVENT,
    CY_END_TS,
    CY_GOAL,
    CY_GOAL_AT_END,
    CY_HEAP_AT_END,
    CY_HEAP_AT_TRIGGER,
    CY_INUSE_AT_END,
    CY_KIND,
    CY_LIMIT_BOUND,
    CY_LIMITED,
    CY_MARKED,
    CY_PAST_MAX_WORK,
    CY_SCAN_WORK,
    CY_SCHED_WAIT,
    CY_SKEW_AT_START,
    CY_STALL_AT_START,
    CY_START_EVENT,
    CY_START_TS,
    CY_TRIGGER,
    F_BG_NS,
    F_CONS_MARK,
    F_LAST_CM,
    F_PI_INTEGRAL,
    INF,
    LH_LEN,
    OB_SIZE,
    OB_SLOT,
    OB_SPAN,
    OB_TB,
    P_BGSWEEP_NS,
    P_FIXED_CONS_MARK,
    P_GOGC,
    P_GOVERSION,
    P_MARK_STRETCH_PPM,
    P_NPROCS,
    P_PERIODIC_NS,
    P_REC_MARK_TAKES_PPM,
    P_RECORDED,
    P_TINY_SPC,
    PAGE_SIZE,
    PP_FLUSH_PENDING,
    PP_LAST_FREE_SPAN,
    S_BGSWEEP_T,
    S_CYCLE_GOAL,
    S_CYCLE_HEAP_SCAN,
    S_CYCLES,
    S_DEATHS,
    S_EVENT,
    S_FREE_BYTES,
    S_FREE_BYTES_BASE,
    S_FREES,
    S_FREES_BASE,
    S_HEAP_LIVE,
    S_HEAP_MARKED,
    S_HEAP_SCAN,
    S_LAST_GC_TS,
    S_LAST_HEAP_GOAL,
    S_LAST_HEAP_INUSE,
    S_LAST_HEAP_SCAN,
    S_LIM_LAST_ENABLED_CYCLE,
    S_LIVE_SLOT_BYTES,
    S_MARK_BY_GOAL,
    S_MARK_END_TS,
    S_MARK_START_TS,
    S_MARK_T,
    S_MARK_WAIT,
    S_MARKED_NOW,
    S_NEXT_TIMED,
    S_NONHEAP_SCAN,
    S_NOW,
    S_OBJ_BYTES,
    S_PAGES_FREE,
    S_PAGES_INUSE,
    S_PAGES_RELEASED,
    S_PAGES_SWEPT,
    S_PEAK_ID,
    S_PERIODIC,
    S_PHASE,
    S_PROP_ON,
    S_REC_ASSIST_PPM,
    S_REC_FREE_BYTES,
    S_REC_FREES,
    S_REC_IDLE_PPM,
    S_REC_SETTLED,
    S_REC_SETTLED_BYTES,
    S_RECLAIM_CREDIT,
    S_RECLAIM_INDEX,
    S_REQ_LIVE,
    S_SCAN_WORK,
    S_SCAV_READY,
    S_SG,
    S_SPAN_HW,
    S_SPANS_INUSE,
    S_STALL,
    S_SWEEP_CLASS,
    S_SWEEP_DONE_TS,
    S_SWEEP_TRACE_T,
    S_TL_N,
    S_TRIGGERED,
    S_UNSWEPT,
    SP_INUSE,
    SP_NELEMS,
    SP_SPC,
    TB_SLOT,
    TB_SPAN,
    TL_EVENT,
    TL_FREE,
    TL_HEAP_LIVE,
    TL_KIND,
    TL_OBJ,
    TL_RELEASED,
    TL_REQ_LIVE,
    TL_TS,
    TL_UNUSED,
    TLK_MARK_START,
    TLK_MARK_TERM,
    TLK_METRIC,
)
from goalloc.jit import njit

GC_BACKGROUND_UTILIZATION = 0.25


@njit(cache=True)
def sample(s, kind, event):
    """Append a timeline sample (the caller made room). At a recorded runtime/metrics sample
    (TLK_METRIC) objects are what metrics.Read would have read: without the allocations in
    the mcaches' current spans (mcache.uncounted_bytes), which count as unused."""
    sc = s.sc
    n = sc[S_TL_N]
    tl = s.tl
    inuse = sc[S_PAGES_INUSE] * PAGE_SIZE
    obj = sc[S_OBJ_BYTES]
    if kind == TLK_METRIC:
        obj -= mcache.uncounted_bytes(s)
    tl[n, TL_KIND] = kind
    tl[n, TL_TS] = sc[S_NOW]
    tl[n, TL_EVENT] = event
    tl[n, TL_OBJ] = obj
    tl[n, TL_UNUSED] = inuse - obj
    tl[n, TL_FREE] = sc[S_PAGES_FREE] * PAGE_SIZE
    tl[n, TL_RELEASED] = sc[S_PAGES_RELEASED] * PAGE_SIZE
    tl[n, TL_HEAP_LIVE] = sc[S_HEAP_LIVE]
    tl[n, TL_REQ_LIVE] = sc[S_REQ_LIVE]
    sc[S_TL_N] = n + 1


@njit(cache=True)
def finish_sweep(s):
    """Sweep termination (finishsweep_m): sweep every span still unswept, reset the unswept
    span sets, start the next gcBits epoch."""
    while sweep.sweepone(s) >= 0:
        pass
    s.sc[S_PROP_ON] = 0
    spanset.reset_unswept(s)
    gcbits.next_epoch(s.sc)


@njit(cache=True)
def mark_start(s, event, ts, trigger, goal, limit_bound, kind):
    """gcStart through the start of concurrent mark."""
    for p in range(s.prm[P_NPROCS]):  # gcStart throws on an mcache not flushed since
        mcache.late_flush(s, p)
    finish_sweep(s)
    sc = s.sc
    # gcStart's sweepone loop runs on the triggering goroutine before the cycle begins: the
    # mark starts after the model's mutators' sweep time (pacer mode, sweep.mutator_stall)
    stalled = sweep.mutator_stall(s, sc[S_SWEEP_TRACE_T])
    sc[S_NOW] += stalled
    ts += stalled
    scavenge.wake(s, ts)  # finishsweep_m wakes the scavenger
    sc[S_PHASE] = 1
    for sid in range(sc[S_SPAN_HW]):
        if s.sp[sid, SP_INUSE] == 1:
            words = (s.sp[sid, SP_NELEMS] + 63) >> 6
            for w in range(words):
                s.mbits[sid, w] = s.lbits[sid, w]
    sc[S_MARKED_NOW] = sc[S_LIVE_SLOT_BYTES]
    scan = mark.heap_scan_work(s)
    sc[S_CYCLE_HEAP_SCAN] = scan
    work = scan + sc[S_NONHEAP_SCAN]
    sc[S_SCAN_WORK] = work
    sc[S_MARK_START_TS] = sc[S_NOW]
    sc[S_MARK_BY_GOAL] = 0
    sc[S_TRIGGERED] = sc[S_HEAP_LIVE]
    if not limit_bound and goal < sc[S_HEAP_LIVE] + (64 << 10):
        goal = sc[S_HEAP_LIVE] + (64 << 10)
    sc[S_CYCLE_GOAL] = goal
    mark.start(s)  # background workers and assists from here (S_MARK_END_TS)
    n = sc[S_CYCLES]
    cyc = s.cyc
    cyc[n, CY_START_EVENT] = event
    cyc[n, CY_START_TS] = ts
    cyc[n, CY_STALL_AT_START] = s.sc[S_STALL]
    cyc[n, CY_SKEW_AT_START] = mark.clock_skew(sc, s.prm[P_REC_MARK_TAKES_PPM],
                                               s.prm[P_MARK_STRETCH_PPM])
    cyc[n, CY_HEAP_AT_TRIGGER] = sc[S_HEAP_LIVE]
    cyc[n, CY_TRIGGER] = trigger
    cyc[n, CY_GOAL] = goal
    cyc[n, CY_LIMIT_BOUND] = 1 if limit_bound else 0
    cyc[n, CY_END_EVENT] = -1
    cyc[n, CY_KIND] = kind
    cyc[n, CY_SCAN_WORK] = work
    cyc[n, CY_BG_NS] = np.int64(s.fs[F_BG_NS])
    sample(s, TLK_MARK_START, event)
    sc[S_NEXT_TIMED] = 0


@njit(cache=True)
def _end_cycle(s):
    """gcControllerState.endCycle: this cycle's cons/mark and the consMark estimate."""
    sc = s.sc
    fs = s.fs
    if s.prm[P_FIXED_CONS_MARK] != 0:
        return
    live = sc[S_HEAP_LIVE]
    trig = sc[S_TRIGGERED]
    work = sc[S_SCAN_WORK]
    if live <= trig or work <= 0:
        return
    # utilization: the workers' goal (endCycle assumes they met it) plus assist time over the
    # mark's CPU time; idle mark time counts in the cons/mark ratio but not in the utilization
    # it divides by. The model's marks run the workers at 25% of GOMAXPROCS at a rate measured
    # on the recording's marks (assists and idle workers folded in), so assist and idle time
    # are the recording's shares (mark_cpu, engine/mark.py RecordedMarkCpu; 0 without): those
    # of the recorded mark in effect (mark.recorded_mark_began: the runtime's marks differ
    # one by one, and through the last four's maximum one sets the runway of the next four;
    # the pooled shares without per-mark rows), and the Ps the model's parked assists leave
    # idle (mark.park)
    u = GC_BACKGROUND_UTILIZATION + sc[S_REC_ASSIST_PPM] * 1e-6
    idle_u = sc[S_REC_IDLE_PPM] * 1e-6
    n = sc[S_CYCLES]
    took = sc[S_NOW] - sc[S_MARK_START_TS]
    parked = sc[S_STALL] - s.cyc[n, CY_STALL_AT_START]
    if took > 0 and parked > 0:
        idle_u += (1.0 - GC_BACKGROUND_UTILIZATION) * np.float64(parked) / np.float64(took)
    cur = np.float64(live - trig) * (u + idle_u) / (np.float64(work) * (1.0 - u))
    if s.prm[P_GOVERSION] >= 122:
        cm = cur
        for i in range(4):
            if fs[F_LAST_CM + i] > cm:
                cm = fs[F_LAST_CM + i]
        for i in range(3):
            fs[F_LAST_CM + i] = fs[F_LAST_CM + i + 1]
        fs[F_LAST_CM + 3] = cur
        fs[F_CONS_MARK] = cm
    else:
        # 1.19 consMarkController, a piController{kp: 0.9, ti: 4.0, tt: 1000, min: -1000,
        # max: 1000} (the runtime's one controller type, mgcscavenge.go: scavenge.pi_next)
        # .next(consMark, current, 1.0); not ok (the error diverged): consMark = 0
        out, ok = scavenge.pi_next(fs, F_PI_INTEGRAL, 0.9, 4.0, 1000.0, -1000.0, 1000.0,
                                   fs[F_CONS_MARK], cur, 1.0)
        fs[F_CONS_MARK] = out if ok else 0.0


@njit(cache=True)
def mark_term(s, event, ts, late):
    """gcMarkTermination, then every P's mcache flush (forEachP: each P at its safe point),
    but for the Ps in the bit mask `late`: a recording shows that their flush came later
    (snapshot.Plan, from the header's mcache_flushes), and mcache.late_flush does it then."""
    sc = s.sc
    n = sc[S_CYCLES]
    cyc = s.cyc
    cyc[n, CY_HEAP_AT_END] = sc[S_HEAP_LIVE]
    cyc[n, CY_MARKED] = sc[S_MARKED_NOW]
    cyc[n, CY_END_EVENT] = event
    cyc[n, CY_END_TS] = ts
    cyc[n, CY_BY_GOAL] = sc[S_MARK_BY_GOAL]
    # the wait in the planned end, if the mark reached that end (an assist that saw the end,
    # or a mark the trace began inside, did not wait for a scheduler pass)
    waited = sc[S_MARK_BY_GOAL] == 0 and ts >= sc[S_MARK_END_TS]
    cyc[n, CY_SCHED_WAIT] = sc[S_MARK_WAIT] if waited else 0
    # whether assists had stopped by the end, so that only a worker could see it: in recorded
    # mode, whether the recorded mark's end included a wait for a scheduler pass (the scan
    # rate's calibration, engine/replay.py _scan_rate_of)
    cyc[n, CY_PAST_MAX_WORK] = 1 if mark.past_max_work(s) else 0
    mark.finish(s, sc[S_NOW])
    # endCycle
    g0, t0, lb0 = pacer.goal_and_trigger(s)
    sc[S_LAST_HEAP_GOAL] = g0 if g0 < INF else 0
    cyc[n, CY_GOAL_AT_END] = g0 if g0 < INF else -1  # -1: no goal (GOGC=off, no limit)
    _end_cycle(s)
    cyc[n, CY_BG_NS] = np.int64(s.fs[F_BG_NS]) - cyc[n, CY_BG_NS]
    cyc[n, CY_LIMITED] = 1 if sc[S_LIM_LAST_ENABLED_CYCLE] == n + 1 else 0
    cyc[n, CY_CONS_MARK_PPM] = np.int64(s.fs[F_CONS_MARK] * 1e6)
    # resetLive
    sc[S_HEAP_MARKED] = sc[S_MARKED_NOW]
    sc[S_HEAP_LIVE] = sc[S_MARKED_NOW]
    # heapScanWork: what the workers scanned (live at mark start); black allocations are
    # marked, never scanned
    sc[S_LAST_HEAP_SCAN] = sc[S_CYCLE_HEAP_SCAN]
    sc[S_HEAP_SCAN] = sc[S_LAST_HEAP_SCAN]  # heapScan starts the next cycle at heapScanWork
    sc[S_PHASE] = 0
    sc[S_TRIGGERED] = -1
    # gcSweep
    sc[S_SG] += 2
    sc[S_PAGES_SWEPT] = 0
    sc[S_RECLAIM_INDEX] = 0
    sc[S_RECLAIM_CREDIT] = 0
    sc[S_SWEEP_CLASS] = 0
    sc[S_FREES_BASE] = sc[S_FREES]  # sweep.paced counts this cycle's frees from here
    sc[S_REC_FREES] = 0
    sc[S_REC_SETTLED] = 0
    sc[S_FREE_BYTES_BASE] = sc[S_FREE_BYTES]
    sc[S_REC_FREE_BYTES] = 0
    sc[S_REC_SETTLED_BYTES] = 0
    s.pp[:, PP_LAST_FREE_SPAN] = -1
    un = 1 - spanset.swept_idx(s)
    cnt = 0
    for spc in range(s.mc.shape[1]):
        cnt += s.lh[spanset.set_id(spc, False, un), LH_LEN]
        cnt += s.lh[spanset.set_id(spc, True, un), LH_LEN]
    sc[S_UNSWEPT] = cnt
    if cnt == 0:
        sc[S_SWEEP_DONE_TS] = sc[S_NOW]
        sc[S_SCAV_READY] = 1
    sc[S_LAST_HEAP_INUSE] = sc[S_PAGES_INUSE] * PAGE_SIZE
    # gcControllerCommit: pacer, sweep pacing, scavenger goals
    pacer.commit(s, sc[S_SPANS_INUSE] > 0)
    goal, trig, lb = pacer.goal_and_trigger(s)
    sweep.pace(s, trig)
    scavenge.pace(s, goal)
    scavenge.next_gen(s)
    sc[S_LAST_GC_TS] = sc[S_NOW] if sc[S_NOW] > 0 else 1
    for p in range(s.prm[P_NPROCS]):
        if p < 63 and (late >> p) & 1:
            s.pp[p, PP_FLUSH_PENDING] = 1
        else:
            mcache.release_all(s, p)
    cyc[n, CY_INUSE_AT_END] = sc[S_PAGES_INUSE] * PAGE_SIZE
    sc[S_CYCLES] = n + 1
    sc[S_BGSWEEP_T] = sc[S_NOW]  # the background sweeper wakes
    sample(s, TLK_MARK_TERM, event)
    sc[S_NEXT_TIMED] = 0


@njit(cache=True)
def timed(s):
    """Work that trace time drives, up to S_NOW: the end of a pacer-mode mark, a periodic GC,
    the background sweeper and scavenger. Sets S_NEXT_TIMED to when there is more.
    The caller made room for one cycle record and two timeline samples."""
    sc = s.sc
    prm = s.prm
    now = sc[S_NOW]
    pacer_mode = prm[P_RECORDED] == 0
    if pacer_mode and sc[S_PHASE] == 1 and now >= sc[S_MARK_END_TS]:
        # the workers finished the work at S_MARK_END_TS: the mark ends there, not at the
        # event that brings timed() here (the trace may have been idle in between), and the
        # sweep phase's clock (the background sweeper, the limiter) runs from there to now
        end = max(sc[S_MARK_END_TS], sc[S_MARK_T])
        sc[S_NOW] = end
        mark_term(s, sc[S_EVENT], end, 0)
        sc[S_NOW] = now
    if (pacer_mode and sc[S_PHASE] == 0 and prm[P_GOGC] >= 0 and sc[S_LAST_GC_TS] > 0
            and now - sc[S_LAST_GC_TS] > prm[P_PERIODIC_NS]):
        goal, trig, lb = pacer.goal_and_trigger(s)
        sc[S_PERIODIC] += 1
        mark_start(s, sc[S_EVENT], now, -1, goal, lb, 1)
    if limiter.need_update(s, now):
        limiter.update(s, now)
    sweep.background(s, now)
    scavenge.background(s, now)
    nxt = INF
    t = limiter.next_update(s)
    if t >= 0:
        nxt = t
    if pacer_mode and sc[S_PHASE] == 1:
        if sc[S_MARK_END_TS] < nxt:
            nxt = sc[S_MARK_END_TS]
    elif pacer_mode and prm[P_GOGC] >= 0 and sc[S_LAST_GC_TS] > 0:
        if sc[S_LAST_GC_TS] + prm[P_PERIODIC_NS] + 1 < nxt:
            nxt = sc[S_LAST_GC_TS] + prm[P_PERIODIC_NS] + 1
    if sc[S_UNSWEPT] > 0 and prm[P_BGSWEEP_NS] > 0:
        t = sc[S_BGSWEEP_T] + prm[P_BGSWEEP_NS]
        if t < nxt:
            nxt = t
    t = scavenge.next_time(s)
    if t < nxt:
        nxt = t
    sc[S_NEXT_TIMED] = nxt


@njit(cache=True, inline="always")
def death_class(ob, sp, oid, sid, tspc):
    """The span class whose stats a death of object oid (in span sid) changes."""
    return tspc if ob[oid, OB_TB] >= 0 else sp[sid, SP_SPC]


@njit(cache=True, inline="always")
def dying_object(ob, sp, cs, cs_snap, pk_cs, sc, oid, sid, tspc):
    """Object oid in span sid dies: its class's stats change (death_class; the peak's row kept
    first, mspan.keep_peak_row) and object_death accounts for it. Returns object_death's (tiny
    block, slot). Straight-line over arrays the caller loaded: free_object and the replay
    kernel's fast paths (a FREE event, a look-ahead death) all take this step."""
    spc = death_class(ob, sp, oid, sid, tspc)
    mspan.keep_peak_row(cs, cs_snap, pk_cs, sc[S_PEAK_ID], spc)
    b, slot = object_death(ob, sc, cs, oid, spc)
    ob[oid, OB_SLOT] = sid  # where it died: a recorded SpanFree after its free (sweep.follow)
    return b, slot


@njit(cache=True, inline="always")
def object_death(ob, sc, cs, oid, spc):
    """Object oid (of class spc, which the caller touched) died: its requested bytes leave
    the live set and its record is cleared. Returns its tiny block (-1: none) and its slot.
    Straight-line, so the replay kernel's fast paths inline it without reference counting."""
    size = ob[oid, OB_SIZE]
    b = ob[oid, OB_TB]
    slot = ob[oid, OB_SLOT]
    sc[S_DEATHS] += 1
    cs[spc, CS_REQ_LIVE] -= size
    sc[S_REQ_LIVE] -= size
    ob[oid, OB_SPAN] = -1
    ob[oid, OB_TB] = -1
    return b, slot


@njit(cache=True)
def tiny_block_death(tb, sc, b):
    """A sub-object of tiny block b died: (span, slot) of the block's slot when the whole block
    died with it (its record recycled), else (-1, 0) (the block still holds others or is a P's
    current block). A call, not inlined: its branch would bring reference counting into the
    replay kernel's loop."""
    if mcache.tb_sub_dead(tb, b):
        sid = tb[b, TB_SPAN]
        slot = tb[b, TB_SLOT]
        mcache.tb_recycle(sc, tb, b)
        return sid, slot
    return -1, 0


@njit(cache=True)
def free_object(s, oid, sweep_frees):
    """The trace says object oid died (or, with `sweep_frees`, was swept: an unswept span then
    loses the slot's mark too, mspan.slot_dead_step)."""
    sid = s.ob[oid, OB_SPAN]
    if sid < 0:
        s.sc[S_DEATHS] += 1
        if sid == -2:  # a zero-size object (in no span: nothing for sweep.follow)
            s.ob[oid, OB_SPAN] = -1
            s.ob[oid, OB_SLOT] = -1
        return
    b, dslot = dying_object(s.ob, s.sp, s.cs, s.cs_snap, s.pk_cs, s.sc, oid, sid,
                            s.prm[P_TINY_SPC])
    dsid = sid
    if b >= 0:
        dsid, dslot = tiny_block_death(s.tb, s.sc, b)
    if dsid >= 0:
        mspan.slot_dead(s, dsid, dslot, sweep_frees)
