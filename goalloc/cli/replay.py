"""`goalloc replay TRACE`: replay a trace through the allocator/GC model and report the heap.

This module only parses options and knobs and picks outputs; the engine (goalloc.engine) does
the replay and goalloc.report.replay renders. numba is imported only once a replay runs, so
`goalloc replay --help` stays fast.
"""

from __future__ import annotations

import click

LENIENT_HINT = " (use --lenient to skip such events)"


@click.command()
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--go-version", "go_version", metavar="V",
              help="Modelled Go version profile: 1.19, 1.22 or 1.26 (any 1.x maps to its "
                   "profile). Default: the trace header's, else the newest.")
@click.option("--classes", "table", default="go", show_default=True, metavar="TABLE",
              help="Size-class table: a built-in name (go, jemalloc, pow2, go-waste<P>) or a "
                   ".toml/.json file.")
@click.option("--gogc", metavar="N|off", envvar="GOGC",
              help="GC target percent, or off (env GOGC; the flag wins). Default 100.")
@click.option("--memlimit", metavar="BYTES", envvar="GOMEMLIMIT",
              help="Soft memory limit: bytes with B, KiB, MiB, GiB or TiB, or off "
                   "(env GOMEMLIMIT; the flag wins). Default: unlimited.")
@click.option("--procs", metavar="N", envvar="GOMAXPROCS",
              help="Modelled GOMAXPROCS (env GOMAXPROCS; the flag wins). Default: the trace's.")
@click.option("--gc", "gc_mode", type=click.Choice(["pacer", "recorded"]), default="pacer",
              show_default=True,
              help="pacer: the model starts GC cycles; recorded: the trace's GC markers do.")
@click.option("--json", "as_json", is_flag=True, help="Write the JSON report to stdout.")
@click.option("-o", "--json-out", "json_out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the JSON report to FILE (never overwritten without --force).")
@click.option("--gctrace", is_flag=True,
              help="Print one GODEBUG=gctrace=1 style line per modelled cycle instead of the "
                   "text report (unmodelled fields print as 0; see docs/json.md).")
@click.option("--timeline", "timeline", type=click.Path(dir_okay=False), metavar="FILE.csv",
              help="Write the memory classes over time as CSV (never overwritten without --force).")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.pass_context
def replay(ctx, trace, go_version, table, gogc, memlimit, procs, gc_mode, as_json, json_out,
           gctrace, timeline, force):
    """Replay TRACE through a model of the Go runtime's allocator and GC and report memory
    classes, fragmentation, size classes and GC cycles (all figures are the model's)."""
    import os

    from goalloc.errors import GoallocError
    from goalloc.report import knobs

    if as_json and gctrace:
        raise GoallocError("--json and --gctrace both write to stdout; use -o FILE for the JSON")
    for out in (json_out, timeline):
        if out is not None and os.path.exists(out) and not force:
            raise GoallocError(f"{out}: already exists (use --force to overwrite)")
    if timeline is not None and not _engine_has_timeline():
        raise GoallocError("--timeline: the replay engine does not provide a timeline yet")

    from click.core import ParameterSource

    from goalloc.engine.config import NEWEST_GO_VERSION, Config

    cfg = Config(table=table, gc_mode=gc_mode)
    sources = {}

    def knob(param, name, value, parse, default):
        """Parse one knob; errors name it as the user set it (GOGC=... or --gogc ...)."""
        if value is None:
            sources[name.lower()] = default
            return None
        env = ctx.get_parameter_source(param) == ParameterSource.ENVIRONMENT
        sources[name.lower()] = "env" if env else "flag"
        return parse(value, name if env else f"--{param}")

    if gogc is not None:
        cfg.gogc = knob("gogc", "GOGC", gogc, knobs.parse_gogc, "default")
    else:
        knob("gogc", "GOGC", None, None, "default")
    cfg.memlimit = knob("memlimit", "GOMEMLIMIT", memlimit, knobs.parse_memlimit, "default")
    cfg.procs = knob("procs", "GOMAXPROCS", procs, knobs.parse_procs, "trace")
    cfg.check()

    from goalloc.sizeclasses import get_table, resolve_version
    from goalloc.trace.reader import TraceReader

    get_table(table)  # a bad table name fails before the trace is read
    with TraceReader(trace) as r:
        header = r.header
    if go_version is not None:
        resolve_version(go_version)
        cfg.go_version = go_version
        sources["go_version"] = "flag"
    else:
        sources["go_version"] = "trace" if header.go_version else "default"
        resolve_version(header.go_version or NEWEST_GO_VERSION)

    report = _run(trace, cfg, header.events)

    from goalloc.report import replay as rep

    if timeline is not None:
        tl = getattr(report, "timeline", None)
        if tl is None:
            raise GoallocError("--timeline: the replay engine does not provide a timeline yet")
        _write_atomic(timeline, rep.timeline_csv(tl), force)
    if as_json or json_out is not None:
        text = rep.to_json(report, trace, cfg, header=header.to_map(), sources=sources)
        if json_out is not None:
            _write_atomic(json_out, text, force)
        if as_json:
            click.echo(text, nl=False)
            return
    if gctrace:
        click.echo(rep.gctrace_text(report, stacks=cfg.stack_bytes, globals_=cfg.globals_bytes),
                   nl=False)
        return
    from rich.console import Console

    rep.render(report, Console(), header=header.to_map(), sources=sources)


def _engine_has_timeline() -> bool:
    import dataclasses

    from goalloc.engine.report import Report

    if dataclasses.is_dataclass(Report):
        if any(f.name == "timeline" for f in dataclasses.fields(Report)):
            return True
    return hasattr(Report, "timeline")


def _run(trace, cfg, total):
    """Replay with a progress bar (after a second, on a terminal) and the one-time JIT note."""
    import inspect
    import sys

    import goalloc
    from goalloc.cli.common import progress_for
    from goalloc.engine import replay as engine_replay
    from goalloc.errors import TraceError

    will_compile = getattr(engine_replay, "will_compile", None)
    if callable(will_compile) and will_compile():
        click.echo("compiling the replay engine (once after install) ...", err=True)
        sys.stderr.flush()
    try:
        with progress_for("replaying", total) as advance:
            return goalloc.replay(trace, cfg, progress=advance)
    except TraceError as e:
        # The engine's validation suggests --lenient; say nothing of it until replay has one.
        if e.reason.endswith(LENIENT_HINT) and \
                "lenient" not in inspect.signature(engine_replay.replay).parameters:
            raise TraceError(e.path, e.reason[: -len(LENIENT_HINT)], offset=e.offset,
                             event=e.event, line=e.line) from None
        raise


def _write_atomic(path, text: str, force: bool) -> None:
    from goalloc.trace.writer import AtomicFile

    f = AtomicFile(path, force=force)
    try:
        f.file.write(text.encode())
        f.commit()
    except BaseException:
        f.discard()
        raise
