"""Caveats of a replay: the conditions under which a figure the report prints means less than
it seems, each as one line, in the text report's `Caveats` section and the JSON's `caveats`
list (docs/json.md). A figure the trace cannot support is never printed bare: it carries its caveat, or is null.

Conditions, each with a stable `code`:

- `estimated-sizes`: the trace's requested sizes are the importer's estimates (a Go execution
  trace records no request: it is worked out from the type, or is the slot size when untyped),
  so rounding waste and everything built on live requested bytes is an estimate.
- `no-clock`: the trace has no real clock (timestamps about 1 ns apart: an importer stamped
  event order, as for glibc mtrace). Every time-based figure (pause durations, MMU, heap-lock
  waits) is withheld: the text shows counts and event indices, the JSON's time-based metrics
  are null.
- `mmu-windows`: MMU windows longer than the trace say nothing the shorter ones do not; they
  are left out of the text and null in the JSON.
- knobs outside what the trace supports: `gogc-recorded` (`--gc recorded`: the trace's GC
  markers start cycles, GOGC only sets the goal), `procs-beyond-trace` (the trace's P p runs on
  modelled P p mod N, so Ps beyond the trace's own add no concurrency), `memlimit-below-live`
  (a GOMEMLIMIT under the live heap: cycles back to back as far as the modelled GC CPU limiter
  lets them; rough).

Pure functions of a Report (and the trace header, the knobs' sources). No numba, no numpy.
"""

from __future__ import annotations

from goalloc.report.units import count, duration_ns, iec_bytes

# Below this many ns per event on average, timestamps are event order, not time: no allocator
# sustains an event per 2 ns, and importers without a clock stamp events 1 ns apart.
MIN_NS_PER_EVENT = 2.0
# Sentinel at and above which a goal means "none" (engine/state.py INF = 1 << 62).
NO_GOAL = 1 << 62

# runtime/metrics-style names whose value is a duration or rests on durations
TIME_METRIC_PREFIXES = ("/goalloc/gc/mmu/", "/goalloc/gc/pauses/", "/sched/pauses/",
                        "/cpu/classes/", "/gc/limiter/", "/goalloc/gc/cpu-fraction",
                        "/goalloc/gc/limiter/")
TIME_RATIO_SUFFIX = "/contended:ratio"  # heap-lock contention is modelled on the trace clock
ESTIMATED_METRICS = ("/goalloc/frag/rounding:bytes", "/goalloc/peak/frag/rounding:bytes",
                     "/goalloc/heap/live-requested:bytes", "/goalloc/frag/jw/*",
                     "/goalloc/sizeclass/*/frag:bytes", "/goalloc/sizeclass/*/frag-share:ratio")


def trace_span(report) -> tuple[int, int] | None:
    """(first, last) timestamp of the trace, ns, as the replay saw them."""
    p = getattr(report, "pauses", None) or {}
    span = p.get("trace_span_ns")
    if span and len(span) == 2:
        return int(span[0]), int(span[1])
    return None


def has_clock(report) -> bool:
    """False when the trace's timestamps are event order rather than time (see the module)."""
    span = trace_span(report)
    if span is None or report.events < 2:
        return True
    return (span[1] - span[0]) >= MIN_NS_PER_EVENT * (report.events - 1)


def mmu_windows_beyond(report) -> list[str]:
    """MMU windows (e.g. "1s") longer than the trace's time span."""
    from goalloc.engine.pauses import WINDOWS_NS

    span = trace_span(report)
    if span is None:
        return []
    length = span[1] - span[0]
    return [name for name, w in WINDOWS_NS.items() if w > length]


def withheld_metrics(report, names) -> set[str]:
    """Of `names`, the metrics whose values the trace cannot support (null in the JSON):
    every time-based one without a real clock, MMU windows longer than the trace."""
    out = set()
    if not has_clock(report):
        for n in names:
            if n.endswith(":seconds") or n.startswith(TIME_METRIC_PREFIXES) \
                    or n.endswith(TIME_RATIO_SUFFIX):
                out.add(n)
        return out
    for w in mmu_windows_beyond(report):
        out |= {n for n in names if n.startswith("/goalloc/gc/mmu/") and n.endswith(f"/{w}:ratio")}
    return out


