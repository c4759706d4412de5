"""Replay results in the formats CI tools read: the Go benchmark format (benchstat) and
github-action-benchmark's `customSmallerIsBetter` JSON ("gab"). Both take replay JSON
documents (schema goalloc-replay/1, as dicts) so they work on fresh replays and on saved files.

Go benchmark format (golang.org/x/proposal design 14313, docs/ci.md):

    pkg: goalloc
    goalloc-version: 0.1.0
    # trace traces/go-parser.msgpack sha256 3f0c...
    BenchmarkReplay/trace=go-parser/go=1.26/table=go/gogc=100/memlimit=off-4 1 1.2e+06 memory-classes-heap-unused-B ...
    Unit memory-classes-heap-unused-B better=lower assume=exact

One result line per run, iterations 1, one `<value> <unit>` pair per metric. The `-N` suffix is
the modelled GOMAXPROCS, as `go test` appends GOMAXPROCS.

Pairing under benchstat's grouping (cmd/benchstat: tables by `.config`, every file-level
`key: value` line; rows by `.fullname`; columns by `.file`, or by the keys given to -col/-row):
the configuration is in the benchmark name as sub-name keys (`/trace`, `/go`, `/table`,
`/gogc`, `/memlimit`, `/gomaxprocs` from `-N`), which -col/-row project (`benchstat -col
/table grid.txt`); file-level config lines are only those every run shares, so the runs of two
files (`benchstat old.txt new.txt`) land in one table, a row each. The trace's path and digest
differ between recordings of one program, so they are `#` lines, which the format ignores, not
config lines that would split the tables. `compare` writes both sides into one stream after
`side: base` / `side: head` config lines and leaves the compared axes (e.g. `table` when
comparing go with pow2) out of the names, so `benchstat -col side` pairs base and head rows. Units map from metric names by
`bench_unit`: drop the leading `/`, `/` -> `-`, then `-` and the unit, with `bytes` -> `B` and
`seconds` -> `sec` (benchstat's base units, so it scales them with IEC / SI prefixes); e.g.
`/memory/classes/heap/unused:bytes` -> `memory-classes-heap-unused-B`,
`/gc/cycles/total:gc-cycles` -> `gc-cycles-total-gc-cycles`. No numba, no numpy.
"""

from __future__ import annotations

import json

from goalloc.report.grid import run_key

# Figures the trace or the configuration fixes: echoed, neither better nor worse.
NEUTRAL = (
    "/gc/gogc:percent", "/gc/gomemlimit:bytes", "/sched/gomaxprocs:threads",
    "/gc/heap/allocs:", "/gc/heap/tiny/allocs:", "/gc/heap/frees:", "/goalloc/trace/",
    "/goalloc/heap/live-requested:bytes", "/goalloc/frag/jw/peak-live:bytes",
    "/goalloc/frag/jw/live-at-peak-held:bytes",
)
# Per size-class figures differ in number and meaning between tables: left out of the
# benchmark formats (the JSON report has them all).
PER_CLASS = "/goalloc/sizeclass/"
SHORT_UNITS = {"bytes": "B", "seconds": "sec"}


def bench_unit(name: str) -> str:
    """`/memory/classes/heap/unused:bytes` -> `memory-classes-heap-unused-B`."""
    path, _, unit = name.partition(":")
    stem = path.strip("/").replace("/", "-")
    unit = SHORT_UNITS.get(unit, unit)
    return f"{stem}-{unit}" if unit else stem


def better(name: str) -> str | None:
    """"lower" for every cost (memory, fragmentation, GC cycles), None for echoed figures."""
    if any(name == n or name.startswith(n) for n in NEUTRAL):
        return None
    return "lower"


def bench_metrics(doc: dict, *, per_class: bool = False) -> list[dict]:
    """The metrics a benchmark line carries: known scalar values (histogram objects such as
    /sched/pauses/total/gc:seconds are left out), per-class ones only if asked."""
    return [m for m in doc.get("metrics", [])
            if m.get("value") is not None and not isinstance(m["value"], dict)
            and (per_class or not m["name"].startswith(PER_CLASS))]


def _safe(value: str) -> str:
    """A name component without spaces or `/` (benchmark names split on `/`)."""
    return "".join("_" if c.isspace() or c == "/" else c for c in str(value))


def run_path(doc: dict) -> str:
    """`trace=go-parser/go=1.26/table=go/gogc=100/memlimit=off` (GOMAXPROCS is the -N suffix)."""
    key = run_key(doc)
    return "/".join(f"{k}={_safe(v)}" for k, v in key.items() if k != "procs")


def bench_name(doc: dict, omit=()) -> str:
    """`BenchmarkReplay/<axis=value/...>-<GOMAXPROCS>`, without the axes in `omit` (the
    compared ones, in a comparison)."""
    key = run_key(doc)
    procs = key.get("procs")
    suffix = f"-{procs}" if procs and procs.isdigit() and "procs" not in omit else ""
    path = "/".join(f"{k}={_safe(v)}" for k, v in key.items() if k != "procs" and k not in omit)
    return f"BenchmarkReplay/{path}{suffix}"


