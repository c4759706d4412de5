"""A replay Report's figures as runtime/metrics-style {name, unit, value} records: the one
place that names them. Names are the runtime's exact runtime/metrics names where the meaning is
the same, goalloc's own under /goalloc/ (docs/json.md lists them). Every value is a figure the
engine computed (engine/readout.py); nothing here re-derives one. No numba, no numpy.
"""

from __future__ import annotations

import math

from goalloc.report.knobs import gogc_metric, memlimit_metric

PAGE_SIZE = 8192


def unit_of(name: str) -> str:
    """The unit of a runtime/metrics-style name: the text after the last ':'."""
    return name.rsplit(":", 1)[1] if ":" in name else ""


# -- per size class ---------------------------------------------------------------------------


def class_label(c) -> str:
    """`1`, `1-noscan`, `0` (large spans): the span-class spelling the metric names use."""
    return f"{c.size_class}{'-noscan' if c.noscan else ''}"


def class_slots(c) -> int:
    """Slots in the class's in-use spans (nelems summed): a large span is one slot."""
    if not c.slot_size:
        return c.spans
    return (c.pages * PAGE_SIZE - c.tail) // c.slot_size


# -- whole-report metrics ---------------------------------------------------------------------


def jw_measures(report) -> dict[str, float | None]:
    """Johnstone & Wilson's whole-run measures (L live requested bytes, H held bytes), as the
    engine worked them out from its peaks."""
    return {
        "h_over_l_at_peak_live": report.jw_h_over_l_at_peak_live,
        "h_over_l_at_peak_held": report.jw_h_over_l_at_peak_held,
        "max_h_over_max_l": report.jw_max_h_over_max_l,
    }


def peak_inuse_sampled(report) -> int | None:
    """The largest in-use span bytes (objects + unused) among the timeline's samples: about
    200 evenly spaced, every mark start and mark termination (where a cycle's heap is
    largest) and the end. A gate that moves smoothly: the peak of held memory sits on the
    heap's 4 MiB mappings, this one moves with every span (docs/ci.md). None without a
    timeline."""
    tl = report.timeline or []
    vals = [s.objects + s.unused for s in tl if hasattr(s, "objects")]
    return max(vals) if vals else None


def _frag(prefix: str, f) -> dict:
    if f is None:
        return {}
    return {
        f"{prefix}/frag/rounding:bytes": f.rounding,
        f"{prefix}/frag/tail:bytes": f.tail,
        f"{prefix}/frag/free-slots:bytes": f.free_slots,
        f"{prefix}/frag/dead-unswept:bytes": f.dead_unswept,
        f"{prefix}/frag/free-pages:bytes": f.free_pages,
        f"{prefix}/frag/released-pages:bytes": f.released_pages,
    }


def gc_cpu_metrics(report) -> dict:
    """GC CPU time by runtime/metrics class and the limiter (the report's gc_cpu section)."""
    g = report.gc_cpu
    if not g:
        return {}
    return {
        "/cpu/classes/gc/mark/assist:cpu-seconds": g["mark_assist_ns"] / 1e9,
        "/cpu/classes/gc/mark/dedicated:cpu-seconds": g["mark_dedicated_ns"] / 1e9,
        "/cpu/classes/gc/pause:cpu-seconds": g["pause_ns"] / 1e9,
        "/cpu/classes/gc/total:cpu-seconds": g["gc_total_ns"] / 1e9,
        "/cpu/classes/total:cpu-seconds": g["total_cpu_ns"] / 1e9,
        "/gc/limiter/last-enabled:gc-cycle": g["limiter"]["last_enabled_cycle"],
        "/goalloc/gc/cpu-fraction:ratio": g["fraction"],
        "/goalloc/gc/limiter/enabled:seconds": g["limiter"]["enabled_ns"] / 1e9,
    }


def scavenge_cpu_metrics(report) -> dict:
    """The scavenger's modelled work as runtime/metrics CPU classes (the report's scavenge
    section, #20)."""
    sc = report.scavenge
    if not sc:
        return {}
    return {"/cpu/classes/scavenge/background:cpu-seconds": sc["background_ns"] / 1e9,
            "/cpu/classes/scavenge/assist:cpu-seconds": sc["assist_ns"] / 1e9}


