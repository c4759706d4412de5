"""`goalloc classes`: show a size-class table as the runtime's generated sizeclasses.go
comment documents it, compare tables side by side, or bill a trace's internal fragmentation
under each table (--trace). Only --trace imports numba; rich is imported when rendering.
"""

from __future__ import annotations

import json

import click

SCHEMA = 1


@click.command()
@click.argument("tables", nargs=-1, metavar="[TABLE]...")
@click.option("--go-version", "go_version", metavar="V",
              help="Version profile: 1.19 (1.19-1.21), 1.22 (1.22-1.25) or 1.26 (1.26+). "
                   "Default: the trace's Go version with --trace (the newest when it names "
                   "none, as replay), else 1.22.")
@click.option("--trace", "trace", type=click.Path(dir_okay=False), metavar="TRACE",
              help="Bill TRACE's internal fragmentation under each table (needs requested sizes).")
@click.option("--json", "as_json", is_flag=True, help="Write JSON to stdout.")
@click.option("--list", "list_tables", is_flag=True, help="List the built-in tables.")
def classes(tables, go_version, trace, as_json, list_tables):
    """Show or compare size-class tables.

    TABLE is a built-in name (go, jemalloc, pow2, go-waste<P> such as go-waste6.25) or a
    .toml/.json file of [[class]] size/pages entries (default: go). One table: print it.
    Two or more: compare them side by side, the first as the baseline. With --trace: the
    internal-fragmentation bill of the trace's peak live set under each table.
    """
    from goalloc import sizeclasses as sc

    if list_tables:
        return _list(sc.BUILTIN, as_json)
    names = list(tables) or ["go"]
    resolved = [sc.get_table(n) for n in names]
    if trace is not None:
        from goalloc.engine.config import NEWEST_GO_VERSION

        # a trace that names no release is modelled as `goalloc replay` models it
        version = go_version or _trace_go_version(trace) or NEWEST_GO_VERSION
        sc.resolve_version(version)  # reject a bad version before reading the trace
        return _bill(trace, resolved, version, as_json)
    version = go_version or sc.DEFAULT_GO_VERSION
    if len(resolved) == 1:
        return _show(resolved[0], version, as_json)
    return _compare(resolved, version, as_json)


# -- helpers ---------------------------------------------------------------------------------


def _emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2))


def _console():
    """A rich console of the terminal's width (COLUMNS; 80 when piped): tables fit it by
    dropping their least useful columns (goalloc.report.layout)."""
    from rich.console import Console

    return Console()


def _right(names) -> list:
    return [(n, "right") for n in names]


def _iec(n) -> str:
    from goalloc.report.units import iec_bytes

    return iec_bytes(n)


def _pct(x) -> str:
    return "-" if x is None else f"{x:.2f}%"


def _table_meta(t) -> dict:
    return {"name": t.name, "description": t.description, "num_classes": t.num_classes,
            "page_size": t.page_size, "max_small_size": t.max_small_size}


def _list(builtin: dict, as_json: bool) -> None:
    if as_json:
        return _emit_json({"schema": SCHEMA, "builtin": [
            {"name": k, "description": v} for k, v in builtin.items()]})
    for name, desc in builtin.items():
        click.echo(f"{name:14} {desc}")


def _trace_go_version(path) -> str | None:
    import goalloc.trace

    with goalloc.trace.open(path) as r:
        return r.header.go_version


# -- one table ------------------------------------------------------------------------------


