"""Finding a Go toolchain that can record traceallocfree traces (Go 1.23 or newer): on PATH, or
where Debian's golang-1.23-go puts it (the Makefile installs that package for the tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

DEBIAN_GO = "/usr/lib/go-1.23/bin/go"


def find_go(min_minor: int = 23) -> str | None:
    """Path of a `go` whose version is 1.<min_minor> or newer, else None."""
    for cand in (shutil.which("go"), DEBIAN_GO):
        if cand and os.access(cand, os.X_OK):
            out = subprocess.run([cand, "version"], capture_output=True, text=True).stdout
            m = re.search(r"go1\.(\d+)", out)
            if m and int(m.group(1)) >= min_minor:
                return cand
    return None