def _heap_metrics(report) -> dict:
    """The heap's memory classes at the end, its cycles and counters, the sweeper's and the
    scavenger's work (runtime/metrics names where the meaning is the same)."""
    done = [c for c in report.cycles if c.end_event is not None]
    m = {
        "/memory/classes/heap/objects:bytes": report.end.objects,
        "/memory/classes/heap/unused:bytes": report.end.unused,
        "/memory/classes/heap/free:bytes": report.end.free,
        "/memory/classes/heap/released:bytes": report.end.released,
        "/goalloc/memory/classes/heap/total:bytes": report.end.total,
        "/gc/cycles/total:gc-cycles": len(done),
        "/gc/cycles/automatic:gc-cycles": len([c for c in done if c.kind != "forced"]),
        "/gc/cycles/forced:gc-cycles": len([c for c in done if c.kind == "forced"]),
        "/goalloc/gc/cycles/periodic:gc-cycles": report.periodic_cycles,
        "/goalloc/gc/cons-mark:ratio": report.cons_mark,
        "/gc/heap/goal:bytes": report.heap_goal,
        "/gc/heap/allocs:objects": report.mallocs - report.tiny_allocs,  # tiny excluded
        "/gc/heap/allocs:bytes": report.alloc_bytes,
        "/gc/heap/frees:objects": report.frees,
        "/gc/heap/frees:bytes": report.freed_bytes,
        "/gc/heap/live:bytes": report.heap_marked,
        "/gc/heap/tiny/allocs:objects": report.tiny_allocs,
        "/goalloc/heap/spans:count": report.spans_in_use,
        "/goalloc/heap/live-requested:bytes": report.live_requested,
        "/goalloc/heap/mapped:bytes": report.mapped_bytes,
        "/goalloc/heap/reserved:bytes": report.reserved_bytes,
        "/goalloc/trace/events:count": report.events,
        "/goalloc/trace/frees:objects": report.deaths,
        "/goalloc/sweep/background:spans": report.spans_swept_background,
        "/goalloc/sweep/proportional:spans": report.spans_swept_proportional,
        "/goalloc/sweep/reclaim:spans": report.spans_reclaimed,
        "/goalloc/scavenge/background:bytes": report.released_background_bytes,
        "/goalloc/scavenge/eager:bytes": report.released_eager_bytes,
    }
    if report.peak is not None:
        for name in ("objects", "unused", "free", "released", "total"):
            m[f"/goalloc/peak/memory/classes/heap/{name}:bytes"] = getattr(report.peak, name)
    inuse = peak_inuse_sampled(report)
    if inuse is not None:
        m["/goalloc/peak/heap/inuse-sampled:bytes"] = inuse
    return m


def _jw_metrics(report) -> dict:
    """Johnstone & Wilson's peaks and ratios."""
    jw = jw_measures(report)
    return {
        "/goalloc/frag/jw/peak-live:bytes": report.peak_live,
        "/goalloc/frag/jw/held-at-peak-live:bytes": report.held_at_peak_live,
        "/goalloc/frag/jw/peak-held:bytes": report.peak_held,
        "/goalloc/frag/jw/live-at-peak-held:bytes": report.live_at_peak_held,
        "/goalloc/frag/jw/h-over-l-at-peak-live:ratio": jw["h_over_l_at_peak_live"],
        "/goalloc/frag/jw/h-over-l-at-peak-held:ratio": jw["h_over_l_at_peak_held"],
        "/goalloc/frag/jw/max-h-over-max-l:ratio": jw["max_h_over_max_l"],
    }


def _class_metrics(report) -> dict:
    """Per size class: the engine's figures under /goalloc/sizeclass/<label>/."""
    m = {}
    for c in report.classes:
        base = f"/goalloc/sizeclass/{class_label(c)}"
        m[base + "/spans:count"] = c.spans
        m[base + "/objects:objects"] = c.allocated_slots
        m[base + "/held:bytes"] = c.bytes_held
        m[base + "/utilisation:ratio"] = c.util_mean
        m[base + "/utilisation-at-peak:ratio"] = c.util_mean_at_peak
        m[base + "/frag:bytes"] = c.frag_bytes
        m[base + "/frag-share:ratio"] = c.frag_share
    return m


def metric_values(report) -> dict[str, int | float | None]:
    """Every metric name -> value: the one place a Report's figures get their names."""
    from goalloc.report.locks import lock_metrics
    from goalloc.report.pauses import pause_metrics

    m: dict[str, int | float | None] = {
        "/gc/gogc:percent": gogc_metric(report.gogc),
        "/gc/gomemlimit:bytes": memlimit_metric(report.memlimit),
        "/sched/gomaxprocs:threads": report.procs,
    }
    parts = (_heap_metrics(report), _frag("/goalloc", report.end_frag),
             _frag("/goalloc/peak", report.peak_frag), _jw_metrics(report),
             lock_metrics(report),  # issue #6
             pause_metrics(report), gc_cpu_metrics(report),  # issue #15
             scavenge_cpu_metrics(report),  # issue #20
             _class_metrics(report))
    for part in parts:
        shared = m.keys() & part.keys()
        if shared:  # a name has one author
            raise ValueError(f"metric names defined twice: {sorted(shared)}")
        m.update(part)
    # figures the trace cannot support (no real clock, MMU windows beyond the trace): null
    from goalloc.report.caveats import withheld_metrics

    for name in withheld_metrics(report, list(m)):
        m[name] = None
    return m


def clean(value):
    """A JSON-safe, reproducible scalar: numpy scalars to Python, non-finite floats to None,
    floats rounded to 12 significant digits (repr of the rounded value is then stable)."""
    if value is None or isinstance(value, bool | str):
        return value
    if hasattr(value, "item") and not isinstance(value, int | float):
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value == int(value) and abs(value) < 2**53:
            return float(int(value))
        return float(f"{value:.12g}")
    return value


def metric_records(report) -> list[dict]:
    """[{name, unit, value}, ...] sorted by name."""
    return [
        {"name": name, "unit": unit_of(name), "value": clean(value)}
        for name, value in sorted(metric_values(report).items())
    ]
