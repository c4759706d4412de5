"""Many replays in one run: the cartesian product of traces and configuration axes, run in
worker processes on the local cores (or on a Dask cluster), collected in a deterministic order.

    specs = expand(["a.msgpack"], gogcs=[50, 100], tables=["go", "pow2"])
    texts = run_all(specs, jobs=2)        # one `goalloc replay --json` text per spec, in order
    doc = grid_json(texts)                # {"schema": "goalloc-grid/1", "runs": [...]}

Order (docs/json.md): trace, then Go version, size-class table, GOGC, GOMEMLIMIT, GOMAXPROCS,
each axis in the order given. Every run's JSON is exactly what a single `goalloc replay --json`
with that configuration prints: workers call the same engine and the same renderer, and each
replay is deterministic, so the way the runs were spread over processes changes nothing.

Workers are started with the "spawn" context (numba and fork do not mix); each loads the
cached JIT. No numba is imported here.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
from dataclasses import dataclass, field

from goalloc.errors import GoallocError

SCHEMA = "goalloc-grid/1"
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

    def label(self) -> str:
        c = self.config
        from goalloc.report.knobs import format_gogc, format_memlimit

        parts = [f"trace={trace_name(self.trace)}", f"go={c.go_version or '?'}",
                 f"table={table_name(c.table)}", f"gogc={format_gogc(c.gogc)}",
                 f"memlimit={format_memlimit(c.memlimit)}"]
        if c.procs is not None:
            parts.append(f"procs={c.procs}")
        return "/".join(parts)


def trace_name(path: str) -> str:
    """A trace's short name: its file name without directories and extension(s)."""
    base = os.path.basename(os.fspath(path))
    for ext in (".msgpack", ".jsonl", ".json", ".gz", ".zst"):
        if base.endswith(ext) and len(base) > len(ext):
            base = base[: -len(ext)]
    return base


def table_name(spec: str) -> str:
    return trace_name(spec) if spec.endswith((".toml", ".json")) else spec


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
        report = goalloc.replay(spec.trace, spec.config)
        return "ok", rep.to_json(report, spec.trace, spec.config, header=header.to_map(),
                                 sources=spec.sources)
    except GoallocError as e:
        return "error", str(e)


def _jit_cache_warm() -> bool:
    """Whether the engine's numba cache has entries (else the first run compiles it, once,
    before workers start, so they load it instead of each compiling)."""
    import goalloc.jit  # noqa: F401 - sets NUMBA_CACHE_DIR (the workers inherit it)

    d = os.environ["NUMBA_CACHE_DIR"]
    try:
        for _root, _dirs, files in os.walk(d):
            if any(f.endswith(".nbi") for f in files):
                return True
    except OSError:
        pass
    return False


def default_jobs() -> int:
    return os.cpu_count() or 1


def run_all(specs: list[RunSpec], *, jobs: int | None = None, dask: str | None = None,
            on_done=None) -> list[str]:
    """JSON texts, one per spec in spec order. `jobs` worker processes (default: the cores;
    1 runs in this process), or the Dask scheduler at `dask`. `on_done(spec)` after each run."""
    if not specs:
        return []
    if dask:
        results = _run_dask(specs, dask, on_done)
    else:
        jobs = default_jobs() if jobs is None else jobs
        if jobs < 1:
            raise GoallocError(f"--jobs must be at least 1, not {jobs}")
        results = _run_local(specs, min(jobs, len(specs)), on_done)
    out = []
    for _spec, (status, text) in zip(specs, results, strict=True):
        if status != "ok":
            raise GoallocError(text)
        out.append(text)
    return out


def _run_local(specs, jobs, on_done):
    results: list = [None] * len(specs)
    todo = list(range(len(specs)))
    if jobs > 1 and not _jit_cache_warm():
        # compile once here; the workers then load the cache
        results[0] = run_one(specs[0])
        todo = todo[1:]
        if on_done:
            on_done(specs[0])
    if jobs <= 1 or len(todo) <= 1:
        for i in todo:
            results[i] = run_one(specs[i])
            if on_done:
                on_done(specs[i])
        return results
    import concurrent.futures as cf
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx) as pool:
        futures = {pool.submit(run_one, specs[i]): i for i in todo}
        for fut in cf.as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except BrokenProcessPool:
                raise GoallocError(f"a worker process died replaying {specs[i].label()} "
                                   "(out of memory? try --jobs 1)") from None
            if on_done:
                on_done(specs[i])
    return results


def _run_dask(specs, address, on_done):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise GoallocError("--dask needs dask.distributed: pip install 'goalloc[dask]'") from None
    try:
        client = Client(address, timeout="10s")
    except Exception as e:  # noqa: BLE001 - any failure to connect is the user's to fix
        raise GoallocError(f"--dask {address}: cannot connect to the scheduler ({e})") from None
    try:
        futures = client.map(run_one, specs, pure=False)
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