def _show(t, version: str, as_json: bool) -> None:
    from goalloc.sizeclasses import profile
    from goalloc.sizeclasses.compare import class_rows, min_sizes_by_align

    p = profile(t, version)
    rows = class_rows(p)
    aligns = min_sizes_by_align(t)
    if as_json:
        return _emit_json({
            "schema": SCHEMA, "table": _table_meta(t), "go_version": p.go_version,
            "profile": _profile_meta(p), "classes": rows, "min_align": aligns,
        })
    from goalloc.report.layout import print_table

    con = _console()
    scan_differs = any(r["objects_scan"] != r["objects"] for r in rows)
    title = (f"{t.name}: {t.description} - Go {p.go_version} profile, {t.num_classes} classes "
             f"counting class 0, small objects up to {p.small_max} B")
    cols = ["class", "bytes/obj", "bytes/span", "objects", "tail waste", "max waste",
            "min align"] + (["scan objects", "scan tail", "scan max waste"] if scan_differs
                            else [])
    cells = []
    for r in rows:
        c = [str(r["class"]), str(r["bytes_obj"]), str(r["bytes_span"]), str(r["objects"]),
             str(r["tail_waste"]), _pct(r["max_waste_pct"]), str(r["min_align"])]
        if scan_differs:
            c += [str(r["objects_scan"]), str(r["tail_waste_scan"]),
                  _pct(r["max_waste_scan_pct"])]
        cells.append(c)
    print_table(con, title, _right(cols), cells,
                ("scan max waste", "min align", "scan tail", "max waste"))
    note = ("objects, tail and max waste are for pointer-free spans"
            + ("; scan columns for pointerful spans (in-span heap bits / mark bits)"
               if scan_differs else "")
            + ("; pointerful objects > 512 B carry an 8 B malloc header" if p.malloc_header
               else ""))
    con.print(note, highlight=False)
    arows, prev = [], None
    for a in aligns:
        if a["min_obj_size"] and a["min_obj_size"] != prev:
            arows.append([str(a["alignment"]), str(a["bits"]), str(a["min_obj_size"])])
        prev = a["min_obj_size"]
    print_table(con, "alignment: smallest object size from which every class is aligned",
                _right(("alignment", "bits", "min obj size")), arows)


def _profile_meta(p) -> dict:
    return {"go_version": p.go_version, "malloc_header": p.malloc_header,
            "header_size": p.header_size, "header_threshold": p.header_threshold,
            "small_max": p.small_max, "tiny_size": p.tiny_size}


# -- comparison ------------------------------------------------------------------------------


def _compare(tables, version: str, as_json: bool) -> None:
    from goalloc.sizeclasses.compare import compare

    res = compare(tables, version)
    if as_json:
        return _emit_json({"schema": SCHEMA, **res})
    from goalloc.report.layout import plain_table, print_table

    con = _console()
    head = plain_table(f"Size-class tables (Go {res['go_version']} profile; pointer-free "
                       "requests, every size n counted once)")
    for col in ("table", "classes", "largest class", "description"):
        head.add_column(col, justify="left" if col in ("table", "description") else "right",
                        no_wrap=col != "description")  # the description wraps to fit
    for t in res["tables"]:
        head.add_row(t["name"], str(t["num_classes"]), str(t["max_small_size"]),
                     t["description"])
    con.print(head)

    names = [t["name"] for t in res["tables"]]
    cols = ["request bytes"]
    for k, name in enumerate(names):
        cols += [f"{name}\n{col}" for col in ("classes", "worst round", "mean round",
                                               "worst tail")]
        if k:
            cols.append(f"{name}\nslot differs")
    rows = []
    for r in res["ranges"]:
        cells = [f"{r['lo'] + 1}-{r['hi']}"]
        for k, st in enumerate(r["tables"]):
            cells += [str(st["classes"]), _pct(st["rounding_worst_pct"]),
                      _pct(st["rounding_mean_pct"]), _pct(st["tail_worst_pct"])]
            if k:
                cells.append(_pct(st["differs_pct"]))
        rows.append(cells)
    # least useful first: the worst tails, then the mean rounding, then the class counts
    drops = [f"{n}\n{c}" for c in ("worst tail", "mean round", "classes") for n in names]
    print_table(con, "Per size range: rounding waste (slot - n)/slot and span tail/span",
                _right(cols), rows, drops)
    for d in res["differences"]:
        con.print(f"[bold]{names[0]} vs {d['table']}[/bold]: request sizes served by a "
                  f"different slot: {d['slot_differs_pct']:.2f}%")
        con.print(f"  class sizes only in {names[0]}: {_sizes(d['only_in_baseline'])}",
                  highlight=False)
        con.print(f"  class sizes only in {d['table']}: {_sizes(d['only_in_table'])}",
                  highlight=False)
        if d["same_size_other_pages"]:
            same = ", ".join(f"{x['size']} ({x['pages_baseline']} vs {x['pages_table']} pages)"
                             for x in d["same_size_other_pages"])
            con.print(f"  same size, other span: {same}", highlight=False)


