"""Rendering of `goalloc replay`: a replay Report as rich text, as versioned JSON
(docs/json.md) and its timeline as CSV. Everything takes a Report and returns text or dicts,
so the library and later commands (`goalloc compare`) reuse it without the CLI.

    report = goalloc.replay("t.msgpack", Config(gogc=50))
    text = to_json(report, "t.msgpack", Config(gogc=50))
    render(report, rich.console.Console())

No numba here; rich is imported only by `render`.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import os

from goalloc.report import caveats as CV
from goalloc.report import jsontext
from goalloc.report import metrics as M
from goalloc.report.gctrace import gctrace_lines
from goalloc.report.knobs import format_gogc, format_memlimit
from goalloc.report.layout import plain_table, print_table
from goalloc.report.units import count, duration_ns, iec_bytes

SCHEMA = "goalloc-replay/1"
TOP_CLASSES = 15  # size classes shown in the text report
CYCLE_ENDS = 5  # with more than 2*CYCLE_ENDS cycles, show the first and last few

# Report fields placed in named JSON sections; any other field (the engine adds them over
# time) is copied as it is under its own name, except the timeline (--timeline writes it).
_PLACED = {
    "trace", "go_version", "table", "gogc", "memlimit", "procs", "gc_mode", "free_semantics",
    "sizes", "events", "cycles", "end", "peak", "peak_event", "end_frag", "peak_frag", "classes",
    "spans_in_use", "heap_live", "heap_marked", "heap_goal", "mallocs", "tiny_allocs", "frees",
    "deaths", "alloc_bytes", "live_requested", "peak_live", "held_at_peak_live", "peak_held",
    "live_at_peak_held", "mapped_bytes", "reserved_bytes",
}
_NOT_IN_JSON = {"timeline", "attribution"}
_KNOB_FIELDS = {"go_version", "table", "gogc", "memlimit", "procs", "gc_mode"}


# -- JSON ---------------------------------------------------------------------------------------


def file_sha256(path: str | os.PathLike) -> str:
    """The file's sha256, hashed once per file version in a process: a grid replays one trace
    under many configurations (a 28 MB trace takes ~16 ms to hash, each time)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _DIGESTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        if len(_DIGESTS) >= 64:
            _DIGESTS.clear()
        _DIGESTS[key] = digest
    return digest


_DIGESTS: dict = {}  # (path, size, mtime, inode) -> sha256 (threads may both hash a new file)


def trace_header_map(path: str | os.PathLike) -> dict:
    from goalloc.trace.reader import TraceReader

    with TraceReader(path) as r:
        return r.header.to_map()


def effective_config(report, header: dict | None = None, config=None,
                     sources: dict | None = None) -> dict:
    """The configuration the replay ran with (what the report header echoes)."""
    header = header or {}
    cfg = {
        "go_version": report.go_version,
        "go_version_source": report.go_version_source,
        "span_layout": {"green_tea": report.green_tea,
                        "source": report.green_tea_source,
                        **({"packed_span_scan": report.packed_span_scan,
                            "packed_span_scan_source": report.packed_span_scan_source}
                           if report.green_tea else {})},
        **({"heap_base_padding_pages": report.heap_base_padding_pages}
           if report.heap_base_padding_pages else {}),
        "table": report.table,
        "gogc": report.gogc,
        "gomemlimit": report.memlimit,
        "gomaxprocs": {"recorded": header.get("gomaxprocs"), "modelled": report.procs,
                       **({"recording_cpus": report.recording_cpus}
                          if report.recording_cpus is not None else {})},
        "gc_mode": report.gc_mode,
        "free_semantics": report.free_semantics,
        "sizes": report.sizes,
        "sources": dict(sorted((sources or {}).items())),
    }
    if config is not None and dataclasses.is_dataclass(config):
        # every model parameter besides the knobs above (cons_mark, stack_bytes, ...)
        cfg["model"] = {f.name: _plain(getattr(config, f.name))
                        for f in dataclasses.fields(config) if f.name not in _KNOB_FIELDS}
    return cfg


