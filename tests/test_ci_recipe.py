"""docs/ci.md: the plain shell recipe, extracted from the document and run with bash on the
shipped traces (a gate that passes, one that fails with exit 1),
and the GitHub Actions workflow parsed and checked to run the recipe's commands."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

DOC = (REPO / "docs" / "ci.md").read_text()


def recipe() -> str:
    m = re.search(r"<!-- ci-recipe -->\s*```bash\n(.*?)```", DOC, re.S)
    assert m, "docs/ci.md lost its <!-- ci-recipe --> bash block"
    return m.group(1)


WORKFLOW = REPO / ".github" / "workflows" / "goalloc.yml"


def workflow() -> str:
    return WORKFLOW.read_text()


def test_docs_show_the_workflow_file():
    m = re.search(r"```yaml\n(.*?)```", DOC, re.S)
    assert m and m.group(1) == workflow()


def write_table(path, name: str, builtin: str) -> None:
    """A size-class table file with a built-in table's classes (as a project keeps its own)."""
    from goalloc.sizeclasses import get_table

    t = get_table(builtin)
    rows = "".join(f"[[class]]\nsize = {int(s)}\npages = {int(p)}\n\n"
                   for s, p in zip(t.class_size[1:], t.class_pages[1:], strict=True))
    path.write_text(f'name = "{name}"\n\n' + rows)


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory):
    """Two 'checkouts' with the shipped traces: base keeps the go table as sizeclasses.toml,
    head changes it to power-of-two classes (coarser: more rounding)."""
    root = tmp_path_factory.mktemp("ci")
    traces = sorted((REPO / "traces").glob("*.msgpack"))
    assert traces
    for side, builtin in (("base", "go"), ("head", "pow2")):
        d = root / side
        (d / "traces").mkdir(parents=True)
        for t in traces:
            shutil.copy(t, d / "traces" / t.name)
        write_table(d / "sizeclasses.toml", "prod", builtin)
    script = root / "gate.sh"
    script.write_text(recipe())
    return root


def run_recipe(root, out, fail_on, head="head"):
    env = dict(os.environ)
    for k in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS"):
        env.pop(k, None)
    env.update(BASE_DIR=str(root / "base"), HEAD_DIR=str(root / head), OUT=str(out),
               REPLAY_ARGS="--classes sizeclasses.toml", FAIL_ON=fail_on,
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    return subprocess.run(["bash", str(root / "gate.sh")], capture_output=True, text=True,
                          env=env, cwd=root, timeout=900)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not available")
def test_shell_recipe_gates(checkouts, tmp_path):
    assert shutil.which("goalloc", path=os.path.dirname(sys.executable)), \
        "the goalloc console script is not installed next to this Python"
    rounding = "/goalloc/frag/rounding:bytes"
    ok = run_recipe(checkouts, tmp_path / "ok", f"{rounding}<-5%")
    assert ok.returncode == 0, ok.stderr
    assert f"gate {rounding}<-5%: ok" in ok.stdout
    base = json.loads((tmp_path / "ok" / "base.json").read_text())
    assert base["schema"] == "goalloc-grid/1"
    assert len(base["runs"]) == len(list((REPO / "traces").glob("*.msgpack")))
    gab = json.loads((tmp_path / "ok" / "gab.json").read_text())
    assert gab and all({"name", "unit", "value"} <= set(e) for e in gab)
    assert "Unit goalloc-frag-rounding-B better=lower assume=exact" in \
        (tmp_path / "ok" / "benchstat.txt").read_text()

    bad = run_recipe(checkouts, tmp_path / "bad", f"{rounding}>+5%")
    assert bad.returncode == 1, bad.stderr
    assert "gate crossed: " + rounding in bad.stderr
    assert f"gate {rounding}>+5%: CROSSED" in bad.stdout
    block = bad.stdout.split(rounding, 1)[1].split("\n\n", 1)[0].splitlines()
    assert any(line.rstrip().endswith("FAIL") for line in block[2:])


def test_recipe_without_base_dir_is_a_usage_error(tmp_path):
    script = tmp_path / "gate.sh"
    script.write_text(recipe())
    env = {k: v for k, v in os.environ.items() if k != "BASE_DIR"}
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                       cwd=tmp_path)
    assert r.returncode != 0 and "BASE_DIR" in r.stderr


