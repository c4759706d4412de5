"""A replay Report's figures as runtime/metrics-style {name, unit, value} records, plus the
derived per-class figures (slot utilisation, fragmentation bytes and share) the text and JSON reports both show.

Names are the runtime's exact runtime/metrics names where the meaning is the same, goalloc's
own under /goalloc/ (docs/json.md lists them). The engine's `Report.metrics()` is the base; names it defines keep its
values, and the figures below fill in only names the engine lacks (or leaves None), so metrics
the engine adds later flow through. No numba, no numpy.
"""

from __future__ import annotations

import math

from goalloc.report.knobs import gogc_metric, memlimit_metric

PAGE_SIZE = 8192


def unit_of(name: str) -> str:
    """The unit of a runtime/metrics-style name: the text after the last ':'."""
    return name.rsplit(":", 1)[1] if ":" in name else ""


def ratio(num: int | float | None, den: int | float | None) -> float | None:
    if num is None or not den:
        return None
    return num / den


# -- per size class ---------------------------------------------------------------------------


def class_label(c) -> str:
    """`1`, `1-noscan`, `0` (large spans): the span-class spelling the metric names use."""
    return f"{c.size_class}{'-noscan' if c.noscan else ''}"


def class_slots(c) -> int:
    """Slots in the class's in-use spans (nelems summed): a large span is one slot."""
    if not c.slot_size:
        return c.spans
    return (c.pages * PAGE_SIZE - c.tail) // c.slot_size


def class_utilisation(c) -> float | None:
    """Mean slot utilisation of the class's in-use spans: live slots / slots per span (the
    engine's `util_mean` when it provides one; with equal spans the two are the same)."""
    v = c.util_mean
    if v is not None:
        return v
    return ratio(c.live_slots, class_slots(c))


def class_frag(c) -> int:
    """Bytes the class holds beyond its live objects' sizes (requested sizes where the trace
    has them): rounding + span tail + free slots + dead unswept slots (the engine's
    `frag_bytes` when it ranked the classes)."""
    if c.frag_rank:
        return c.frag_bytes
    return max(0, c.bytes_held - c.live_requested)


def class_frag_share(c, total: int) -> float | None:
    if c.frag_rank and c.frag_share is not None:
        return c.frag_share
    return ratio(class_frag(c), total)


def ranked_classes(report) -> list:
    """The report's classes, worst for fragmentation first (the engine's ranking if it has one)."""
    classes = list(report.classes)
    if classes and all(c.frag_rank for c in classes):
        return sorted(classes, key=lambda c: c.frag_rank)
    return sorted(classes, key=lambda c: (-class_frag(c), c.size_class, c.noscan))


# -- whole-report metrics ---------------------------------------------------------------------


def jw_measures(report) -> dict[str, float | None]:
    """Johnstone & Wilson's whole-run measures (L live requested bytes, H held bytes): the
    engine's `jw_*` figures when it has them, else worked out from its peaks."""
    computed = {
        "h_over_l_at_peak_live": ratio(report.held_at_peak_live, report.peak_live),
        "h_over_l_at_peak_held": ratio(report.peak_held, report.live_at_peak_held),
        "max_h_over_max_l": ratio(report.peak_held, report.peak_live),
    }
    out = {}
    for key, value in computed.items():
        engine = getattr(report, "jw_" + key, None)
        out[key] = engine if engine is not None else value
    return out


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


def metric_values(report) -> dict[str, int | float | None]:
    """Every metric name -> value (the engine's names first, goalloc's additions after)."""
    m: dict[str, int | float | None] = dict(report.metrics())
    add = {
        "/gc/gogc:percent": gogc_metric(report.gogc),
        "/gc/gomemlimit:bytes": memlimit_metric(report.memlimit),
        "/sched/gomaxprocs:threads": report.procs,
        "/gc/heap/allocs:objects": report.mallocs - report.tiny_allocs,
        "/goalloc/trace/events:count": report.events,
        "/goalloc/trace/frees:objects": report.deaths,
        "/goalloc/heap/live-requested:bytes": report.live_requested,
        "/goalloc/heap/mapped:bytes": report.mapped_bytes,
        "/goalloc/heap/reserved:bytes": report.reserved_bytes,
        "/goalloc/frag/jw/peak-live:bytes": report.peak_live,
        "/goalloc/frag/jw/held-at-peak-live:bytes": report.held_at_peak_live,
        "/goalloc/frag/jw/peak-held:bytes": report.peak_held,
        "/goalloc/frag/jw/live-at-peak-held:bytes": report.live_at_peak_held,
    }
    jw = jw_measures(report)
    add["/goalloc/frag/jw/h-over-l-at-peak-live:ratio"] = jw["h_over_l_at_peak_live"]
    add["/goalloc/frag/jw/h-over-l-at-peak-held:ratio"] = jw["h_over_l_at_peak_held"]
    add["/goalloc/frag/jw/max-h-over-max-l:ratio"] = jw["max_h_over_max_l"]
    if report.end is not None:
        add["/goalloc/memory/classes/heap/total:bytes"] = report.end.total
    if report.peak is not None:
        p = report.peak
        add.update({
            "/goalloc/peak/memory/classes/heap/objects:bytes": p.objects,
            "/goalloc/peak/memory/classes/heap/unused:bytes": p.unused,
            "/goalloc/peak/memory/classes/heap/free:bytes": p.free,
            "/goalloc/peak/memory/classes/heap/released:bytes": p.released,
            "/goalloc/peak/memory/classes/heap/total:bytes": p.total,
        })
    inuse = peak_inuse_sampled(report)
    if inuse is not None:
        add["/goalloc/peak/heap/inuse-sampled:bytes"] = inuse
    add.update(_frag("/goalloc", report.end_frag))
    add.update(_frag("/goalloc/peak", report.peak_frag))
    from goalloc.report.locks import lock_metrics
    from goalloc.report.pauses import pause_metrics

    add.update(lock_metrics(report))  # issue #6
    add.update(pause_metrics(report))
    add.update(gc_cpu_metrics(report))  # issue #15
    add.update(scavenge_cpu_metrics(report))  # issue #20
    for name, value in add.items():
        if m.get(name) is None:  # the engine's figure wins where it has one
            m[name] = value
    # figures the trace cannot support (no real clock, MMU windows beyond the trace): null
    from goalloc.report.caveats import withheld_metrics

    for name in withheld_metrics(report, list(m)):
        m[name] = None
    # per class: class_frag & co. already take the engine's figures when it computed them
    total_frag = sum(class_frag(c) for c in report.classes)
    for c in report.classes:
        label = class_label(c)
        m[f"/goalloc/sizeclass/{label}/objects:objects"] = c.allocated_slots
        m[f"/goalloc/sizeclass/{label}/held:bytes"] = c.bytes_held
        m[f"/goalloc/sizeclass/{label}/frag:bytes"] = class_frag(c)
        m[f"/goalloc/sizeclass/{label}/frag-share:ratio"] = class_frag_share(c, total_frag)
        m[f"/goalloc/sizeclass/{label}/utilisation:ratio"] = class_utilisation(c)
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
