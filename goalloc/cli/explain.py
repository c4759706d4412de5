"""`goalloc explain TRACE [knobs]` (#17): where held memory goes, by Go type or call site, and
what-ifs replayed in the same run. Options only; goalloc.report.explain does the work."""

from __future__ import annotations

import click


@click.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--go-version", "go_version", metavar="V", help="Modelled Go release.")
@click.option("--classes", "table", default="go", show_default=True, metavar="TABLE",
              help="Size-class table of the run as asked.")
@click.option("--gogc", metavar="N|off", envvar="GOGC", help="GC target percent (env GOGC).")
@click.option("--memlimit", metavar="BYTES", envvar="GOMEMLIMIT",
              help="Soft memory limit (env GOMEMLIMIT).")
@click.option("--procs", metavar="N", envvar="GOMAXPROCS", help="Modelled GOMAXPROCS.")
@click.option("--gc", "gc_mode", type=click.Choice(["pacer", "recorded"]), default="pacer",
              show_default=True, help="Who starts GC cycles (what-ifs need pacer).")
@click.option("--json", "as_json", is_flag=True,
              help="The same as data: claims with the figures behind them (paths into the "
                   "runs' reports), suggestions, and every run's full JSON report.")
@click.option("--html", "html", type=click.Path(dir_okay=False), metavar="FILE.html",
              help="Also write the first run's pictures with the attribution table and this "
                   "text as one HTML page (never overwritten without --force).")
@click.option("--force", is_flag=True, help="Overwrite an existing --html file.")
@click.pass_context
def explain(ctx, trace, go_version, table, gogc, memlimit, procs, gc_mode, as_json,
            html=None, force=False):
    """Explain where TRACE's held memory goes (sparse spans and the types that strand them,
    free pages, free slots, rounding waste, GC cycles) and what GOGC=50, a GOMEMLIMIT and
    another size-class table do to it, each replayed in this run."""

    from goalloc.cli.replay import prepare
    from goalloc.errors import GoallocError
    from goalloc.report import explain as ex
    from goalloc.report import jsontext

    if html is not None:
        from goalloc.trace.writer import check_output

        check_output(html, force)  # before any work
    specs, originals = prepare(ctx, (trace,), no_pagecache=False, lock_costs=None,
                               go_version=go_version, table=table, gogc=gogc,
                               memlimit=memlimit, procs=procs, gc_mode=gc_mode)
    if len(specs) != 1:
        raise GoallocError("explain takes one value per option")
    (spec,) = specs
    keep: list = []
    doc = ex.run(spec.trace, spec.config, header=spec.header.to_map(), keep=keep)
    if spec.trace in originals:
        doc["trace"] = str(originals[spec.trace]["path"])
    if html is not None:
        from goalloc.cli.replay import write_atomic
        from goalloc.report.html import data, page

        base = doc["runs"][0]["report"]
        text = jsontext.dumps(base) + "\n"
        series = data.series(keep[0], keep[1], base)
        write_atomic(html, page([{"json": text, "series": series,
                                  "explain": ex.lines(doc)}]), force)
    if as_json:
        click.echo(jsontext.dumps(doc))
        return
    from rich.console import Console

    ex.render(doc, Console())
