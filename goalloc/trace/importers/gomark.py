"""Mark CPU per GC cycle as the runtime's gctrace counts it (mgc.go gcMarkTermination: assist,
background and idle mark time; Go 1.23-1.27, the 1.22+ tracer), read from an execution
trace's scheduling events.

The mark workers are the goroutines whose runs start with a GoLabel: traceGoStart labels each
run of gcBgMarkWorker with its gcMarkWorkerMode ("GC (dedicated)", "GC (fractional)",
"GC (idle)"). Their running time between GCBegin and GCEnd is background mark time
(dedicated and fractional: gctrace's middle figure) or idle mark time. An assist is the time
its goroutine runs between GCMarkAssistBegin and GCMarkAssistEnd: gcAssistAlloc traces the
range around its retries and gcParkAssist, while its assistTime counts only gcAssistAlloc1's
own time, so a parked assist (the goroutine is not running) is left out, as there. The run
that ends the mark goes on into gcMarkDone, whose ragged barrier (forEachP, not traced) waits
for every P before the goroutine stops the world for mark termination: its last segment is
left out (see `account`).

The background scavenger (runtime.bgscavenge) runs as a goroutine too: the one whose parks
carry bgscavenge in their stack. Its running time is the runtime's own measure of its work
(scavengerState.run times each call; docs/model.md, "Scavenger over time"): summed over the
trace as the header's `scavenger`.

The mutators' sweeping is traced as ranges on a P (traceGCSweepStart/Span/Done: a
GCSweepBegin before the first span a sweep loop sweeps, a GCSweepEnd with the bytes it swept
and reclaimed after it, around mcentral.cacheSpan's, deductSweepCredit's and mheap.reclaim's
loops; the background sweeper's spans are not traced): summed over the trace as the header's
`sweep`. A loop runs inside mallocgc with its M held, so its Begin and End are one M's.

Why the model needs it (engine/mark.py): at GOMAXPROCS=2 the runtime has no dedicated worker,
only fractional ones, which run when their P passes through the scheduler; a busy P's worker
may get a fifth of its 25% while assists do the rest, and endCycle's cons/mark counts assist
and idle time. The recording's own figures say how much each party marked.
"""

from __future__ import annotations

import numpy as np

from goalloc.jit import kernel
from goalloc.trace.addrmap import AddrMap, map_get, map_insert, map_remove
from goalloc.trace.importers import gotrace_wire as w

# run modes of an M's goroutine (MarkCpu.m_mode)
MUTATOR = 0
BACKGROUND = 1  # gcMarkWorkerDedicatedMode, gcMarkWorkerFractionalMode
IDLE = 2  # gcMarkWorkerIdleMode
LABELS = {"GC (dedicated)": BACKGROUND, "GC (fractional)": BACKGROUND, "GC (idle)": IDLE}

# MarkCpu.cy: the cycle being marked
CY_ACTIVE = 0
CY_SEQ = 1
CY_BEGIN = 2
CY_BG = 3
CY_IDLE = 4
CY_ASSIST = 5
N_CY = 6

# rows of `account`'s output: a cycle whose GCBegin and GCEnd the trace holds
R_SEQ = 0
R_WALL = 1  # GCBegin to GCEnd, ns
R_BG = 2
R_IDLE = 3
R_ASSIST = 4
N_ROW = 5
# the header keeps at most this many marks' rows (a row is ~40 bytes of the header's 1 MiB)
MAX_MARK_ROWS = 4096
# and the scavenger's runs only up to this many (three lists of ~5 bytes an entry; a reader
# takes lists of at most 2^16 entries): past it, none
MAX_SCAVENGER_RUNS = 1 << 15

# MarkCpu.sweep: the mutators' sweep ranges (GCSweepBegin .. GCSweepEnd on one M)
SW_RANGES = 0
SW_NS = 1
SW_SWEPT = 2  # bytes swept (the spans' sizes)
SW_RECLAIMED = 3  # bytes of them freed back to the page heap
SW_UNOPENED = 4  # ends whose begin the trace does not hold (begun before it; not counted)
N_SW = 5

