"""Concurrent mark progress: background mark workers and mutator assists (runtime/mgcmark.go
gcAssistAlloc / gcFlushBgCredit, mgcpacer.go revise; Go 1.19-1.27, 1.23 and 1.27 source read).

The cycle's scan work W (pointerful bytes marked at mark start, heap_scan_work, + stacks +
globals, gc.mark_start) is done by two parties:
- background workers at gcBackgroundUtilization (25%) of GOMAXPROCS, scanning at the mark cost
  model's rate (P_MARK_NS_PER_MB of one CPU per MiB) as trace time passes;
- assists: every byte heapLive grows by while marking is a byte of assist debt
  (gcAssistBytes, F_ASSIST_BYTES); an assist owes assistWorkPerByte units of scan work per
  byte, and at least gcOverAssistWork (64 KiB) of work, whose bytes it is credited at the
  ratio of the moment (so once the ratio collapses, one assist buys a long run of allocation).
  It steals the work from the background workers' credit (bgScanCredit) first. For the rest
  the assist finds no grey work and parks (park: gcParkAssist) until the workers' credit pays
  its debt: the
  trace's clock stops (S_STALL: every later event comes that much later) while every P marks
  (the workers and, on the parked Ps, idle mark workers at the recording's work per CPU,
  P_PARK_RATE_PPM, every P at most), and that time is idle, not GC CPU.
  revise() sets the ratio as the runtime does, from the work it expects (the last cycle's),
  not the work the model knows the cycle has: a growing heap stretches the goal and
  overshoots it. Assists are skipped while the GC CPU limiter is enabled
  (engine/limiter.py); the debt stays and is paid once it is off.
The mark is done when the work is: at the allocation whose parked assist waited for it (an
assist that runs out of work sees the completion, gcEndWork), or when the background workers
alone reach it (S_MARK_END_TS, which the kernel's timed() waits for: the mark ends at that
time, not at the later event that shows it, and mutator_clock stops its stretch there).
Without a dedicated worker (GOMAXPROCS 1-3: startCycle leaves only fractional ones) and
once the work passes maxScanWork (past_max_work: the assists have stopped), nothing sees
that last case until a P goes through the scheduler and its fractional worker runs
(findRunnableGCWorker), and
goroutines that neither block nor yield leave that to sysmon's preemption (10 ms): the end
waits P_SCHED_WAIT_NS more, the recording's mean wait for a P's next pass (sched_wait_ns),
while the mutators allocate on, with their assists' credit (docs/model.md, "Pacer mode,
Green Tea's scan work"). Assists are charged when heapLive moves (span refills and large
allocations: the runtime's heapLive moves at the same points) rather than per object
(docs/model.md, item 1).

The mutators' time while marking (mutator_clock, pacer mode, a Go recording's mark_cpu): the
runtime's workers take a share of the Ps from the goroutines (on 2-3 Ps fractional workers
only, findRunnableGCWorker) and its assists make allocating goroutines scan, so a program
runs slower while it marks (allocation inside the recorded marks at 0.5-0.9x the rate
outside them: docs/model.md, "What-if validation"). The trace's clock holds that slowdown where
the recording marked; the model's marks fall elsewhere. So the trace time inside a recorded
mark counts (1 - r) as mutator time, r the share of the Ps the recording's marks took from its
mutators (background workers + assists), and while the model marks, its clock runs 1 / (1 - b)
ns per ns of mutator time, b the recording's worker share (the model's assists park the
mutators: S_STALL, park).
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import limiter
from goalloc.engine.state import (
    CS_LIVE_SLOT_BYTES,
    CS_MALLOCS,
    CS_SCAN_ALLOCATED,
    F_ASSIST_BYTES,
    F_ASSIST_CREDIT,
    F_ASSIST_RATIO,
    F_BG_NS,
    F_MARK_DONE,
    F_MARK_SPEED,
    F_MARK_SPEEDS,
    F_PARK_NS,
    INF,
    P_GOGC,
    P_MARK_NS_PER_MB,
    P_MARK_SPEED_SEED,
    P_MARK_SPEEDS,
    P_NPROCS,
    P_PACKED_SPAN_SCAN,
    P_PARK_RATE_PPM,
    P_SCHED_WAIT_NS,
    S_ASSIST_LIVE,
    S_CYCLE_GOAL,
    S_CYCLES,
    S_HEAP_LIVE,
    S_HEAP_SCAN,
    S_LAST_HEAP_SCAN,
    S_MARK_END_TS,
    S_MARK_MUTATOR_NS,
    S_MARK_T,
    S_MARK_WAIT,
    S_MUTATOR_T,
    S_NEXT_TIMED,
    S_NONHEAP_SCAN,
    S_NOW,
    S_PHASE,
    S_REC_ASSIST_PPM,
    S_REC_IDLE_PPM,
    S_REC_MARK_NS,
    S_REC_MARK_ROW,
    S_REC_MARKING,
    S_SCAN_WORK,
    S_SPAN_HW,
    S_STALL,
    S_TRACE_T,
    S_TRIGGERED,
    SP_ELEMSIZE,
    SP_INUSE,
    SP_LIVE,
    SP_NELEMS,
    SP_SPC,
)
from goalloc.jit import njit

BACKGROUND_UTILIZATION = limiter.BACKGROUND_UTILIZATION
MAX_OVERSHOOT = 1.1  # revise: heap goal x 1.1 once heapLive is past it
MIN_REMAINING_WORK = 1000.0  # revise: scanWorkRemaining is at least 1000
OVER_ASSIST_WORK = 64 << 10  # gcOverAssistWork: an assist does at least this much scan work
# gcUsesSpanInlineMarkBits: Green Tea scans spans of 16-512 B objects (heapBitsInSpan) whole
MIN_INLINE_MARK_SIZE = 16
MAX_INLINE_MARK_SIZE = 512


def dedicated_workers(procs: int) -> int:
    """gcControllerState.startCycle's dedicated mark workers for GOMAXPROCS procs: 25% of
    them rounded, one fewer where rounding is more than 30% over (GOMAXPROCS 1-3 and 6, which
    get fractional workers for the rest)."""
    goal = procs * BACKGROUND_UTILIZATION
    n = int(goal + 0.5)
    if goal > 0 and abs(n / goal - 1) > 0.3 and n > goal:
        n -= 1
    return n


def mark_end_wait_ns(config, source: dict | None, procs: int) -> int:
    """P_SCHED_WAIT_NS for a replay on procs Ps: 0 with a dedicated worker (it runs the whole
    mark and sees its end at once), else Config.mark_end_wait_ns where set, else the
    recording's (sched_wait_ns)."""
    if dedicated_workers(procs) > 0:
        return 0
    if config.mark_end_wait_ns is not None:
        return int(config.mark_end_wait_ns)
    return sched_wait_ns(source, procs)


