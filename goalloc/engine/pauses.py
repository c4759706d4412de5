"""GC pauses of a replay (issue #6): the trace's recorded stop-the-world pauses and modelled
pauses for the model's cycles, their statistics, the runtime's pause histogram and MMU.

Recorded: stw_begin/stw_end pairs (a STW never nests; an end pairs with the begin before it),
by the begin's reason (goalloc.trace.format.STW_REASONS): "GC sweep termination",
"GC mark termination", every other reason is kind "other" (`/sched/pauses/total/other`).

Modelled (labelled so): pause = fixed[kind] + per_p * GOMAXPROCS. The STW work of Go 1.19+
does not grow with the heap: sweeping left over at sweep termination is done by the triggering
goroutine before the stop (gcStart's sweepone loop), stacks are scanned concurrently, mcaches
are flushed after the world restarts (forEachP); what grows with the Ps is stopping and
restarting them (preemption of each running P). Defaults (estimates, not measurements:
`--lock-costs FILE` [pauses] overrides them): per_p 2 us, sweep termination fixed 30 us, mark
termination fixed 50 us. When the trace has recorded pauses of a kind, fixed[kind] is
calibrated to median(recorded) - per_p * recorded GOMAXPROCS (at least 0) for the report, and
each modelled pause of the kind is one of the recording's own pauses of that kind, less per_p *
recorded GOMAXPROCS plus per_p * GOMAXPROCS (`at_procs`): pauses are heavy-tailed (a Go 1.23
recording's sweep terminations: median 73 us, mean 378 us, three of 19 over 1.4 ms), and the
median for every cycle would leave that tail out of the pause histogram. The recorded pauses
are spread over the model's cycles in order, each the same number of times (`spread`): a
pause is a draw of the runtime's, not a property of the time until the recording's next
cycle. Until 2026-12-07 each cycle took the pause in effect at its time in the trace, which
weighs each by the length of the interval after it, and where the model runs many more cycles
than the recording that multiplies the tail by chance: below the live heap a Go 1.27 LRU
recording's one 3.9 ms stop (of 52) stood for 19 of the model's 592 cycles, 74 ms of pauses.

A recorded pause is its STW range, as the runtime's own pause figures count it
(/sched/pauses/total/gc and gctrace's clock: startTheWorldWithSema takes their time after
procresize and the Ms' wakeups, just before it traces STWDone), although the other Ps may run
from the restart on: the long ones are the stopping M held by the OS after it restarted the
world (a Go 1.23 builder's 2.67 ms sweep termination, 2.65 ms in gctrace, whose other P ran
its goroutines from 23 us on). GC pause CPU (/cpu/classes/gc/pause, gc_cpu) is what the runtime
counts before the restart (Go 1.22+, accumulateGCPauseTime): while the world is being stopped
only the Ps already stopped (stoppingCPUTime: the stopping P and idle ones from the start,
the others from their own stop), then every P until the restart. The Go importer gives each
stw_end the restart (procresize), the last P's stop and the Ps' time stopped before it
(docs/trace-format.md); on a 2-P recording whose STW ranges ran to 4 ms on worlds restarted
within 90 us, the range x GOMAXPROCS put 3.5 points of GC CPU where the runtime counted 0.6.

Which pauses the report's cycles carry (gctrace A and C, /sched/pauses/total/gc:seconds, MMU):
recorded GC mode with recorded pauses: the recorded sweep-termination STW that begins in
[cycle start, cycle end) and the mark-termination STW that begins at/after the cycle's end
(before the next cycle), modelled when none is found; pacer mode: modelled, at the cycle's start
(sweep termination) and end (mark termination). No numba. The report's figures and text are goalloc/report/pauses.py.
"""

from __future__ import annotations

import numpy as np

from goalloc.trace import format as F

# ---- minimum mutator utilisation (Minimum mutator utilisation (MMU) from stop-the-world pauses, as `go tool trace` defines it:) ----
WINDOWS_NS = {"1ms": 1_000_000, "10ms": 10_000_000, "100ms": 100_000_000, "1s": 1_000_000_000}