def goal_text(goal: int | None) -> str:
    """A heap goal as text: the sentinel of GOGC=off (no goal) is never printed as a size."""
    if goal is None or goal >= NO_GOAL:
        return "none"
    return iec_bytes(goal)


def caveats(report, header: dict | None = None, sources: dict | None = None) -> list[dict]:
    """[{code, text, metrics}] for every condition of the module docstring that holds; `text`
    is one line; `metrics` the metric names (globs) it touches."""
    header = header or {}
    sources = sources or {}
    out = []

    def add(code, text, metrics=()):
        out.append({"code": code, "text": text, "metrics": list(metrics)})

    est = report.estimated_sizes or 0
    allocs = report.mallocs or 0
    if est:
        share = f"{100 * est / allocs:.0f}% of" if allocs else ""
        add("estimated-sizes",
            f"requested sizes are estimates for {share} {count(est)} allocations (the trace "
            "records no request: from the type, or the slot size when untyped): rounding waste, "
            "live requested bytes, J&W ratios and per-class frag rest on them; rounding waste "
            "is largely an artefact, and table comparisons lean toward Go's table",
            ESTIMATED_METRICS)
    span = trace_span(report)
    if not has_clock(report):
        length = 0 if span is None else span[1] - span[0]
        add("no-clock",
            f"the trace has no real clock ({count(report.events)} events in {duration_ns(length)}:"
            " timestamps are event order): pause durations, MMU, GC CPU and heap-lock waits are "
            "not shown (null in JSON); GC cycles are placed by event",
            ("/goalloc/gc/mmu/*", "/goalloc/gc/pauses/*", "/sched/pauses/total/gc:seconds",
             "/goalloc/lock/*:seconds", "/sync/mutex/wait/total:seconds", "/cpu/classes/*",
             "/gc/limiter/*", "/goalloc/gc/cpu-fraction:ratio", "/goalloc/gc/limiter/*"))
    else:
        beyond = mmu_windows_beyond(report)
        if beyond and span is not None:
            add("mmu-windows",
                f"MMU windows {', '.join(beyond)} are longer than the trace "
                f"({duration_ns(span[1] - span[0])}): omitted (null in JSON)",
                [f"/goalloc/gc/mmu/*{w}:ratio" for w in beyond])
    gogc_src = sources.get("gogc")
    if report.gc_mode == "recorded" and gogc_src in ("flag", "env"):
        from goalloc.report.knobs import format_gogc

        add("gogc-recorded",
            f"GOGC {format_gogc(report.gogc)} ({gogc_src}) does not start cycles with --gc "
            "recorded (the trace's GC markers do); it only sets the goal column",
            ("/gc/heap/goal:bytes",))
    recorded = header.get("gomaxprocs")
    if recorded and report.procs > recorded:
        add("procs-beyond-trace",
            f"GOMAXPROCS {report.procs} modelled on a {recorded}-P trace: the trace's P p runs "
            f"on modelled P p mod {report.procs}, so Ps {recorded}-{report.procs - 1} stay idle "
            "and add no concurrency (caches and lock waits are those of "
            f"{recorded} Ps)", ("/goalloc/lock/*",))
    if report.memlimit is not None and report.cycles:
        live = max(c.marked for c in report.cycles)
        if report.memlimit < live:
            done = sum(1 for c in report.cycles if c.end_event is not None)
            add("memlimit-below-live",
                f"GOMEMLIMIT {iec_bytes(report.memlimit)} is below the live heap (marked up to "
                f"{iec_bytes(live)}): the goal is the live heap and cycles run back to back "
                f"({count(done)} cycles) as far as the modelled GC CPU limiter lets them; "
                "the model's assists park rather than scan, share one debt for all "
                "goroutines, and idle Ps are not modelled, and its clock leaves out the "
                "allocating goroutines' scavenging and page faults on released memory, so "
                "its span is short and its GC CPU share high (docs/model.md, \"Where the "
                "time goes below the live heap\"): cycle counts, GC CPU, pauses and MMU "
                "are rough",
                ("/gc/cycles/*", "/goalloc/gc/*", "/sched/pauses/total/gc:seconds"))
    return out


def render(items: list[dict], console) -> None:
    """The text report's `Caveats` section: one line each (nothing when there are none)."""
    if not items:
        return
    console.print("[bold]Caveats[/bold]")
    for c in items:
        console.print(f"  ! {c['text']}", soft_wrap=True, highlight=False)
