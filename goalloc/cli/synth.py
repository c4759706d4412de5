"""`goalloc synth`: write a deterministic synthetic trace (workloads: docs/synth.md).

numba is imported only when a trace is generated, so `goalloc synth --help` stays fast.
"""

from __future__ import annotations

import click

from goalloc.synth import DESCRIPTIONS, WORKLOADS

_WORKLOAD_HELP = "\n".join(f"  {name:<11} {text}" for name, text in DESCRIPTIONS.items())


def _opt(*decls, **kw):
    kw.setdefault("default", None)
    return click.option(*decls, **kw)


@click.command(
    "synth",
    help="Generate a synthetic trace of WORKLOAD with EVENTS events into OUT.\n\n"
    "Same seed and options give a byte-identical file. Workloads:\n\n\b\n" + _WORKLOAD_HELP,
)
@click.argument("workload", type=click.Choice(list(WORKLOADS)), metavar="WORKLOAD")
@click.option(
    "-n",
    "--events",
    "events",
    type=click.IntRange(min=0),
    required=True,
    help="Number of events to write.",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    required=True,
    help="Trace file to write (never overwritten without --force).",
)
@click.option(
    "--procs",
    type=click.IntRange(1, 1 << 15),
    default=4,
    show_default=True,
    envvar="GOMAXPROCS",
    help="Number of Ps (GOMAXPROCS).",
)
@click.option("--seed", type=click.IntRange(0, (1 << 64) - 1), default=1, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@_opt("--noscan", type=float, help="Probability an allocation is pointer-free.")
@_opt("--gap-ns", type=int, help="Mean ns between events.")
@_opt(
    "--live",
    type=int,
    help="steady: cache objects; large, profile (size,weight): mean live objects.",
)
@_opt("--request-objects", type=float, help="steady: mean objects allocated per request.")
@_opt("--replace", type=float, help="steady: probability a step replaces a cache object.")
@_opt("--phases", type=int, help="batch: build/release phases over the run.")
@_opt("--keep-fraction", type=float, help="batch: fraction of allocations kept for the phase.")
@_opt("--window", type=int, help="batch, fragmenter: short-lived objects alive at once.")
@_opt("--keep-every", type=int, help="fragmenter: every k-th allocation lives to the end.")
@_opt(
    "--profile",
    "profile",
    help="profile: CSV (size,weight or size,alloc_rate,num_live) or tcmalloc:NAME.",
)
@_opt("--scale", type=float, help="profile: multiply num_live (heap size) by this.")
def synth(workload, events, output, procs, seed, force, **options):
    from goalloc.synth import generate
    from goalloc.trace.writer import check_output

    check_output(output, force)  # before any work: one line, nothing written

    try:
        from goalloc.cli.common import progress_for
    except ImportError:  # the shared helper is optional: run without a bar
        progress_for = None
    if progress_for is None:
        result = generate(workload, events, output, procs=procs, seed=seed, force=force, **options)
    else:
        with progress_for("synth", events) as advance:
            result = generate(
                workload,
                events,
                output,
                procs=procs,
                seed=seed,
                force=force,
                progress=advance,
                **options,
            )
    rate = events / result["seconds"] / 1e6 if result["seconds"] > 0 else 0.0
    click.echo(
        f"{output}: {events:,} events ({workload}, seed {seed}, {procs} Ps) "
        f"in {result['seconds']:.2f} s ({rate:.1f} M events/s)"
    )