def sched_wait_ns(source: dict | None, procs: int) -> int:
    """The recording's wait for a mark's end on procs Ps without a dedicated worker, from its
    header source's `scheduling` (the Go importer's: trace/importers/gomark.py; 0 when it
    does not say). The mark ends at the first of the Ps to pass through the scheduler: an
    idle one at once, where its idle worker runs; a busy one after the runs' mean residual.
    Taking the waits as memoryless, the first of n busy Ps comes after residual / n, and that
    only when no P is idle: in the share of the recorded marks no idle worker ran in
    (source.scheduling marks, marks_with_idle), or without marks b^n for the Ps' busy share
    b."""
    sched = (source or {}).get("scheduling")
    if not isinstance(sched, dict):
        return 0
    r = sched.get("residual_ns")
    if not isinstance(r, int) or isinstance(r, bool) or not 0 < r < 1 << 40:
        return 0
    marks, idle = sched.get("marks"), sched.get("marks_with_idle")
    if (isinstance(marks, int) and isinstance(idle, int) and not isinstance(marks, bool)
            and not isinstance(idle, bool) and 0 <= idle <= marks and marks > 0):
        all_busy = 1.0 - idle / marks  # the recorded marks during which no P was idle
    else:
        b = sched.get("busy_share", 1.0)
        if not isinstance(b, (int, float)) or isinstance(b, bool) or not 0.0 <= b <= 1.0:
            b = 1.0
        all_busy = b ** procs
    return int(all_busy * r / procs)


