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


def test_the_warm_up_grows_an_address_map(tmp_path, monkeypatch):
    """The first import of a large trace after install compiled addrmap._rehash (a map past
    32 K live addresses; 2026-12-05): the warm-up's generated mtrace log reaches it."""
    import argparse

    from goalloc import warm as w
    from goalloc.trace import addrmap
    from goalloc.trace.importers.mtrace import import_mtrace

    ns = argparse.Namespace(replay=None, gotrace=None, mtrace="tests/data/mtrace-git-version.txt",
                            heaptrack=None)
    cmds = [c for part in w._commands(ns, str(tmp_path)) for c in part]
    many = [c for c in cmds if c[:2] == ["import", "mtrace"] and "many-live" in c[2]]
    assert len(many) == 1
    grown = []
    real = addrmap._rehash
    monkeypatch.setattr(addrmap, "_rehash", lambda *a: grown.append(1) or real(*a))
    import_mtrace(many[0][2], tmp_path / "out.msgpack")
    assert grown  # the map outgrew its first size