def _merge(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    out_s: list[int] = []
    out_e: list[int] = []
    for a, b in zip(s.tolist(), e.tolist(), strict=True):
        if out_e and a <= out_e[-1]:
            out_e[-1] = max(out_e[-1], b)
        else:
            out_s.append(a)
            out_e.append(b)
    return np.array(out_s, np.int64), np.array(out_e, np.int64)


def mmu(pauses: list[tuple[int, int]], t0: int, t1: int, window: int) -> float | None:
    """MMU for `window` ns over [t0, t1] given (start, duration) pauses in ns; None for an
    empty trace span."""
    return _mmu(_paused_curve(pauses, t0, t1), t0, t1, window)


def mmus(pauses: list[tuple[int, int]], t0: int, t1: int, windows) -> list[float | None]:
    """mmu for each of `windows`, the pauses merged once."""
    curve = _paused_curve(pauses, t0, t1)
    return [_mmu(curve, t0, t1, w) for w in windows]


def mmu_table(pauses: list[tuple[int, int]], t0: int, t1: int) -> dict[str, float | None]:
    return dict(zip(WINDOWS_NS, mmus(pauses, t0, t1, WINDOWS_NS.values()), strict=True))


def _paused_curve(pauses, t0: int, t1: int):
    """Cumulative pause time P(t) over [t0, t1], piecewise linear: its breakpoints (the pause
    edges) and values, as floats; None without pauses or an empty span."""
    if t1 <= t0 or not pauses:
        return None
    st = np.array([max(t0, min(t1, s)) for s, d in pauses], np.int64)
    en = np.array([max(t0, min(t1, s + d)) for s, d in pauses], np.int64)
    st, en = _merge(st, en)
    bx = np.concatenate(([t0], np.stack([st, en], 1).ravel(), [t1])).astype(np.float64)
    inside = np.concatenate(([0], np.stack([np.zeros_like(st), en - st], 1).ravel(), [0]))
    return bx, np.cumsum(inside).astype(np.float64)


def _mmu(curve, t0: int, t1: int, window: int) -> float | None:
    if t1 <= t0:
        return None
    if curve is None:
        return 1.0
    bx, by = curve
    w = min(window, t1 - t0)
    cand = np.concatenate((bx, bx - w))
    cand = cand[(cand >= t0) & (cand <= t1 - w)]
    cand = np.unique(np.concatenate((cand, [float(t0), float(t1 - w)])))
    paused = np.interp(cand + w, bx, by) - np.interp(cand, bx, by)
    worst = float(paused.max()) / w
    return max(0.0, 1.0 - worst)


# ---- pauses ----

KINDS = ("sweep-termination", "mark-termination", "other")


DEFAULT_PAUSE_NS = {"per-p": 2_000, "sweep-term-fixed": 30_000, "mark-term-fixed": 50_000}


def pause_params(overrides: dict | None) -> dict[str, int]:
    """The pause cost model's figures in force: defaults, then overrides (ns, non-negative)."""
    from goalloc.engine.config import ns_table

    return ns_table(DEFAULT_PAUSE_NS, overrides, "pause costs", "key")


def kind_of(reason: int) -> str:
    if reason == F.STW_GC_SWEEP_TERM:
        return "sweep-termination"
    if reason == F.STW_GC_MARK_TERM:
        return "mark-termination"
    return "other"


class StwCollector:
    """Collects stw_begin/stw_end events chunk by chunk (a vector mask per chunk) and the
    trace's first and last timestamps."""

    def __init__(self):
        self.rows: list[np.ndarray] = []
        self.t0: int | None = None
        self.t1: int | None = None

    def add(self, chunk, lo: int, hi: int, has_stw: bool) -> None:
        """A chunk whose first and last timestamps are lo and hi and which has stw events or
        not (passes.chunk_facts: the driver's one pass over the chunk)."""
        if chunk.n == 0:
            return
        ts = chunk.ts
        self.t0 = lo if self.t0 is None else min(self.t0, lo)
        self.t1 = hi if self.t1 is None else max(self.t1, hi)
        if has_stw:
            m = (chunk.kind == F.STW_BEGIN) | (chunk.kind == F.STW_END)
            self.rows.append(np.stack([chunk.kind[m].astype(np.int64), ts[m].astype(np.int64),
                                       chunk.aux[m].astype(np.int64),
                                       chunk.size[m].astype(np.int64),
                                       chunk.id[m].astype(np.int64)], 1))

    def pauses(self) -> list[dict]:
        """Recorded pauses in time order: {kind, reason, start_ns, duration_ns, restart_ns,
        stopping_ns, stopping_cpu_ns, restart_known}: `duration_ns` the stw_begin..stw_end
        range, `restart_ns` until the world restarted, `stopping_ns` until it had stopped and
        `stopping_cpu_ns` the Ps' time stopped meanwhile, from the stw_end row
        (docs/trace-format.md), when it has figures a stop can have (`restart_known`); else
        the range, 0 and 0 (every P stopped throughout)."""
        if not self.rows:
            return []
        rows = np.concatenate(self.rows)
        out = []
        begin = None
        for k, t, aux, size, oid in rows.tolist():
            if k == F.STW_BEGIN:
                begin = (t, aux)
            elif begin is not None:
                reason = begin[1]
                d = t - begin[0]
                restart, stopping, cpu = oid, size, aux
                known = 0 < restart <= d and 0 <= stopping <= restart and 0 <= cpu
                if not known:  # not shown, or not a stop's figures
                    restart, stopping, cpu = d, 0, 0
                out.append({"kind": kind_of(reason),
                            "reason": (F.STW_REASONS[reason] if 0 <= reason < len(F.STW_REASONS)
                                       else f"reason {reason}"),
                            "start_ns": begin[0], "duration_ns": d, "restart_ns": restart,
                            "stopping_ns": stopping, "stopping_cpu_ns": cpu,
                            "restart_known": known})
                begin = None
        return out


def _pct(sorted_vals: list[int], q: float) -> int | None:
    n = len(sorted_vals)
    if n == 0:
        return None
    return sorted_vals[max(1, int(np.ceil(q * n))) - 1]


def stats(durations: list[int]) -> dict:
    v = sorted(int(d) for d in durations)
    return {"count": len(v), "total_ns": sum(v), "p50_ns": _pct(v, 0.5), "p90_ns": _pct(v, 0.9),
            "p99_ns": _pct(v, 0.99), "max_ns": v[-1] if v else None}


def _bucket_edges_ns() -> list[int]:
    """runtime timeHistogram bucket lower edges (Go 1.20+ histogram.go: min bucket bits 9,
    max 48, 2 sub-bucket bits), after the -Inf underflow bucket; the last is the overflow
    bucket's lower edge (its upper edge is +Inf)."""
    edges = [j << 6 for j in range(4)]
    for i in range(9, 48):
        edges += [(1 << (i - 1)) | (j << (i - 3)) for j in range(4)]
    edges.append(1 << 47)
    return edges


EDGES_NS = _bucket_edges_ns()


def histogram(durations: list[int]) -> dict:
    """{buckets, counts} as runtime/metrics' Float64Histogram for /sched/pauses/total/gc:seconds
    (bucket boundaries in seconds, len(buckets) = len(counts) + 1), trimmed to the buckets from
    the first to the last non-empty one (all others are empty); empty lists for no pauses."""
    if not durations:
        return {"buckets": [], "counts": []}
    edges = np.array(EDGES_NS, np.int64)
    idx = np.searchsorted(edges, np.array(durations, np.int64), side="right") - 1
    counts = np.bincount(idx, minlength=len(edges))
    nz = np.flatnonzero(counts)
    lo, hi = int(nz[0]), int(nz[-1])
    bounds = [e / 1e9 for e in EDGES_NS[lo:hi + 1]]
    bounds.append(EDGES_NS[hi + 1] / 1e9 if hi + 1 < len(EDGES_NS) else None)  # None: +Inf
    return {"buckets": bounds, "counts": [int(c) for c in counts[lo:hi + 1]]}


def calibrate(params: dict, recorded: list[dict], recorded_procs: int | None,
              overrides: dict | None) -> tuple[dict, dict]:
    """Fixed parts from the recorded medians (unless overridden). Returns (params, sources)."""
    out = dict(params)
    src = {k: ("override" if overrides and k in overrides else "default") for k in out}
    per_p = out["per-p"]
    for kind, key in (("sweep-termination", "sweep-term-fixed"),
                      ("mark-termination", "mark-term-fixed")):
        d = sorted(p["duration_ns"] for p in recorded if p["kind"] == kind)
        if d and not (overrides and key in overrides) and recorded_procs:
            out[key] = max(0, _pct(d, 0.5) - per_p * int(recorded_procs))
            src[key] = "calibrated"
    return out, src


# a GC stop whose STW range runs on this long past its world's restart had its stopping
# thread held (by the OS: the Ps' goroutines run meanwhile), the report says how often
HELD_AFTER_RESTART_NS = 100_000


def held_after_restart(recorded: list[dict]) -> dict:
    """The recorded GC stops whose range ran more than HELD_AFTER_RESTART_NS past their
    restart: {count, total_ns} of that time. startTheWorldWithSema takes the pause's time for
    the runtime's pause figures after it woke Ms for the Ps, so they count it; its GC pause
    CPU does not. On 2 CPUs with the tracer's thread beside the program's two Ps, 2-10 of
    36-106 stops, 0.7-4.2 ms each (the what-if programs, Go 1.23 and 1.27): a CPU-starved
    machine, not the GC's work."""
    late = [p["duration_ns"] - p["restart_ns"] for p in recorded
            if p["kind"] != "other" and p["restart_known"]]
    held = [d for d in late if d > HELD_AFTER_RESTART_NS]
    return {"count": len(held), "total_ns": sum(held)}


def at_procs(p: dict, rec_procs: int, procs: int, per_p: int) -> tuple[int, int]:
    """A recorded pause on `procs` Ps, (wall ns, GC pause CPU ns as the runtime counts it: the
    module's docstring): each less per_p x the recorded GOMAXPROCS plus per_p x `procs`
    (stopping and restarting each P); the time to stop and the Ps' time stopped meanwhile as
    they were, that CPU in proportion to the Ps."""
    s, cpu = p["stopping_ns"], p["stopping_cpu_ns"]
    if cpu > s * rec_procs:  # not a stop on rec_procs Ps (a hostile file): from the start
        s, cpu = 0, 0
    wall = max(0, p["duration_ns"] - per_p * rec_procs) + per_p * procs
    stopped = max(0, p["restart_ns"] - s - per_p * rec_procs) + per_p * procs
    return wall, cpu * procs // rec_procs + stopped * procs


def spread(k: int, cycles: int, pauses: int) -> int:
    """Which of `pauses` recorded pauses (in the recording's order) the k-th of `cycles`
    modelled ones takes: the one at rank (k + 1/2) x pauses / cycles, so each recorded pause
    serves cycles / pauses of them (one more or less) and the model's keep the recording's
    order (early cycles take early pauses)."""
    return min((2 * k + 1) * pauses // (2 * cycles), pauses - 1)


def attach(report, eng, header) -> None:
    """Fill report.pauses (goalloc.engine.replay calls it after a replay)."""
    col = eng.stw
    recorded = col.pauses()
    overrides = eng.config.pause_ns
    params, sources = calibrate(pause_params(overrides), recorded, header.gomaxprocs, overrides)
    procs = int(eng.procs)
    per_p = params["per-p"]
    use_recorded = report.gc_mode == "recorded" and any(p["kind"] != "other" for p in recorded)
    sw = [p for p in recorded if p["kind"] == "sweep-termination"]
    mk = [p for p in recorded if p["kind"] == "mark-termination"]
    sw_t = np.array([p["start_ns"] for p in sw], np.int64)
    mk_t = np.array([p["start_ns"] for p in mk], np.int64)

    rec_procs = int(header.gomaxprocs or procs)

    # cycles run one after another: only the last can be unended, so an ended cycle's index
    # is its rank among the ended ones
    n_cycles = len(report.cycles)
    n_ended = sum(1 for c in report.cycles if c.end_ts is not None)

    def model(kind_pauses, key, k, n):
        """The k-th of n modelled pauses of a kind, (wall ns, CPU ns): a recorded one (sources
        calibrated; `spread`), else the cost model's fixed part, every P stopped throughout."""
        if sources[key] == "calibrated":
            return at_procs(kind_pauses[spread(k, n, len(kind_pauses))], rec_procs, procs,
                            per_p)
        d = params[key] + per_p * procs
        return d, d * procs

    cycles = []
    gc_pauses: list[tuple[int, int]] = []  # (start, duration) of the cycles' pauses
    gc_cpu = 0
    for i, c in enumerate(report.cycles):
        nxt = report.cycles[i + 1].start_ts if i + 1 < len(report.cycles) else None
        a = c_ = None
        a_src = c_src = "modelled"
        if use_recorded:  # the recorded pauses as they were (no per-P cost moved)
            j = int(np.searchsorted(sw_t, c.start_ts, side="left"))
            if j < len(sw) and (c.end_ts is None or sw_t[j] < c.end_ts):
                (a, a_cpu), a_src, a_at = at_procs(sw[j], rec_procs, procs, 0), "recorded", \
                    int(sw_t[j])
            if c.end_ts is not None:
                j = int(np.searchsorted(mk_t, c.end_ts, side="left"))
                if j < len(mk) and (nxt is None or mk_t[j] < nxt):
                    (c_, c_cpu), c_src, c_at = at_procs(mk[j], rec_procs, procs, 0), \
                        "recorded", int(mk_t[j])
        if a is None:
            (a, a_cpu), a_at = model(sw, "sweep-term-fixed", i, n_cycles), int(c.start_ts)
        gc_pauses.append((a_at, a))
        cpu = a_cpu
        rec = {"n": c.n, "sweep_termination_ns": a, "sweep_termination_source": a_src}
        if c.end_ts is not None:
            if c_ is None:
                (c_, c_cpu), c_at = model(mk, "mark-term-fixed", i, n_ended), int(c.end_ts)
            gc_pauses.append((c_at, c_))
            cpu += c_cpu
            rec.update({"mark_termination_ns": c_, "mark_termination_source": c_src})
        else:
            rec.update({"mark_termination_ns": None, "mark_termination_source": None})
        rec["cpu_ns"] = cpu
        gc_cpu += cpu
        cycles.append(rec)
    t0 = col.t0 if col.t0 is not None else 0
    t1 = col.t1 if col.t1 is not None else 0
    gc_durs = [d for _, d in gc_pauses]
    report.pauses = {
        "source": "recorded" if use_recorded else "modelled",
        "model": {"ns": params, "sources": sources,
                  "formula": "fixed[kind] + per-p * GOMAXPROCS; a calibrated kind: a "
                             "recorded pause (spread evenly over the cycles) - per-p * recorded "
                             "GOMAXPROCS + per-p * GOMAXPROCS", "gomaxprocs": procs},
        "recorded": {
            "count": len(recorded),
            # until the worlds restarted: the STW ranges run on to the stopping M's STWDone,
            # after it woke Ms for the Ps (StwCollector.pauses)
            "restarts_total_ns": sum(p["restart_ns"] for p in recorded),
            # how many of them say when the world restarted (an older import: none)
            "restarts_known": sum(1 for p in recorded if p["restart_known"]),
            "held_after_restart": held_after_restart(recorded),
            "by_kind": {k: stats([p["duration_ns"] for p in recorded if p["kind"] == k])
                        for k in KINDS},
            "gc_histogram": histogram([p["duration_ns"] for p in recorded
                                       if p["kind"] != "other"]),
            "mmu": mmu_table([(p["start_ns"], p["duration_ns"]) for p in recorded
                              if p["kind"] != "other"], t0, t1) if recorded else None,
        },
        "cycles": cycles,
        "gc": {
            "by_kind": {
                "sweep-termination": stats([c["sweep_termination_ns"] for c in cycles]),
                "mark-termination": stats([c["mark_termination_ns"] for c in cycles
                                           if c["mark_termination_ns"] is not None]),
            },
            "all": stats(gc_durs),
            "cpu_ns": gc_cpu,
            "histogram": histogram(gc_durs),
            "mmu": mmu_table(gc_pauses, t0, t1),
        },
        "trace_span_ns": [t0, t1],
        "assists": "in gc_cpu (engine/mark.py); MMU counts stop-the-world pauses only",
    }
