"""Many replays in one run: the cartesian product of traces and configuration axes, run on
threads over the local cores (or on a Dask cluster), collected in a deterministic order.

    specs = expand(["a.msgpack"], gogcs=[50, 100], tables=["go", "pow2"])
    texts = run_all(specs, jobs=2)        # one `goalloc replay --json` text per spec, in order
    doc = grid_json(texts)                # {"schema": "goalloc-grid/1", "runs": [...]}

Order (docs/json.md): trace, then Go version, size-class table, GOGC, GOMEMLIMIT, GOMAXPROCS,
each axis in the order given. Every run's JSON is exactly what a single `goalloc replay --json`
with that configuration prints: workers call the same engine and the same renderer, and each
replay is deterministic, so the way the runs were spread over processes changes nothing.

Local runs share this process (the kernels release the GIL, so the threads replay in parallel
and the JIT cache is loaded once); Dask workers each load the cached JIT. No numba is imported
here.
"""

from __future__ import annotations

import copy
import functools
import itertools
import os
from dataclasses import dataclass, field

from goalloc.errors import GoallocError
from goalloc.report.grid import table_name, trace_name

AXES = ("trace", "go_version", "table", "gogc", "memlimit", "procs")


@dataclass
class RunSpec:
    """One replay: a trace, its configuration and where each knob came from (for the JSON's
    config.sources, as a single `goalloc replay` records them)."""

    trace: str
    config: object  # goalloc.engine.config.Config
    sources: dict = field(default_factory=dict)
    events: int = 0  # the trace header's event count (progress totals)
    header: object = None  # the trace's goalloc.trace.Header (read again by the worker if None)
    # the trace's path as the user gave it, recorded in the JSON (None: `trace`); `trace` may
    # be made absolute for workers that run elsewhere (a Dask cluster)
    name: str | None = None
    # a recorder's or JSON Lines file that `trace` was imported from (report.replay.to_dict)
    original: dict | None = None
    # pacer mode on a Go trace: also replay with the earliest and latest death times and
    # report each figure's range (engine/whatif.py), as a single `goalloc replay` does
    death_range: bool = True
    # pacer mode on a Go recording: also this many replays with each mark at one recorded
    # mark's speed, each figure's mean and range over them (engine/whatif.py speed_range)
    mark_speed_samples: int = 0
    # engine.passes.Passes shared by the runs of this trace in this process (_run_local: the
    # plan made and the chunks decoded and validated once); None: the replay's own
    passes: object = None

    def label(self) -> str:
        c = self.config
        from goalloc.report.knobs import format_gogc, format_memlimit

        parts = [f"trace={trace_name(self.trace)}", f"go={c.go_version or '?'}",
                 f"table={table_name(c.table)}", f"gogc={format_gogc(c.gogc)}",
                 f"memlimit={format_memlimit(c.memlimit)}"]
        if c.procs is not None:
            parts.append(f"procs={c.procs}")
        return "/".join(parts)


def split_list(text) -> list[str]:
    """`50,100,200` -> ['50', '100', '200'], blanks dropped, duplicates kept once in order."""
    out: list[str] = []
    for part in str(text).split(","):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def expand(traces, *, go_versions=(None,), tables=("go",), gogcs=(100,), memlimits=(None,),
           procs=(None,), base=None, sources: dict | None = None,
           headers: dict | None = None) -> list[RunSpec]:
    """Every combination, in the documented order (trace, go version, table, gogc, memlimit,
    procs). `base` is a Config whose other fields every run shares; `sources` says where each
    knob came from (go_version's is worked out per trace when no version is given);
    `headers` maps trace path -> goalloc.trace.Header (read here when missing)."""
    from goalloc.engine.config import Config

    base = base if base is not None else Config()
    sources = dict(sources or {})
    headers = dict(headers or {})
    specs = []
    for trace in traces:
        header = headers.get(trace)
        if header is None:
            header = read_header(trace)
        for gv, table, gogc, limit, p in itertools.product(go_versions, tables, gogcs,
                                                             memlimits, procs):
            cfg = copy.copy(base)
            cfg.go_version, cfg.table, cfg.gogc, cfg.memlimit, cfg.procs = gv, table, gogc, \
                limit, p
            src = dict(sources)
            if gv is None:
                src["go_version"] = "trace" if header.go_version else "default"
            else:
                src["go_version"] = "flag"
            specs.append(RunSpec(trace, cfg, src, int(header.events or 0), header))
    return specs


def read_header(trace):
    from goalloc.trace.reader import TraceReader

    with TraceReader(trace) as r:
        return r.header


# -- running ---------------------------------------------------------------------------------