def _num(v) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 2**53 else repr(f)


def provenance_line(doc: dict, prefix: str = "") -> str:
    """`# [prefix ]trace PATH sha256 HEX`: a line the benchmark format ignores (not a config
    line, which would split benchstat's tables between two recordings of one program)."""
    trace = doc.get("trace", {})
    path = " ".join(str(trace.get("path")).split())  # one line
    return f"# {prefix}trace {path} sha256 {trace.get('sha256')}"


def benchstat_lines(docs: list[dict], *, per_class: bool = False, units: dict | None = None,
                    config: dict | None = None, omit=(), prefix: str = "") -> list[str]:
    """Result lines for `docs`, each new trace's provenance first as a `#` line. `units`
    collects unit -> metric name (for the `Unit` lines); `config` carries the last provenance
    across calls so it is not repeated; `omit`: axes left out of the names."""
    units = {} if units is None else units
    config = {} if config is None else config
    lines = []
    for doc in docs:
        line = provenance_line(doc, prefix)
        if config.get("#") != line:
            config["#"] = line
            lines.append(line)
        fields = [bench_name(doc, omit), "1"]
        for m in bench_metrics(doc, per_class=per_class):
            unit = bench_unit(m["name"])
            if units.setdefault(unit, m["name"]) != m["name"]:
                raise ValueError(f"metrics {units[unit]} and {m['name']} map to one unit {unit}")
            fields += [_num(m["value"]), unit]
        lines.append("\t".join(fields))
    return lines


def unit_lines(units: dict) -> list[str]:
    out = []
    for unit in sorted(units):
        b = better(units[unit])
        out.append(f"Unit {unit}" + (f" better={b}" if b else "") + " assume=exact")
    return out


def preamble(tool_version: str | None = None) -> list[str]:
    if tool_version is None:
        import goalloc

        tool_version = goalloc.__version__
    return ["pkg: goalloc", f"goalloc-version: {tool_version}"]


def benchstat_text(docs: list[dict], *, per_class: bool = False) -> str:
    """The Go benchmark format for replays (one result line per run)."""
    units: dict = {}
    lines = preamble() + benchstat_lines(docs, per_class=per_class, units=units)
    return "\n".join(lines + unit_lines(units)) + "\n"


def compared_axes(base: list[dict], head: list[dict]) -> list[str]:
    """Axes on which paired runs (base[i], head[i]) differ: what the comparison is about."""
    out: dict = {}
    for b, h in zip(base, head, strict=True):
        bk, hk = run_key(b), run_key(h)
        for axis in list(bk) + [a for a in hk if a not in bk]:
            if bk.get(axis) != hk.get(axis):
                out[axis] = None
    return list(out)


def benchstat_compare_text(base: list[dict], head: list[dict], *, per_class: bool = False) -> str:
    """Both sides in one stream, told apart by a `side: base` / `side: head` config line, with
    the compared axes out of the names so that rows pair: `benchstat -col side FILE` puts
    base and head of each run side by side (the `#` lines say what each side was)."""
    units: dict = {}
    config: dict = {}
    omit = compared_axes(base, head)
    lines = preamble()
    if omit:
        for side, docs in (("base", base), ("head", head)):
            values = {a: sorted({str(run_key(d).get(a)) for d in docs}) for a in omit}
            lines.append(f"# {side}: " + ", ".join(f"{a}={'|'.join(v)}"
                                                   for a, v in values.items()))
    for side, docs in (("base", base), ("head", head)):
        lines.append(f"side: {side}")
        lines += benchstat_lines(docs, per_class=per_class, units=units, config=config,
                                 omit=omit, prefix=side + " ")
    return "\n".join(lines + unit_lines(units)) + "\n"


# -- github-action-benchmark ---------------------------------------------------------------------


def gab_records(docs: list[dict], *, per_class: bool = False,
                base: dict | None = None) -> list[dict]:
    """customSmallerIsBetter entries: {name, unit, value, extra} for every lower-is-better
    metric of every run. `base` maps id(doc) -> the base replay doc (compare): its value and
    the change go into `extra`."""
    out = []
    for doc in docs:
        sha = str(doc.get("trace", {}).get("sha256", ""))[:12]
        bdoc = (base or {}).get(id(doc))
        bvals = {m["name"]: m["value"] for m in bdoc.get("metrics", [])} if bdoc else {}
        for m in bench_metrics(doc, per_class=per_class):
            if better(m["name"]) != "lower":
                continue
            extra = f"exact (deterministic replay); trace sha256 {sha}"
            if m["name"] in bvals and bvals[m["name"]] is not None:
                b = bvals[m["name"]]
                change = "" if not b else f", {100 * (m['value'] - b) / abs(b):+.2f}%"
                extra += f"; base {_num(b)}{change}"
            out.append({"name": f"{run_path(doc)} {m['name']}", "unit": m["unit"],
                        "value": m["value"], "extra": extra})
    return out


def gab_json(records: list[dict]) -> str:
    return json.dumps(records, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
