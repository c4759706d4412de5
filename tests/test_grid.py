"""Grids: `goalloc replay TRACE... --gogc A,B --classes T,U ...` runs every combination in a
documented order; each run's JSON equals the single replay's; parallel (threads) and
Dask runs give the same document as sequential ones; a single configuration keeps the
single-replay output."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO, run_goalloc

TRACE = REPO / "traces" / "go-http-clientserver.msgpack"
OTHER = REPO / "traces" / "go-json-decoder.msgpack"
GRID = ("--gogc", "50,100", "--classes", "go,pow2")


@pytest.fixture(autouse=True)
def _clean_knob_env(monkeypatch):
    for k in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS"):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The 2x2 grid over TRACE run in this process (-j 1), as text."""
    from goalloc.cli import main

    out = tmp_path_factory.mktemp("grid") / "grid.json"
    main(["replay", str(TRACE), *GRID, "-j", "1", "-o", str(out)])
    return out.read_text()


def test_grid_runs_equal_single_replays(cli, sequential):
    doc = json.loads(sequential)
    assert doc["schema"] == "goalloc-grid/1"
    runs = doc["runs"]
    # order: trace, go version, table, gogc (each as given)
    assert [(r["config"]["table"], r["config"]["gogc"]) for r in runs] == \
        [("go", 50), ("go", 100), ("pow2", 50), ("pow2", 100)]
    for r in runs:
        code, out, err = cli("replay", TRACE, "--classes", r["config"]["table"], "--gogc",
                             r["config"]["gogc"], "--json")
        assert code == 0, err
        assert json.loads(out) == r
    # exactly the single replay's text, re-indented inside the grid document
    code, out, err = cli("replay", TRACE, "--classes", "go", "--gogc", "50", "--json")
    assert json.dumps(runs[0], indent=2, sort_keys=True, ensure_ascii=False) + "\n" == out


def test_parallel_workers_give_the_same_document(tmp_path, sequential):
    out = tmp_path / "par.json"
    r = run_goalloc("replay", TRACE, *GRID, "-j", "2", "-o", out, timeout=600)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == sequential


def test_order_over_traces_and_versions(cli):
    code, out, err = cli("replay", OTHER, TRACE, "--go-version", "1.26,1.22", "--gogc", "100,50",
                         "--json", "-j", "1")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    got = [(r["trace"]["path"].rsplit("/", 1)[1], r["config"]["go_version"], r["config"]["gogc"])
           for r in runs]
    a, b = OTHER.name, TRACE.name
    assert got == [(a, "1.26", 100), (a, "1.26", 50), (a, "1.22", 100), (a, "1.22", 50),
                   (b, "1.26", 100), (b, "1.26", 50), (b, "1.22", 100), (b, "1.22", 50)]
    assert all(r["config"]["sources"]["go_version"] == "flag" for r in runs)


def test_memlimit_and_procs_axes_and_duplicates(cli):
    code, out, err = cli("replay", TRACE, "--memlimit", "off,64MiB,off", "--procs", "1,2",
                         "--json", "-j", "1")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert [(r["config"]["gomemlimit"], r["config"]["gomaxprocs"]["modelled"]) for r in runs] == \
        [(None, 1), (None, 2), (64 << 20, 1), (64 << 20, 2)]


def test_grid_text_table(cli, sequential):
    code, out, err = cli("replay", TRACE, *GRID, "-j", "1")
    assert code == 0, err
    assert "4 runs" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["go"], ["pow2"])]
    assert [r[:2] for r in rows] == [["go", "50"], ["go", "100"], ["pow2", "50"], ["pow2", "100"]]
    assert max(len(line) for line in out.splitlines()) <= 80


def test_single_configuration_is_a_plain_replay(cli):
    code, out, err = cli("replay", TRACE, "--gogc", "50", "--json")
    assert code == 0, err
    assert json.loads(out)["schema"] == "goalloc-replay/1"
    code, out, err = cli("replay", TRACE, "--gogc", "50,50", "--json")  # duplicates dropped
    assert json.loads(out)["schema"] == "goalloc-replay/1"


@pytest.mark.parametrize("args,env,msg", [
    (("--gogc", "50,100", "--gctrace"), {}, "--gctrace needs a single configuration"),
    (("--gogc", "50,100", "--timeline", "t.csv"), {}, "--timeline needs a single configuration"),
    (("--gogc", "50,x"), {}, "invalid --gogc value 'x'"),
    (("--classes", "go,nosuch"), {}, "unknown size-class table 'nosuch'"),
    (("--go-version", "1.22,1.5"), {}, "not modelled"),
    ((), {"GOGC": "50,100"}, "invalid GOGC value '50,100'"),  # env: one value, as Go reads it
    (("--gogc", "50,100", "--jobs", "0"), {}, "--jobs must be at least 1"),
])
def test_grid_errors(cli, monkeypatch, tmp_path, args, env, msg):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("replay", TRACE, *args)
    assert code == 2 and msg in err, err


def test_dask_missing_is_one_line(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    monkeypatch.setitem(sys.modules, "dask", None)
    code, out, err = cli("replay", TRACE, *GRID, "--dask", "tcp://127.0.0.1:1")
    assert code == 2
    assert err.strip() == ("goalloc: error: --dask needs dask.distributed: "
                           "pip install 'goalloc[dask]'")


def test_dask_local_cluster_gives_the_same_document(tmp_path, sequential):
    pytest.importorskip("dask.distributed", reason="dask[distributed] not installed "
                                                   "(pip install 'goalloc[dask]')")
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        out = tmp_path / "dask.json"
        r = run_goalloc("replay", TRACE, *GRID, "--dask", cluster.scheduler_address, "-o", out,
                        timeout=600)
        assert r.returncode == 0, r.stderr
        assert out.read_text() == sequential
