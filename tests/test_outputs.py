"""Files and clusters (#19): `-o FILE` writes the file and one line saying so; `info` and
`replay` read JSON Lines traces directly (named by the user's path); a grid on a Dask cluster
whose workers run in another directory gets absolute paths and the local grid's JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import REPO, write_trace

from goalloc.trace import Header
from goalloc.trace import format as fmt

REL_TRACE = "traces/go-http-clientserver.msgpack"


pytestmark = pytest.mark.usefixtures("clean_knob_env")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("out")
    ev = [dict(kind=fmt.ALLOC, ts=1000 * i, p=0, id=i, size=100 + i) for i in range(50)]
    ev += [dict(kind=fmt.FREE, ts=1000 * (50 + i), p=0, id=i) for i in range(0, 50, 2)]
    return write_trace(d / "small.msgpack", ev, Header(gomaxprocs=2))


def test_o_writes_only_the_file_and_one_line(cli, small, tmp_path):
    out = tmp_path / "r.json"
    code, stdout, err = cli("replay", small, "-o", out)
    assert code == 0 and stdout == ""
    assert err.count("\n") == 1 and err.startswith(f"goalloc: wrote {out} (goalloc-replay/1, ")
    doc = json.loads(out.read_text())
    # the file is what --json prints
    assert out.read_text() == cli("replay", small, "--json")[1]
    assert doc["schema"] == "goalloc-replay/1"
    # a grid: the same, naming the runs
    grid = tmp_path / "g.json"
    code, stdout, err = cli("replay", small, "--gogc", "50,100", "-j", "1", "-o", grid)
    assert code == 0 and stdout == "" and "(goalloc-grid/1, 2 runs, " in err
    # an explicit stdout format still prints
    code, stdout, err = cli("replay", small, "--json", "-o", tmp_path / "r2.json")
    assert json.loads(stdout) == doc and err == ""


def test_json_lines_traces_are_read_directly(cli, small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("convert", small, "-o", "small.jsonl")
    assert code == 0, err
    code, out, err = cli("info", "small.jsonl")
    assert code == 0, err
    assert out.splitlines()[0].startswith("small.jsonl ")
    code, js, err = cli("replay", "small.jsonl", "--json")
    assert code == 0, err
    doc = json.loads(js)
    assert doc["trace"]["path"] == "small.jsonl" and doc["trace"]["format"] == "jsonl"
    # the same figures as the msgpack trace it came from
    ref = json.loads(cli("replay", small, "--json")[1])
    assert doc["metrics"] == ref["metrics"]
    assert doc["trace"]["imported_sha256"] == ref["trace"]["sha256"]
    code, out, _ = cli("replay", "small.jsonl")
    assert out.splitlines()[1].split()[:2] == ["trace", "small.jsonl"]


def test_a_worker_error_names_the_worker(tmp_path):
    from goalloc.engine.config import Config
    from goalloc.grid import RunSpec, _run_one_on_worker

    status, text = _run_one_on_worker(RunSpec(str(tmp_path / "gone.msgpack"), Config()))
    assert status == "error" and text.startswith("on Dask worker ")
    assert "gone.msgpack" in text


def _start(args, cwd, log):
    return subprocess.Popen(args, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_dask_cluster_in_another_directory(tmp_path):
    """`dask scheduler` and `dask worker` processes started in an empty directory, as on a
    cluster: a relative trace path replays, and the JSON equals the local grid's."""
    pytest.importorskip("dask.distributed", reason="dask[distributed] not installed")
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    if not os.path.exists(dask):
        pytest.skip("the dask command is not installed")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sched_file = tmp_path / "scheduler.json"
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed below
    procs = [_start([dask, "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file",
                     str(sched_file)], elsewhere, log)]
    try:
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(_start([dask, "worker", address, "--nworkers", "1", "--nthreads", "1",
                             "--no-dashboard"], elsewhere, log))
        env = dict(os.environ)
        for k in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS"):
            env.pop(k, None)
        local = subprocess.run([sys.executable, "-m", "goalloc", "replay", REL_TRACE, "--gogc",
                                "50,100", "-j", "1", "--json"], capture_output=True, text=True,
                               cwd=REPO, env=env, timeout=600)
        assert local.returncode == 0, local.stderr
        r = subprocess.run([sys.executable, "-m", "goalloc", "replay", REL_TRACE, "--gogc",
                            "50,100", "--dask", address, "--json"], capture_output=True,
                           text=True, cwd=REPO, env=env, timeout=600)
        assert r.returncode == 0, r.stderr
        assert r.stdout == local.stdout
        assert json.loads(r.stdout)["runs"][0]["trace"]["path"] == REL_TRACE
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
