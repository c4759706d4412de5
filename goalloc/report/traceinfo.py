"""Rendering of `goalloc info`: a trace's header, contents and validation findings."""

from __future__ import annotations

import dataclasses
import json

from goalloc.report.units import count, duration_ns, iec_bytes

INFO_SCHEMA = 1


def to_json(summary) -> str:
    doc = {"schema": f"goalloc-info/{INFO_SCHEMA}"}
    doc.update(dataclasses.asdict(summary))
    doc["size_histogram"] = [
        {"lo": lo, "hi": hi, "count": c} for lo, hi, c in summary.size_histogram
    ]
    if summary.first_anomaly is not None:
        doc["first_anomaly"] = {"event": summary.first_anomaly[0], "what": summary.first_anomaly[1]}
    return json.dumps(doc, indent=2) + "\n"


def render(summary, console) -> None:
    from rich.table import Table

    h = summary.header
    src = h.get("source") or {}
    console.print(f"[bold]{summary.path}[/bold]  ({iec_bytes(summary.file_bytes)})")
    head = Table.grid(padding=(0, 2))
    head.add_row("format", f"{h['format']} {h['version'][0]}.{h['version'][1]}")
    head.add_row("producer", str(h.get("producer")))
    for key in ("recorder", "program", "go_version"):
        if key in src:
            head.add_row(key.replace("_", " "), str(src[key]))
    head.add_row("sizes / frees", f"{h['sizes']} sizes, {h['frees']} frees")
    head.add_row("GOMAXPROCS", str(h["gomaxprocs"]))
    span = summary.ts_max - summary.ts_min
    head.add_row("time span", f"{duration_ns(span)} ({summary.ts_min} .. {summary.ts_max} ns)")
    head.add_row("Ps seen", _ranges(summary.procs) or "none")
    console.print(head)

    kinds = Table(title="Events", title_justify="left", show_edge=False)
    kinds.add_column("kind")
    kinds.add_column("count", justify="right")
    for name, c in summary.kinds.items():
        kinds.add_row(name, count(c))
    kinds.add_row("[bold]total[/bold]", f"[bold]{count(summary.events)}[/bold]")
    console.print(kinds)

    mem = Table.grid(padding=(0, 2))
    mem.add_row("allocated", iec_bytes(summary.alloc_bytes), f"{count(summary.kinds.get('alloc', 0))} objects")
    mem.add_row("freed", iec_bytes(summary.free_bytes), f"{count(summary.kinds.get('free', 0))} objects")
    mem.add_row("peak live", iec_bytes(summary.peak_live_bytes),
                f"{count(summary.peak_live_objects)} objects at {duration_ns(summary.peak_live_ts - summary.ts_min)}")
    mem.add_row("live at end", iec_bytes(summary.live_bytes_end), f"{count(summary.live_objects_end)} objects")
    if summary.implicit_frees:
        mem.add_row("implicit frees", count(summary.implicit_frees), "slot reused before its sweep free was seen")
    if summary.estimated_sizes:
        mem.add_row("estimated sizes", count(summary.estimated_sizes), "allocs whose requested size is estimated")
    if summary.snapshot_objects:
        mem.add_row("snapshot objects", count(summary.snapshot_objects), "live when recording started")
    console.print(mem)

    if summary.size_histogram:
        hist = Table(title="Allocation sizes (log2 buckets)", title_justify="left", show_edge=False)
        hist.add_column("size")
        hist.add_column("allocs", justify="right")
        hist.add_column("share", justify="right")
        hist.add_column("")
        total = sum(c for _, _, c in summary.size_histogram) or 1
        top = max(c for _, _, c in summary.size_histogram)
        for lo, hi, c in summary.size_histogram:
            label = iec_bytes(lo) if lo == hi else f"{iec_bytes(lo)} .. {iec_bytes(hi)}"
            hist.add_row(label, count(c), f"{100 * c / total:.1f}%", "█" * max(1, round(30 * c / top)))
        console.print(hist)

    if summary.anomalies:
        console.print("[bold yellow]Validation findings (skipped events):[/bold yellow]")
        for key, c in summary.anomalies.items():
            console.print(f"  {key}: {count(c)}")
        if summary.first_anomaly:
            console.print(f"  first at event {summary.first_anomaly[0]}: {summary.first_anomaly[1]}")
    else:
        console.print("validation: no anomalies")


def _ranges(ps: list[int]) -> str:
    out = []
    i = 0
    while i < len(ps):
        j = i
        while j + 1 < len(ps) and ps[j + 1] == ps[j] + 1:
            j += 1
        out.append(str(ps[i]) if i == j else f"{ps[i]}-{ps[j]}")
        i = j + 1
    return ", ".join(out) + f" ({len(ps)})" if ps else ""
