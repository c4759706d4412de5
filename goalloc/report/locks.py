"""Heap lock and mcentral span-set figures of a replay (issue #6): runtime/metrics-style names and
the text section. The model (counts, FIFO contention replay) is goalloc/engine/contention.py.
"""

from __future__ import annotations


def lock_metrics(report) -> dict:
    """runtime/metrics-style names for report.locks (empty when the engine had no lock model)."""
    lk = report.locks
    if not lk:
        return {}
    h = lk["mheap"]
    c = h["contention"]
    m = {
        "/goalloc/lock/mheap/acquires:count": h["acquisitions"],
        "/goalloc/lock/mheap/acquires-per-million-allocs:ratio": h["per_million_allocs_total"],
        "/goalloc/heap/span-allocs:count": h["span_allocs"],
        "/goalloc/heap/span-allocs/pagecache:count": h["span_allocs_pagecache"],
    }
    for op, v in h["by_op"].items():
        m[f"/goalloc/lock/mheap/{op}/acquires:count"] = v
        m[f"/goalloc/lock/mheap/{op}/acquires-per-million-allocs:ratio"] = \
            h["per_million_allocs"][op]

    def timing(prefix, s):
        m[prefix + "/contended:ratio"] = s["contended_share"]
        m[prefix + "/wait:seconds"] = s["wait_ns"] / 1e9
        for q in ("p50", "p99", "max"):
            v = s[f"wait_{q}_ns"]
            m[prefix + f"/wait-{q}:seconds"] = None if v is None else v / 1e9
        m[prefix + "/hold:seconds"] = s["hold_ns"] / 1e9

    timing("/goalloc/lock/mheap", c["total"])
    for op, s in c["ops"].items():
        timing(f"/goalloc/lock/mheap/{op}", s)
    m["/sync/mutex/wait/total:seconds"] = c["total"]["wait_ns"] / 1e9
    for op, v in lk["mcentral_spanset"]["total"].items():
        m[f"/goalloc/lock/mcentral/spanset/{op}:count"] = v
    return m


def render(report, console, print_table, *, clock: bool = True) -> None:
    """Text section: heap-lock counts per op, modelled contention, span-set ops (compact).
    Without a real `clock` the counts only: waits are modelled on the trace's time."""
    from goalloc.report.units import count, duration_ns

    lk = report.locks
    if not lk:
        return
    h = lk["mheap"]
    c = h["contention"]
    tot = c["total"]
    pm = h["per_million_allocs_total"]
    console.print(f"[bold]Heap lock[/bold] (counts exact for the model; waits modelled): "
                  f"{count(h['acquisitions'])} acquisitions"
                  + (f", {pm:,.0f} per million allocs" if pm is not None else "")
                  + (", no page cache (what-if)" if h["no_pagecache"] else "")
                  + f"; span allocs {count(h['span_allocs'])}, "
                  f"{count(h['span_allocs_pagecache'])} from page caches")
    cols = ("op", "acquires", "/M allocs", "contended", "wait", "p50", "p99", "max")
    cols = cols if clock else cols[:3]
    rows = []

    def ns(v):
        return "-" if v is None else duration_ns(v)

    def row(name, n, per_m, s):
        waits = ("-" if s["contended_share"] is None else f"{100 * s['contended_share']:.1f}%",
                 ns(s["wait_ns"]), ns(s["wait_p50_ns"]), ns(s["wait_p99_ns"]),
                 ns(s["wait_max_ns"]))
        rows.append([name, count(n), "-" if per_m is None else f"{per_m:,.0f}",
                     *(waits if clock else ())])

    for op, n in h["by_op"].items():
        if n:
            row(op, n, h["per_million_allocs"][op], c["ops"][op])
    row("total", h["acquisitions"], pm, tot)
    print_table(console, None, [(c, "left" if c == "op" else "right") for c in cols], rows,
                ("p50", "p99", "/M allocs"))
    if c["busiest_windows"] and clock:
        console.print("  busiest 1 ms windows (modelled wait): " + ", ".join(
            f"@{duration_ns(w['start_ns'])} {duration_ns(w['wait_ns'])}"
            for w in c["busiest_windows"]))
    if h["unlogged"]:
        console.print(f"  {count(h['unlogged'])} acquisitions not in the contention replay "
                      "(log overflow); counts are exact")
    ss = lk["mcentral_spanset"]["total"]
    console.print("  mcentral span sets (lock-free, atomic ops): " + ", ".join(
        f"{k} {count(v)}" for k, v in ss.items()))
