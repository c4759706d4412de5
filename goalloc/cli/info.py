"""`goalloc info TRACE`: header, contents, size histogram and validation findings."""

from __future__ import annotations

import click


@click.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Write the summary as JSON to stdout.")
@click.option("--lenient", is_flag=True, help="Count and skip anomalous events instead of stopping.")
@click.pass_context
def info(ctx, trace, as_json, lenient):
    """Summarise and validate TRACE (a goalloc msgpack trace, or its JSON Lines form)."""
    from goalloc.cli.common import jsonl_traces, progress_for
    from goalloc.report import traceinfo
    from goalloc.trace.reader import TraceReader
    from goalloc.trace.validate import scan

    # JSON Lines: read through a temporary msgpack trace, reported under the user's path
    src = jsonl_traces([trace], ctx.with_resource).get(trace, {}).get("trace", trace)
    with TraceReader(src) as r:
        total = r.header.events
    with progress_for("scanning", total) as advance:
        summary = scan(src, lenient=lenient, progress=advance)
    summary.path = trace
    if as_json:
        click.echo(traceinfo.to_json(summary), nl=False)
    else:
        from rich.console import Console

        traceinfo.render(summary, Console())
