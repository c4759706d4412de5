"""The scavenger (runtime/mgcscavenge.go, mheap.go allocSpan; Go 1.19-1.27 source read, the
same in 1.23 and 1.27; 1.22+ by default): release free pages to the OS, highest addresses first.

- Goals, set at every commit (gcPaceScavenger): without a limit retain lastHeapInUse *
  goal/lastGoal + 10% (none before the first cycle ends); with GOMEMLIMIT L, 0.95*L against
  mappedReady. A goal already met is "none" (INF).
- Background scavenger (bgscavenge, scavengerState.run/sleep): wakes when sweeping is done
  (scavenger.ready, then sysmon) or at sweep termination (finishsweep_m's wake); works in
  bursts of 64 KiB quanta until it has worked minScavWorkTime (1 ms) or a goal is met or less
  than a quantum was left, then sleeps worked / sleepRatio; the PI controller (kp 0.3375, ti
  3.2 ms, tt 1 s) sets sleepRatio after every sleep so that the work holds scavengePercent
  (1%) of GOMAXPROCS CPUs, starting from startingScavSleepRatio (0.001). Parks when a burst
  released nothing. The work is timed by the cost model (P_SCAV_CALL_PS per madvise call, one
  per contiguous run, + P_SCAV_PAGE_PS per 4 KiB physical page; docs/model.md), where the
  runtime reads its clock.
  Recorded GC mode on a Go trace that has them: the background scavenger works only in the
  recording's own scavenger runs (when the goroutine ran: EngineArrays "scr", from the
  header's source.scavenger), until a goal is met or nothing is left; the controller's
  sleeps are then the recording's (Config.scavenger_timing). Where a run() call that
  returned early shows the runtime done, the runs up to it release what the model has
  left in proportion to their time (call_ends); elsewhere each run's time is spent at the
  cost model's rate.
- Synchronous release in allocSpan: with a limit, when mappedReady + the released pages just
  reused exceed it and the GC CPU limiter is not limiting, release the excess (forced: dense
  chunks too) [1.22+ force]; after a heap
  growth that takes retained memory over the background goal, release min(growth, excess).
- Search: chunk by chunk from the top; in a chunk the highest free unscavenged page and the
  free unscavenged run below it. [1.22+] chunks with >= 496 of 512 pages allocated now or at
  the end of the last GC are skipped unless forced. Pages in P page caches are allocated, so
  invisible. Cursors: the background search resumes where it stopped and is raised once per GC
  cycle to the highest chunk freed into (scavengeIndex.nextGen); the forced one at every free.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import limiter, mstats
from goalloc.engine.locks import LK_SCAVENGE, acquire, foreground
from goalloc.engine.locks import background as lk_background
from goalloc.engine.state import (
    CHUNK_WORDS,
    CK_LAST_INUSE,
    F_SCAV_ERR_INTEGRAL,
    F_SCAV_SLEEP_RATIO,
    INF,
    P_GOVERSION,
    P_MEMLIMIT,
    P_NPROCS,
    P_SCAV_CALL_PS,
    P_SCAV_PAGE_PS,
    PAGE_SIZE,
    S_LAST_HEAP_GOAL,
    S_LAST_HEAP_INUSE,
    S_LK_TS,
    S_MAPPED_CHUNKS,
    S_METRIC_HEAP,
    S_NONHEAP_READY,
    S_PAGES_FREE,
    S_PAGES_INUSE,
    S_PAGES_RELEASED,
    S_RELEASED_BG,
    S_RELEASED_EAGER,
    S_SCAV_ACTIVE,
    S_SCAV_BG_CUR,
    S_SCAV_BG_NS,
    S_SCAV_BURST_REL,
    S_SCAV_BURSTS,
    S_SCAV_COOLDOWN,
    S_SCAV_EAGER_NS,
    S_SCAV_FORCE_CUR,
    S_SCAV_GOAL_GC,
    S_SCAV_GOAL_LIM,
    S_SCAV_HWM,
    S_SCAV_READY,
    S_SCAV_RESETS,
    S_SCAV_RUN,
    S_SCAV_SHARE,
    S_SCAV_SLEEP_FROM,
    S_SCAV_T,
    S_SCAV_WORKED,
    S_SWEEP_DONE_TS,
    S_UNSWEPT,
)
from goalloc.jit import ALL, U0, U1, hibit64, njit, popcount64
from goalloc.trace.format import METRIC_HEAP_CLASSES, METRIC_TOTAL

QUANTUM = 64 << 10  # scavengeQuantum
DENSE_PAGES = 496  # scavChunkHiOccPages = 0.96875 * 512
PHYS_PAGE = 4096  # physPageSize (Linux amd64/arm64)
PHYS_PER_PAGE = PAGE_SIZE // PHYS_PAGE
# the background scavenger's pacing (mgcscavenge.go)
SCAVENGE_PERCENT = 1  # of GOMAXPROCS CPUs
MIN_SCAV_WORK_NS = 1_000_000  # minScavWorkTime: a burst works at least this long
STARTING_SLEEP_RATIO = 0.001  # startingScavSleepRatio
APPROX_NS_PER_PHYS_PAGE = 10_000  # run's cost estimate when the work could not be timed
CONTROLLER_COOLDOWN_NS = 5_000_000_000  # after a controller failure
# sleepController piController{kp, ti, tt, min, max}
PI_KP = 0.3375
PI_TI = 3.2e6
PI_TT = 1e9
PI_MIN = 0.001
PI_MAX = 1000.0
# scavenger states (S_SCAV_ACTIVE)
PARKED = 0
WORKING = 1  # S_SCAV_T: when the next quantum starts
SLEEPING = 2  # S_SCAV_T: when its timer fires


def recorded_runs(source, goal_changes=None) -> np.ndarray | None:
    """The recording's background scavenger runs from the header's source.scavenger
    (run_start, run_ns, run_blocked: the Go importer's, trace ns), 3 x n by start: start,
    running ns, and the running ns from the run's start to the end of the next run that
    ended a run() call early (-1: none follows, or a goal change lies between: see
    `call_ends`). goal_changes: a function giving the trace times the
    goals were set at (the recorded mark terminations), called only when a run ends a call
    early; None: not known, so no run is paced by an end. None when there are none or they
    are not two equal lists of integers (|start| and durations below 2^62, durations >= 0):
    a header the importer did not write is not followed. Without a run_blocked list of 0s
    and 1s as long (headers before 2026-12-06) no call is known to end."""
    scav = source.get("scavenger") if isinstance(source, dict) else None
    if not isinstance(scav, dict):
        return None
    start, ns = scav.get("run_start"), scav.get("run_ns")
    if (not isinstance(start, list) or not isinstance(ns, list) or len(start) != len(ns)
            or not start or not all(type(x) is int and abs(x) < 1 << 62 for x in start)
            or not all(type(x) is int and 0 <= x < 1 << 62 for x in ns)):
        return None
    blocked = scav.get("run_blocked")
    if (not isinstance(blocked, list) or len(blocked) != len(start)
            or not all(type(x) is int and x in (0, 1) for x in blocked)):
        blocked = [0] * len(start)
    order = np.argsort(np.array(start, np.int64), kind="stable")
    start_ns = np.array(start, np.int64)[order]
    run_ns = np.array(ns, np.int64)[order]
    _early, to_done = call_ends(start_ns, run_ns, np.array(blocked, np.int64)[order],
                                goal_changes)
    return np.ascontiguousarray(np.stack([start_ns, run_ns, to_done]))


def call_ends(start_ns: np.ndarray, run_ns: np.ndarray, blocked: np.ndarray,
              goal_changes) -> tuple[np.ndarray, np.ndarray]:
    """Where the recorded runs show the runtime's background scavenger done. A run that
    ended blocked (the goroutine slept or parked) ended a scavengerState.run call, which may
    have spanned several runs (the GC's stack scan preempts it). A call works until it has
    timed minScavWorkTime of scavenging unless shouldStop (the goals met) or a quantum came
    back short (nothing left to find); it times only its scavenge calls, a part of the
    goroutine's running time, so a call that ran less than minScavWorkTime returned early:
    the runtime had met its goals or found nothing left there. Returns, per run, 1 where it
    ended such a call, and the running ns from its start to the end of the next run that
    did (its own end included): how long the runtime still scavenged before it was done;
    -1 when none follows, or when a goal change (gcPaceScavenger at a mark termination)
    falls after the run's start and by that end, since the runtime was then done against
    another goal than the one in effect at the run (a raised goal ends a call at once), or
    when goal_changes (a function giving the goal changes' times, called only when some run
    ends a call early) is None (vectorized, no loop over runs)."""
    n = run_ns.shape[0]
    call = np.cumsum(blocked) - blocked  # the call each run belongs to
    call_ns = np.bincount(call, weights=run_ns.astype(np.float64))
    early = ((blocked != 0) & (call_ns[call] < MIN_SCAV_WORK_NS)).astype(np.int64)
    to_done = np.full(n, -1, np.int64)
    ends = np.flatnonzero(early)
    if goal_changes is None or not ends.shape[0]:
        return early, to_done
    nxt = np.searchsorted(ends, np.arange(n))  # the next run ending early, at or after each
    known = np.flatnonzero(nxt < ends.shape[0])
    end = ends[nxt[known]]
    changes = np.sort(np.asarray(goal_changes(), np.int64))
    moved = (np.searchsorted(changes, start_ns[end] + run_ns[end], "right")
             > np.searchsorted(changes, start_ns[known], "right"))
    known, end = known[~moved], end[~moved]
    through = np.cumsum(run_ns)
    to_done[known] = through[end] - through[known] + run_ns[known]
    return early, to_done


@njit(cache=True)
def heap_retained(s):
    return (s.sc[S_PAGES_INUSE] + s.sc[S_PAGES_FREE]) * PAGE_SIZE


@njit(cache=True)
def on_metric(s, code, value):
    """A recorded runtime/metrics value (trace kind metric, in METRIC_NAMES order within its
    group): the heap classes are summed, and the total gives the non-heap mapped memory."""
    sc = s.sc
    if code < METRIC_HEAP_CLASSES:
        sc[S_METRIC_HEAP] += value
    elif code == METRIC_TOTAL and value >= sc[S_METRIC_HEAP]:
        sc[S_NONHEAP_READY] = value - sc[S_METRIC_HEAP]


@njit(cache=True)
def chunk_inuse(s, c):
    n = 0
    for w in range(CHUNK_WORDS):
        n += popcount64(s.palloc[c, w])
    return n


@njit(cache=True)
def _has_candidate(s, c):
    for w in range(CHUNK_WORDS):
        if (s.palloc[c, w] | s.pscav[c, w]) != ALL:
            return True
    return False


@njit(cache=True)
def _dense(s, c):
    return chunk_inuse(s, c) >= DENSE_PAGES or s.ck[c, CK_LAST_INUSE] >= DENSE_PAGES


@njit(cache=True)
def _free_unscav(s, c, i):
    w = i >> 6
    b = np.uint64(i & 63)
    return ((s.palloc[c, w] | s.pscav[c, w]) >> b) & U1 == U0


@njit(cache=True)
def _scavenge_one(s, c, max_pages):
    """scavengeOne: release the highest free unscavenged run of chunk c (at most max_pages,
    taken from its top); return the pages released."""
    top = -1
    for w in range(CHUNK_WORDS - 1, -1, -1):
        m = ~(s.palloc[c, w] | s.pscav[c, w])
        if m != U0:
            top = (w << 6) + hibit64(m)
            break
    if top < 0:
        return 0
    lo = top
    while lo > 0 and top - lo + 1 < max_pages and _free_unscav(s, c, lo - 1):
        lo -= 1
    for i in range(lo, top + 1):
        s.pscav[c, i >> 6] |= U1 << np.uint64(i & 63)
    n = top - lo + 1
    acquire(s, LK_SCAVENGE)  # scavengeOne: lock, mark the range allocated, unlock, sysUnused,
    acquire(s, LK_SCAVENGE)  # lock again, free it as scavenged, unlock
    s.sc[S_PAGES_FREE] -= n
    s.sc[S_PAGES_RELEASED] += n
    return n


@njit(cache=True)
def _find(s, force):
    """scavengeIndex.find: the highest chunk at/below the cursor worth searching, or -1."""
    sc = s.sc
    slot = S_SCAV_FORCE_CUR if force else S_SCAV_BG_CUR
    skip_dense = not force and s.prm[P_GOVERSION] >= 122
    c = sc[slot]
    if c >= sc[S_MAPPED_CHUNKS]:
        c = sc[S_MAPPED_CHUNKS] - 1
    while c >= 0:
        if _has_candidate(s, c) and not (skip_dense and _dense(s, c)):
            sc[slot] = c
            return c
        c -= 1
    sc[slot] = -1
    return -1


@njit(cache=True)
def release_timed(s, nbytes, force):
    """pageAlloc.scavenge: release up to nbytes (whole pages). Returns (bytes released, ns the
    work took): one madvise call per contiguous run scavengeOne releases, P_SCAV_CALL_PS per
    call plus P_SCAV_PAGE_PS per 4 KiB physical page, so long runs cost less per byte."""
    released = 0
    cost_ps = 0
    call = s.prm[P_SCAV_CALL_PS]
    page = s.prm[P_SCAV_PAGE_PS]
    while released < nbytes:
        c = _find(s, force)
        if c < 0:
            break
        want = (nbytes - released + PAGE_SIZE - 1) // PAGE_SIZE
        n = _scavenge_one(s, c, want)
        released += n * PAGE_SIZE
        cost_ps += call + page * n * PHYS_PER_PAGE
    return released, cost_ps // 1000


@njit(cache=True)
def on_free(s, c):
    """scavengeIndex.free: pages of chunk c became free."""
    sc = s.sc
    if c > sc[S_SCAV_HWM]:
        sc[S_SCAV_HWM] = c
    if c > sc[S_SCAV_FORCE_CUR]:
        sc[S_SCAV_FORCE_CUR] = c


@njit(cache=True)
def next_gen(s):
    """scavengeIndex.nextGen (end of mark termination): snapshot each chunk's allocated pages,
    raise the background cursor to the highest chunk freed into since the last generation."""
    sc = s.sc
    for c in range(sc[S_MAPPED_CHUNKS]):
        s.ck[c, CK_LAST_INUSE] = chunk_inuse(s, c)
    if sc[S_SCAV_HWM] > sc[S_SCAV_BG_CUR]:
        sc[S_SCAV_BG_CUR] = sc[S_SCAV_HWM]
    sc[S_SCAV_HWM] = -1


@njit(cache=True)
def pace(s, goal):
    """gcPaceScavenger(memoryLimit, heapGoal=goal, lastHeapGoal)."""
    sc = s.sc
    limit = s.prm[P_MEMLIMIT]
    if limit >= 0:
        lg = np.int64(np.float64(limit) * 0.95)
        sc[S_SCAV_GOAL_LIM] = INF if mstats.mapped_ready(s) <= lg else lg
    else:
        sc[S_SCAV_GOAL_LIM] = INF
    last = sc[S_LAST_HEAP_GOAL]
    if last == 0 or goal >= INF:
        sc[S_SCAV_GOAL_GC] = INF
        return
    ratio = np.float64(goal) / np.float64(last)
    g = np.int64(np.float64(sc[S_LAST_HEAP_INUSE]) * ratio)
    g += g // 10
    g = (g + 4095) & ~np.int64(4095)
    retained = heap_retained(s)
    if retained <= g or retained - g < 4096:
        sc[S_SCAV_GOAL_GC] = INF
    else:
        sc[S_SCAV_GOAL_GC] = g


@njit(cache=True)
def _should_stop(s):
    sc = s.sc
    return heap_retained(s) <= sc[S_SCAV_GOAL_GC] and mstats.mapped_ready(s) <= sc[S_SCAV_GOAL_LIM]


@njit(cache=True)
def pi_next(fs, integral, kp, ti, tt, lo, hi, value, setpoint, period):
    """piController.next (mgcscavenge.go): the new output and whether it is valid; the
    controller's errIntegral lives in fs[integral] (reset to 0 on overflow, output lo)."""
    raw = kp * (setpoint - value) + fs[integral]
    if not np.isfinite(raw):
        fs[integral] = 0.0
        return lo, False
    out = raw
    if out < lo:
        out = lo
    elif out > hi:
        out = hi
    if ti != 0.0 and tt != 0.0:
        fs[integral] += (kp * period / ti) * (setpoint - value) + (period / tt) * (out - raw)
        if not np.isfinite(fs[integral]):
            fs[integral] = 0.0
            return lo, False
    return out, True


@njit(cache=True)
def _sleep_ratio(s):
    r = s.fs[F_SCAV_SLEEP_RATIO]
    return STARTING_SLEEP_RATIO if r == 0.0 else r


@njit(cache=True)
def _start_burst(s, t):
    """scavengerState.run begins at t."""
    sc = s.sc
    sc[S_SCAV_ACTIVE] = WORKING
    sc[S_SCAV_T] = t
    sc[S_SCAV_WORKED] = 0
    sc[S_SCAV_BURST_REL] = 0


@njit(cache=True)
def _end_burst(s):
    """run returns: park when it released nothing, else sleep(worked): worked is at least
    minScavWorkTime (times 1 + scavengeCostRatio, 0 on Linux) and the sleep lasts
    worked / sleepRatio."""
    sc = s.sc
    if sc[S_SCAV_BURST_REL] == 0:
        sc[S_SCAV_ACTIVE] = PARKED
        return
    sc[S_SCAV_BURSTS] += 1
    worked = sc[S_SCAV_WORKED]
    if worked < MIN_SCAV_WORK_NS:
        worked = MIN_SCAV_WORK_NS
    sc[S_SCAV_WORKED] = worked
    sc[S_SCAV_SLEEP_FROM] = sc[S_SCAV_T]
    sc[S_SCAV_T] += np.int64(np.float64(worked) / _sleep_ratio(s))
    sc[S_SCAV_ACTIVE] = SLEEPING


@njit(cache=True)
def _after_sleep(s, t):
    """The end of scavengerState.sleep at t (its timer fired or it was woken): the controller
    sets the next sleep ratio from the CPU fraction of the burst and the sleep, then the next
    burst starts."""
    sc = s.sc
    fs = s.fs
    slept = t - sc[S_SCAV_SLEEP_FROM]
    worked = sc[S_SCAV_WORKED]
    if sc[S_SCAV_COOLDOWN] > 0:
        if slept + worked > sc[S_SCAV_COOLDOWN]:
            sc[S_SCAV_COOLDOWN] = 0
        else:
            sc[S_SCAV_COOLDOWN] -= slept + worked
    else:
        w = np.float64(worked)
        frac = w / ((np.float64(slept) + w) * np.float64(s.prm[P_NPROCS]))
        ratio, ok = pi_next(fs, F_SCAV_ERR_INTEGRAL, PI_KP, PI_TI, PI_TT, PI_MIN, PI_MAX,
                            frac, SCAVENGE_PERCENT / 100.0, np.float64(slept) + w)
        if ok:
            fs[F_SCAV_SLEEP_RATIO] = ratio
        else:
            fs[F_SCAV_SLEEP_RATIO] = STARTING_SLEEP_RATIO
            sc[S_SCAV_COOLDOWN] = CONTROLLER_COOLDOWN_NS
            sc[S_SCAV_RESETS] += 1
    _start_burst(s, t)


@njit(cache=True)
def _quantum(s):
    """One iteration of run's loop: scavenge 64 KiB, timed; returns what it released (less
    than a quantum: nothing was left, the burst ends)."""
    s.sc[S_LK_TS] = s.sc[S_SCAV_T] + 1  # the quantum's time on the scavenger's clock
    r, ns = release_timed(s, QUANTUM, False)
    if ns <= 0:
        ns = APPROX_NS_PER_PHYS_PAGE * (r // PHYS_PAGE)  # run's fallback when unmeasured
    _worked(s, r, ns)
    return r


@njit(cache=True)
def _share_quantum(s, nbytes, run_ns, share):
    """A quantum of a recorded run that releases a share of `share` pages in run_ns: up to
    nbytes, timed as its part of the run; returns what it released."""
    s.sc[S_LK_TS] = s.sc[S_SCAV_T] + 1
    r, _ns = release_timed(s, nbytes, False)
    _worked(s, r, run_ns * (r // PAGE_SIZE) // share)
    return r


@njit(cache=True, inline="always")
def _worked(s, r, ns):
    """A quantum released r bytes in ns of the scavenger's time."""
    sc = s.sc
    sc[S_SCAV_WORKED] += ns
    sc[S_SCAV_BG_NS] += ns
    sc[S_SCAV_T] += ns
    sc[S_SCAV_BURST_REL] += r
    sc[S_RELEASED_BG] += r // PAGE_SIZE


@njit(cache=True)
def wake(s, t):
    """scavengerState.wake at t (finishsweep_m at every sweep termination): a parked or
    sleeping scavenger runs now."""
    sc = s.sc
    if s.scr.shape[1]:
        return  # the recorded runs include the ones the wakes started
    st = sc[S_SCAV_ACTIVE]
    if st == SLEEPING and t < sc[S_SCAV_T]:
        sc[S_SCAV_READY] = 0
        _after_sleep(s, t if t > sc[S_SCAV_SLEEP_FROM] else sc[S_SCAV_SLEEP_FROM])
    elif st == PARKED:
        sc[S_SCAV_READY] = 0
        _start_burst(s, t)


@njit(cache=True)
def background(s, now):
    """bgscavenge up to trace time now: bursts of 64 KiB quanta until minScavWorkTime of work
    (or a goal met, or nothing left), each followed by a sleep the controller sizes to hold
    scavengePercent of GOMAXPROCS CPUs. Parked, it wakes when sweeping is done
    (scavenger.ready, sysmon's wake); sleeping, the same wake cuts the sleep short."""
    sc = s.sc
    if s.scr.shape[1]:
        _background_recorded(s, now)
        return
    if sc[S_SCAV_ACTIVE] == PARKED:
        if sc[S_SCAV_READY] == 0 or sc[S_UNSWEPT] != 0:
            return
        sc[S_SCAV_READY] = 0
        _start_burst(s, sc[S_SWEEP_DONE_TS] if sc[S_SWEEP_DONE_TS] <= now else now)
    prev = lk_background(s, sc[S_SCAV_T])
    while True:
        st = sc[S_SCAV_ACTIVE]
        if st == WORKING:
            if sc[S_SCAV_T] > now:
                break
            if sc[S_SCAV_WORKED] >= MIN_SCAV_WORK_NS or _should_stop(s):
                _end_burst(s)
            elif _quantum(s) < QUANTUM:
                _end_burst(s)
        elif st == SLEEPING:
            t = sc[S_SCAV_T]
            woken = sc[S_SCAV_READY] != 0 and sc[S_UNSWEPT] == 0
            if woken:
                w = sc[S_SWEEP_DONE_TS]
                if w < sc[S_SCAV_SLEEP_FROM]:
                    w = sc[S_SCAV_SLEEP_FROM]  # readied while working: sysmon wakes the sleep
                if w < t:
                    t = w
            if t > now:
                break
            if woken:
                sc[S_SCAV_READY] = 0
            _after_sleep(s, t)
        else:
            break
    foreground(s, prev)


@njit(cache=True)
def _pages_to_goal(s):
    """Free unscavenged pages the background scavenger would release before shouldStop:
    retained over the GC-percent goal, or mapped-ready over the memory-limit goal, whichever
    is more, at most the pages its search can reach now (_pages_reachable)."""
    sc = s.sc
    need = 0
    if sc[S_SCAV_GOAL_GC] < INF:
        need = heap_retained(s) - sc[S_SCAV_GOAL_GC]
    if sc[S_SCAV_GOAL_LIM] < INF:
        over = mstats.mapped_ready(s) - sc[S_SCAV_GOAL_LIM]
        if over > need:
            need = over
    if need <= 0:
        return 0
    pages = (need + PAGE_SIZE - 1) // PAGE_SIZE
    reach = _pages_reachable(s)
    return pages if pages < reach else reach


@njit(cache=True)
def _pages_reachable(s):
    """Free unscavenged pages in the chunks the background search may visit (_find): at or
    below its cursor, not dense [1.22+]."""
    sc = s.sc
    skip_dense = s.prm[P_GOVERSION] >= 122
    top = sc[S_SCAV_BG_CUR]
    if top >= sc[S_MAPPED_CHUNKS]:
        top = sc[S_MAPPED_CHUNKS] - 1
    n = 0
    for c in range(top + 1):
        if skip_dense and _dense(s, c):
            continue
        for w in range(CHUNK_WORDS):
            n += 64 - popcount64(s.palloc[c, w] | s.pscav[c, w])
    return n


@njit(cache=True)
def _background_recorded(s, now):
    """bgscavenge as the recording ran it, up to trace time now, in the scavenger goroutine's
    recorded runs (EngineArrays "scr", recorded GC mode); nothing between them. Where the
    runtime's sleeps and wakes fell is the recording's; which pages go, and how many are
    left to go, the model's. How fast they go is the recording's where it shows the runtime
    done (call_ends: a run() call that returned early, ahead): a run then releases its share
    of what the model has left to release, in proportion to its running time among the
    runtime's until done (the run that ends it: all), its quanta spread over the run. The
    runtime's pace is its madvise cost on the recording machine under the recording's load,
    2-60 us per 64 KiB on one machine (docs/model.md, item 4), which the cost model cannot
    know. With no such end ahead (the trace stops first, or a header without run_blocked),
    quanta at the cost model's time until the run's time is spent. Either way a run stops at
    a goal met or when less than it asked for was left."""
    sc = s.sc
    runs = s.scr
    prev = lk_background(s, sc[S_SCAV_T])
    while True:
        if sc[S_SCAV_ACTIVE] == WORKING:
            if sc[S_SCAV_T] > now:
                break
            i = sc[S_SCAV_RUN] - 1
            share = sc[S_SCAV_SHARE]
            if share >= 0:
                got = sc[S_SCAV_BURST_REL] // PAGE_SIZE
                done = _should_stop(s) or got >= share
                if not done:
                    want = min(share - got, QUANTUM // PAGE_SIZE) * PAGE_SIZE
                    done = _share_quantum(s, want, runs[1, i], share) < want
            else:
                done = _should_stop(s) or sc[S_SCAV_T] >= runs[0, i] + runs[1, i]
                if not done:
                    done = _quantum(s) < QUANTUM  # less than a quantum was left
            if done:  # the run is over: nothing until the next one
                if sc[S_SCAV_BURST_REL] > 0:
                    sc[S_SCAV_BURSTS] += 1
                sc[S_SCAV_ACTIVE] = PARKED
        else:
            i = sc[S_SCAV_RUN]
            if i >= runs.shape[1] or runs[0, i] > now:
                break
            sc[S_SCAV_RUN] = i + 1
            # a run starts no earlier than the last quantum of the one before ended
            _start_burst(s, runs[0, i] if runs[0, i] > sc[S_SCAV_T] else sc[S_SCAV_T])
            sc[S_SCAV_SHARE] = -1
            if runs[2, i] >= 0:  # the runtime was done runs[2, i] ns of scavenging later
                left = _pages_to_goal(s)
                if runs[2, i] == 0 or runs[1, i] >= runs[2, i]:
                    sc[S_SCAV_SHARE] = left
                else:
                    sc[S_SCAV_SHARE] = np.int64(np.ceil(
                        np.float64(left) * np.float64(runs[1, i]) / np.float64(runs[2, i])))
    foreground(s, prev)


@njit(cache=True)
def next_time(s):
    """When background has work next (INF: parked until readied or woken; with recorded
    runs, the next run's start)."""
    sc = s.sc
    if sc[S_SCAV_ACTIVE] == PARKED:
        i = sc[S_SCAV_RUN]
        if s.scr.shape[1] and i < s.scr.shape[1]:
            return s.scr[0, i]
        return INF
    return sc[S_SCAV_T]


@njit(cache=True)
def on_alloc(s, scav_pages, growth_bytes):
    """allocSpan's synchronous scavenging after taking scav_pages released pages (and growing
    the heap by growth_bytes)."""
    sc = s.sc
    todo = 0
    force = False
    limit = s.prm[P_MEMLIMIT]
    if limit >= 0 and not limiter.limiting(s):  # not while the GC CPU limiter is on
        # mappedReady already counts the reused pages here (the runtime adds them later)
        over = mstats.mapped_ready(s) - limit
        if over > 0:
            todo = over
            force = s.prm[P_GOVERSION] >= 122
    goal = sc[S_SCAV_GOAL_GC]
    if goal < INF and growth_bytes > 0:
        retained = heap_retained(s) - scav_pages * PAGE_SIZE
        if retained + growth_bytes > goal:
            t = growth_bytes
            over = retained + growth_bytes - goal
            if t > over:
                t = over
            if t > todo:
                todo = t
    if todo > 0:
        r, ns = release_timed(s, todo, force)
        sc[S_RELEASED_EAGER] += r // PAGE_SIZE
        sc[S_SCAV_EAGER_NS] += ns
