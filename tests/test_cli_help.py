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