def _plain(obj):
    """Dataclasses, numpy values and tuples as JSON-ready Python values."""
    t = type(obj)
    if t is int or t is str or obj is None:  # most leaves: M.clean keeps them as they are
        return obj
    if t is float:
        return M.clean(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        # properties the report dataclasses define (total, bytes_held) are part of the record
        for name in ("total", "bytes_held"):
            if isinstance(getattr(type(obj), name, None), property):
                out[name] = _plain(getattr(obj, name))
        return out
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, int | float):
        return _plain(obj.tolist())
    return M.clean(obj)


def class_records(report) -> list[dict]:
    """Per size class, worst for fragmentation first: the engine's per-class fields under their
    names, plus the metric label and the slot count."""
    out = []
    for c in report.classes_by_fragmentation():
        d = _plain(c)
        d["label"] = M.class_label(c)
        d["slots"] = M.class_slots(c)
        out.append(d)
    return out


def to_dict(report, trace_path: str | os.PathLike, config=None, *, header: dict | None = None,
            sha256: str | None = None, sources: dict | None = None, original: dict | None = None,
            extra: dict | None = None) -> dict:
    """The JSON report (schema goalloc-replay/1, docs/json.md) as a dict. `trace_path` is
    recorded as given; the header and digest are read from the file unless passed. `original`
    ({"path", "format", "sha256"}): the recorder's file the trace was imported from, which
    `trace.path`/`trace.sha256` then name (the imported trace's digest goes to
    `trace.imported_sha256`). `extra`: more top-level sections (e.g. "fidelity")."""
    import goalloc

    if header is None:
        header = trace_header_map(trace_path)
    if sha256 is None:
        sha256 = file_sha256(trace_path)
    doc = {
        "schema": SCHEMA,
        "tool": {"name": "goalloc", "version": goalloc.__version__},
        "trace": {"path": os.fspath(trace_path), "sha256": sha256,
                  "header": _plain(_header_summary(header)), "events": report.events},
        "config": effective_config(report, header, config, sources),
        "metrics": M.metric_records(report),
        "memory": {
            "end": _plain(report.end),
            "peak": _plain(report.peak),
            "peak_event": report.peak_event,
        },
        "fragmentation": {"end": _plain(report.end_frag), "peak": _plain(report.peak_frag)},
        "jw": _plain(M.jw_measures(report)),
        "caveats": CV.caveats(report, _plain(header), sources),
        "classes": class_records(report),
        "cycles": _plain(report.cycles),
        "counters": {name: _plain(getattr(report, name)) for name in (
            "mallocs", "tiny_allocs", "frees", "deaths", "alloc_bytes", "live_requested",
            "spans_in_use", "heap_live", "heap_marked", "heap_goal", "peak_live",
            "held_at_peak_live", "peak_held", "live_at_peak_held", "mapped_bytes",
            "reserved_bytes")},
    }
    if dataclasses.is_dataclass(report):
        for f in dataclasses.fields(report):
            if f.name in _PLACED or f.name in _NOT_IN_JSON or f.name in doc:
                continue
            doc[f.name] = _plain(getattr(report, f.name))
    if report.attribution is not None:  # only when asked (#17)
        doc["attribution"] = _plain(report.attribution)
    if original is not None:
        tr = doc["trace"]
        tr["imported_sha256"] = tr["sha256"]
        tr["path"] = os.fspath(original["path"])
        tr["sha256"] = original["sha256"]
        tr["format"] = original["format"]
    for name, value in (extra or {}).items():
        doc[name] = _plain(value)
    return doc


def _header_summary(header: dict) -> dict:
    """The trace header as the report echoes it: the attribution table (#17, thousands of type
    names) as its kind and size; the report's `attribution` section names the sites it uses."""
    if not isinstance(header, dict) or not isinstance(header.get("sites"), dict):
        return header
    sites = header["sites"]
    return {**header, "sites": {"kind": sites.get("kind"),
                                "entries": len(sites.get("names") or [])}}


