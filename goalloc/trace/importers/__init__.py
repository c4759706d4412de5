"""Importers: recorders' files to goalloc traces (docs/importers.md), and `detect`, which tells
which kind of file a path holds so commands can take recorders' files directly."""

from __future__ import annotations

import os
import re

from goalloc.errors import GoallocError

HEAD_BYTES = 4096  # detection reads at most this much (decompressed, for heaptrack)

_GO_HEADER = re.compile(rb"go 1\.\d+ trace")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"


def detect(path: str | os.PathLike) -> str:
    """The kind of trace at `path`: "goalloc" (a goalloc msgpack trace), "gotrace" (a Go
    execution trace), "heaptrack" (a heaptrack raw file, plain, gzip or zstd) or "mtrace" (glibc
    MALLOC_TRACE text). Reads the first few KB only. Raises GoallocError for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
            if head[:1] and _is_goalloc(f, head[0]):
                return "goalloc"
    except OSError as e:
        raise GoallocError(f"{os.fspath(path)}: cannot open: {e.strerror}") from None
    if _GO_HEADER.match(head):
        return "gotrace"
    if head.startswith(_ZSTD_MAGIC) or head.startswith(_GZIP_MAGIC):
        if _decompressed_head(path, zstd=head.startswith(_ZSTD_MAGIC)).startswith(b"v "):
            return "heaptrack"
    elif head.startswith(b"v "):
        return "heaptrack"
    else:
        first = head.lstrip(b"\r\n").split(b"\n", 1)[0]
        if first.startswith((b"= Start", b"@ ", b"+ 0x")):
            return "mtrace"
    raise GoallocError(f"{os.fspath(path)}: not a trace goalloc can read (expected a goalloc "
                       "trace, a Go execution trace, an mtrace or a heaptrack raw file)")


def _is_goalloc(f, first: int) -> bool:
    """A msgpack map first, with "format": "goalloc-trace" among its first keys (the header
    is read as far as that key: it comes after the source map, which can be larger than the
    head)."""
    if not (0x80 <= first <= 0x8F or first in (0xDE, 0xDF)):
        return False
    import msgpack

    from goalloc.trace import format as fmt

    f.seek(0)
    unpacker = msgpack.Unpacker(f, read_size=HEAD_BYTES, max_buffer_size=fmt.MAX_HEADER_BYTES,
                                raw=False)
    try:
        n = unpacker.read_map_header()
        for _ in range(min(n, 64)):
            key = unpacker.unpack()
            if key == "format":
                return unpacker.unpack() == fmt.FORMAT_NAME
            unpacker.skip()
    except Exception:  # not msgpack, truncated, or a value over the header limit
        return False
    return False


def _decompressed_head(path, zstd: bool) -> bytes:
    try:
        if zstd:
            import zstandard

            with open(path, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as r:
                return r.read(HEAD_BYTES)
        import gzip

        with gzip.open(path, "rb") as g:
            return g.read(HEAD_BYTES)
    except Exception:  # corrupt or truncated compressed data: not something goalloc can read
        return b""


# format -> (module, function); each importer takes (src, out, *, force, codec, progress) and
# returns a dict of notes (what it could not map).
IMPORTERS = {
    "gotrace": ("goalloc.trace.importers.gotrace", "import_gotrace"),
    "mtrace": ("goalloc.trace.importers.mtrace", "import_mtrace"),
    "heaptrack": ("goalloc.trace.importers.heaptrack", "import_heaptrack"),
}


def import_file(kind: str, src: str | os.PathLike, out: str | os.PathLike, *,
                force: bool = False, codec: str = "zstd-shuffle", progress=None) -> dict:
    """Import recorder file `src` of format `kind` (see `detect`) to goalloc trace `out`."""
    import importlib

    module, function = IMPORTERS[kind]
    run = getattr(importlib.import_module(module), function)
    return run(src, out, force=force, codec=codec, progress=progress)


def import_recorder_files(paths, enter_context) -> dict:
    """For commands that take traces: every recorder's file among `paths` (by `detect`) is
    imported to a zstd goalloc trace in a temporary directory, which `enter_context` (e.g.
    click's ctx.with_resource or an ExitStack's enter_context) removes when the command ends.
    Returns {original path: {"path": original, "format": kind, "sha256": the original's
    digest, "trace": the temporary goalloc trace}}; goalloc traces and missing files are left
    out (the caller reports those in its own words)."""
    import hashlib
    import tempfile

    out: dict = {}
    tmp = None
    for src in dict.fromkeys(paths):
        if not os.path.isfile(src):
            continue
        kind = detect(src)
        if kind == "goalloc":
            continue
        if tmp is None:
            tmp = enter_context(tempfile.TemporaryDirectory(prefix="goalloc-import-"))
        dst = os.path.join(tmp, f"{len(out)}-{os.path.basename(src)}.msgpack")
        import_file(kind, src, dst)
        h = hashlib.sha256()
        with open(src, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        out[src] = {"path": os.fspath(src), "format": kind, "sha256": h.hexdigest(),
                    "trace": dst}
    return out
