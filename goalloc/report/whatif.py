"""Text for the what-if parts of a replay report (#15): GC CPU by class and the GC CPU
limiter, each figure's range from the trace's death-time uncertainty and over the recording's
mark speeds, and the warnings. The figures come from the engine (engine/readout.py gc_cpu,
engine/whatif.py)."""

from __future__ import annotations

from goalloc.report import caveats as CV
from goalloc.report.units import iec_bytes


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def gc_cpu_lines(report) -> list[str]:
    g = report.gc_cpu
    if not g or not g.get("total_cpu_ns") or not CV.has_clock(report):
        return []  # no real clock: no CPU time (the no-clock caveat says so)
    tot = g["total_cpu_ns"]
    lim = g["limiter"]
    return [f"  GC CPU {_pct(g['fraction'])} of GOMAXPROCS x trace time (limiter on in "
            f"{lim['cycles_limited']} cycles):",
            f"    mark workers {_pct(g['mark_dedicated_ns'] / tot)}, assists "
            f"{_pct(g['mark_assist_ns'] / tot)}, pauses {_pct(g['pause_ns'] / tot)}"]


_LABELS = (("cycles", "GC cycles", lambda v: f"{v:,}"),
           ("peak_inuse", "peak in-use heap", iec_bytes),
           ("mean_goal", "mean heap goal", lambda v: iec_bytes(int(v))),
           ("gc_cpu", "GC CPU", _pct))


def range_lines(report) -> list[str]:
    """The death-time range of each what-if figure, central value first."""
    return _figure_lines(report, report.death_range, "central", [
        "  Range over the death times the trace admits (earliest / latest; the first",
        "  figure, at the central death times, is the answer):"])


def speed_lines(report) -> list[str]:
    """Each what-if figure's mean and range over the mark-speed samples."""
    sr = report.mark_speed_range
    return _figure_lines(report, sr, "mean", [
        f"  Over {sr['samples']} replays with each mark as fast as one of the recording's "
        "(mean; range):"] if sr else [])


def _figure_lines(report, rows: dict | None, first: str, head: list[str]) -> list[str]:
    """`head`, then per what-if figure its `first` value (central or mean) and its range; none
    when there are no rows. GC CPU only where the trace has a real clock; a mean of cycles
    keeps one decimal."""
    if not rows:
        return []
    out = list(head)
    until = report.deaths_known_until_event
    for key, label, fmt in _LABELS:
        r = rows.get(key) or {}
        if (key == "gc_cpu" and not CV.has_clock(report)) or r.get(first) is None:
            continue
        if key == "peak_inuse" and until is not None and until < report.events:
            label += " (to the last whole sweep)"
        v = f"{r[first]:,.1f}" if key == "cycles" and first == "mean" else fmt(r[first])
        out.append(f"    {label}: {v} ({fmt(r['low'])} - {fmt(r['high'])})")
    return out


def render(report, console) -> None:
    for s in gc_cpu_lines(report) + range_lines(report) + speed_lines(report):
        console.print(s)
    for w in report.warnings or []:
        console.print(f"[yellow]warning:[/yellow] {w}")