def to_json(report, trace_path: str | os.PathLike, config=None, **kw) -> str:
    """Deterministic JSON text: sorted keys, 2-space indent, no timestamps, trailing newline."""
    doc = to_dict(report, trace_path, config, **kw)
    return jsontext.dumps(doc) + "\n"


# -- timeline CSV -------------------------------------------------------------------------------


def timeline_rows(timeline) -> tuple[list[str], list[list]]:
    """(columns, rows) of the engine's timeline: a list of engine.report.TimelineSample."""
    if not timeline:
        return [], []
    cols = [f.name for f in dataclasses.fields(timeline[0])]
    return cols, [[M.clean(getattr(r, c)) for c in cols] for r in timeline]


def timeline_csv(timeline, clock: bool = True) -> str:
    """The timeline as CSV. Without a real clock (`clock` False, report/caveats.py no-clock)
    the `ts` column is empty: the `event` column places each sample."""
    cols, rows = timeline_rows(timeline)
    if not clock and "ts" in cols:
        i = cols.index("ts")
        rows = [r[:i] + [None] + r[i + 1:] for r in rows]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


# -- text ---------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _spark(hist) -> str:
    """A utilisation histogram (low to high buckets) as one block character per bucket."""
    if not hist:
        return ""
    top = max(hist) or 1
    return "".join(" ▁▂▃▄▅▆▇█"[min(8, -(-8 * h // top))] for h in hist)


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _sizes_text(report) -> str:
    """`requested sizes`, `estimated sizes` (all of them), or the estimated share."""
    est = report.estimated_sizes or 0
    if not est:
        return f"{report.sizes} sizes"
    if est >= report.mallocs:
        return "estimated sizes"
    return f"{report.sizes} sizes, {100 * est / max(1, report.mallocs):.0f}% estimated"


def header_rows(report, header: dict | None = None, sources: dict | None = None,
                name: str | None = None) -> list:
    """(label, value) pairs of the report header: trace (`name`: the path the user gave, e.g. a
    recorder's file imported to a temporary trace), modelled version, table, knobs."""
    header = header or {}
    sources = sources or {}

    def src(knob):
        s = sources.get(knob)
        return f" ({s})" if s else ""

    recorded = header.get("gomaxprocs")
    go_src = (header.get("source") or {}).get("go_version")
    rows = [
        ("trace", f"{name or report.trace}  ({count(report.events)} events, "
                  + _sizes_text(report) + ")"),
        ("Go version", f"{report.go_version} modelled"
                       + {"flag": " (--go-version)", "trace": " (the trace's release)",
                          "default": " (the newest; the trace names none)"}.get(
                              sources.get("go_version"), "")
                       + (f", trace recorded with {go_src}" if go_src else "")),
        *([("  how known", report.go_version_source[len("trace: "):])]
          if report.go_version_source.startswith("trace: ") else []),
        ("span layout", ("Green Tea inline mark bits" if report.green_tea
                         else "no inline mark bits")
         + (f" ({report.green_tea_source})" if report.green_tea_source else "")),
        *([("  packed scan", ("on" if report.packed_span_scan else "off")
            + f" ({report.packed_span_scan_source})")] if report.green_tea else []),
        *([("tracer heap", f"{iec_bytes(report.tracer_buffer_bytes)} of the execution tracer's "
                            "own buffers "
                            + ("left out (what-if: the untraced program has none; "
                               "--tracer-buffers keep)" if report.tracer_buffers_dropped
                               else "kept (the recording's heap had them)"))]
          if report.tracer_buffer_bytes else []),
        *([("heap base", f"{report.heap_base_padding_pages} padding pages before the first "
                          "span, released for good (the randomized heap base; the trace's "
                          "lowest span page)")]
          if report.heap_base_padding_pages else []),
        ("size classes", report.table),
        ("GOGC", format_gogc(report.gogc) + src("gogc")
         + (" - cycles come from the trace (--gc recorded)" if report.gc_mode == "recorded"
            else "")),
        ("GOMEMLIMIT", format_memlimit(report.memlimit)
         + (f" = {iec_bytes(report.memlimit)}" if report.memlimit is not None else "")
         + src("gomemlimit")),
        ("GOMAXPROCS", f"{report.procs} modelled{src('gomaxprocs')}, "
                       f"{recorded if recorded is not None else '?'} recorded"
                       + (f" on {report.recording_cpus} CPU"
                          f"{'s' if report.recording_cpus > 1 else ''}"
                          if report.recording_cpus is not None else "")),
        ("GC mode", {"pacer": "pacer (the model starts cycles)",
                     "recorded": "recorded (the trace's GC markers start cycles)"}.get(
                         report.gc_mode, report.gc_mode)),
    ]
    if report.gc_mode == "recorded" and report.free_semantics == "sweep":
        rows.append(("sweeper", "background sweep paced by the trace's sweep frees"))
    sc = report.scavenge
    if sc and (report.released_background_bytes or report.released_eager_bytes):
        when = (f" of the recording's {sc['recorded_runs']:,} runs" if sc.get("recorded_runs")
                else "")
        if sc.get("paced_runs"):
            when += f" ({sc['paced_runs']:,} paced by where the runtime was done)"
        rows.append(("scavenger", f"{duration_ns(sc['background_ns'])} background in "
                     f"{sc['bursts']} bursts{when}, {duration_ns(sc['assist_ns'])} in "
                     f"allocations; madvise {sc['page_ns']:g} ns/page + {sc['call_ns']:g} "
                     f"ns/call"))
    nh = report.nonheap_scan
    if nh:
        rows.append(("stacks+globals", f"{iec_bytes(nh['mean_bytes'])} in the GOGC goal"
                     + (f", the recording's (mean of {len(nh['bytes'])} cycles; its GOGC "
                        f"{nh['recorded_gogc']} {nh['recorded_gogc_source']})"
                        if nh["source"] == "trace" else " (set)")))
    rate = report.scan_rate
    if report.gc_mode == "pacer" and rate and rate.get("source") in ("trace", "config"):
        rows.append(("mark speed", f"{rate['bytes_per_s'] / 1e9:.3g} GB/s scanned per CPU ("
                     + ("measured from the trace" if rate["source"] == "trace"
                        else "set") + ")"
                     + (f"; a mark whose work passes maxScanWork ends "
                        f"{duration_ns(rate['mark_end_wait_ns'])} after its workers finish (no "
                        "dedicated worker: the recording's wait for a P's scheduler pass)"
                        if rate.get("mark_end_wait_ns") else "")))
    mc = report.mark_cpu
    if mc:
        rows.append(("mark CPU", f"workers {mc['background_share']:.0%}, assists "
                     f"{mc['assist_share']:.0%} and idle workers {mc['idle_share']:.0%} of "
                     "GOMAXPROCS while marking, the recording's (the marks' GC CPU"
                     + (", the pacer's cons/mark)" if report.gc_mode == "pacer" else ")")))
    sw = report.recorded_sweep
    if sw:
        rows.append(("mutators' sweep", f"{sw['ns'] / 1e6:.1f} ms in {sw['ranges']:,} loops, "
                     f"{iec_bytes(sw['swept_bytes'])} swept ({sw['share']:.1%} of GOMAXPROCS "
                     "x the trace), the recording's allocation-path sweeping"
                     + ("; the model's clock keeps it and adds none for its own sweeps"
                        if report.gc_mode == "pacer" else "")))
    rows += [
        ("frees", {"death": "death (take effect at the next mark)",
                   "sweep": "sweep (died before the mark of the cycle that swept them)"}.get(
                       report.free_semantics, report.free_semantics)),
    ]
    return rows


def _gc_rows(report) -> list:
    cycles = report.cycles
    if len(cycles) > 2 * CYCLE_ENDS + 1:
        return cycles[:CYCLE_ENDS] + [None] + cycles[-CYCLE_ENDS:]
    return list(cycles)


def render(report, console, *, header: dict | None = None, sources: dict | None = None,
           top: int = TOP_CLASSES, name: str | None = None) -> None:
    """Print the text report. Figures are the model's (labelled so in the header); the
    caveats follow the header, before any figure they qualify."""
    from goalloc.report import locks as lock_report
    from goalloc.report import pauses as pause_report
    from goalloc.report import whatif as whatif_report

    _print_header(report, console, header, sources, name)
    CV.render(CV.caveats(report, header, sources), console)
    clock = CV.has_clock(report)
    _print_memory_classes(report, console)
    _print_fragmentation(report, console)
    _print_size_classes(report, console, top)
    _print_gc(report, console, clock)
    whatif_report.render(report, console)  # issue #15: GC CPU, the limiter, death-time range
    # issue #6: pauses and MMU, heap lock and span sets
    pause_report.render(report, console, print_table, clock=clock,
                        omit_windows=CV.mmu_windows_beyond(report))
    lock_report.render(report, console, print_table, clock=clock)


def _print_header(report, console, header, sources, name) -> None:
    from rich.table import Table

    console.print("[bold]goalloc replay[/bold] — modelled Go runtime heap (figures are the model's)")
    head = Table.grid(padding=(0, 2))
    for label, value in header_rows(report, header, sources, name):
        head.add_row(label, value)
    console.print(head)


def _print_memory_classes(report, console) -> None:
    """The memory classes at the end and at the peak of held memory (H: in-use spans + free
    pages not released), not of objects."""
    mem = plain_table("Heap memory classes (modelled)")
    mem.add_column("class")
    mem.add_column("at end", justify="right")
    peak_label = "at peak held" + (f" (event {count(report.peak_event)})"
                                   if report.peak_event >= 0 else "")
    mem.add_column(peak_label, justify="right")
    for name in ("objects", "unused", "free", "released", "total"):
        e = getattr(report.end, name) if report.end else None
        p = getattr(report.peak, name) if report.peak else None
        style = "[bold]{}[/bold]" if name == "total" else "{}"
        mem.add_row(style.format(name), style.format(iec_bytes(e) if e is not None else "-"),
                    style.format(iec_bytes(p) if p is not None else "-"))
    held = [None if m is None else m.total - m.released for m in (report.end, report.peak)]
    mem.add_row("held", *["-" if h is None else iec_bytes(h) for h in held])
    console.print(mem)
    console.print("  held: in-use spans + free pages not released (H below; total adds "
                  "released pages)")


FRAG_ROWS = (("span tail waste and reserves", "tail"),
             ("free slots in in-use spans", "free_slots"),
             ("dead, not yet swept", "dead_unswept"),
             ("free pages (idle, not released)", "free_pages"),
             ("released pages", "released_pages"))


def _print_fragmentation(report, console) -> None:
    """Where held memory is not live objects, at the end and at the peak of held memory,
    and Johnstone & Wilson's measures."""
    frag = plain_table("Fragmentation (modelled)")
    frag.add_column("where")
    frag.add_column("at end", justify="right")
    frag.add_column("at peak held", justify="right")
    rows = list(FRAG_ROWS)
    if report.sizes == "requested":
        rows.insert(0, ("rounding waste (slot - requested)", "rounding"))
    for label, attr in rows:
        vals = []
        for f in (report.end_frag, report.peak_frag):
            v = getattr(f, attr) if f is not None else None
            vals.append("-" if v is None else iec_bytes(v))
        frag.add_row(label, *vals)
    console.print(frag)
    if report.sizes != "requested":
        console.print("  rounding waste: not known (the trace records slot sizes, not requests)")
    jw = M.jw_measures(report)
    console.print(f"  Johnstone & Wilson (H held, L live requested): peak L "
                  f"{iec_bytes(report.peak_live)}, peak H {iec_bytes(report.peak_held)}")
    console.print(f"  H/L at peak L {_ratio(jw['h_over_l_at_peak_live'])}, H/L at peak H "
                  f"{_ratio(jw['h_over_l_at_peak_held'])}, max H / max L "
                  f"{_ratio(jw['max_h_over_max_l'])}")


def _size_class_row(c, hists: bool) -> list[str]:
    name = "large" if not c.slot_size else str(c.size_class)
    if c.noscan:
        name += " noscan"
    return [name, f"{c.slot_size} B" if c.slot_size else "-", count(c.spans),
            count(c.allocated_slots), _pct(c.util_mean), iec_bytes(c.bytes_held),
            iec_bytes(c.frag_bytes), _pct(c.frag_share),
            *([_spark(c.util_hist)] if hists else [])]


def _print_size_classes(report, console, top: int) -> None:
    """The `top` size classes worst for fragmentation at the end."""
    ranked = report.classes_by_fragmentation()
    cols = [("class", "left"), ("slot", "right"), ("spans", "right"), ("objects", "right"),
            ("slot util", "right"), ("held", "right"), ("frag", "right"), ("share", "right")]
    hists = any(c.util_hist for c in ranked[:top])
    if hists:
        cols.append(("util hist", "left"))
    rows = [_size_class_row(c, hists) for c in ranked[:top]]
    print_table(console, "Size classes at the end, worst for fragmentation first", cols, rows,
                ("util hist", "objects", "share"))
    if len(ranked) > top:
        console.print(f"  ... and {len(ranked) - top} more classes (--json lists them all)")
    if hists:
        console.print("  util hist: in-use spans by slot utilisation, 0-10% ... 90-100%")
    if not ranked:
        console.print("  no spans in use")


def _print_gc(report, console, clock: bool) -> None:
    """The cycle count, the heap goal and the cycles' table (the first and last few)."""
    done = sum(1 for c in report.cycles if c.end_event is not None)
    marking = len(report.cycles) - done
    goal = CV.goal_text(report.heap_goal)
    console.print(f"[bold]GC[/bold] (modelled, {report.gc_mode}): {count(done)} "
                  + ("cycle" if done == 1 else "cycles")
                  + (" (+1 still marking at the end)" if marking else ""))
    console.print(f"  heap goal now {goal}"
                  + (" (GOGC=off, no limit)" if report.heap_goal is None or goal == "none" else "")
                  + f", marked by the last cycle {iec_bytes(report.heap_marked)}")
    if not report.cycles:
        return
    kinds = any(c.kind != "heap" for c in report.cycles)
    # without a real clock a cycle is placed by its event, not by time
    cols = ["gc", "@" if clock else "@ event", "heap at trigger", "trigger", "marked",
            "goal", "heap at end"] + (["kind"] if kinds else [])
    rows = [["..."] + [""] * (len(cols) - 1) if c is None else _gc_row(c, clock, kinds)
            for c in _gc_rows(report)]
    print_table(console, None, [(c, "left" if c == "kind" else "right") for c in cols],
                rows, ("trigger", "heap at end"))


def _gc_row(c, clock: bool, kinds: bool) -> list[str]:
    extra = [str(c.kind)] if kinds else []
    return [str(c.n), duration_ns(c.start_ts) if clock else count(c.start_event),
            iec_bytes(c.heap_at_trigger),
            "-" if c.trigger is None else iec_bytes(c.trigger), iec_bytes(c.marked),
            CV.goal_text(c.goal) + (" (limit)" if c.limit_bound else ""),
            "marking" if c.heap_at_end is None else iec_bytes(c.heap_at_end),
            *extra]


def gctrace_text(report, **kw) -> str:
    lines = gctrace_lines(report, **kw)
    return "".join(line + "\n" for line in lines)