@njit(cache=True, inline="always")
def scan_rate(s):
    """Bytes of scan work one CPU does per ns of trace time in this mark (0: the model has no
    rate): the measured rate at the mark's drawn speed (draw_speed; 1.0 unless drawn)."""
    nspm = s.prm[P_MARK_NS_PER_MB]
    if nspm <= 0:
        return 0.0
    return np.float64(1 << 20) / np.float64(nspm) * s.fs[F_MARK_SPEED]


@njit(cache=True)
def draw_speed(s):
    """With a seed (P_MARK_SPEED_SEED, Config.mark_speed_seed), the starting mark runs at the
    speed of one of the recording's marks (F_MARK_SPEEDS), drawn by a hash of the seed and the
    cycle number (splitmix64's finaliser): a replay is deterministic, its marks' speeds vary
    as the recording's did, and so the figures of several seeds sample the spread that
    variation gives (engine/whatif.py speed_range)."""
    n = s.prm[P_MARK_SPEEDS]
    if s.prm[P_MARK_SPEED_SEED] == 0 or n <= 0:
        return
    x = np.uint64(s.prm[P_MARK_SPEED_SEED]) * np.uint64(0x9E3779B97F4A7C15) \
        + np.uint64(s.sc[S_CYCLES]) * np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    s.fs[F_MARK_SPEED] = s.fs[F_MARK_SPEEDS + np.int64(x % np.uint64(n))]


@njit(cache=True, inline="always")
def background_rate(s):
    """Bytes of scan work the background workers do per ns: 25% of GOMAXPROCS CPUs."""
    return scan_rate(s) * BACKGROUND_UTILIZATION * s.prm[P_NPROCS]


@njit(cache=True)
def revise(s):
    """gcControllerState.revise: assistWorkPerByte for the rest of the cycle. The runtime
    does not know the cycle's scan work until the mark ends: it paces for the last cycle's
    (lastHeapScan + lastStackScan + globalsScan), and once more than that is done it takes the
    heap as growing: the goal is stretched by maxScanWork / expected (heapScan, the scannable
    heap at mark start, as the worst case), at most to (1 + GOGC/100) x the goal. That stretch
    is why a growing heap overshoots its goal with few assists."""
    sc = s.sc
    goal = np.float64(sc[S_CYCLE_GOAL])
    live = np.float64(sc[S_HEAP_LIVE])
    done = s.fs[F_MARK_DONE]
    nonheap = np.float64(sc[S_NONHEAP_SCAN])
    expected = np.float64(sc[S_LAST_HEAP_SCAN]) + nonheap
    max_work = np.float64(sc[S_HEAP_SCAN]) + nonheap
    if done > expected:
        gogc = s.prm[P_GOGC]
        hard = (1.0 + np.float64(gogc if gogc >= 0 else 100000) / 100.0) * goal
        ext = hard
        if expected > 0.0:  # (the runtime divides regardless; a real program has globals)
            ext = (goal - np.float64(sc[S_TRIGGERED])) / expected * max_work \
                + np.float64(sc[S_TRIGGERED])
        goal = ext if ext < hard else hard
        expected = max_work
    if live > goal:
        goal = goal * MAX_OVERSHOOT
        expected = max_work
    remaining = expected - done
    if remaining < MIN_REMAINING_WORK:
        remaining = MIN_REMAINING_WORK
    heap_remaining = goal - live
    if heap_remaining < 1.0:
        heap_remaining = 1.0
    s.fs[F_ASSIST_RATIO] = remaining / heap_remaining


