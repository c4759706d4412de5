"""Shared test helpers: run the CLI in-process (exit code, stdout, stderr) and build traces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from goalloc.trace import Header, Writer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli(capsys):
    """Run `goalloc ARGS...` in this process through the real entry point."""
    from goalloc.cli import main

    def run(*args):
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def run_goalloc(*args, env=None, timeout=120):
    """Run the installed `goalloc` in a subprocess (for exit codes, imports, tracebacks)."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "goalloc", *map(str, args)],
        capture_output=True, text=True, env=e, timeout=timeout, cwd=REPO,
    )


def write_trace(path, events, header=None, **kw):
    """Write `events`, a list of dicts with keys kind/ts/p/id/size/flags/aux, to `path`."""
    cols = {name: np.array([e.get(name, 0) for e in events], dtype=np.int64)
            for name in ("kind", "ts", "p", "id", "size", "flags", "aux")}
    with Writer(path, header or Header(), force=True, **kw) as w:
        w.write(**cols)
    return path


@pytest.fixture
def clean_knob_env(monkeypatch):
    """No GOGC / GOMEMLIMIT / GOMAXPROCS from the caller's environment (the knobs' defaults)."""
    for k in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS"):
        monkeypatch.delenv(k, raising=False)