# MarkCpu.sched: the runs of the goroutines other than the mark workers and the scavenger
SCHED_RUNS = 0
SCHED_NS = 1
SCHED_NS2 = 2  # the sum of their squares (float: ten second-long runs overflow int64)
N_SCHED = 3


class MarkCpu:
    """What `account` carries from one generation to the next, and the cycles' rows."""

    def __init__(self):
        self.m_g = np.full(16, -1, np.int64)  # goroutine running on each M (by M index)
        self.m_mode = np.zeros(16, np.int64)  # its run's mode (MUTATOR, BACKGROUND, IDLE)
        self.m_t = np.zeros(16, np.int64)  # when its run started (ns)
        # when its run started as a run between two passes of its P through the scheduler
        # (-1: none open: a syscall that lost the P ended it), and when a syscall it is in
        # began (-1: none)
        self.m_run = np.full(16, -1, np.int64)
        self.m_sys = np.full(16, -1, np.int64)
        self.sched = np.zeros(N_SCHED, np.float64)
        self.m_sweep = np.full(16, -1, np.int64)  # when M's open sweep range began (-1: none)
        self.sweep_tot = np.zeros(N_SW, np.int64)
        self.span = [None, None]  # the first and last event times seen (ns)
        self.cy = np.zeros(N_CY, np.int64)
        self.assists = AddrMap(6)  # goroutine -> dense id of a goroutine inside an assist
        self.since = np.full(64, -1, np.int64)  # by dense id: running since (ns), -1: not
        self.rows: list[np.ndarray] = []
        # the scavenger goroutine (-1: not seen parking yet) and how many of its runs
        # scav_runs holds (a column each: start ns, running ns, and 1 when the run ended in a
        # GoBlock: scavengerState.run had returned and the goroutine slept or parked)
        self.scav = np.array([-1, 0], np.int64)
        self.scav_runs = np.zeros((3, 64), np.int64)

    def generation(self, typ, key, mm, a1, a2, a3, order, status, m_of,
                   labels: dict[int, str], n_ms: int, scav_stacks: np.ndarray | None = None
                   ) -> None:
        """Account one generation's events (in merge order); `status`, `m_of`: its GoStatus
        events and the M each names; `labels`: its GoLabel string ids and texts;
        `scav_stacks`: the sorted stack ids of its GoBlocks in runtime.bgscavenge outside
        scavengerState.run (its sleeps and parks)."""
        if n_ms > self.m_g.shape[0]:
            grow = n_ms - self.m_g.shape[0]
            self.m_g = np.concatenate([self.m_g, np.full(grow, -1, np.int64)])
            self.m_mode = np.concatenate([self.m_mode, np.zeros(grow, np.int64)])
            self.m_t = np.concatenate([self.m_t, np.zeros(grow, np.int64)])
            self.m_run = np.concatenate([self.m_run, np.full(grow, -1, np.int64)])
            self.m_sys = np.concatenate([self.m_sys, np.full(grow, -1, np.int64)])
            self.m_sweep = np.concatenate([self.m_sweep, np.full(grow, -1, np.int64)])
        begins = int(np.count_nonzero((typ == w.EV_GC_MARK_ASSIST_BEGIN)
                                      | (typ == w.EV_GC_MARK_ASSIST_ACTIVE)))
        m = self.assists
        if m.needs_grow(begins):
            m.grow(begins)
        need = int(m.ctr[3]) + begins + 1
        if need > self.since.shape[0]:
            self.since = np.concatenate([self.since,
                                         np.full(need - self.since.shape[0], -1, np.int64)])
        # a run ends only after it starts (GoStart/GoSwitch) or at the generation's start
        runs = int(self.scav[1]) + n_ms + 1 + int(np.count_nonzero(
            (typ == w.EV_GO_START) | (typ == w.EV_GO_SWITCH) | (typ == w.EV_GO_SWITCH_DESTROY)))
        if runs > self.scav_runs.shape[1]:
            grown = np.zeros((3, max(runs, 2 * self.scav_runs.shape[1])), np.int64)
            grown[:, :self.scav_runs.shape[1]] = self.scav_runs
            self.scav_runs = grown
        if key.shape[0]:
            lo, hi = int(key.min()), int(key.max())
            self.span = [lo if self.span[0] is None else min(lo, self.span[0]),
                         hi if self.span[1] is None else max(hi, self.span[1])]
        ids = np.array(sorted(labels), np.int64)
        modes = np.array([LABELS.get(labels[i], MUTATOR) for i in ids.tolist()], np.int64)
        out = np.zeros((int(np.count_nonzero(typ == w.EV_GC_END)), N_ROW), np.int64)
        n = account(order, typ, key, mm, a1, a2, a3, status, m_of, ids, modes, self.m_g,
                    self.m_mode, self.m_t, self.cy, m.keys, m.vals, m.free_ids, m.ctr,
                    self.since, out,
                    np.zeros(0, np.int64) if scav_stacks is None else scav_stacks, self.scav,
                    self.scav_runs, (self.m_run, self.m_sys, self.sched),
                    (self.m_sweep, self.sweep_tot))
        if n:
            self.rows.append(out[:n])

    def scavenger(self, t0: int | None = None) -> dict | None:
        """The header's `scavenger`: the background scavenger goroutine's running time over the
        trace and, given t0 (where the trace's clock starts), each of its runs (start on that
        clock, running ns, 1 if it ended in a block: its run() call had returned, else 0),
        unless there are more than MAX_SCAVENGER_RUNS (a header's list holds at most 2^16
        entries: the replay then times the scavenger by its own controller); None when it
        never parked in bgscavenge, so it is not known."""
        if self.scav[0] < 0:
            return None
        n = int(self.scav[1])
        out = {"goroutine": int(self.scav[0]), "running_ns": int(self.scav_runs[1, :n].sum()),
               "runs": n}
        if t0 is not None and n <= MAX_SCAVENGER_RUNS:
            out["run_start"] = (self.scav_runs[0, :n] - t0).tolist()
            out["run_ns"] = self.scav_runs[1, :n].tolist()
            out["run_blocked"] = self.scav_runs[2, :n].tolist()
        return out

    def sweep(self) -> dict | None:
        """The header's `sweep`: the mutators' sweep ranges over the trace (their count, total
        ns, and the bytes they swept and reclaimed), how many ends came without their begin
        (a range under way when tracing began: not counted), and the trace's span (ns, first
        to last event: what the ranges' time is a share of); None when none ended."""
        n, ns, swept, reclaimed, unopened = (int(x) for x in self.sweep_tot)
        lo, hi = self.span
        if n == 0 or lo is None:
            return None
        return {"ranges": n, "ns": ns, "swept_bytes": swept, "reclaimed_bytes": reclaimed,
                "unopened": unopened, "span_ns": int(hi - lo)}

    def scheduling(self, procs: int) -> dict | None:
        """The header's `scheduling`: the runs of the goroutines other than the mark workers
        and the scavenger, each from the scheduler starting it to where its P next goes
        through the scheduler (its stop, block or exit, or the start of a syscall that lost
        the P: a syscall that returns with its P does not end a run); their time-weighted
        mean residual, sum(run^2) / (2 sum(run)): from an instant a P runs one of them, how
        long until that P next schedules, the first place a fractional mark worker can run
        (findRunnableGCWorker); their share of the procs Ps' time over the trace (the rest a
        P is idle, where an idle mark worker runs); and of the cycles marked wholly inside the
        trace, how many had an idle mark worker run (a P idle while marking, which sees the
        mark's end as soon as its work is done). None when no run ended."""
        n, ns, ns2 = (float(x) for x in self.sched)
        if n == 0 or ns <= 0:
            return None
        out = {"runs": int(n), "running_ns": int(ns), "residual_ns": int(round(ns2 / (2 * ns)))}
        lo, hi = self.span
        if lo is not None and hi > lo and procs > 0:
            out["busy_share"] = round(min(1.0, ns / (procs * (hi - lo))), 4)
        rows = self.cycles()
        if rows.shape[0]:
            out["marks"] = int(rows.shape[0])
            out["marks_with_idle"] = int(np.count_nonzero(rows[:, R_IDLE] > 0))
        return out

    def cycles(self) -> np.ndarray:
        """Rows (R_*) of the cycles marked wholly inside the trace, in order."""
        return np.concatenate(self.rows) if self.rows else np.zeros((0, N_ROW), np.int64)

    def summary(self) -> dict | None:
        """The header's `mark_cpu`: the pooled figures of the cycles marked wholly inside the
        trace, and `marks`, each one's row [GC seq, wall, background, idle, assist ns] (at
        most MAX_MARK_ROWS, evenly strided, so the header stays small; None: none was)."""
        rows = self.cycles()
        if not rows.shape[0]:
            return None
        tot = rows.sum(axis=0)
        kept = rows[::-(-rows.shape[0] // MAX_MARK_ROWS)]
        return {"cycles": int(rows.shape[0]), "wall_ns": int(tot[R_WALL]),
                "background_ns": int(tot[R_BG]), "idle_ns": int(tot[R_IDLE]),
                "assist_ns": int(tot[R_ASSIST]), "marks": kept.tolist()}


@kernel(inline="always")
def _add(cy, col, t0, t1):
    """Mark time t0..t1 to the cycle being marked (its part after GCBegin)."""
    if cy[CY_ACTIVE] != 0:
        if t0 < cy[CY_BEGIN]:
            t0 = cy[CY_BEGIN]
        if t1 > t0:
            cy[col] += t1 - t0


@kernel(inline="always")
def _end_sched_run(m_run, sched, m, ts):
    """M m's open run between two scheduler passes ends at ts."""
    if m_run[m] >= 0 and ts > m_run[m]:
        d = np.float64(ts - m_run[m])
        sched[SCHED_RUNS] += 1.0
        sched[SCHED_NS] += d
        sched[SCHED_NS2] += d * d
    m_run[m] = -1


@kernel(inline="always")
def _stop_run(m, ts, m_g, m_mode, m_t, cy, akeys, avals, since, scav, scav_runs, runs):
    """M m's goroutine stops running at ts: its worker time, or its assist's, or the
    scavenger's run (kept), or its run between two scheduler passes (runs), is counted."""
    g = m_g[m]
    if g < 0:
        return
    m_run, m_sys, sched = runs
    if m_mode[m] == MUTATOR and g != scav[0]:
        _end_sched_run(m_run, sched, m, ts)
    m_run[m] = -1
    m_sys[m] = -1
    if g == scav[0] and ts > m_t[m]:
        r = scav[1]
        if r < scav_runs.shape[1]:  # generation() made room for every run that can end
            scav_runs[0, r] = m_t[m]
            scav_runs[1, r] = ts - m_t[m]
            scav[1] = r + 1
    mode = m_mode[m]
    if mode == BACKGROUND:
        _add(cy, CY_BG, m_t[m], ts)
    elif mode == IDLE:
        _add(cy, CY_IDLE, m_t[m], ts)
    aid = map_get(akeys, avals, g)
    if aid >= 0 and since[aid] >= 0:
        _add(cy, CY_ASSIST, since[aid], ts)
        since[aid] = -1
    m_g[m] = -1
    m_mode[m] = MUTATOR


@kernel(inline="always")
def _end_sweep(sweeps, m, ts, swept, reclaimed):
    """M m's sweep range ends at ts, having swept and reclaimed those bytes."""
    m_sweep, tot = sweeps
    if m_sweep[m] >= 0 and ts >= m_sweep[m]:
        tot[SW_RANGES] += 1
        tot[SW_NS] += ts - m_sweep[m]
        tot[SW_SWEPT] += swept
        tot[SW_RECLAIMED] += reclaimed
    else:
        tot[SW_UNOPENED] += 1
    m_sweep[m] = -1


@kernel
def account(order, typ, key, mm, a1, a2, a3, status, m_of, label_ids, label_modes, m_g, m_mode,
            m_t, cy, akeys, avals, afree, actr, since, out, scav_stacks, scav, scav_runs, runs,
            sweeps):
    """Walk one generation's events in merge order; rows of the cycles that end in it go to
    `out`, their count is returned. The M of an event is its batch's (mm), but a GoStatus
    names the M its goroutine runs on (m_of): at the trace's start that is how a goroutine
    already running is known (a worker's mode only from its next run's label)."""
    n = 0
    for i in range(order.shape[0]):
        j = order[i]
        t = typ[j]
        m = mm[j]
        ts = key[j]
        if t == w.EV_GO_START or t == w.EV_GO_SWITCH or t == w.EV_GO_SWITCH_DESTROY:
            _stop_run(m, ts, m_g, m_mode, m_t, cy, akeys, avals, since, scav, scav_runs, runs)
            g = a1[j]
            for k in range(m_g.shape[0]):  # a run of g elsewhere whose end was not seen
                if k != m and m_g[k] == g:
                    _stop_run(k, ts, m_g, m_mode, m_t, cy, akeys, avals, since, scav,
                              scav_runs, runs)
            m_g[m] = g
            m_t[m] = ts
            runs[0][m] = ts
            aid = map_get(akeys, avals, g)
            if aid >= 0:
                since[aid] = ts  # back from gcParkAssist: the assist goes on
        elif t == w.EV_GO_STATUS or t == w.EV_GO_STATUS_STACK:
            sm = m_of[np.searchsorted(status, j)]
            g = a1[j]
            if a3[j] == w.GO_RUNNING and 0 <= sm < m_g.shape[0] and m_g[sm] != g:
                _stop_run(sm, ts, m_g, m_mode, m_t, cy, akeys, avals, since, scav, scav_runs, runs)
                m_g[sm] = g
                m_t[sm] = ts
                runs[0][sm] = ts
                aid = map_get(akeys, avals, g)
                if aid >= 0 and since[aid] < 0:
                    since[aid] = ts
        elif t == w.EV_GO_STOP or t == w.EV_GO_BLOCK or t == w.EV_GO_DESTROY:
            in_bgscavenge = False
            if t == w.EV_GO_BLOCK and m_g[m] >= 0 and scav_stacks.shape[0]:
                k = np.searchsorted(scav_stacks, a2[j])
                in_bgscavenge = k < scav_stacks.shape[0] and scav_stacks[k] == a2[j]
                if in_bgscavenge and scav[0] < 0:
                    scav[0] = m_g[m]  # parking in bgscavenge: the scavenger
            kept = scav[1]
            _stop_run(m, ts, m_g, m_mode, m_t, cy, akeys, avals, since, scav, scav_runs, runs)
            if in_bgscavenge and scav[1] > kept:
                # it sleeps or parks, so its run() had returned; a block elsewhere (the GC's
                # stack scan parks it "preempted", inside run()) stops it inside the call
                scav_runs[2, kept] = 1
        elif t == w.EV_GO_SYSCALL_BEGIN:
            runs[1][m] = ts
        elif t == w.EV_GO_SYSCALL_END:  # back with its P: the run goes on
            runs[1][m] = -1
        elif t == w.EV_GO_SYSCALL_END_BLOCKED:
            # back without its P (it went to the scheduler meanwhile): the goroutine is
            # runnable, not running, and its run ended where the syscall began. Until
            # 2026-12-06 the M kept it as running: a goroutine whose run had started with a
            # worker's label (a Go 1.26 recording: a user goroutine labelled "GC
            # (fractional)", then in a syscall) was counted as marking on that M through
            # every later cycle until the M's next event, 136 ms on.
            end = runs[1][m] if runs[1][m] >= 0 else ts
            _stop_run(m, end, m_g, m_mode, m_t, cy, akeys, avals, since, scav, scav_runs, runs)
            runs[0][m] = -1
            runs[1][m] = -1
        elif t == w.EV_GO_LABEL:
            k = np.searchsorted(label_ids, a1[j])
            if k < label_ids.shape[0] and label_ids[k] == a1[j] and m_g[m] >= 0:
                m_mode[m] = label_modes[k]
        elif t == w.EV_GC_MARK_ASSIST_BEGIN:
            g = m_g[m]
            if g >= 0:
                aid = map_get(akeys, avals, g)
                if aid < 0:
                    aid, _old = map_insert(akeys, avals, afree, actr, g)
                since[aid] = ts
        elif t == w.EV_GC_MARK_ASSIST_ACTIVE:  # at a generation's start: g is in an assist
            g = a1[j]
            aid = map_get(akeys, avals, g)
            if aid < 0:
                aid, _old = map_insert(akeys, avals, afree, actr, g)
                since[aid] = -1
                for k in range(m_g.shape[0]):
                    if m_g[k] == g:
                        since[aid] = ts
        elif t == w.EV_GC_MARK_ASSIST_END:
            g = m_g[m]
            if g >= 0:
                aid = map_get(akeys, avals, g)
                if aid >= 0:
                    if since[aid] >= 0:
                        _add(cy, CY_ASSIST, since[aid], ts)
                    since[aid] = -1
                    map_remove(akeys, avals, afree, actr, g)
        elif t == w.EV_GC_SWEEP_BEGIN:
            sweeps[0][m] = ts
        elif t == w.EV_GC_SWEEP_END:
            _end_sweep(sweeps, m, ts, a1[j], a2[j])
        elif t == w.EV_STW_BEGIN and cy[CY_ACTIVE] != 0:
            # the run that ends the mark goes on into gcMarkDone, whose ragged barrier
            # (forEachP, not traced) waits for every P before this stop: the trace cannot
            # tell its drain from its wait, which grows with how long the Ps take (a loaded
            # machine: 2x gctrace's idle time). Its last segment is left out: at most one
            # segment's drain per cycle short, however long the barrier waited.
            m_mode[m] = MUTATOR
            aid = map_get(akeys, avals, m_g[m]) if m_g[m] >= 0 else -1
            if aid >= 0:
                since[aid] = -1
        elif t == w.EV_GC_BEGIN:
            cy[CY_ACTIVE] = 1
            cy[CY_SEQ] = a1[j]
            cy[CY_BEGIN] = ts
            cy[CY_BG] = 0
            cy[CY_IDLE] = 0
            cy[CY_ASSIST] = 0
        elif t == w.EV_GC_END:
            if cy[CY_ACTIVE] != 0:
                # runs still going (mark termination stopped the world: none should be)
                for k in range(m_g.shape[0]):
                    if m_g[k] >= 0 and m_mode[k] == BACKGROUND:
                        _add(cy, CY_BG, m_t[k], ts)
                        m_t[k] = ts
                    elif m_g[k] >= 0 and m_mode[k] == IDLE:
                        _add(cy, CY_IDLE, m_t[k], ts)
                        m_t[k] = ts
                if n < out.shape[0]:
                    out[n, R_SEQ] = cy[CY_SEQ]
                    out[n, R_WALL] = ts - cy[CY_BEGIN]
                    out[n, R_BG] = cy[CY_BG]
                    out[n, R_IDLE] = cy[CY_IDLE]
                    out[n, R_ASSIST] = cy[CY_ASSIST]
                    n += 1
            cy[CY_ACTIVE] = 0
    return n