@njit(cache=True, inline="always")
def past_max_work(s):
    """The cycle's scan work passes maxScanWork (the scannable heap now, heapScan, + stacks
    and globals: the most revise expects): once the work done does, the assist ratio is at
    its floor and one over-assist buys megabytes, so assists stop and only a worker sees the
    mark's end. Green Tea's packed span scan does that (heap_scan_work counts slots whole,
    heapScan pointer prefixes); otherwise only where almost nothing pointerful died since the
    last mark (heapScan counts what was allocated since, the dead too, and stays fixed while
    marking: gcControllerState.update), and else the assists go on to the end, and one that
    runs out of work sees it (gcEndWork)."""
    sc = s.sc
    return np.float64(sc[S_SCAN_WORK]) + MIN_REMAINING_WORK > \
        np.float64(sc[S_HEAP_SCAN]) + np.float64(sc[S_NONHEAP_SCAN])


@njit(cache=True)
def heap_scan_work(s):
    """The heap part of the cycle's scan work W: the slots of pointerful objects live at mark
    start, in the unit heapScan grows by (mspan.slot_live_step). Under Green Tea's packed span
    scan (P_PACKED_SPAN_SCAN; mgcmark_greenteagc.go scanSpan, on a CPU with
    scan.HasFastScanSpanPacked) heapScan grows by pointer prefixes while a span of 16-512 B
    objects with at least nelems/8 of them marked counts them whole (objsMarked x elemsize);
    a sparser one counts their pointer prefixes (scanObjectsSmall), taken at the class's
    share of prefix to slot bytes allocated (the model keeps no prefix per object)."""
    sc = s.sc
    cs = s.cs
    sp = s.sp
    work = 0
    for spc in range(0, cs.shape[0], 2):
        work += cs[spc, CS_LIVE_SLOT_BYTES]
    if s.prm[P_PACKED_SPAN_SCAN] == 0:
        return work
    for sid in range(sc[S_SPAN_HW]):
        spc = sp[sid, SP_SPC]
        es = sp[sid, SP_ELEMSIZE]
        if (sp[sid, SP_INUSE] == 0 or spc & 1 != 0 or es < MIN_INLINE_MARK_SIZE
                or es > MAX_INLINE_MARK_SIZE):
            continue
        live = sp[sid, SP_LIVE]
        allocated = cs[spc, CS_MALLOCS] * es
        if live >= sp[sid, SP_NELEMS] // 8 or allocated <= 0:
            continue  # dense: whole slots, as counted above
        work -= live * es - live * es * cs[spc, CS_SCAN_ALLOCATED] // allocated
    return work


@njit(cache=True)
def _plan_end(s):
    """S_MARK_END_TS: when the background workers alone finish the remaining work, and
    without a dedicated worker the wait for a P's scheduler pass after it (P_SCHED_WAIT_NS;
    once the work is done the end planned stays)."""
    sc = s.sc
    rate = background_rate(s)
    left = np.float64(sc[S_SCAN_WORK]) - s.fs[F_MARK_DONE]
    wait = s.prm[P_SCHED_WAIT_NS]
    if left <= 0.0:
        if wait == 0 or sc[S_MARK_END_TS] < sc[S_MARK_T]:
            sc[S_MARK_END_TS] = sc[S_MARK_T]
    elif rate <= 0.0 or left / rate >= 1.0e18:
        sc[S_MARK_END_TS] = INF
        sc[S_MARK_WAIT] = 0
    else:
        sc[S_MARK_END_TS] = sc[S_MARK_T] + np.int64(np.ceil(left / rate))
        sc[S_MARK_WAIT] = wait if past_max_work(s) else 0
        sc[S_MARK_END_TS] += sc[S_MARK_WAIT]
    if sc[S_MARK_END_TS] < sc[S_NEXT_TIMED]:  # assists brought the end forward: wake timed()
        sc[S_NEXT_TIMED] = sc[S_MARK_END_TS]


@njit(cache=True)
def start(s):
    """The start of concurrent mark (gcStart after the sweep termination stop): nothing done,
    no credit or debt, assists paced from here."""
    sc = s.sc
    fs = s.fs
    now = sc[S_NOW]
    draw_speed(s)
    fs[F_MARK_DONE] = 0.0
    fs[F_ASSIST_CREDIT] = 0.0
    fs[F_ASSIST_BYTES] = 0.0  # gcResetMarkState: every goroutine's gcAssistBytes = 0
    sc[S_MARK_T] = now
    sc[S_MARK_WAIT] = 0
    sc[S_ASSIST_LIVE] = sc[S_HEAP_LIVE]
    limiter.gc_transition(s, True, now)
    revise(s)
    _plan_end(s)


