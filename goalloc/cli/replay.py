"""`goalloc replay TRACE`: replay a trace through the allocator/GC model and report the heap.

This module parses options and knobs, calls the library and writes what it returns:
goalloc.report.run.replay_one replays one configuration (report, JSON, fidelity), goalloc.grid
runs a grid, goalloc.report renders. numba is imported only once a replay runs, so
`goalloc replay --help` stays fast.
"""

from __future__ import annotations

import json
import os

import click


@click.command()
@click.argument("traces", nargs=-1, required=True, type=click.Path(dir_okay=False),
                metavar="TRACE...")
@click.option("--go-version", "go_version", metavar="V[,V...]",
              help="Modelled Go version profile: 1.19, 1.22 or 1.26 (any 1.x maps to its "
                   "profile). Default: the trace header's, else the newest.")
@click.option("--classes", "table", default="go", show_default=True, metavar="TABLE[,TABLE...]",
              help="Size-class table: a built-in name (go, jemalloc, pow2, go-waste<P>) or a "
                   ".toml/.json file.")
@click.option("--gogc", metavar="N|off[,...]", envvar="GOGC",
              help="GC target percent, or off (a negative percent is off, as in Go; env GOGC; "
                   "the flag wins). Default 100.")
@click.option("--memlimit", metavar="BYTES[,...]", envvar="GOMEMLIMIT",
              help="Soft memory limit: bytes with B, KiB, MiB, GiB or TiB, or off "
                   "(env GOMEMLIMIT; the flag wins). Default: unlimited.")
@click.option("--procs", metavar="N[,N...]", envvar="GOMAXPROCS",
              help="Modelled GOMAXPROCS (env GOMAXPROCS; the flag wins). Default: the trace's. "
                   "The trace's P p runs on modelled P p mod N (docs/model.md).")
@click.option("--gc", "gc_mode", type=click.Choice(["pacer", "recorded"]), default="pacer",
              show_default=True,
              help="pacer: the model starts GC cycles; recorded: the trace's GC markers do.")
@click.option("--no-pagecache", "no_pagecache", is_flag=True,
              help="What-if: no per-P page cache, so every span allocation takes the heap "
                   "lock (the lock report shows what the cache saves).")
@click.option("--tracer-buffers", "tracer_buffers", type=click.Choice(["keep", "drop"]),
              default=None,
              help="The execution tracer's own 2.25 MiB of buffers in a Go trace (absent from "
                   "the untraced program): default drop in pacer mode (what-if), keep in "
                   "recorded mode and with --validate.")
@click.option("--packed-span-scan/--no-packed-span-scan", "packed_span_scan", default=None,
              help="Go 1.26+ (Green Tea): whether the recording CPU ran the runtime's packed "
                   "span scan (amd64 with AVX-512), which counts a densely marked span's "
                   "objects whole as scan work. Default: what `goalloc record` noted, else "
                   "off.")
@click.option("--mark-end-wait-ns", "mark_end_wait_ns", type=click.IntRange(0, (1 << 40) - 1),
              metavar="NS",
              help="Pacer mode without a dedicated mark worker (GOMAXPROCS 1-3): how long a "
                   "mark whose work passed maxScanWork (Green Tea's packed scan) ends after "
                   "its workers finish, waiting for a P's scheduler pass, in ns. Default: the "
                   "recording's (a Go trace's goroutine runs); 0: no wait.")
@click.option("--death-range/--no-death-range", "death_range", default=True,
              help="Pacer mode on a Go trace: replay twice more with every death at the "
                   "earliest and latest point the trace admits, and show each figure's range "
                   "(default on; the central value is the answer).")
@click.option("--mark-speed-samples", "mark_speed_samples", type=click.IntRange(0, 64),
              default=0, metavar="K",
              help="Pacer mode on a Go recording: replay K times more with each mark as fast "
                   "as one of the recording's own marks, and show each what-if figure's mean "
                   "and range over them: the spread the runtime's varying marks give real "
                   "runs (default 0: none; the validation uses 6, docs/model.md).")
@click.option("--lock-costs", "lock_costs", type=click.Path(dir_okay=False, exists=True),
              metavar="FILE.toml",
              help="Cost model overrides: [heap-lock] hold ns per operation, [pauses] "
                   "sweep-term-fixed / mark-term-fixed / per-p ns (docs/model.md).")
@click.option("--scavenge-page-ns", "scavenge_page_ns", type=float, metavar="NS",
              help="What releasing a 4 KiB page to the OS costs (madvise), in ns; default 217, "
                   "measured by benchmarks/bench_scavcost.py (docs/model.md, Scavenger).")
