"""Reports the HTML tests share: built once per test session through the real CLI, each next to
the JSON the same configuration gives with `goalloc replay --json`.

- go: the shipped net/http trace (a recorded Go trace: clock, recorded pauses, fidelity);
- grid: a synthetic steady trace at GOGC 50 and 200 (what-if overlay, small multiples);
- noclock: a hand-made trace whose timestamps are all 0 (x axis in events).
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from conftest import REPO, write_trace

from goalloc.trace import Header
from goalloc.trace import format as F

GO_TRACE = REPO / "traces" / "go-http-clientserver.msgpack"


def goalloc(*args) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit status, stdout, stderr)."""
    from goalloc.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def noclock_trace(path):
    """60,000 allocations of 1 KiB on one P, every other one freed 200 allocations later, all
    at ts 0: about 30 MiB allocated, so GC cycles run, but there is no clock."""
    ev = []
    for i in range(60_000):
        ev.append({"kind": F.ALLOC, "id": i, "size": 1024})
        if i >= 200 and i % 2 == 0:
            ev.append({"kind": F.FREE, "id": i - 200})
    return write_trace(path, ev, Header(gomaxprocs=1))


def build(tmp) -> dict:
    """{name: {"html": path, "json": [replay --json text per run], "doc": ...}}."""
    out = {}
    # a recorded Go trace, recorded GC mode: fidelity by default in `goalloc report`
    html = tmp / "go.html"
    code, _, err = goalloc("report", GO_TRACE, "--gc", "recorded", "-o", html)
    assert code == 0, err
    code, text, err = goalloc("replay", GO_TRACE, "--gc", "recorded", "--validate", "--json")
    assert code == 0, err
    out["go"] = {"html": html, "json": [text]}

    synth = tmp / "steady.msgpack"
    code, _, err = goalloc("synth", "steady", "-n", 300_000, "--procs", 2, "-o", synth)
    assert code == 0, err
    html = tmp / "grid.html"
    code, _, err = goalloc("report", synth, "--gogc", "50,200", "-j", 1, "-o", html)
    assert code == 0, err
    code, text, err = goalloc("replay", synth, "--gogc", "50,200", "-j", 1, "--json")
    assert code == 0, err
    out["grid"] = {"html": html, "json": [json.dumps(r, indent=2, sort_keys=True,
                                                     ensure_ascii=False) + "\n"
                                          for r in json.loads(text)["runs"]]}

    trace = noclock_trace(tmp / "noclock.msgpack")
    html = tmp / "noclock.html"
    code, _, err = goalloc("report", trace, "-o", html)
    assert code == 0, err
    code, text, err = goalloc("replay", trace, "--json")
    assert code == 0, err
    out["noclock"] = {"html": html, "json": [text]}
    for v in out.values():
        v["text"] = v["html"].read_text()
        v["docs"] = [json.loads(t) for t in v["json"]]
    return out


_BUILT: dict = {}


def session_pages(tmp_path_factory) -> dict:
    """The three reports, built once per test session (both HTML test modules use them)."""
    if not _BUILT:
        mp = pytest.MonkeyPatch()
        for k in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS"):
            mp.delenv(k, raising=False)
        try:
            _BUILT.update(build(tmp_path_factory.mktemp("html")))
        finally:
            mp.undo()
    return _BUILT