def test_workflow_runs_the_recipe_commands():
    text = workflow()
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed")
    wf = yaml.safe_load(text)
    steps = wf["jobs"]["heap"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert any(u.startswith("benchmark-action/github-action-benchmark@") for u in uses)
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert str(setup["with"]["python-version"]) == "3.11"
    gab = next(s for s in steps if s.get("uses", "").startswith("benchmark-action/"))
    assert gab["with"]["tool"] == "customSmallerIsBetter"
    run = next(s["run"] for s in steps if "goalloc compare" in s.get("run", ""))
    body = recipe()
    for cmd in ('goalloc replay traces/*.msgpack $REPLAY_ARGS -o "$OUT/base.json" --force',
                'goalloc replay traces/*.msgpack $REPLAY_ARGS -o "$OUT/head.json" --force',
                'goalloc compare "$OUT/base.json" "$OUT/head.json" --format gab > "$OUT/gab.json"'):
        assert cmd in run and cmd in body
    # installed from the repository (goalloc is on no package index), kernels cached on the
    # version and the source hash that names numba's cache directory
    assert any(s.get("run", "").strip() == "python -m pip install ./head" for s in steps)
    assert not any("pip install goalloc" in s.get("run", "") for s in steps)
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "${{ steps.goalloc.outputs.cache-dir }}"
    assert "${{ steps.goalloc.outputs.version }}" in cache["with"]["key"]
    assert "${{ steps.goalloc.outputs.kernels }}" in cache["with"]["key"]
    # what the id=goalloc step writes is what those expressions read
    step = next(s for s in steps if s.get("id") == "goalloc")
    out = subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True,
                         env=dict(os.environ, GITHUB_OUTPUT="/dev/stdout",
                                  PATH=os.path.dirname(sys.executable) + os.pathsep
                                  + os.environ.get("PATH", "")))
    assert out.returncode == 0, out.stderr
    got = dict(line.split("=", 1) for line in out.stdout.splitlines())
    import goalloc
    from goalloc.jit import cache_dir

    assert got == {"version": goalloc.__version__, "kernels": cache_dir().name,
                   "cache-dir": str(cache_dir())}


def _actionlint():
    exe = shutil.which("actionlint", path=os.path.dirname(sys.executable)) or \
        shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint not installed (make install: the test extras bring it)")
    return exe


def test_actionlint_passes_the_workflow(tmp_path):
    exe = _actionlint()
    r = subprocess.run([exe, "-no-color", str(WORKFLOW)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    # ... and is a real check: the same file with a bad expression and a bad key fails
    bad = tmp_path / "bad.yml"
    bad.write_text(workflow().replace("github.event.pull_request.base.sha",
                                      "github.event.pull_request.bsae.sha")
                   .replace("runs-on:", "runs-onn:"))
    r = subprocess.run([exe, "-no-color", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "runs-onn" in r.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not available")
def test_workflow_replay_step_runs_end_to_end(checkouts, tmp_path):
    """The workflow's 'replay and gate' script, run as Actions runs it (bash -e), with the
    environment its step sets; a table change crosses a rounding gate: exit 1, summary written."""
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed")
    steps = yaml.safe_load(workflow())["jobs"]["heap"]["steps"]
    step = next(s for s in steps if s.get("name") == "replay and gate")
    assert set(step["env"]) == {"BASE_DIR", "HEAD_DIR", "OUT", "REPLAY_ARGS", "FAIL_ON"}
    summary = tmp_path / "summary.md"
    env = {k: v for k, v in os.environ.items() if k not in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS")}
    env.update(BASE_DIR=str(checkouts / "base"), HEAD_DIR=str(checkouts / "head"),
               OUT=str(tmp_path / "out"), REPLAY_ARGS="--classes sizeclasses.toml",
               FAIL_ON="/goalloc/frag/rounding:bytes>+5%", GITHUB_STEP_SUMMARY=str(summary),
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    r = subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=900)
    assert r.returncode == 1, r.stderr
    assert "gate crossed: /goalloc/frag/rounding:bytes" in r.stderr
    md = summary.read_text()
    assert md.startswith("### goalloc compare") and "gate crossed" in md.splitlines()[0]
    assert "**FAIL /goalloc/frag/rounding:bytes>+5%**" in md
    assert json.loads((tmp_path / "out" / "gab.json").read_text())
    # the opposite gate passes: exit 0
    env["FAIL_ON"] = "/goalloc/frag/rounding:bytes<-5%"
    summary.unlink()
    r = subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "gate crossed" not in summary.read_text().splitlines()[0]
