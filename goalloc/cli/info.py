"""`goalloc info TRACE`: header, contents, size histogram and validation findings."""

from __future__ import annotations

import click


@click.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Write the summary as JSON to stdout.")
@click.option("--lenient", is_flag=True, help="Count and skip anomalous events instead of stopping.")
def info(trace, as_json, lenient):
    """Summarise and validate TRACE (a goalloc msgpack trace)."""
    from goalloc.cli.common import progress_for
    from goalloc.report import traceinfo
    from goalloc.trace.reader import TraceReader
    from goalloc.trace.validate import scan

    with TraceReader(trace) as r:
        total = r.header.events
    with progress_for("scanning", total) as advance:
        summary = scan(trace, lenient=lenient, progress=advance)
    if as_json:
        click.echo(traceinfo.to_json(summary), nl=False)
    else:
        from rich.console import Console

        traceinfo.render(summary, Console())
