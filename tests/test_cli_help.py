"""`goalloc --help` and every subcommand's --help must not import numba (or rich)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from goalloc.cli import COMMANDS, _available

PROBE = """
import sys
from goalloc.cli import main
try:
    main({args!r})
except SystemExit as e:
    assert not e.code, e.code
heavy = sorted(m for m in ("numba", "llvmlite", "rich", "numpy") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"]] + [
    [name, "--help"] for name in COMMANDS if _available(name)])
def test_help_imports_nothing_heavy(args):
    r = subprocess.run([sys.executable, "-c", PROBE.format(args=args)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout or "version" in r.stdout
    heavy = r.stdout.strip().splitlines()[-1]
    assert "numba" not in heavy and "llvmlite" not in heavy, heavy


def test_unknown_command_is_a_usage_error(cli):
    code, out, err = cli("frobnicate")
    assert code == 2 and "No such command" in err


HUGE = """
import sys
from goalloc.cli import main
try:
    main(["info", {trace!r}])
except SystemExit as e:
    assert not e.code, e.code
import numpy
print("HUGE:", numpy._core.multiarray._set_madvise_hugepage(True))
"""


@pytest.mark.parametrize("env,want", [({}, "False"), ({"NUMPY_MADVISE_HUGEPAGE": "1"}, "True")])
def test_commands_run_numpy_without_huge_pages(env, want, tmp_path):
    """The CLI asks numpy not to madvise huge pages (cli._no_huge_pages: a fresh import runs
    a third faster without them), unless the environment says otherwise."""
    import os

    trace = os.path.join(os.path.dirname(__file__), "..", "traces", "go-parser.msgpack")
    base = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    r = subprocess.run([sys.executable, "-c", HUGE.format(trace=trace)], capture_output=True,
                       text=True, timeout=120, env={**base, **env})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == f"HUGE: {want}"
