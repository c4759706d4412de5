"""GC pacer (runtime/mgcpacer.go gcControllerState; 1.18 redesign, memory limit 1.19; Go
1.19-1.23 verified): GOGC heap goal over heapMarked (+ stacks/globals), heap minimum
4 MiB*GOGC/100, GOMEMLIMIT goal recomputed at every trigger test (headroom 1 MiB [1.19],
max(3%, 1 MiB) [1.22+]), sweepDistMinTrigger, and the trigger bounds 45/64 and 61/64 of the
runway to the goal (upper bound at least goal - 4 MiB). runway = consMark * 3 * (lastHeapScan +
stacks + globals) with consMark measured at each mark termination from the mark cost model
(gc._end_cycle), or fixed (Config.fixed_cons_mark); lastHeapScan is the bytes marked in
pointerful span classes (see docs/model.md). GOGC=off: no GOGC goal.

lastStackScan + globalsScan (S_NONHEAP_SCAN) are not in a trace's events, but a Go trace's own
commits show them: each mark termination traces heapMarked (resetLive's HeapAlloc) and then
the new goal (HeapGoal), and goal = marked + (marked + stacks + globals) * GOGC/100, so the
recording's stacks + globals follow from its GOGC (`nonheap_scan`). The replay takes each
recorded value at its mark termination.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import mcache, mstats
from goalloc.engine.state import (
    F_CONS_MARK,
    HEAP_MINIMUM,
    INF,
    P_CONS_MARK_PPM,
    P_FIXED_CONS_MARK,
    P_GOGC,
    P_GOVERSION,
    P_MEMLIMIT,
    PAGE_SIZE,
    S_CYCLES,
    S_GOAL_GOGC,
    S_HEAP_LIVE,
    S_HEAP_MARKED,
    S_LAST_HEAP_SCAN,
    S_NONHEAP_SCAN,
    S_OBJ_BYTES,
    S_PAGES_FREE,
    S_PHASE,
    S_PRE_TRACE_LIVE,
    S_REC_LIVE_PREV,
    S_REC_LIVE_STATE,
    S_RUNWAY,
    S_SWEEP_DIST_MIN,
    SWEEP_MIN_HEAP_DISTANCE,
)
from goalloc.jit import kernel, njit
from goalloc.trace import format as fmt

# recorded_heap_live's states (S_REC_LIVE_STATE): no reading yet, readings seen, closed (a GC of
# the model or the recording began)
REC_LIVE_NONE, REC_LIVE_SEEN, REC_LIVE_CLOSED = range(3)


@njit(cache=True)
def commit(s, sweep_unfinished):
    """gcControllerCommit: GOGC goal, runway and sweep distance after mark termination."""
    prm = s.prm
    sc = s.sc
    gogc = prm[P_GOGC]
    marked = sc[S_HEAP_MARKED]
    if gogc < 0:
        sc[S_GOAL_GOGC] = INF
    else:
        goal = marked + (marked + sc[S_NONHEAP_SCAN]) * gogc // 100
        minimum = HEAP_MINIMUM * gogc // 100
        if goal < minimum:
            goal = minimum
        sc[S_GOAL_GOGC] = goal
    scan = sc[S_LAST_HEAP_SCAN] + sc[S_NONHEAP_SCAN]
    if prm[P_FIXED_CONS_MARK] != 0:
        sc[S_RUNWAY] = prm[P_CONS_MARK_PPM] * 3 * scan // 1000000
    else:
        cm = s.fs[F_CONS_MARK]
        if cm <= 0.0:
            sc[S_RUNWAY] = 0
        else:
            r = cm * 3.0 * np.float64(scan)
            sc[S_RUNWAY] = INF if r >= 4.0e18 else np.int64(r)
    if sweep_unfinished:
        sc[S_SWEEP_DIST_MIN] = sc[S_HEAP_LIVE] + SWEEP_MIN_HEAP_DISTANCE
    else:
        sc[S_SWEEP_DIST_MIN] = 0


@njit(cache=True)
def memory_limit_goal(s):
    """gcControllerState.memoryLimitHeapGoal."""
    prm = s.prm
    sc = s.sc
    limit = prm[P_MEMLIMIT]
    if limit < 0:
        return INF
    heap_free = sc[S_PAGES_FREE] * PAGE_SIZE
    mapped_ready = mstats.mapped_ready(s)
    # heapAlloc = totalAlloc - totalFree: a small object counts when its span leaves the
    # mcache (refill, releaseAll), so what the Ps allocated from their current spans is not
    # in it yet (it shows in nonHeapMemory, as the runtime computes it)
    heap_alloc = sc[S_OBJ_BYTES] - mcache.uncounted_bytes(s)
    non_heap = mapped_ready - heap_free - heap_alloc
    over = mapped_ready - limit
    if over < 0:
        over = 0
    marked = sc[S_HEAP_MARKED]
    if non_heap + over >= limit:
        return marked
    goal = limit - (non_heap + over)
    headroom = 1 << 20
    if prm[P_GOVERSION] >= 122:
        h3 = goal // 100 * 3
        if h3 > headroom:
            headroom = h3
    if goal < headroom or goal - headroom < headroom:
        goal = headroom
    else:
        goal = goal - headroom
    if goal < marked:
        goal = marked
    return goal


@njit(cache=True)
def goal_and_trigger(s):
    """gcControllerState.trigger (with heapGoalInternal): (goal, trigger, limit_bound)."""
    sc = s.sc
    goal = sc[S_GOAL_GOGC]
    min_trigger = 0
    limit_bound = False
    lg = memory_limit_goal(s)
    if lg < goal:
        goal = lg
        limit_bound = True
    else:
        sd = sc[S_SWEEP_DIST_MIN]
        if sd > goal:
            goal = sd
        min_trigger = sd
    if goal >= INF:
        return INF, INF, False
    marked = sc[S_HEAP_MARKED]
    if marked >= goal:
        return goal, goal, limit_bound
    if min_trigger < marked:
        min_trigger = marked
    d = goal - marked
    lo = d // 64 * 45 + marked
    if min_trigger < lo:
        min_trigger = lo
    hi = d // 64 * 61 + marked
    if goal > HEAP_MINIMUM and goal - HEAP_MINIMUM > hi:
        hi = goal - HEAP_MINIMUM
    if hi < min_trigger:
        hi = min_trigger
    runway = sc[S_RUNWAY]
    if runway > goal:
        trigger = min_trigger
    else:
        trigger = goal - runway
    if trigger < min_trigger:
        trigger = min_trigger
    if trigger > hi:
        trigger = hi
    if trigger > goal:
        trigger = goal
    return goal, trigger, limit_bound


# ---- the recording's own stacks + globals ----------------------------------------------------


@njit(cache=True, inline="always")
def recorded_nonheap(sc, size):
    """At a recorded cycle's gc_start: the stacks + globals its commit showed (Plan.run_chunk
    puts them in the event's size, plus one; 0: none known). Taken at the cycle's start so a
    model commit that comes before the recorded one (pacer mode) has them too."""
    if size > 0:
        sc[S_NONHEAP_SCAN] = size - 1


@njit(cache=True, inline="always")
def recorded_heap_live(sc, live, gc_start):
    """A reading of the runtime's heapLive in the trace (HeapAlloc: traced at every change
    of it, gcController.update), before the first GC of the model or the recording; or, with
    `gc_start`, the recording's first gc_start, where the last reading is compared and the
    readings end (its mark termination resets them). The model's heapLive misses what
    tracing began after: the free slots of the spans Ps had cached and did not allocate from
    while traced (snapshot.Plan caches only those they did). A refill's reading comes before
    the allocation that takes the span, a large object's after it, so a reading less the
    model's own heapLive there is the missing part, or more by a refill not yet applied: the
    least of them joins heapLive (S_PRE_TRACE_LIVE), exact at the first large object or at
    the recording's gc_start. heapMarked replaces heapLive at the first mark termination,
    and the difference with it."""
    if sc[S_REC_LIVE_STATE] == REC_LIVE_CLOSED:
        return
    if sc[S_CYCLES] > 0 or sc[S_PHASE] != 0:
        sc[S_REC_LIVE_STATE] = REC_LIVE_CLOSED
        return
    if gc_start:
        live = sc[S_REC_LIVE_PREV]
        if sc[S_REC_LIVE_STATE] == REC_LIVE_NONE:
            sc[S_REC_LIVE_STATE] = REC_LIVE_CLOSED
            return
    d = live - (sc[S_HEAP_LIVE] - sc[S_PRE_TRACE_LIVE])
    if sc[S_REC_LIVE_STATE] == REC_LIVE_NONE or d < sc[S_PRE_TRACE_LIVE]:
        sc[S_HEAP_LIVE] += d - sc[S_PRE_TRACE_LIVE]
        sc[S_PRE_TRACE_LIVE] = d
    sc[S_REC_LIVE_PREV] = live
    sc[S_REC_LIVE_STATE] = REC_LIVE_CLOSED if gc_start else REC_LIVE_SEEN


# recorded_commits state: [0] 0 idle, 1 after a mark termination, 2 its heapMarked seen;
# [1] that cycle's gc_start event index; [2] its heapMarked; [3] the first heap goal traced
# before any gc_start (-1: none yet); [4] 1 once a gc_start was seen; [5] the last gc_start
COMMIT_STATE = 6


@kernel
def recorded_commits(kind, size, start, st, ev_out, marked_out, goal_out):
    """One chunk of a trace's commits: (the cycle's gc_start event index, heapMarked, heap
    goal), written to the *_out arrays; returns how many. gcMarkTermination traces heapMarked
    (gcController.resetLive's HeapAlloc) and then the goal gcControllerCommit set (HeapGoal)."""
    n = 0
    for i in range(kind.shape[0]):
        k = kind[i]
        if k == fmt.GC_MARK_TERM:
            st[0] = 1 if st[5] >= 0 else 0
            st[1] = st[5]
        elif k == fmt.HEAP_LIVE:
            if st[0] == 1:
                st[2] = size[i]
                st[0] = 2
        elif k == fmt.HEAP_GOAL:
            if st[4] == 0 and st[3] < 0:
                st[3] = size[i]
            if st[0] == 2:
                ev_out[n] = st[1]
                marked_out[n] = st[2]
                goal_out[n] = size[i]
                n += 1
                st[0] = 0
        elif k == fmt.GC_START:
            st[0] = 0
            st[4] = 1
            st[5] = start + i
    return n


def recorded_gogc(first_goal: int, source: dict) -> tuple[int, str]:
    """The GOGC the recording ran with: the header's when the recorder wrote it; else read from
    the heap goal traced before the first cycle when that is the heap minimum (4 MiB *
    GOGC/100: a young heap's goal); else the default, 100."""
    g = source.get("gogc")
    if isinstance(g, int) and not isinstance(g, bool) and 0 < g <= 1 << 30:
        return g, "from the trace header"
    if first_goal > 0:
        g = round(first_goal * 100 / HEAP_MINIMUM)
        if 0 < g <= 1 << 30 and HEAP_MINIMUM * g // 100 == first_goal:
            return g, "from its first heap goal (the heap minimum)"
    return 100, "assumed (the default)"


def nonheap_scan(marked: np.ndarray, goal: np.ndarray, gogc: int) -> np.ndarray:
    """stacks + globals from each recorded commit (goal = marked + (marked + x) * GOGC/100),
    -1 where the goal does not show them: the heap-minimum floor, the sweep-distance floor
    (marked + 1 MiB), or a goal below the GOGC formula's (a memory limit's)."""
    marked = np.asarray(marked, np.int64)
    goal = np.asarray(goal, np.int64)
    x = (goal - marked) * 100 // gogc - marked
    floor = (goal <= HEAP_MINIMUM * gogc // 100) | (goal == marked + SWEEP_MIN_HEAP_DISTANCE)
    return np.where(floor | (x < 0), -1, x)
