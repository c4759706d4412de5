"""Helpers shared by the command modules (kept free of numba and heavy imports)."""

from __future__ import annotations

import contextlib
import sys
import time


@contextlib.contextmanager
def progress_for(label: str, total: int | None, *, min_seconds: float = 1.0):
    """Yield `advance(n)`. A transient rich bar appears on a terminal once the work has taken
    `min_seconds`, with the real total when the trace header has one; never when piped."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    start = time.monotonic()
    state = {"bar": None, "task": None, "done": 0}
    progress = Progress(
        TextColumn(f"{label}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} events"),
        TimeRemainingColumn(), console=Console(stderr=True), transient=True,
    )

    def advance(n: int) -> None:
        state["done"] += n
        if state["bar"] is None:
            if time.monotonic() - start < min_seconds:
                return
            progress.start()
            state["bar"] = progress
            state["task"] = progress.add_task(label, total=total, completed=state["done"])
        else:
            progress.update(state["task"], completed=state["done"])

    try:
        yield advance
    finally:
        if state["bar"] is not None:
            progress.stop()


# Import notes that are facts about the trace, not things the import could not map.
_IMPORT_FACTS = ("events", "lines", "live_at_end", "generations", "gomaxprocs", "go_events",
                 "trace_events", "frees_without_p", "time_markers", "go_version",
                 "go_version_source", "beyond_inline_marks", "tracer_buffers",
                 "tracer_buffer_bytes", "metric_samples", "mark_cpu", "mark_cycles", "scavenger",
                 "scheduling", "sweep")
# Notes that say how a Go trace was read faithfully (docs/importers.md).
_IMPORT_ADJUSTED = ("tiny_allocs_in_block", "trigger_allocs_moved", "large_allocs_moved",
                    "large_allocs_carried", "late_mcache_flushes", "idle_p_flushes",
                    "snapshot_mcaches", "metric_samples_moved", "metric_samples_by_read_age")


def echo_import_summary(out, notes: dict, *, err: bool = False) -> None:
    """The lines `import` and `record` print about an import: what was written, the Go
    release and how it is known, what was adjusted to follow the runtime, what was not
    mapped."""
    import click

    def line(text):
        click.echo(text, err=err)

    def listing(keys):
        return ", ".join(f"{k.replace('_', ' ')} {notes[k]:,}" for k in keys)

    if "lines" in notes:
        line(f"{out}: {notes['events']:,} events from {notes['lines']:,} lines")
    else:
        line(f"{out}: {notes['events']:,} events from {notes['trace_events']:,} Go trace "
             f"events in {notes['generations']:,} generations, GOMAXPROCS {notes['gomaxprocs']}")
    if notes.get("go_version"):
        line(f"Go release: {notes['go_version']} ({notes.get('go_version_source')})")
    if notes.get("mark_cpu"):
        mc = notes["mark_cpu"]
        line(f"mark CPU over {mc['cycles']:,} cycles (gctrace's assist/background/idle): "
             f"{mc['assist_ns'] / 1e6:.1f}/{mc['background_ns'] / 1e6:.1f}/"
             f"{mc['idle_ns'] / 1e6:.1f} ms in {mc['wall_ns'] / 1e6:.1f} ms of marking")
    if notes.get("scheduling"):
        sc = notes["scheduling"]
        line(f"goroutine runs: {sc['runs']:,}; a running P's mean wait for its next scheduler "
             f"pass {sc['residual_ns'] / 1e6:.2f} ms (where a fractional mark worker can start)")
    if notes.get("sweep"):
        sw = notes["sweep"]
        line(f"mutators' sweep: {sw['ranges']:,} ranges, {sw['ns'] / 1e6:.1f} ms, "
             f"{sw['swept_bytes'] / 2**20:.1f} MiB swept (allocation-path sweeping; the "
             "background sweeper is not traced)")
    adjusted = [k for k in _IMPORT_ADJUSTED if notes.get(k)]
    if adjusted:
        line("read as the runtime ran: " + listing(adjusted))
    if notes.get("metric_samples"):
        line(f"runtime/metrics samples kept: {notes['metric_samples']:,} (trace.Log category "
             "goalloc.metrics; replay --validate compares the memory classes with them)")
    unmapped = [k for k, v in notes.items()
                if k not in _IMPORT_FACTS and k not in _IMPORT_ADJUSTED and v]
    if unmapped:
        line("not mapped: " + listing(unmapped))


def jsonl_to_msgpack(src, out, *, codec=None, force: bool = False) -> None:
    """Write the JSON Lines trace `src` as a goalloc msgpack trace `out` (the writer counts
    the events)."""
    from goalloc.trace import jsonl
    from goalloc.trace.header import Header
    from goalloc.trace.writer import Writer

    header, chunks = jsonl.read_jsonl(src)
    header = Header(**{**header.__dict__, "events": None})
    kw = {} if codec is None else {"codec": codec}
    with Writer(out, header, force=force, **kw) as w:
        for cols in chunks:
            w.write(**cols)


def jsonl_traces(paths, enter_context) -> dict:
    """For commands that read traces: every JSON Lines trace among `paths` is written to a
    msgpack trace in a temporary directory (removed by `enter_context`, e.g. click's
    ctx.with_resource, when the command ends). Returns {path: {"path", "format": "jsonl",
    "sha256" (of the JSON Lines file), "trace" (the temporary trace)}}, as the recorder
    importers' `import_recorder_files` does; other files are left out."""
    import os
    import tempfile

    from goalloc.report.replay import file_sha256
    from goalloc.trace import jsonl

    out: dict = {}
    tmp = None
    for src in dict.fromkeys(paths):
        try:
            # an empty file is no trace of either kind: the msgpack reader says so
            if not os.path.isfile(src) or not os.path.getsize(src) \
                    or not jsonl.looks_like_jsonl(src):
                continue
        except OSError:
            continue  # the command reports unreadable files in its own words
        if tmp is None:
            tmp = enter_context(tempfile.TemporaryDirectory(prefix="goalloc-jsonl-"))
        dst = os.path.join(tmp, f"{len(out)}-{os.path.basename(src)}.msgpack")
        jsonl_to_msgpack(src, dst)
        out[src] = {"path": os.fspath(src), "format": "jsonl", "sha256": file_sha256(src),
                    "trace": dst}
    return out
