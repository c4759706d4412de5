"""`--format benchstat` and `--format gab`: the Go benchmark format checked by an independent
parser written from the spec (golang.org/x/proposal design 14313), and github-action-benchmark
`customSmallerIsBetter` JSON checked against that action's documented entry shape."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import pytest
from conftest import REPO

TRACE = REPO / "traces" / "go-http-clientserver.msgpack"


@pytest.fixture(autouse=True)
def _clean_knob_env(monkeypatch):
    for k in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS"):
        monkeypatch.delenv(k, raising=False)


# ---- an independent Go benchmark format parser (design 14313) --------------------------------

CONFIG = re.compile(r"^([a-z][^\s:]*):(?:[ \t](.*))?$")  # key: lowercase first, no spaces
BENCH = re.compile(r"^Benchmark(?P<name>[^\s]*)\s+(?P<iters>\d+)(?P<rest>(?:\s+\S+\s+\S+)+)\s*$")
UNIT = re.compile(r"^Unit\s+(?P<unit>\S+)(?P<kv>(?:\s+[^\s=]+=\S+)*)\s*$")


def parse_benchfmt(text: str) -> dict:
    """{"config": [(key, value, line#)], "results": [{name, procs, iters, values: {unit: v},
    config: {...}}], "units": {unit: {key: value}}}; raises on lines the spec rejects."""
    config: dict = {}
    out = {"config": [], "results": [], "units": {}}
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = BENCH.match(line)
        if m:
            name = m.group("name")
            assert name == "" or name[0] not in "abcdefghijklmnopqrstuvwxyz", line
            procs = None
            pm = re.search(r"-(\d+)$", name)
            if pm:
                procs, name = int(pm.group(1)), name[: pm.start()]
            fields = m.group("rest").split()
            assert len(fields) % 2 == 0
            values = {}
            for v, unit in zip(fields[::2], fields[1::2], strict=True):
                assert unit not in values, f"line {i}: unit {unit} twice"
                values[unit] = float(v)  # ValueError: not a number
                assert math.isfinite(values[unit])
            out["results"].append({"name": name, "procs": procs, "iters": int(m.group("iters")),
                                   "values": values, "config": dict(config)})
            continue
        m = UNIT.match(line)
        if m:
            kv = dict(p.split("=", 1) for p in m.group("kv").split())
            out["units"].setdefault(m.group("unit"), {}).update(kv)
            continue
        m = CONFIG.match(line)
        if m:
            value = (m.group(2) or "").strip()
            if value:
                config[m.group(1)] = value
            else:  # `key:` with no value removes the key (benchfmt reader)
                config.pop(m.group(1), None)
            out["config"].append((m.group(1), value, i))
            continue
        if line.startswith("# "):  # neither config nor result: readers ignore it
            out.setdefault("comments", []).append(line)
            continue
        raise AssertionError(f"line {i} is neither config, benchmark nor Unit: {line!r}")
    return out


def test_parser_rejects_malformed():
    for bad in ("Benchmarkfoo 1 2 ns/op", "BenchmarkX one 2 ns/op", "BenchmarkX 1 2",
                "BenchmarkX 1 two ns/op", "Key: value", "not a line"):
        with pytest.raises((AssertionError, ValueError)):
            parse_benchfmt(bad)
    ok = parse_benchfmt("goos: linux\nBenchmarkX/k=v-8 10 2.5 ns/op 3 B/op\n"
                        "Unit ns/op better=lower assume=exact\n")
    (r,) = ok["results"]
    assert (r["name"], r["procs"], r["iters"], r["values"]) == ("X/k=v", 8, 10,
                                                                {"ns/op": 2.5, "B/op": 3.0})
    assert ok["units"]["ns/op"] == {"better": "lower", "assume": "exact"}


# ---- replay --format benchstat --------------------------------------------------------------

@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    from goalloc.cli import main

    out = tmp_path_factory.mktemp("fmt") / "grid.json"
    main(["replay", str(TRACE), "--gogc", "50,100", "-j", "1", "-o", str(out)])
    return out


def test_replay_benchstat_parses_and_matches_json(cli, grid):
    code, out, err = cli("replay", TRACE, "--gogc", "50,100", "--format", "benchstat", "-j", "1")
    assert code == 0, err
    parsed = parse_benchfmt(out)
    runs = json.loads(grid.read_text())["runs"]
    assert len(parsed["results"]) == len(runs) == 2
    keys = {k for k, _, _ in parsed["config"]}
    assert keys == {"pkg", "goalloc-version"}  # nothing that differs between recordings
    (prov,) = parsed["comments"]
    assert prov == f"# trace {TRACE} sha256 {runs[0]['trace']['sha256']}"
    for res, run in zip(parsed["results"], runs, strict=True):
        assert res["iters"] == 1
        assert res["procs"] == run["config"]["gomaxprocs"]["modelled"]
        assert res["name"] == (f"Replay/trace=go-http-clientserver/go={run['config']['go_version']}"
                               f"/table=go/gogc={run['config']['gogc']}/memlimit=off")
        metrics = {m["name"]: m["value"] for m in run["metrics"]}
        assert res["values"]["memory-classes-heap-unused-B"] == \
            metrics["/memory/classes/heap/unused:bytes"]
        assert res["values"]["goalloc-frag-rounding-B"] == metrics["/goalloc/frag/rounding:bytes"]
        assert res["values"]["gc-cycles-total-gc-cycles"] == metrics["/gc/cycles/total:gc-cycles"]
        expected = {n for n, v in metrics.items()
                    if v is not None and not isinstance(v, dict)
                    and not n.startswith("/goalloc/sizeclass/")}
        assert len(res["values"]) == len(expected)
    # every unit used has a Unit line with assume=exact; costs are better=lower
    used = {u for r in parsed["results"] for u in r["values"]}
    assert used == set(parsed["units"])
    assert all(kv["assume"] == "exact" for kv in parsed["units"].values())
    assert parsed["units"]["memory-classes-heap-unused-B"]["better"] == "lower"
    assert "better" not in parsed["units"]["gc-gogc-percent"]


def test_single_replay_benchstat(cli):
    code, out, err = cli("replay", TRACE, "--format", "benchstat")
    assert code == 0, err
    assert len(parse_benchfmt(out)["results"]) == 1


def test_compare_benchstat_has_both_sides(cli, grid, tmp_path):
    code, out, err = cli("compare", grid, grid, "--format", "benchstat")
    assert code == 0, err
    parsed = parse_benchfmt(out)
    sides = [r["config"]["side"] for r in parsed["results"]]
    assert sides == ["base", "base", "head", "head"]
    base, head = parsed["results"][:2], parsed["results"][2:]
    assert [r["values"] for r in base] == [r["values"] for r in head]


@pytest.mark.skipif(shutil.which("benchstat") is None,
                    reason="benchstat (golang.org/x/perf/cmd/benchstat) is not installed")
def test_real_benchstat_reads_it(cli, grid, tmp_path):
    code, out, err = cli("compare", grid, grid, "--format", "benchstat")
    p = tmp_path / "cmp.txt"
    p.write_text(out)
    r = subprocess.run(["benchstat", "-col", "side", str(p)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "memory-classes-heap-unused" in r.stdout
    # paired: base and head of each run on one row, never "benchmark set differs"
    assert "benchmark set differs" not in r.stdout and "vs base" in r.stdout


# ---- gab: github-action-benchmark customSmallerIsBetter -------------------------------------

def check_gab(doc):
    """The action's documented entry shape: a list of objects with name (str), unit (str),
    value (number) required and range (str), extra (str) optional."""
    assert isinstance(doc, list) and doc
    for e in doc:
        assert isinstance(e, dict)
        assert set(e) <= {"name", "unit", "value", "range", "extra"}, e
        assert isinstance(e["name"], str) and e["name"]
        assert isinstance(e["unit"], str)
        assert isinstance(e["value"], int | float) and not isinstance(e["value"], bool)
        assert math.isfinite(e["value"])
        for k in ("range", "extra"):
            assert k not in e or isinstance(e[k], str)
    names = [e["name"] for e in doc]
    assert len(names) == len(set(names))


def test_replay_gab(cli, grid):
    code, out, err = cli("replay", TRACE, "--gogc", "50,100", "--format", "gab", "-j", "1")
    assert code == 0, err
    doc = json.loads(out)
    check_gab(doc)
    name = "trace=go-http-clientserver/go=1.26/table=go/gogc=50/memlimit=off " \
           "/goalloc/frag/rounding:bytes"
    (e,) = [e for e in doc if e["name"].endswith("/goalloc/frag/rounding:bytes")
            and "gogc=50/" in e["name"]]
    run = json.loads(grid.read_text())["runs"][0]
    assert e["name"] == name.replace("1.26", run["config"]["go_version"])
    assert e["unit"] == "bytes"
    assert e["value"] == {m["name"]: m["value"] for m in run["metrics"]}[
        "/goalloc/frag/rounding:bytes"]
    # smaller is better: no knob echoes (GOGC is not a cost)
    assert not any(e["name"].endswith("/gc/gogc:percent") for e in doc)


def test_compare_gab_is_head_with_base_in_extra(cli, grid):
    code, out, err = cli("compare", grid, grid, "--format", "gab")
    assert code == 0, err
    doc = json.loads(out)
    check_gab(doc)
    assert all("base " in e["extra"] and "exact" in e["extra"] for e in doc)


# ---- pairing under benchstat's documented grouping ----------------------------------------------
# cmd/benchstat (golang.org/x/perf): tables by .config (every file-level key), rows by .fullname,
# columns by .file unless -col/-row name other keys; a key used by -col or -row is omitted from
# the general key that contains it (.config for file keys, .fullname for /name keys; the -N
# suffix is the /gomaxprocs key).

def name_keys(name: str) -> tuple[str, dict]:
    m = re.search(r"-(\d+)$", name)
    keys = {}
    if m:
        keys["/gomaxprocs"] = m.group(1)
        name = name[: m.start()]
    base, *parts = name.split("/")
    for p in parts:
        k, _, v = p.partition("=")
        keys["/" + k] = v
    return base, keys


def project(files: dict[str, str], col: list[str]) -> dict:
    """{(table, row, column): {unit: value}} for benchstat -col COL over `files` (label ->
    text), default -table .config and -row .fullname."""
    cells: dict = {}
    for label, text in files.items():
        for r in parse_benchfmt(text)["results"]:
            base, nk = name_keys(f"{r['name']}-{r['procs']}" if r["procs"] else r["name"])
            fkeys = dict(r["config"], **{".file": label})
            column = tuple(nk.get(k) if k.startswith("/") else fkeys.get(k) for k in col)
            table = tuple(sorted((k, v) for k, v in r["config"].items() if k not in col))
            row = (base,) + tuple(sorted((k, v) for k, v in nk.items() if k not in col))
            key = (table, row, column)
            assert key not in cells, f"two results in one cell {key}"
            cells[key] = r["values"]
    return cells


def pairs_of(cells: dict) -> dict:
    """(table, row) -> {column: values}."""
    out: dict = {}
    for (table, row, column), values in cells.items():
        out.setdefault((table, row), {})[column] = values
    return out


def test_compare_benchstat_pairs_base_and_head_rows(cli, grid, tmp_path):
    # go vs pow2 tables over a two-run grid: the compared axis (table) is not in the names
    from goalloc.cli import main

    pow2 = tmp_path / "pow2.json"
    main(["replay", str(TRACE), "--gogc", "50,100", "--classes", "pow2", "-j", "1",
          "-o", str(pow2)])
    code, out, err = cli("compare", grid, pow2, "--format", "benchstat")
    assert code == 0, err
    assert "# base: table=go" in out and "# head: table=pow2" in out
    rows = pairs_of(project({"cmp.txt": out}, ["side"]))
    assert len(rows) == 2  # one row per run (gogc 50, 100), one table
    assert len({table for table, _ in rows}) == 1
    for (_, row), cols in rows.items():
        assert set(cols) == {("base",), ("head",)}, row
        for unit in ("memory-classes-heap-unused-B", "goalloc-frag-rounding-B"):
            assert unit in cols[("base",)] and unit in cols[("head",)]
        assert "/table" not in dict(row[1:])


def test_two_recordings_pair_in_benchstat():
    # the same program recorded twice (other bytes): its digest must not split the tables
    from goalloc.report import formats

    def doc(sha, unused):
        return {"trace": {"path": "traces/prog.msgpack", "sha256": sha},
                "config": {"go_version": "1.26", "table": "go", "gogc": 100, "gomemlimit": None,
                           "gomaxprocs": {"modelled": 4}, "gc_mode": "pacer"},
                "metrics": [{"name": "/memory/classes/heap/unused:bytes", "unit": "bytes",
                             "value": unused}]}

    text = formats.benchstat_compare_text([doc("a" * 64, 100)], [doc("b" * 64, 150)])
    ((key, cols),) = pairs_of(project({"c.txt": text}, ["side"])).items()
    assert cols == {("base",): {"memory-classes-heap-unused-B": 100.0},
                    ("head",): {"memory-classes-heap-unused-B": 150.0}}
    # and as two replay files read with benchstat's defaults (-col .file)
    old = formats.benchstat_text([doc("a" * 64, 100)])
    new = formats.benchstat_text([doc("b" * 64, 150)])
    ((_, cols),) = pairs_of(project({"old.txt": old, "new.txt": new}, [".file"])).items()
    assert set(cols) == {("old.txt",), ("new.txt",)}


def test_grid_axes_are_projectable_name_keys(cli):
    code, out, err = cli("replay", TRACE, "--gogc", "50,100", "--format", "benchstat", "-j", "1")
    assert code == 0, err
    ((_, cols),) = pairs_of(project({"grid.txt": out}, ["/gogc"])).items()
    assert set(cols) == {("50",), ("100",)}