@click.option("--scavenge-call-ns", "scavenge_call_ns", type=float, metavar="NS",
              help="... and each madvise call (one per contiguous run), in ns; default 1700.")
@click.option("--scavenger-timing", "scavenger_timing", type=click.Choice(["model", "recorded"]),
              default=None,
              help="When the background scavenger works: recorded (--gc recorded, a Go trace: "
                   "in the recording's own scavenger runs; the default there when the trace "
                   "has them) or model (its sleep controller, as the runtime paces it).")
@click.option("--json", "as_json", is_flag=True, help="Write the JSON report to stdout.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "benchstat", "gab", "pprof"]),
              default=None, help="stdout format: text (default), json (= --json), benchstat "
                                 "(Go benchmark format), gab (github-action-benchmark JSON); "
                                 "pprof writes a profile.proto of the attribution to -o "
                                 "FILE.pb.gz (implies --attribute).")
@click.option("--attribute", is_flag=True,
              help="Attribute memory to the Go type or call site each object was allocated "
                   "with (the trace's sites): live, held, rounding, stranded spans per site, "
                   "in the text and JSON reports (docs/model.md, Attribution).")
@click.option("--peak-spans", "peak_spans", is_flag=True,
              help="With --attribute (implied): also each site's spans at the peak of held "
                   "memory (held, kept, stranded, free slots), from one more replay that "
                   "stops there.")
@click.option("-o", "--json-out", "json_out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the JSON report to FILE (never overwritten without --force) and "
                   "say so in one line instead of printing the text report (--format/--json/"
                   "--gctrace still print to stdout).")
@click.option("--gctrace", is_flag=True,
              help="Print one GODEBUG=gctrace=1 style line per modelled cycle instead of the "
                   "text report (unmodelled fields print as 0; see docs/json.md).")
@click.option("--timeline", "timeline", type=click.Path(dir_okay=False), metavar="FILE.csv",
              help="Write the memory classes over time as CSV (never overwritten without --force).")
@click.option("--html", "html", type=click.Path(dir_okay=False), metavar="FILE.html",
              help="Also write the pictures as one self-contained HTML page (goalloc report; "
                   "never overwritten without --force).")
@click.option("-j", "--jobs", type=int, metavar="N",
              help="Grids: replays at once on this machine, on threads (default: the number of cores).")
@click.option("--dask", metavar="ADDRESS",
              help="Grids: run on the Dask scheduler at ADDRESS (pip install 'goalloc[dask]'; "
                   "trace paths must be readable by the workers).")
@click.option("--validate", is_flag=True,
              help="Fidelity report: the model against the runtime facts the trace recorded "
                   "(span bytes at every mark start, spans per class, heap goals, cycles); "
                   "exit 1 when a target is missed (docs/model.md, Fidelity).")