# -- documents ---------------------------------------------------------------------------------


def grid_dict(texts: list[str]) -> dict:
    return {"schema": SCHEMA, "runs": [json.loads(t) for t in texts]}


def grid_json(texts: list[str]) -> str:
    """The grid document: deterministic text (sorted keys, 2-space indent, final newline)."""
    return json.dumps(grid_dict(texts), indent=2, sort_keys=True, ensure_ascii=False,
                      allow_nan=False) + "\n"


def run_key(doc: dict) -> dict:
    """A replay document's configuration as ordered (axis -> value) pairs: what names a run
    in tables and benchmark names and what `goalloc compare` matches runs by."""
    from goalloc.report.knobs import format_gogc, format_memlimit

    cfg = doc.get("config", {})
    procs = (cfg.get("gomaxprocs") or {}).get("modelled")
    key = {
        "trace": trace_name(doc.get("trace", {}).get("path", "?")),
        "go": str(cfg.get("go_version")),
        "table": table_name(str(cfg.get("table"))),
        "gogc": format_gogc(cfg.get("gogc")),
        "memlimit": format_memlimit(cfg.get("gomemlimit")),
        "procs": str(procs),
    }
    if cfg.get("gc_mode", "pacer") != "pacer":
        key["gc"] = str(cfg.get("gc_mode"))
    return key


def runs_of(doc: dict, what: str = "input") -> list[dict]:
    """The replay documents of a goalloc-replay/1 or goalloc-grid/1 document."""
    from goalloc.jsonread import JsonError
    from goalloc.report.docshape import check_report

    schema = str(doc.get("schema", "")) if isinstance(doc, dict) else ""
    grid = schema.startswith("goalloc-grid/")
    if grid or schema.startswith("goalloc-replay/"):
        try:
            check_report(doc, grid)  # every field compare reads has its documented type
        except JsonError as e:
            raise GoallocError(f"{what}: {e}") from None
        return doc["runs"] if grid else [doc]
    raise GoallocError(f"{what}: not a goalloc replay or grid JSON report (schema {schema!r})")


# -- text --------------------------------------------------------------------------------------

# (column, metric name, kind) of the grid table
GRID_COLUMNS = (
    ("unused", "/memory/classes/heap/unused:bytes", "bytes"),
    ("rounding", "/goalloc/frag/rounding:bytes", "bytes"),
    ("peak held", "/goalloc/peak/memory/classes/heap/total:bytes", "bytes"),
    ("maxH/maxL", "/goalloc/frag/jw/max-h-over-max-l:ratio", "ratio"),
    ("GCs", "/gc/cycles/total:gc-cycles", "count"),
)


def fmt_value(value, kind: str) -> str:
    from goalloc.report.units import count, iec_bytes

    if value is None:
        return "-"
    if kind == "bytes":
        return iec_bytes(value)
    if kind == "ratio":
        return f"{value:.3f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return count(int(value))


def render_grid(docs: list[dict], console) -> None:
    """A table per trace, a row per configuration: the axes that vary, then key figures."""
    from rich import box
    from rich.table import Table

    keys = [run_key(d) for d in docs]
    names = list(dict.fromkeys(k for key in keys for k in key if k != "trace"))
    varying = [k for k in names if len({key.get(k) for key in keys}) > 1]
    fixed = [f"{k}={keys[0][k]}" for k in names if k not in varying]
    console.print(f"[bold]goalloc replay[/bold] — {len(docs)} runs, modelled Go runtime heap "
                  "(figures are the model's; at the end unless marked peak)")
    if fixed:
        console.print("all runs: " + ", ".join(fixed))
    traces = list(dict.fromkeys(k["trace"] for k in keys))
    for trace in traces:
        paths = {d.get("trace", {}).get("path") for d, k in zip(docs, keys, strict=True)
                 if k["trace"] == trace}
        t = Table(title=f"{trace} ({', '.join(sorted(map(str, paths)))})", title_justify="left",
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
        for k in varying:
            t.add_column(k, no_wrap=True)
        for label, _, _ in GRID_COLUMNS:
            t.add_column(label, justify="right", no_wrap=True)
        for key, doc in zip(keys, docs, strict=True):
            if key["trace"] != trace:
                continue
            values = {m["name"]: m["value"] for m in doc.get("metrics", [])}
            t.add_row(*[key.get(k, "") for k in varying],
                      *[fmt_value(values.get(name), kind) for _, name, kind in GRID_COLUMNS])
        console.print(t)
    console.print("unused: in-use span bytes not holding objects; rounding: slot - requested "
                  "bytes of live objects; peak held: in-use spans + free pages at their peak; "
                  "maxH/maxL: Johnstone & Wilson's max held / max live. --json writes every "
                  "run's full report.")