def run_one(spec: RunSpec) -> tuple[str, str]:
    """Replay one spec; ("ok", JSON text) or ("error", one-line message). Errors travel as
    text: exception classes with custom constructors do not survive pickling."""
    try:
        import goalloc
        from goalloc.report import replay as rep

        header = spec.header if spec.header is not None else read_header(spec.trace)
        report = goalloc.replay(spec.trace, spec.config, death_range=spec.death_range,
                                plans=spec.passes, mark_speed_samples=spec.mark_speed_samples)
        return "ok", rep.to_json(report, spec.name or spec.trace, spec.config,
                                 header=header.to_map(), sources=spec.sources,
                                 sha256=rep.file_sha256(spec.trace), original=spec.original)
    except GoallocError as e:
        return "error", str(e)


def _run_one_on_worker(spec: RunSpec, fn=None) -> tuple[str, str]:
    """`fn` (run_one by default) on a Dask worker: an error names the worker (it may see
    other files)."""
    status, text = (fn or run_one)(spec)
    if status != "ok":
        try:
            from dask.distributed import get_worker

            where = get_worker().address
        except (ImportError, ValueError):
            import socket

            where = socket.gethostname()
        text = f"on Dask worker {where}: {text}"
    return status, text


def for_cluster(specs: list[RunSpec]) -> list[RunSpec]:
    """Specs whose trace and size-class table files are absolute paths: a Dask worker
    resolves a relative path in its own working directory. The JSON still records the path
    as given (`name`), so the document equals the local grid's."""
    out = []
    for s in specs:
        s = copy.copy(s)
        s.name = s.name or s.trace
        s.trace = os.path.abspath(s.trace)
        s.passes = None  # (in this process only)
        table = s.config.table
        if table.endswith((".toml", ".json")) and os.path.exists(table):
            s.config = copy.copy(s.config)
            s.config.table = os.path.abspath(table)
        out.append(s)
    return out


def default_jobs() -> int:
    return os.cpu_count() or 1


def run_all(specs: list[RunSpec], *, jobs: int | None = None, dask: str | None = None,
            on_done=None, fn=None) -> list[str]:
    """JSON texts, one per spec in spec order. `jobs` threads (default: the cores;
    1 runs in this process), or the Dask scheduler at `dask`. `on_done(spec)` after each run.
    `fn`: another worker with run_one's contract (e.g. the HTML report's)."""
    fn = fn or run_one
    if not specs:
        return []
    if dask:
        results = _run_dask(specs, dask, on_done, fn)
    else:
        jobs = default_jobs() if jobs is None else jobs
        if jobs < 1:
            raise GoallocError(f"--jobs must be at least 1, not {jobs}")
        results = _run_local(specs, min(jobs, len(specs)), on_done, fn)
    out = []
    for _spec, (status, text) in zip(specs, results, strict=True):
        if status != "ok":
            raise GoallocError(text)
        out.append(text)
    return out


def _run_local(specs, jobs, on_done, fn=run_one):
    """The runs on `jobs` threads of this process: the replay and validation kernels release
    the GIL, and the threads share this process's loaded JIT cache (spawned worker processes
    each spent ~2 s importing numba and loading it, more than a 1 M-event replay takes)."""
    results: list = [None] * len(specs)
    specs = shared_passes(specs)
    if jobs <= 1 or len(specs) <= 1:
        for i, spec in enumerate(specs):
            results[i] = fn(spec)
            if on_done:
                on_done(spec)
        return results
    import concurrent.futures as cf

    with cf.ThreadPoolExecutor(max_workers=min(jobs, len(specs)),
                               thread_name_prefix="goalloc-grid") as pool:
        futures = {pool.submit(fn, spec): i for i, spec in enumerate(specs)}
        for fut in cf.as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if on_done:
                on_done(specs[i])
    return results


def shared_passes(specs: list[RunSpec]) -> list[RunSpec]:
    """Copies of the specs whose runs of one trace share an engine.passes.Passes: a grid
    plans a recorded Go trace once, not once per configuration, and reads and validates its
    chunks once (kept in memory as stored, up to passes.KEEP_CHUNKS_BYTES; each run decodes
    them again)."""
    from goalloc.engine import passes

    by_trace: dict[str, object] = {}
    out = []
    for s in specs:
        if s.passes is None:
            if s.trace not in by_trace:
                by_trace[s.trace] = passes.Passes(s.trace, shared=True)
            s = copy.copy(s)
            s.passes = by_trace[s.trace]
        out.append(s)
    return out


def _run_dask(specs, address, on_done, fn=run_one):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise GoallocError("--dask needs dask.distributed: pip install 'goalloc[dask]'") from None
    try:
        client = Client(address, timeout="10s")
    except Exception as e:  # noqa: BLE001 - any failure to connect is the user's to fix
        raise GoallocError(f"--dask {address}: cannot connect to the scheduler ({e})") from None
    try:
        futures = client.map(functools.partial(_run_one_on_worker, fn=fn), for_cluster(specs),
                             pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(specs)
        for fut in as_completed(futures):
            i = index[fut.key]
            results[i] = fut.result()
            if on_done:
                on_done(specs[i])
        return results
    finally:
        client.close()


# -- text --------------------------------------------------------------------------------------


