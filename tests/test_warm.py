"""`python -m goalloc.warm` (#14), which `make install` runs: it runs goalloc commands in two
processes so that numba compiles every kernel before the first real command; a command that
fails makes it exit 1 naming what failed (an install must not look finished when it is not).
The suite runs with the kernels already compiled, so these take seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def warm(*args):
    return subprocess.run([sys.executable, "-m", "goalloc.warm", *args], capture_output=True,
                          text=True, timeout=900, cwd=REPO)


def test_warm_runs_the_commands_and_says_so():
    r = warm("--replay", "traces/go127-http-clientserver.msgpack",
             "--mtrace", "tests/data/mtrace-git-version.txt")
    assert r.returncode == 0, r.stderr
    assert "kernels compiled and cached" in r.stderr


def test_a_failing_command_fails_the_warm_up():
    r = warm("--replay", "no-such-trace.msgpack")
    assert r.returncode == 1
    assert "no-such-trace.msgpack" in r.stderr and "Traceback" not in r.stderr