@njit(cache=True)
def advance(s, now):
    """The background workers' work up to trace time now (their CPU time and their credit)."""
    sc = s.sc
    fs = s.fs
    dt = now - sc[S_MARK_T]
    if dt <= 0:
        return
    w = np.float64(dt) * background_rate(s)
    fs[F_MARK_DONE] += w
    fs[F_ASSIST_CREDIT] += w
    fs[F_BG_NS] += np.float64(dt) * BACKGROUND_UTILIZATION * s.prm[P_NPROCS]
    sc[S_MARK_T] = now


@njit(cache=True, inline="always")
def mutator_clock(sc, takes_ppm, stretch_ppm, ts):
    """The model's clock at an event of trace time `ts` (the module's comment): the trace's
    clock less the share of the recording's marks (takes_ppm of the time inside them), plus
    the model's own marks' stretch (stretch_ppm of the mutator time while it marks) and the
    parked assists' S_STALL. Counted from running totals, so no rounding piles up. The
    interval before an event belongs to the phase before it (the kernel moves S_PHASE and
    S_REC_MARKING after this step)."""
    t0 = sc[S_TRACE_T] + sc[S_STALL] + clock_skew(sc, takes_ppm, stretch_ppm)
    if ts > sc[S_TRACE_T]:
        if sc[S_REC_MARKING] != 0:
            sc[S_REC_MARK_NS] += ts - sc[S_TRACE_T]
        sc[S_TRACE_T] = ts
    taken = sc[S_REC_MARK_NS] * takes_ppm // 1_000_000
    mutator = sc[S_TRACE_T] - taken
    if mutator > sc[S_MUTATOR_T]:
        if sc[S_PHASE] == 1:
            add = mutator - sc[S_MUTATOR_T]
            sc[S_MARK_MUTATOR_NS] += add
            _stretch_to_mark_end(sc, takes_ppm, stretch_ppm, ts, t0, add)
        sc[S_MUTATOR_T] = mutator
    return ts + sc[S_STALL] + clock_skew(sc, takes_ppm, stretch_ppm)


@njit(cache=True, inline="always")
def _stretch_to_mark_end(sc, takes_ppm, stretch_ppm, ts, t0, add):
    """The mark's stretch of the interval before an event stops at the mark's end: when the
    model's clock passes S_MARK_END_TS inside the interval (t0 at its start; the trace idle
    there), the mutator time after it is the sweep phase's, timed() ends the mark at that end
    (the workers finish it while the trace shows nothing; before 2026-12-06 the mark ended at
    the next event and stretched the clock over the whole idle time). Straight-line: the
    interval's model time is linear in its trace time."""
    t1 = ts + sc[S_STALL] + clock_skew(sc, takes_ppm, stretch_ppm)
    end = sc[S_MARK_END_TS]
    if t1 > end and t1 > t0:
        span = end - t0 if end > t0 else 0
        keep = np.int64(np.float64(add) * np.float64(span) / np.float64(t1 - t0))
        sc[S_MARK_MUTATOR_NS] -= add - keep


@njit(cache=True)
def recorded_mark_began(s, seq):
    """The recording's mark of GC seq `seq` begins (its gc_start): from here its assists' and
    idle workers' shares are the ones in effect (S_REC_ASSIST_PPM, S_REC_IDLE_PPM, which
    gc._end_cycle's cons/mark takes), where EngineArrays "rmk" has its row; a mark without a
    row (not held whole by the trace, or strided out) leaves the last one's."""
    sc = s.sc
    rmk = s.rmk
    r = sc[S_REC_MARK_ROW]
    while r < rmk.shape[0] and rmk[r, 0] < seq:
        r += 1
    sc[S_REC_MARK_ROW] = r
    if r < rmk.shape[0] and rmk[r, 0] == seq:
        sc[S_REC_ASSIST_PPM] = rmk[r, 1]
        sc[S_REC_IDLE_PPM] = rmk[r, 2]


