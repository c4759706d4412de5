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


BUILDINFO_MAGIC = b"\xff Go buildinf:"  # debug/buildinfo: the .go.buildinfo header's first bytes
BUILDINFO_ALIGN = 16  # the header sits on a 16-byte boundary (debug/buildinfo buildInfoAlign)
FLAGS_VERSION_INLINE = 2  # Go 1.18+: the version string follows the 32-byte header inline


def binary_release(path: str | os.PathLike) -> str | None:
    """The Go release that built the binary at `path` ("1.27.4"), read from its build info as
    `go version PATH` does, without a go command: the 16-byte-aligned .go.buildinfo header
    (magic, pointer size, flags), then from Go 1.18 the version string inline at offset 32 (a
    uvarint length and the bytes, "go1.27.4"). None for a file that is not a Go 1.18+ binary
    or cannot be read. The file is mapped, not read into memory."""
    import mmap

    if not os.path.isfile(path):  # a FIFO or device would block or never end
        return None
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            at = m.find(BUILDINFO_MAGIC)
            while at >= 0:
                if at % BUILDINFO_ALIGN == 0 and at + 32 < len(m) \
                        and m[at + 15] & FLAGS_VERSION_INLINE:
                    release = _inline_version(m, at + 32)
                    if release:
                        return release
                at = m.find(BUILDINFO_MAGIC, at + 1)
    except (OSError, ValueError):  # unreadable, a directory, an empty file (mmap refuses it)
        return None
    return None


def _inline_version(m, at: int) -> str | None:
    """The "go1.X[.Y]" string at `at` (uvarint length, then bytes) as "1.X[.Y]", else None."""
    # `goalloc record` imports the Go importer (and numba) right after this anyway
    from goalloc.trace.importers.gotrace_wire import uvarint

    # a version string is short: its length fits two varint bytes (three read at most)
    n, at = uvarint(m, at, min(len(m), at + 3))
    if at < 0:
        return None
    text = bytes(m[at:at + min(n, 64)]).decode("ascii", "replace")
    v = re.fullmatch(r"go(1\.\d+(?:\.\d+)?)(?:[-+ ].*)?", text)
    return v.group(1) if v else None
