"""`goalloc report TRACE... [knobs] -o report.html`: replay and draw the pictures, one
self-contained HTML file (goalloc.report.html), or the figures as SVG/PNG files.

Knob options are replay's own (the same click options, so they parse and default alike);
comma lists and several traces give a grid: a what-if overlay and small multiples per trace.
"""

from __future__ import annotations

import click

from goalloc.cli import replay as replay_cli

# replay's options that choose a configuration, shared as they are
KNOBS = ("go_version", "table", "gogc", "memlimit", "procs", "gc_mode", "no_pagecache",
         "lock_costs", "jobs")


def knob_options(f):
    """Attach replay's knob options to a command function (same objects, same help)."""
    params = [p for p in replay_cli.replay.params if p.name in KNOBS]
    f.__click_params__ = getattr(f, "__click_params__", []) + list(reversed(params))
    return f


@click.command()
@click.argument("traces", nargs=-1, required=True, type=click.Path(dir_okay=False),
                metavar="TRACE...")
@click.option("-o", "--output", required=True, type=click.Path(), metavar="FILE|DIR",
              help="The HTML file; with --format svg or png, the directory for the figures "
                   "(created; files in it never overwritten without --force).")
@click.option("--format", "fmt", type=click.Choice(["html", "svg", "png"]), default="html",
              show_default=True,
              help="html: one self-contained page; svg or png: one file per figure (png "
                   "renders them in a headless Chromium, which must be installed).")
@click.option("--validate/--no-validate", default=None,
              help="Fidelity section (model against the recorded runtime): default on when "
                   "the trace recorded runtime facts (a Go execution trace).")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@knob_options
@click.pass_context
def report(ctx, traces, output, fmt, validate, force, go_version, table, gogc, memlimit,
           procs, gc_mode, no_pagecache, lock_costs, jobs):
    """Replay TRACE(s) and write an HTML report of pictures: heap timeline with GC cycles and
    pauses, what-if overlays, size classes, GC pauses and MMU, heap lock, fidelity.

    The page opens offline (nothing is fetched) and embeds each run's JSON report (exactly
    `goalloc replay --json`'s)."""
    import os

    from goalloc.errors import GoallocError
    from goalloc.report.html import png

    if fmt == "html" and os.path.exists(output) and not force:
        raise GoallocError(f"{output}: already exists (use --force to overwrite)")
    if fmt != "html" and os.path.exists(output) and not os.path.isdir(output):
        raise GoallocError(f"{output}: not a directory (--format {fmt} writes one file per "
                           "figure into -o DIR)")
    browser = png.require_browser() if fmt == "png" else None
    replay_cli.check_jobs(jobs)
    runs = replay_runs(ctx, traces, validate=validate, jobs=jobs, go_version=go_version,
                       table=table, gogc=gogc, memlimit=memlimit, procs=procs, gc_mode=gc_mode,
                       no_pagecache=no_pagecache, lock_costs=lock_costs)
    from goalloc.report.html import page

    html = page(runs)
    if fmt == "html":
        replay_cli.write_atomic(output, html, force)
        return
    write_figures(html, output, fmt, force, browser)


def replay_runs(ctx, traces, *, validate, jobs, lock_costs, no_pagecache, **knobs) -> list:
    """Replay every configuration: [{"json", "series"}] in grid order."""
    from goalloc.report.html import runner

    specs, originals = replay_cli.prepare(ctx, traces, no_pagecache=no_pagecache,
                                          lock_costs=lock_costs, **knobs)
    if len(specs) == 1:
        (spec,) = specs
        out = runner.replay_run(spec, original=originals.get(spec.trace), validate=validate,
                                run=replay_cli.progress_run(spec.events))
        return [out]
    if validate:
        from goalloc.errors import GoallocError

        raise GoallocError(f"--validate needs a single configuration; this replays "
                           f"{len(specs)} (fidelity is shown by default for recorded Go traces)")
    return replay_cli.run_specs(specs, jobs, None, fn=runner.run_one)


def write_figures(html: str, directory: str, fmt: str, force: bool, browser: str | None) -> None:
    """Every figure of the page as DIR/<figure id>.svg or .png (each written whole)."""
    import os

    from goalloc.report.html import png

    os.makedirs(directory, exist_ok=True)
    figs = png.figures_of(html)
    paths = [os.path.join(directory, f"{fid}.{fmt}") for fid, _ in figs]
    if not force:
        from goalloc.errors import GoallocError

        for p in paths:
            if os.path.exists(p):
                raise GoallocError(f"{p}: already exists (use --force to overwrite)")
    if fmt == "png":
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            blobs = list(pool.map(lambda fp: png.svg_to_png(fp[1][1], fp[0], browser),
                                  zip(paths, figs, strict=True)))
    else:
        blobs = [svg.encode() for _, svg in figs]
    for path, blob in zip(paths, blobs, strict=True):
        replay_cli.write_atomic(path, blob, force)
    click.echo(f"{len(paths)} figures written to {directory}/", err=True)
