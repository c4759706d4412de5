"""The GC CPU limiter (runtime/mgclimit.go gcCPULimiterState; Go 1.19-1.27, unchanged since
1.19, 1.23 and 1.27 source read): a leaky bucket of capacity GOMAXPROCS CPU-seconds that fills
with GC CPU time and drains with mutator time. While it is full the limiter is enabled and mark
assists are skipped (mgcmark.go gcAssistAlloc), so GC CPU stays near 50% over time instead of
the death spiral a memory limit below the live heap would otherwise cause.

GC time over a window: the assist time since the last update plus, while marking,
gcBackgroundUtilization (25%) of the window's total CPU time; mutator time is the rest.
Updates come at least every gcCPULimiterUpdatePeriod (10 ms) of trace time (the runtime's
scheduler checks needUpdate), after every assist, and at the two GC transitions.
The model's assists scan nothing (they park, engine/mark.py): a window's GC time is the
workers' share alone (the reported GC CPU of a Go recording's replay takes each mark's work at
the recording's worker + assist CPU per unit of work instead, engine/readout.py mark_cpu; the
bucket does not).
Idle time leaves the window's total as in the runtime, but the model knows only the idle time
of Ps whose mutators are parked in assists (mark.park): other idle Ps are not in the trace's
allocations (docs/model.md, "GC CPU limiter"); the STW pauses of the transitions,
instantaneous in trace time, add nothing to the bucket.
"""

from __future__ import annotations

from goalloc.engine.state import (
    F_LIM_CAP,
    F_LIM_ENABLED_NS,
    F_LIM_FILL,
    F_LIM_IDLE_POOL,
    F_LIM_OVERFLOW,
    P_NPROCS,
    S_CYCLES,
    S_LIM_ENABLED,
    S_LIM_GC_ON,
    S_LIM_LAST,
    S_LIM_LAST_ENABLED_CYCLE,
)
from goalloc.jit import njit

CAPACITY_PER_PROC = 1e9  # capacityPerProc: 1 CPU-second per P
UPDATE_PERIOD = 10_000_000  # gcCPULimiterUpdatePeriod, ns
BACKGROUND_UTILIZATION = 0.25  # gcBackgroundUtilization


@njit(cache=True, inline="always")
def limiting(s):
    """gcCPULimiterState.limiting."""
    return s.sc[S_LIM_ENABLED] != 0


@njit(cache=True)
def reset_capacity(s):
    """resetCapacity (procresize): GOMAXPROCS seconds of CPU."""
    cap = s.prm[P_NPROCS] * CAPACITY_PER_PROC
    s.fs[F_LIM_CAP] = cap
    if s.fs[F_LIM_FILL] > cap:
        s.fs[F_LIM_FILL] = cap


@njit(cache=True)
def accumulate(s, mutator_time, gc_time):
    """gcCPULimiterState.accumulate: add to the bucket; enabled while it is full."""
    fs = s.fs
    sc = s.sc
    headroom = fs[F_LIM_CAP] - fs[F_LIM_FILL]
    enabled = headroom <= 0.0
    change = gc_time - mutator_time
    if change > 0.0 and headroom <= change:
        fs[F_LIM_OVERFLOW] += change - headroom
        fs[F_LIM_FILL] = fs[F_LIM_CAP]
        if not enabled:
            sc[S_LIM_ENABLED] = 1
            sc[S_LIM_LAST_ENABLED_CYCLE] = sc[S_CYCLES] + 1  # memstats.numgc + 1
        return
    if change < 0.0 and fs[F_LIM_FILL] <= -change:
        fs[F_LIM_FILL] = 0.0
    else:
        fs[F_LIM_FILL] -= -change
    if change != 0.0 and enabled:
        sc[S_LIM_ENABLED] = 0


@njit(cache=True)
def update(s, now):
    """gcCPULimiterState.updateLocked: count the window since the last update."""
    sc = s.sc
    fs = s.fs
    last = sc[S_LIM_LAST]
    if now < last:
        return
    # GC time: assist time (none: the model's assists park and scan nothing, mark.park) and,
    # while marking, the workers' share
    gc_time = 0.0
    total = float(now - last) * s.prm[P_NPROCS]
    if sc[S_LIM_ENABLED] != 0:
        fs[F_LIM_ENABLED_NS] += now - last
    sc[S_LIM_LAST] = now
    if sc[S_LIM_GC_ON] != 0:
        gc_time += total * BACKGROUND_UTILIZATION
    # then idle time (Ps whose mutators are parked in assists, mark.park) leaves the total:
    # after the workers' share, which is of the real total (updateLocked)
    total -= fs[F_LIM_IDLE_POOL]
    fs[F_LIM_IDLE_POOL] = 0.0
    accumulate(s, total - gc_time, gc_time)


@njit(cache=True, inline="always")
def need_update(s, now):
    """needUpdate: more than gcCPULimiterUpdatePeriod since the last update."""
    return now - s.sc[S_LIM_LAST] > UPDATE_PERIOD


@njit(cache=True)
def gc_transition(s, enable_gc, now):
    """startGCTransition + finishGCTransition around a stop-the-world that takes no trace
    time: flush the window up to now, then switch whether background marking counts."""
    update(s, now)
    s.sc[S_LIM_GC_ON] = 1 if enable_gc else 0


@njit(cache=True, inline="always")
def add_idle_time(s, ns):
    """addIdleTime: idle P time, left out of the next update's window."""
    s.fs[F_LIM_IDLE_POOL] += ns


@njit(cache=True, inline="always")
def next_update(s):
    """When the limiter next has something to do (INF-like -1: nothing): while marking or while
    the bucket holds anything, every update period."""
    if s.sc[S_LIM_GC_ON] != 0 or s.fs[F_LIM_FILL] > 0.0:
        return s.sc[S_LIM_LAST] + UPDATE_PERIOD + 1
    return -1
