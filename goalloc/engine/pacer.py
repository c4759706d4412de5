"""GC pacer (runtime/mgcpacer.go gcControllerState; 1.18 redesign, memory limit 1.19; Go
1.19-1.23 verified): GOGC heap goal over heapMarked (+ stacks/globals), heap minimum
4 MiB*GOGC/100, GOMEMLIMIT goal recomputed at every trigger test (headroom 1 MiB [1.19],
max(3%, 1 MiB) [1.22+]), sweepDistMinTrigger, and the trigger bounds 45/64 and 61/64 of the
runway to the goal (upper bound at least goal - 4 MiB). runway = consMark * 3 * (lastHeapScan +
stacks + globals) with consMark measured at each mark termination from the mark cost model
(gc._end_cycle), or fixed (Config.fixed_cons_mark); lastHeapScan is the bytes marked in
pointerful span classes (see docs/model.md). GOGC=off: no GOGC goal.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import mstats
from goalloc.engine.state import (
    F_CONS_MARK,
    HEAP_MINIMUM,
    INF,
    P_CONS_MARK_PPM,
    P_FIXED_CONS_MARK,
    P_GLOBALS,
    P_GOGC,
    P_GOVERSION,
    P_MEMLIMIT,
    P_STACK,
    PAGE_SIZE,
    S_GOAL_GOGC,
    S_HEAP_LIVE,
    S_HEAP_MARKED,
    S_LAST_HEAP_SCAN,
    S_OBJ_BYTES,
    S_PAGES_FREE,
    S_RUNWAY,
    S_SWEEP_DIST_MIN,
    SWEEP_MIN_HEAP_DISTANCE,
)
from goalloc.jit import njit


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
        goal = marked + (marked + prm[P_STACK] + prm[P_GLOBALS]) * gogc // 100
        minimum = HEAP_MINIMUM * gogc // 100
        if goal < minimum:
            goal = minimum
        sc[S_GOAL_GOGC] = goal
    scan = sc[S_LAST_HEAP_SCAN] + prm[P_STACK] + prm[P_GLOBALS]
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
    heap_alloc = sc[S_OBJ_BYTES]
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