def _sizes(sizes: list[int]) -> str:
    return ", ".join(map(str, sizes)) if sizes else "none"


# -- trace bill ------------------------------------------------------------------------------


def _bill(trace, tables, version: str, as_json: bool) -> None:
    import goalloc.trace
    from goalloc.cli.common import progress_for
    from goalloc.engine.bill import run_bill

    with goalloc.trace.open(trace) as r:
        total = r.header.events
    with progress_for("billing", total) as advance:
        res = run_bill(trace, tables, version, advance=advance)
    warn = None
    if res["sizes"] != "requested":
        warn = ("the trace records slot sizes, not requested sizes: rounding waste under "
                "the recording table is zero by construction and understated for others")
    caveats = []
    if res.get("estimated_sizes"):
        share = 100 * res["estimated_sizes"] / res["allocs"] if res["allocs"] else 0
        caveats.append({"code": "estimated-sizes", "text": (
            f"requested sizes are estimates for {share:.0f}% of {res['estimated_sizes']:,} "
            "allocations (from the type, or the slot size when untyped): rounding waste is "
            "largely an artefact (none where the estimate is the slot), which favours Go's own "
            "table in a comparison")})
    res["caveats"] = caveats
    if as_json:
        return _emit_json({**res, "warning": warn} if warn else res)
    from goalloc.report.layout import print_table

    con = _console()
    pk = res["peak"]
    con.print(f"{res['trace']}: {res['events']:,} events, {res['allocs']:,} allocs, "
              f"{res['frees']:,} frees; Go {res['go_version']} profile", highlight=False)
    con.print(f"peak live set: {_iec(pk['live_requested_bytes'])} requested in "
              f"{pk['live_objects']:,} objects (at event {pk['event']:,}); tiny blocks at peak: "
              f"{res['tiny']['peak_blocks']:,}", highlight=False)
    if res["unmatched_frees"] or res["reused_live_ids"]:
        con.print(f"ignored: {res['unmatched_frees']:,} frees of objects not live, "
                  f"{res['reused_live_ids']:,} allocs reusing a live id (old object freed)",
                  highlight=False)
    if warn:
        con.print(f"[yellow]warning:[/yellow] {warn}", highlight=False)
    for c in caveats:
        con.print(f"caveat: {c['text']}", highlight=False, soft_wrap=True)

    cols = ["table", "held", "requested", "rounding", "headers", "span tail", "partial spans",
            "internal", "internal/held", f"held vs {tables[0].name}", "rounding, all allocs"]
    base = res["tables"][0]["total"]["held_bytes"]
    rows = []
    for b in res["tables"]:
        t = b["total"]
        delta = t["held_bytes"] - base
        rows.append([
            b["name"], _iec(t["held_bytes"]), _iec(t["requested_bytes"]),
            _iec(t["rounding_bytes"]), _iec(t["header_bytes"]), _iec(t["tail_bytes"]),
            _iec(t["partial_bytes"]), _iec(t["internal_bytes"]),
            _pct(100 * t["internal_bytes"] / t["held_bytes"]) if t["held_bytes"] else "-",
            ("+" if delta > 0 else "") + _iec(delta), _iec(t["alloc_rounding_bytes"])])
    print_table(con, "Internal fragmentation at the peak live set (estimate: perfectly "
                     "packed spans, no GC)",
                [(c, "left" if c == "table" else "right") for c in cols], rows,
                ("rounding, all allocs", "headers", "partial spans", "span tail",
                 "internal/held"))

    for b in res["tables"]:
        rows = [["large" if r["class"] == 0 else str(r["class"]),
                 "pages" if r["class"] == 0 else f"{r['slot_bytes']} B",
                 f"{r['live_slots']:,}", _iec(r["requested_bytes"]), _iec(r["rounding_bytes"]),
                 _iec(r["header_bytes"]), f"{r['spans']:,}", _iec(r["tail_bytes"]),
                 _iec(r["partial_bytes"]), f"{r['alloc_slots']:,}"] for r in b["classes"]]
        print_table(con, f"{b['name']}: per class at the peak live set",
                    _right(("class", "slot", "live slots", "requested", "rounding", "headers",
                            "spans", "span tail", "partial spans", "allocs")), rows,
                    ("allocs", "headers", "partial spans", "span tail"))
