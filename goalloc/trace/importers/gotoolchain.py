"""Finding Go toolchains that can record traceallocfree traces (Go 1.23 or newer): on PATH, or
where Debian's golang-1.XX-go packages put them (the Makefile installs 1.23-1.27 for the
tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

DEBIAN_GO = "/usr/lib/go-1.{minor}/bin/go"


def go_version(go: str) -> tuple[int, int] | None:
    """(major, minor) that `go version` reports, or None when it does not run."""
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"go(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def find_go(min_minor: int = 23) -> str | None:
    """Path of a `go` whose version is 1.<min_minor> or newer, else None."""
    for cand in (shutil.which("go"), DEBIAN_GO.format(minor=23)):
        if cand and os.access(cand, os.X_OK):
            v = go_version(cand)
            if v and v[0] == 1 and v[1] >= min_minor:
                return cand
    return None


def go_release(minor: int) -> str | None:
    """Path of Go 1.<minor> exactly: Debian's golang-1.<minor>-go, else `go` on PATH if it is
    that release; None when neither is."""
    for cand in (DEBIAN_GO.format(minor=minor), shutil.which("go")):
        if cand and os.access(cand, os.X_OK) and go_version(cand) == (1, minor):
            return cand
    return None
