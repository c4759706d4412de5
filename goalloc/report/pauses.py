"""GC pauses of a replay (issue #6): runtime/metrics-style names and the text section. The model
(recorded and modelled pauses, histogram, MMU) is goalloc/engine/pauses.py.
"""

from __future__ import annotations


def pause_metrics(report) -> dict:
    p = report.pauses
    if not p:
        return {}
    g = p["gc"]
    m: dict = {"/sched/pauses/total/gc:seconds": g["histogram"]}
    for kind, s in g["by_kind"].items():
        base = f"/goalloc/gc/pauses/{kind}"
        m[base + "/count:count"] = s["count"]
        m[base + "/total:seconds"] = s["total_ns"] / 1e9
        for q in ("p50", "p90", "p99", "max"):
            v = s[f"{q}_ns"]
            m[base + f"/{q}:seconds"] = None if v is None else v / 1e9
    m["/goalloc/gc/pauses/total:seconds"] = g["all"]["total_ns"] / 1e9
    for w, v in g["mmu"].items():
        m[f"/goalloc/gc/mmu/{w}:ratio"] = v
    rec = p["recorded"]
    for kind, s in rec["by_kind"].items():
        base = f"/goalloc/gc/pauses/recorded/{kind}"
        m[base + "/count:count"] = s["count"]
        m[base + "/total:seconds"] = s["total_ns"] / 1e9
        for q in ("p50", "p90", "p99", "max"):
            v = s[f"{q}_ns"]
            m[base + f"/{q}:seconds"] = None if v is None else v / 1e9
    if rec["mmu"] is not None:
        for w, v in rec["mmu"].items():
            m[f"/goalloc/gc/mmu/recorded/{w}:ratio"] = v
    return m


def render(report, console, print_table, *, clock: bool = True, omit_windows=()) -> None:
    """Text section: STW pauses (the cycles', recorded ones by kind) and MMU (compact), the
    table printed by `print_table` (goalloc.report.layout: fits the width). Without a real
    `clock` only the counts (report/caveats.py); MMU windows in `omit_windows` (longer than
    the trace) are left out."""
    from goalloc.report.units import count, duration_ns

    p = report.pauses
    if not p:
        return

    def ns(v):
        return "-" if v is None else duration_ns(v)

    cols = ("pauses", "count", "total", "p50", "p90", "p99", "max") if clock else ("pauses", "count")
    rows = []

    def row(label, s):
        times = (ns(s["total_ns"]), ns(s["p50_ns"]), ns(s["p90_ns"]), ns(s["p99_ns"]),
                 ns(s["max_ns"]))
        rows.append([label, count(s["count"]), *(times if clock else ())])

    src = p["source"]
    for kind, s in p["gc"]["by_kind"].items():
        if s["count"]:
            row(f"{kind} ({src})", s)
    if src != "recorded":
        for kind, s in p["recorded"]["by_kind"].items():
            if s["count"]:
                row(f"{kind} (recorded)", s)
    elif p["recorded"]["by_kind"]["other"]["count"]:
        row("other STW (recorded)", p["recorded"]["by_kind"]["other"])
    console.print(f"[bold]GC pauses[/bold] (stop-the-world; cycles' pauses {src})")
    print_table(console, None, [(c, "left" if c == "pauses" else "right") for c in cols], rows,
                ("p90", "p50"))
    if not clock:
        return
    rec = p["recorded"]
    held = rec.get("held_after_restart") or {}
    if held.get("count"):
        console.print(f"  {count(held['count'])} recorded GC pauses ran on past their "
                      f"world's restart ({duration_ns(held['total_ns'])} in all): the "
                      "stopping thread was held while the Ps ran (a CPU-starved machine); "
                      "the runtime's pause figures count it, its GC CPU does not")
    if rec["count"] and rec.get("restarts_known", 0) < rec["count"]:
        console.print("  the trace does not say when each stop's world restarted (imported "
                      "before goalloc read it): GC CPU counts every P stopped through each "
                      "STW range, where the runtime counts them until the restart "
                      "(docs/concurrency.md)")
    mm = {w: v for w, v in p["gc"]["mmu"].items() if w not in omit_windows}
    if mm:
        console.print("  MMU (" + src + ", STW only): " + ", ".join(
            f"{w} {'-' if v is None else f'{100 * v:.1f}%'}" for w, v in mm.items()))
    if src == "modelled":
        m = p["model"]["ns"]
        console.print(f"  pause model: fixed + {duration_ns(m['per-p'])} x GOMAXPROCS; fixed "
                      f"sweep term {duration_ns(m['sweep-term-fixed'])} "
                      f"({p['model']['sources']['sweep-term-fixed']}), mark term "
                      f"{duration_ns(m['mark-term-fixed'])} "
                      f"({p['model']['sources']['mark-term-fixed']})")
        if "calibrated" in p["model"]["sources"].values():
            console.print("  calibrated kinds: cycles take the recording's pauses in "
                          "order, each as often")
