"""What-if ranges from the trace's own uncertainty (#15). A Go execution trace says when an
object was freed (swept), not when it died: only that it died between the mark starts around
the cycle that swept it. A pacer-mode replay puts each death inside that interval where
Config.death_time says (the central answer: engine/lifetimes.py cohort_rule); replaying
with every death at the earliest and at the latest admissible point gives the range the trace
leaves open. Each what-if figure (cycles, peak in-use, mean heap goal, GC CPU) is reported as
central value plus [low, high] over the three replays; text, JSON and CI gates use the
central value.

Warnings (Report.warnings): one line each where a knob takes the model where the trace cannot
say much: GOGC=off with no limit (no cycle but forced
ones), and a long tail after the trace's last recorded GC (objects that died there were never
swept while tracing: the model keeps them live, an upper bound on the heap there, or with
Config.tail_deaths "placed" places the deaths of those its first-cycle lifetimes say die
young). A limit below the live heap is the report's caveat `memlimit-below-live`
(report/caveats.py). The
peak in-use figure stops where the trace stops reporting deaths (deaths_known_until): past it
the model's heap only climbs, and that alone would set the peak of a low goal.

Traces whose frees are deaths (explicit frees: C traces, synthetic traces) have no such
uncertainty and get no range; neither does a recorded-mode replay (the recording's own cycles
decide what is marked).

Mark speeds: the runtime's marks differ in speed from one to the next (when fractional workers
get a P, how much the assists do, idle Ps), and a heap that grows during a slow mark sets a
higher goal for the rest of the run, so one run's figures are one draw and real runs spread
(docs/model.md, "What-if validation"). The central replay runs every mark at the recording's
pooled rate; with `mark_speed_samples` k, k more replays run each mark at the speed of one of
the recording's own marks (Config.mark_speed_seed 1..k), and speed_range gives each figure's
mean over them (what the mean of real runs estimates) and their range.
"""

from __future__ import annotations

import dataclasses
import statistics

from goalloc.engine import mark

FIGURES = ("cycles", "peak_inuse", "mean_goal", "gc_cpu")


def figures(report) -> dict:
    """The what-if figures of one replay: completed cycles, peak in-use heap (objects +
    unused, over the timeline up to where the trace reports every death: peak_inuse), the
    mean heap goal as gctrace prints it (each completed cycle's heapGoal() at its endCycle,
    lastHeapGoal: under a memory limit the goal moves during the mark), GC CPU fraction."""
    done = [c for c in report.cycles if c.end_event is not None]
    goals = [c.goal_at_end for c in done if c.goal_at_end is not None]
    return {
        "cycles": len(done),
        "peak_inuse": peak_inuse(report),
        "mean_goal": statistics.fmean(goals) if goals else None,
        "gc_cpu": (report.gc_cpu or {}).get("fraction"),
    }


def peak_inuse(report) -> int:
    """The largest in-use heap (objects + unused) among the timeline's samples up to
    Report.deaths_known_until_event (all of them when it is None). Past it the trace has not
    reported every death, the model keeps those objects live and its heap only climbs: an
    upper bound there (docs/model.md 2d), which under a low goal or a memory limit would be
    the peak by itself."""
    until = report.deaths_known_until_event
    return max((s.objects + s.unused for s in report.timeline
                if until is None or s.event <= until), default=0)


def deaths_known_until(prev_gc_start: int, last_gc_start: int, forced: bool) -> int | None:
    """The event index up to which a trace whose frees are sweeps reports every death, from
    its last two gc_starts (-1: none) and whether the last was a runtime.GC(). An object
    dead at gc_start k is freed by cycle k's sweep, which ends before gc_start k + 1
    (gcStart finishes it first), so every death before the last gc_start but one was
    reported; a runtime.GC() sweeps the whole heap before it returns, so when the last
    cycle was one, every death before its gc_start was. None: not one cycle's sweep seen
    whole."""
    until = last_gc_start if forced else prev_gc_start
    return until if until >= 0 else None


def applies(report, config) -> bool:
    """A range exists: pacer mode on a trace whose deaths were placed in intervals."""
    rr = report.recorded_replay or {}
    return config.gc_mode == "pacer" and bool(rr.get("frees_moved_before_mark_start"))


def death_range(central, others) -> dict:
    """{figure: {"central", "low", "high"}} over the central replay and the others."""
    out = {}
    c = figures(central)
    vals = [figures(r) for r in others]
    for k in FIGURES:
        v = [x[k] for x in vals + [c] if x[k] is not None]
        out[k] = {"central": c[k], "low": min(v) if v else None, "high": max(v) if v else None}
    return out


def bound_configs(config, central) -> list:
    """The configs of the two extra replays: deaths early and late, with the central
    replay's scan rate (so each does not measure it again)."""
    rate = (central.scan_rate or {}).get("bytes_per_s")
    base = dataclasses.replace(config, scan_rate=rate if rate else config.scan_rate)
    return [dataclasses.replace(base, death_time=d) for d in ("early", "late")]


def speed_configs(config, central, samples: int) -> list:
    """The configs of the mark-speed samples: seeds 1..samples, with the central replay's
    measured rate and marks' speeds (so each does not measure them again)."""
    rate = (central.scan_rate or {}).get("bytes_per_s")
    speeds = tuple((central.scan_rate or {}).get("mark_speeds") or ()) or None
    return [dataclasses.replace(config, scan_rate=rate, mark_speeds=speeds, mark_speed_seed=k)
            for k in range(1, samples + 1)]


def speed_applies(central, config) -> bool:
    """Samples have speeds to draw: a pacer replay whose rate the recording's marks gave."""
    return (config.gc_mode == "pacer" and config.mark_speed_seed == 0
            and bool((central.scan_rate or {}).get("mark_speeds")))