@click.option("--rerun", "reruns", multiple=True, type=click.Path(exists=True, dir_okay=False),
              metavar="OTHER",
              help="With --validate: another recording of the same program and setting "
                   "(repeatable); its runtime/metrics samples against this trace's show the "
                   "runtime's own run-to-run spread beside the model's error.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
@click.pass_context
def replay(ctx, traces, go_version, table, gogc, memlimit, procs, gc_mode, no_pagecache,
           lock_costs, as_json, fmt, json_out, gctrace, timeline, jobs, dask, force,
           validate=False, html=None, tracer_buffers=None, death_range=True,
           packed_span_scan=None, attribute=False, scavenge_page_ns=None,
           scavenge_call_ns=None, peak_spans=False, scavenger_timing=None,
           mark_end_wait_ns=None, mark_speed_samples=0, reruns=()):
    """Replay TRACE through a model of the Go runtime's allocator and GC and report memory
    classes, fragmentation, size classes and GC cycles (all figures are the model's).

    Comma-separated values of --go-version, --classes, --gogc, --memlimit and --procs, or
    several TRACEs, replay every combination (a grid: trace, then Go version, table, GOGC,
    GOMEMLIMIT, GOMAXPROCS) in parallel and print one table; --json writes all the reports
    (schema goalloc-grid/1, docs/json.md).

    TRACE may also be a recorder's file (a Go execution trace, an mtrace or a heaptrack raw
    file): it is imported to a temporary goalloc trace first."""
    fmt, json_out, pprof_out, attribute = stdout_format(as_json, fmt, json_out, gctrace,
                                                        attribute or peak_spans)
    check_outputs(force, json_out, timeline, html, pprof_out)
    check_jobs(jobs)
    if validate and tracer_buffers is None:
        tracer_buffers = "keep"  # the recording it is compared with had them
    if reruns and not validate:
        from goalloc.errors import GoallocError

        raise GoallocError("--rerun needs --validate (it measures the runtime's own spread "
                           "beside the model's error)")
    specs, originals = prepare(ctx, traces, no_pagecache=no_pagecache, lock_costs=lock_costs,
                               go_version=go_version, table=table, gogc=gogc,
                               memlimit=memlimit, procs=procs, gc_mode=gc_mode,
                               tracer_buffers=tracer_buffers,
                               packed_span_scan=packed_span_scan,
                               mark_end_wait_ns=mark_end_wait_ns,
                               scavenge_costs={"scavenge_page_ns": scavenge_page_ns,
                                               "scavenge_call_ns": scavenge_call_ns,
                                               "scavenger_timing": scavenger_timing})
    for s in specs:
        s.death_range = death_range and not validate  # --validate compares the central replay
        s.mark_speed_samples = 0 if validate else mark_speed_samples
    if len(specs) > 1:
        _refuse_in_grid(len(specs), gctrace=gctrace, timeline=timeline is not None,
                        validate=validate, attribute=attribute, rerun=bool(reruns))
        _grid(specs, fmt, json_out, force, jobs, dask, html)
        return
    from goalloc.report.run import replay_one

    (spec,) = specs
    original = originals.get(spec.trace)
    out = replay_one(spec, original=original, validate=validate and pprof_out is None,
                     reruns=_imported(ctx, reruns), attribute=attribute, peak_spans=peak_spans,
                     want_json=fmt != "text" or json_out is not None or html is not None,
                     want_engine=html is not None, run=progress_run(spec.header.events))
    if pprof_out is not None:
        _write_pprof(pprof_out, out.report, spec.trace, force)
        return
    if timeline is not None:
        _write_timeline(timeline, out.report, force)
    if json_out is not None:
        write_atomic(json_out, out.json, force)
    if html is not None:
        _write_html(html, out, force)
    if gctrace:  # instead of the text report (and, as before, whatever the fidelity)
        _echo_gctrace(out.report, spec.config)
        return
    if fmt == "json":
        click.echo(out.json, nl=False)
    elif fmt != "text":
        click.echo(_bench_format(fmt, [json.loads(out.json)]), nl=False)
    elif json_out is not None:  # -o alone: the file, and one line saying where it went
        _wrote(json_out, out.json, 1, out.fidelity)
    else:
        _render_text(out, spec, original)
    _validate_exit(ctx, out.fidelity)


def stdout_format(as_json, fmt, json_out, gctrace, attribute):
    """(stdout format, -o JSON file, pprof file, attribute) from the output options, refusing
    two writers of stdout. --format pprof writes its profile to -o (with --attribute)."""
    from goalloc.errors import GoallocError

    if as_json:
        if fmt not in (None, "json"):
            raise GoallocError(f"--json and --format {fmt} both choose the stdout format")
        fmt = "json"
    fmt = fmt or "text"
    pprof_out = None
    if fmt == "pprof":  # the profile goes to -o; nothing on stdout but one line on stderr
        if json_out is None:
            raise GoallocError("--format pprof writes a file: give -o FILE.pb.gz")
        pprof_out, json_out, fmt, attribute = json_out, None, "text", True
    if fmt != "text" and gctrace:
        raise GoallocError(f"--format {fmt} and --gctrace both write to stdout; "
                           "use -o FILE for the JSON")
    return fmt, json_out, pprof_out, attribute


def check_outputs(force: bool, *paths) -> None:
    """Before any work: an output file that exists (without --force) is one line, nothing
    written."""
    from goalloc.trace.writer import check_output

    for out in paths:
        if out is not None:
            check_output(out, force)


def check_jobs(jobs) -> None:
    from goalloc.errors import GoallocError

    if jobs is not None and jobs < 1:
        raise GoallocError(f"--jobs must be at least 1, not {jobs}")


def _imported(ctx, paths) -> list[tuple[str, str]]:
    """(goalloc trace, the user's path) of each: recorders' files imported to temporary
    goalloc traces (removed when the command ends)."""
    from goalloc.trace.importers import import_recorder_files

    done = import_recorder_files(list(paths), ctx.with_resource)
    return [(done.get(p, {}).get("trace", p), p) for p in paths]


def _refuse_in_grid(runs: int, **flags) -> None:
    """Options that describe one replay, refused for a grid of `runs`."""
    from goalloc.errors import GoallocError

    for name, on in flags.items():
        if on:
            raise GoallocError(f"--{name} needs a single configuration; this replays "
                               f"{runs} (one trace, one value per option)")


def _write_pprof(path, report, trace, force: bool) -> None:
    from goalloc.report.pprof import profile_bytes

    data = profile_bytes(report.attribution, [f"goalloc replay {os.path.basename(trace)}"])
    write_atomic(path, data, force)
    click.echo(f"goalloc: wrote {path} (pprof profile, "
               f"{len(report.attribution['rows'])} sites)", err=True)


def _write_timeline(path, report, force: bool) -> None:
    from goalloc.report.caveats import has_clock
    from goalloc.report.replay import timeline_csv

    write_atomic(path, timeline_csv(report.timeline, clock=has_clock(report)), force)


def _write_html(path, out, force: bool) -> None:
    from goalloc.report.html import data, page

    series = data.series(out.report, out.engine, json.loads(out.json))
    write_atomic(path, page([{"json": out.json, "series": series}]), force)


def _echo_gctrace(report, config) -> None:
    from goalloc.report.replay import gctrace_text

    click.echo(gctrace_text(report, stacks=config.stack_bytes, globals_=config.globals_bytes),
               nl=False)


def _render_text(out, spec, original) -> None:
    from rich.console import Console

    from goalloc.report import replay as rep

    console = Console()
    rep.render(out.report, console, header=spec.header.to_map(), sources=spec.sources,
               name=(original or {}).get("path"))
    if out.report.attribution is not None:
        from goalloc.report.attribution import render as render_attribution

        render_attribution(out.report.attribution, console)
    if out.fidelity is not None:
        from goalloc.report import fidelity

        fidelity.render(out.fidelity, console)


def _validate_exit(ctx, fid) -> None:
    """--validate: exit status 1 when a fidelity target is missed (the report says by how much)."""
    import sys

    if fid is not None and not fid.ok:
        sys.exit(1)  # as compare does: main() runs click with standalone_mode=False


def prepare(ctx, traces, *, no_pagecache, lock_costs, tracer_buffers=None, scavenge_costs=None,
            packed_span_scan=None, mark_end_wait_ns=None, **knobs):
    """(RunSpecs, {imported trace: recorder's file}) for TRACE... and the knob options: what-if
    and cost options into the base config, recorders' files imported to temporary goalloc
    traces (removed when the command ends)."""
    extra = {"no_pagecache": no_pagecache, "tracer_buffers": tracer_buffers,
             "packed_span_scan": packed_span_scan, "mark_end_wait_ns": mark_end_wait_ns}
    extra.update({k: v for k, v in (scavenge_costs or {}).items() if v is not None})
    if lock_costs is not None:
        from goalloc.engine.contention import load_costs

        extra.update(load_costs(lock_costs))
    from goalloc.cli.common import jsonl_traces
    from goalloc.trace.importers import import_recorder_files

    # JSON Lines traces and recorders' files: written to temporary goalloc traces (removed
    # when the command ends), named in the report by the path the user gave
    originals = jsonl_traces(traces, ctx.with_resource)
    originals.update(import_recorder_files([t for t in traces if t not in originals],
                                           ctx.with_resource))
    traces = tuple(originals.get(t, {}).get("trace", t) for t in traces)
    originals = {v["trace"]: v for v in originals.values()}
    specs = build_specs(ctx, traces, extra=extra, **knobs)
    for s in specs:
        s.original = originals.get(s.trace)  # named by the user's path in the grid's JSON
    return specs, originals


def build_specs(ctx, traces, *, go_version, table, gogc, memlimit, procs, gc_mode,
                lists: bool = True, extra: dict | None = None):
    """Parse the knobs (comma lists from flags when `lists`; an environment variable is one
    value, as Go reads it) and check tables, versions and traces before anything runs.
    Returns goalloc.grid.RunSpecs in grid order, each with its `header` attached."""
    from click.core import ParameterSource

    from goalloc.engine.config import NEWEST_GO_VERSION, Config
    from goalloc.errors import GoallocError
    from goalloc.grid import expand, split_list
    from goalloc.report import knobs
    from goalloc.sizeclasses import get_table, resolve_version
    from goalloc.trace.reader import TraceReader

    sources = {}

    def knob(param, name, value, parse, default_source, default_value):
        """Parse one knob's values; errors name it as the user set it (GOGC=... or --gogc)."""
        if value is None:
            sources[name.lower()] = default_source
            return [default_value]
        env = ctx.get_parameter_source(param) == ParameterSource.ENVIRONMENT
        sources[name.lower()] = "env" if env else "flag"
        items = [value] if env or not lists else split_list(value)
        if not items:
            raise GoallocError(f"--{param}: no value given")
        return [parse(v, name if env else f"--{param}") for v in items]

    gogcs = knob("gogc", "GOGC", gogc, knobs.parse_gogc, "default", 100)
    limits = knob("memlimit", "GOMEMLIMIT", memlimit, knobs.parse_memlimit, "default", None)
    procs_ = knob("procs", "GOMAXPROCS", procs, knobs.parse_procs, "trace", None)
    tables = split_list(table) if lists else [table]
    if not tables:
        raise GoallocError("--classes: no table given")
    for t in tables:
        get_table(t)  # a bad table name fails before any trace is read
    versions = [None]
    if go_version is not None:
        versions = split_list(go_version) if lists else [go_version]
        if not versions:
            raise GoallocError("--go-version: no version given")
        for v in versions:
            resolve_version(v)
    base = Config(gc_mode=gc_mode, **(extra or {}))  # extra: issue #6 what-ifs and costs
    for g in gogcs:
        for m in limits:
            for p in procs_:
                Config(gogc=g, memlimit=m, procs=p, gc_mode=gc_mode).check()
    headers = {}
    for trace in dict.fromkeys(traces):
        with TraceReader(trace) as r:
            headers[trace] = r.header
        if go_version is None:
            resolve_version(headers[trace].go_version or NEWEST_GO_VERSION)
    specs = expand(list(dict.fromkeys(traces)), go_versions=versions, tables=tables,
                   gogcs=gogcs, memlimits=limits, procs=procs_, base=base, sources=sources,
                   headers=headers)
    return specs


def _bench_format(fmt: str, docs: list[dict]) -> str:
    from goalloc.report import formats

    if fmt == "benchstat":
        return formats.benchstat_text(docs)
    return formats.gab_json(formats.gab_records(docs))


def run_specs(specs, jobs, dask, fn=None) -> list:
    """Run a grid with a progress bar over all its events (on a terminal, after a second)."""
    from goalloc.cli.common import progress_for
    from goalloc.grid import run_all

    total = sum(s.events for s in specs)
    with progress_for(f"replaying {len(specs)} runs", total) as advance:
        return run_all(specs, jobs=jobs, dask=dask, on_done=lambda s: advance(s.events), fn=fn)


def _grid(specs, fmt, json_out, force, jobs, dask, html=None) -> None:
    from goalloc.report.grid import grid_json, render_grid

    if html is not None:  # the HTML report's runs carry the JSON texts (replay's: no fidelity)
        import functools

        from goalloc.report.html import page, runner

        runs = run_specs(specs, jobs, dask, fn=functools.partial(runner.run_one, validate=False))
        write_atomic(html, page(runs), force)
        texts = [r["json"] for r in runs]
    else:
        texts = run_specs(specs, jobs, dask)
    doc_text = grid_json(texts) if fmt == "json" or json_out is not None else None
    if json_out is not None:
        write_atomic(json_out, doc_text, force)
        if fmt == "text":
            _wrote(json_out, doc_text, len(texts))
            return
    if fmt == "json":
        click.echo(doc_text, nl=False)
        return
    docs = [json.loads(t) for t in texts]
    if fmt != "text":
        click.echo(_bench_format(fmt, docs), nl=False)
        return
    from rich.console import Console

    render_grid(docs, Console())


def _wrote(path, text: str, runs: int, fid=None) -> None:
    """The one line `-o FILE` prints (on stderr) instead of the text report."""
    from goalloc.report.units import iec_bytes

    what = "goalloc-replay/1" if runs == 1 else f"goalloc-grid/1, {runs} runs"
    missed = "; fidelity: a target missed (exit 1)" if fid is not None and not fid.ok else ""
    click.echo(f"goalloc: wrote {path} ({what}, {iec_bytes(len(text.encode()))}){missed}",
               err=True)


def progress_run(total: int | None):
    """A `run` for goalloc.report.run.replay_one: goalloc.replay with a progress bar over
    `total` events (after a second, on a terminal); a first run's compile shows its own
    progress line (goalloc.jit)."""

    def run(trace, config, **kw):
        import goalloc
        from goalloc.cli.common import progress_for
        from goalloc.errors import TraceError
        from goalloc.report.run import replay_error

        try:
            with progress_for("replaying", total) as advance:
                return goalloc.replay(trace, config, progress=advance, **kw)
        except TraceError as e:
            raise replay_error(e, trace, None) from None

    return run


def write_atomic(path, text: str | bytes, force: bool) -> None:
    from goalloc.trace.writer import AtomicFile

    f = AtomicFile(path, force=force)
    try:
        f.file.write(text.encode() if isinstance(text, str) else text)
        f.commit()
    except BaseException:
        f.discard()
        raise