@njit(cache=True, inline="always")
def clock_skew(sc, takes_ppm, stretch_ppm):
    """ns mutator_clock puts the model's clock ahead of the trace's + S_STALL: the model's own
    marks' stretch less the recorded marks' share (negative when that weighs more)."""
    return (sc[S_MARK_MUTATOR_NS] * stretch_ppm // 1_000_000
            - sc[S_REC_MARK_NS] * takes_ppm // 1_000_000)


@njit(cache=True)
def done(s):
    """All of the cycle's scan work is done."""
    return s.fs[F_MARK_DONE] >= np.float64(s.sc[S_SCAN_WORK])


@njit(cache=True)
def park(s, need):
    """gcAssistAlloc's debt that the background credit does not cover (`need` units of scan
    work): the assist finds no grey objects to scan (gcDrainN takes work from the global
    queues, which the workers' local buffers feed only when full) and parks on the assist
    queue (gcParkAssist) until the workers' credit pays the debt (gcFlushBgCredit) or the
    mark ends. Recordings of a program on 4 Ps show its mutators parked so from the first
    assists of a mark (docs/model.md, item 1), so the model stops the trace's clock: the rest
    of the trace runs S_STALL ns later while every P marks (the dedicated share, and idle mark
    workers on the Ps the parked mutators leave idle, findRunnableGCWorker), and the parked
    Ps' time is idle: not GC CPU, and left out of the limiter's total. The work done meanwhile
    goes to the parked assist, not to the workers' credit."""
    sc = s.sc
    fs = s.fs
    # the workers' 25% and, on the Ps the parked mutators leave idle, idle mark workers: every
    # P marks while the mutators wait. The measured rate is the recorded marks' work over the
    # workers' 25% alone, so it holds what the recording's assists and idle workers did: the
    # other Ps mark at the recording's work per CPU of all its marking (P_PARK_RATE_PPM)
    per_p = scan_rate(s)
    if s.prm[P_PARK_RATE_PPM] > 0:
        # the workers' 25% at the measured rate is the recording's whole marking share of the
        # Ps at the per-CPU rate: the rest of the Ps mark beside them, every P at most
        per_p *= s.prm[P_PARK_RATE_PPM] * 1e-6
        others = max(per_p * s.prm[P_NPROCS] - background_rate(s), 0.0)
    else:  # no recorded shares: the Ps beyond the workers' 25%, at the measured rate
        others = per_p * (1.0 - BACKGROUND_UTILIZATION) * s.prm[P_NPROCS]
    rate = background_rate(s) + others
    left = np.float64(sc[S_SCAN_WORK]) - fs[F_MARK_DONE]
    if need > left:  # released when the mark's work is done
        need = left
    if need <= 0.0 or rate <= 0.0:
        return
    wait = np.int64(np.ceil(need / rate))
    now = sc[S_NOW] + wait
    sc[S_STALL] += wait
    sc[S_NOW] = now
    fs[F_PARK_NS] += np.float64(wait)
    idle = np.float64(wait) * s.prm[P_NPROCS] * (1.0 - BACKGROUND_UTILIZATION)
    limiter.add_idle_time(s, idle)  # idle mark time is idle time to the limiter
    w = np.float64(wait) * others
    fs[F_MARK_DONE] += w
    fs[F_ASSIST_CREDIT] += w
    advance(s, now)
    fs[F_ASSIST_CREDIT] -= need  # gcFlushBgCredit: to the parked assist first
    limiter.update(s, now)


@njit(cache=True)
def assist(s):
    """gcAssistAlloc for heapLive's growth since the last charge: that many bytes of debt;
    while the debt is unpaid (and the limiter off) an assist of assistWorkPerByte x the debt,
    at least gcOverAssistWork, credited in bytes at the ratio of the moment, stolen from the
    background credit where it has it, the rest waited for (park). Returns True when the
    cycle's work is done and this assist sees it: it parked for the last of it, or a
    dedicated worker (no P_SCHED_WAIT_NS) would have."""
    sc = s.sc
    fs = s.fs
    now = sc[S_NOW]
    parked_before = fs[F_PARK_NS]
    advance(s, now)
    grown = sc[S_HEAP_LIVE] - sc[S_ASSIST_LIVE]
    sc[S_ASSIST_LIVE] = sc[S_HEAP_LIVE]
    if grown > 0:
        fs[F_ASSIST_BYTES] -= np.float64(grown)
    if limiter.need_update(s, now):
        limiter.update(s, now)
    if fs[F_ASSIST_BYTES] < 0.0 and not limiter.limiting(s):
        ratio = fs[F_ASSIST_RATIO]  # revise keeps it above 0
        debt = -fs[F_ASSIST_BYTES]
        work = ratio * debt
        if work < OVER_ASSIST_WORK:
            work = np.float64(OVER_ASSIST_WORK)
            debt = work / ratio
        bg = fs[F_ASSIST_CREDIT]
        if bg >= work:  # the workers' credit pays it all, over-assist included
            fs[F_ASSIST_CREDIT] = bg - work
            fs[F_ASSIST_BYTES] += debt
        else:
            if bg > 0.0:
                fs[F_ASSIST_CREDIT] = 0.0
                fs[F_ASSIST_BYTES] += 1.0 + bg / ratio
            if fs[F_ASSIST_BYTES] < 0.0:  # still owed: no grey work to scan
                owed = -fs[F_ASSIST_BYTES] * ratio
                if background_rate(s) > 0.0:
                    park(s, owed)
                else:  # no cost model (no scan rate): the work is done on the spot, for free
                    left = np.float64(sc[S_SCAN_WORK]) - fs[F_MARK_DONE]
                    fs[F_MARK_DONE] += owed if owed < left else max(left, 0.0)
                fs[F_ASSIST_BYTES] = 0.0  # paid, or released by the mark's end
    revise(s)
    _plan_end(s)
    return done(s) and (s.prm[P_SCHED_WAIT_NS] == 0 or fs[F_PARK_NS] != parked_before
                        or not past_max_work(s))


@njit(cache=True)
def finish(s, now):
    """Mark termination: the background workers' time up to now is counted, marking ends."""
    advance(s, now)
    limiter.gc_transition(s, False, now)


class RecordedMarkCpu:
    """What a Go recording's marks cost (the importer's header source `mark_cpu`, gctrace's
    figures summed over the cycles marked wholly inside the trace, trace/importers/gomark.py):
    background worker, assist and idle mark time as shares of GOMAXPROCS while marking.
    endCycle's cons/mark counts assists and idle workers (gc._end_cycle), while the model's
    marks run the workers at 25% at a rate measured on the recording's marks, with whatever
    assists and idle workers did folded in; and a mark's CPU is reported at the recording's
    shares of its length in recorded mode (`cpu_of`), by its scan work at the recording's CPU
    per unit of work in pacer mode (`cpu_of_work`), not the 25% the model's workers run at."""

    KEYS = ("cycles", "wall_ns", "background_ns", "idle_ns", "assist_ns")

    def __init__(self, assist_share: float, idle_share: float, background_share: float):
        self.assist_share = assist_share
        self.idle_share = idle_share
        self.background_share = background_share

    def mutator_clock_ppm(self) -> tuple[int, int]:
        """mutator_clock's (takes_ppm, stretch_ppm): the share of the Ps the recording's
        marks took from its mutators (workers + assists), and the model's marks' stretch
        b / (1 - b) for its workers' share b (its assists park: S_STALL)."""
        b = min(self.background_share, 0.9)
        takes = min(self.background_share + self.assist_share, 0.9)
        return round(takes * 1e6), round(b / (1.0 - b) * 1e6)

    def park_rate_ppm(self) -> int:
        """P_PARK_RATE_PPM: the recorded marks' work per CPU of all their marking (workers,
        assists, idle workers) over the measured rate, which counts the workers' 25% alone:
        25% over that total share (0: no marking recorded, the measured rate as it is)."""
        total = self.background_share + self.assist_share + self.idle_share
        if total <= 0.0:
            return 0
        return round(min(BACKGROUND_UTILIZATION / total, 4.0) * 1e6)

    @staticmethod
    def marks_of(source: dict | None, procs: int) -> np.ndarray | None:
        """EngineArrays "rmk" from a header's `mark_cpu.marks` (rows [GC seq, wall,
        background, idle, assist ns]): n x 3, GC seq, assist ppm, idle ppm of GOMAXPROCS
        while marking, by seq; None when there are none or a row is not one a mark on `procs`
        Ps can have (then every mark takes the pooled shares)."""
        mc = (source or {}).get("mark_cpu")
        rows = mc.get("marks") if isinstance(mc, dict) else None
        if not isinstance(rows, list) or not rows or procs <= 0:
            return None
        out = np.zeros((len(rows), 3), np.int64)
        last = -1
        for i, row in enumerate(rows):
            if (not isinstance(row, list) or len(row) != 5
                    or not all(type(x) is int and 0 <= x < 1 << 62 for x in row)):
                return None
            seq, wall, bg, idle, assist = row
            if seq <= last or wall <= 0 or bg + idle + assist > wall * procs:
                return None
            cpu = wall * procs
            out[i] = (seq, round(assist * 1e6 / cpu), round(idle * 1e6 / cpu))
            last = seq
        return out

    def to_dict(self) -> dict:
        return {"assist_share": round(self.assist_share, 6),
                "idle_share": round(self.idle_share, 6),
                "background_share": round(self.background_share, 6)}

    def cpu_of(self, workers_ns: float) -> tuple[int, int]:
        """(background workers', assists') CPU ns of marks whose model workers took
        `workers_ns` (25% of GOMAXPROCS over their length, F_BG_NS): the runtime's marks do
        the same scan work with the fractional workers getting their P only when it passes
        through the scheduler and the assists doing the rest, so their CPU per unit of mark
        time is the recording's (Go 1.23 builder: workers 7% and assists 30% of GOMAXPROCS,
        where the model's workers alone take 25%), not the workers' 25%."""
        length = workers_ns / BACKGROUND_UTILIZATION  # the marks' length x GOMAXPROCS
        return round(length * self.background_share), round(length * self.assist_share)

    def cpu_of_work(self, scan_work: float, length_ns: float, procs: int,
                    ns_per_mib: float) -> tuple[int, int]:
        """(background workers', assists') CPU ns of a model mark that did `scan_work` bytes
        of scan work over `length_ns` on `procs` Ps, the measured rate ns_per_mib (one CPU's
        ns per MiB at the workers' 25%, P_MARK_NS_PER_MB): the recording's worker + assist
        CPU per unit of its marks' work, (b + a) / 25% of the measured rate's cost, so a
        setting that marks more work costs as the runtime's marks did per unit (its assists
        scan: the model's parked mutators stand for them), where cpu_of counts the mark's
        length at the recording's shares and so leaves out the assists a short runway adds
        (docs/model.md 2a, "By the marks' work"). The workers take their recorded share
        of the mark's length at least; the rest is the assists'."""
        background = self.background_share * procs * length_ns
        counted = scan_work * ns_per_mib / (1 << 20) \
            * (self.background_share + self.assist_share) / BACKGROUND_UTILIZATION
        return round(background), round(max(counted - background, 0.0))

    @classmethod
    def of(cls, source: dict | None, procs: int) -> RecordedMarkCpu | None:
        """From a header's source and GOMAXPROCS; None when it has no usable figures (not a
        Go recording, an older import) or figures no marking on `procs` Ps can have."""
        mc = (source or {}).get("mark_cpu")
        if not isinstance(mc, dict) or not all(
                type(mc.get(k)) is int and 0 <= mc[k] < 1 << 62 for k in cls.KEYS):
            return None
        wall = mc["wall_ns"] * procs
        if mc["cycles"] <= 0 or wall <= 0:
            return None
        assist = mc["assist_ns"] / wall
        idle = mc["idle_ns"] / wall
        background = mc["background_ns"] / wall
        if assist + idle + background > 1.0:
            return None
        return cls(assist, idle, background)