def speed_range(samples) -> dict:
    """{figure: {"mean", "low", "high"}} over the mark-speed samples' replays, and
    "samples": how many (a figure none of them has is None throughout)."""
    out: dict = {"samples": len(samples)}
    vals = [figures(r) for r in samples]
    for k in FIGURES:
        v = [x[k] for x in vals if x[k] is not None]
        out[k] = ({"mean": statistics.fmean(v), "low": min(v), "high": max(v)} if v else
                  {"mean": None, "low": None, "high": None})
    return out


TAIL_WARN_SHARE = 0.2  # warn when more than this share of the events follow the last GC
# warn when the model's cycles past the last reported death come at more than this many times
# their rate before it (per event), and there are at least TAIL_CYCLES_MIN of them
TAIL_RATE_FACTOR = 2.0
TAIL_CYCLES_MIN = 3


def tail(chunks_gc_start_last: int, events: int) -> float:
    """Share of the trace's events after its last recorded gc_start (1.0: none recorded)."""
    if events <= 0:
        return 0.0
    return (events - chunks_gc_start_last - 1) / events if chunks_gc_start_last >= 0 else 1.0


def _tail_treatment(config) -> str:
    """How the replay treats the objects the trace never saw freed (Config.tail_deaths), as
    the warnings say it."""
    if config.places_tail():
        return ("places the deaths of those the trace's first-cycle lifetimes say die young "
                "and keeps the rest live")
    return "keeps them live (an upper bound on the heap there)"


def tail_cycles(cycles_started: list[int], known_until: int | None,
                events: int) -> tuple[int, float]:
    """(cycles started past event `known_until`, how many times their rate per event is the
    rate before it) for a pacer replay whose trace reports deaths only up to there
    (deaths_known_until); (0, 0.0) when it reports all, or no event or cycle is on a side."""
    if known_until is None or events <= known_until + 1:
        return 0, 0.0
    after = sum(1 for e in cycles_started if e > known_until)
    before = len(cycles_started) - after
    if after == 0:
        return 0, 0.0
    if before == 0:
        return after, float("inf")
    return after, (after / (events - 1 - known_until)) / (before / (known_until + 1))


def oversubscribed(report) -> bool:
    """The recorded program had more Ps than CPUs (`goalloc record` notes the CPUs)."""
    return (report.recording_cpus is not None and report.recorded_procs is not None
            and report.recorded_procs > report.recording_cpus)


def warnings(report, config, tail_share: float | None,
             scheduling_known: bool = True, *, events: int) -> list[str]:
    """The one-line warnings of a replay (docs/json.md `warnings`); `scheduling_known`: the
    trace's header gives the goroutines' scheduling (source.scheduling, Go importer);
    `events`: the trace's (for the cycles past the last reported death)."""
    out = []
    if config.gc_mode == "pacer" and config.gogc is None and config.memlimit is None:
        out.append("GOGC=off with no memory limit: the model runs no cycle but forced ones, "
                   "so the heap only grows")
    if (config.gc_mode == "pacer" and report.green_tea
            and report.packed_span_scan_source.startswith("default")):
        out.append("the trace does not say whether the recording CPU ran Green Tea's packed "
                   "span scan (amd64 with AVX-512): the model assumes not; with it the "
                   "runtime's growing heaps overshoot their goal further and run fewer cycles "
                   "(--packed-span-scan; `goalloc record` notes it)")
    if (config.gc_mode == "pacer" and report.packed_span_scan and not scheduling_known
            and config.mark_end_wait_ns is None and report.free_semantics == "sweep"
            and mark.dedicated_workers(report.procs) == 0):
        out.append("the trace's header does not give the goroutines' scheduling (imported "
                   "before goalloc read it): without a dedicated mark worker the runtime's "
                   "marks past maxScanWork wait for a P's scheduler pass to end, the model's "
                   "end when their work is done, so it runs more cycles; import the raw trace "
                   "again (docs/model.md, \"Pacer mode, Green Tea's scan work\")")
    if config.gc_mode == "pacer" and oversubscribed(report):
        out.append(f"the recording ran GOMAXPROCS={report.recorded_procs} on "
                   f"{report.recording_cpus} CPU{'s' if report.recording_cpus > 1 else ''}: "
                   "the OS time-slices the Ps, so the runtime's marks outlast their work and "
                   "its heap overshoots the goal; the model has no OS scheduler and runs more "
                   "cycles (+10% measured at 4 Ps on 2 CPUs; docs/model.md)")
    if (tail_share is not None and tail_share > TAIL_WARN_SHARE
            and report.free_semantics == "sweep"):
        out.append(f"{tail_share:.0%} of the trace's events follow its last recorded GC: "
                   "objects that died there were never swept while tracing, so the model "
                   f"{_tail_treatment(config)}; end the recording with runtime.GC() to see "
                   "them (docs/importers.md)")
    until = report.deaths_known_until_event
    if config.gc_mode == "pacer" and report.free_semantics == "sweep":
        after, ratio = tail_cycles([c.start_event for c in report.cycles], until, events)
        if after >= TAIL_CYCLES_MIN and ratio > TAIL_RATE_FACTOR:
            rate = "" if ratio == float("inf") else f" at {ratio:.1f}x the rate before it"
            out.append(f"{after} of the model's {len(report.cycles)} cycles start past event "
                       f"{until:,}, after which the trace reports no deaths "
                       f"({(events - 1 - until) / events:.0%} of its events): the model "
                       f"{_tail_treatment(config)}, and that ran cycles there{rate}: the cycle "
                       "count and GC CPU hold that excess (docs/model.md 2d)")
    return out
