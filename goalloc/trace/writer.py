"""Streaming, atomic writer of format v1 traces.

Events are buffered into fixed-size columnar chunks; the file is written to a temporary name
beside the target and renamed into place only when `close()` succeeds, so a crash or an error
never leaves a half-written trace under the real name.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgpack
import numpy as np

from goalloc.errors import GoallocError
from goalloc.trace import format as fmt
from goalloc.trace.header import Header, map_for_codec

# The event count is unknown while streaming: the header is written with this placeholder,
# encoded as a fixed 9-byte msgpack uint64, and patched in place at close.
_EVENTS_PLACEHOLDER = (1 << 64) - 1
_PLACEHOLDER_BYTES = b"\xcf" + b"\xff" * 8
COMPRESS_THREADS = 2  # zstd threads per writer (at most the CPUs)


def check_output(path: str | os.PathLike, force: bool = False) -> None:
    """Raise a one-line GoallocError unless `path` can be written as an output file: its
    directory exists and is writable, it is not a directory, and it does not exist unless
    `force`. Commands call this for every output before doing any work."""
    p = Path(path)
    directory = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise GoallocError(f"{p}: is a directory (expected an output file name)")
    if not directory.is_dir():
        raise GoallocError(f"{p}: cannot write: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise GoallocError(f"{p}: cannot write: directory {directory} is not writable")
    if (p.exists() or p.is_symlink()) and not force:
        raise GoallocError(f"{p}: already exists (use --force to overwrite)")


# A temp file of ours: ".{target name}.{pid}.{random}.tmp" beside the target. One whose
# process is gone (killed, crashed) is removed by the next writer of the same target; one
# without a pid (older goalloc) once it is an hour old.
_STALE_SECONDS = 3600


def clean_stale_temps(path: Path) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    prefix = f".{path.name}."
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        parts = name[len(prefix):-len(".tmp")].split(".")
        tmp = directory / name
        try:
            if len(parts) == 2 and parts[0].isdigit():
                if _alive(int(parts[0])):
                    continue
            elif time.time() - tmp.lstat().st_mtime < _STALE_SECONDS:
                continue
            tmp.unlink()
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


class AtomicFile:
    """A binary file written under a temporary name and renamed to `path` on commit."""

    def __init__(self, path: str | os.PathLike, force: bool = False):
        self.path = Path(path)
        check_output(self.path, force)
        clean_stale_temps(self.path)
        directory = self.path.parent if str(self.path.parent) else Path(".")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.{os.getpid()}.",
                                       suffix=".tmp", dir=directory)
        except OSError as e:
            raise GoallocError(f"{self.path}: cannot write: {e.strerror}") from None
        self.tmp = Path(tmp)
        self.file = os.fdopen(fd, "w+b")

    def commit(self) -> None:
        self.file.flush()
        self.file.close()
        os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        try:
            os.replace(self.tmp, self.path)
        except OSError as e:  # e.g. the target became a directory meanwhile
            self.tmp.unlink(missing_ok=True)
            raise GoallocError(f"{self.path}: cannot write: {e.strerror}") from None

    def replace_head(self, old_len: int, head: bytes) -> None:
        """Put `head` in place of the file's first `old_len` bytes (a header that grew after
        the events were written: the attribution table, #17). The rest is copied once to a
        new temporary file beside the target, which then takes the old one's place."""
        import shutil

        directory = self.tmp.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.{os.getpid()}.",
                                       suffix=".tmp", dir=directory)
        except OSError as e:
            raise GoallocError(f"{self.path}: cannot write: {e.strerror}") from None
        new = None
        try:
            new = os.fdopen(fd, "w+b")
            new.write(head)
            self.file.flush()
            self.file.seek(old_len)
            shutil.copyfileobj(self.file, new, 1 << 20)
        except BaseException:
            if new is None:
                os.close(fd)
            else:
                new.close()
            Path(tmp).unlink(missing_ok=True)
            raise
        # the new copy is ours (discard removes it) before the old one goes, and the old one
        # goes even if an interrupt lands while it closes: an interrupted import or convert
        # leaves no temp file behind
        old_tmp, old_file = self.tmp, self.file
        self.tmp, self.file = Path(tmp), new
        try:
            old_file.close()
        finally:
            old_tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        self.tmp.unlink(missing_ok=True)


class Writer:
    """Write a trace chunk by chunk.

    >>> with Writer("t.msgpack", Header(producer="me")) as w:
    ...     w.write(kind=[1, 2], ts=[0, 10], id=[0, 0], size=[24, 0])
    """

    def __init__(
        self,
        path: str | os.PathLike,
        header: Header,
        *,
        chunk_events: int = fmt.DEFAULT_CHUNK_EVENTS,
        codec: str = "raw",
        force: bool = False,
    ):
        if not 1 <= chunk_events <= fmt.MAX_CHUNK_EVENTS:
            raise ValueError(f"chunk_events must be in 1..{fmt.MAX_CHUNK_EVENTS}")
        if codec not in fmt.CODECS:
            raise ValueError(f"unknown codec {codec!r}; expected one of {fmt.CODECS}")
        self.header = header
        self.chunk_events = chunk_events
        self.codec = codec
        self._compress_pool = None
        if codec != "raw":
            # A chunk's columns are compressed as separate frames, so they can be compressed
            # at once: zstd releases the GIL, and each thread has its own compressor (one
            # ZstdCompressor must not be used by two threads at a time). The frames are the
            # same bytes whichever thread makes them.
            self._compress_pool = ThreadPoolExecutor(
                max_workers=min(COMPRESS_THREADS, os.cpu_count() or 1),
                thread_name_prefix="goalloc-zstd")
            self._compressors = threading.local()
        self._buf = {name: np.zeros(chunk_events, dtype=dt) for name, dt in fmt.COLUMNS.items()}
        self._fill = 0
        self.events = 0
        self._head_len = 0  # bytes of the header as first written
        self._late_header = False  # set_header was called: the header is rewritten at close
        self._late_as_first = False  # ... in the form the header written at open has
        self._out = AtomicFile(path, force=force)
        try:
            self._events_at = self._write_header()
        except BaseException:
            self.abort()
            raise

    # -- public API ---------------------------------------------------------------------

    def write(self, **columns) -> None:
        """Append events given as equal-length columns (any array-likes); missing ones are 0."""
        unknown = set(columns) - set(fmt.COLUMNS)
        if unknown:
            raise ValueError(f"unknown columns: {sorted(unknown)}")
        arrays = {k: np.asarray(v) for k, v in columns.items()}
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) > 1:
            raise ValueError("columns differ in length")
        n = lengths.pop() if lengths else 0
        done = 0
        while done < n:
            if self._fill == 0 and n - done >= self.chunk_events:
                hi = done + self.chunk_events
                zeros = None
                whole = {}
                for name in fmt.COLUMNS:
                    a = arrays.get(name)
                    if a is None:
                        if zeros is None:
                            zeros = np.zeros(self.chunk_events, dtype=np.uint8)
                        a = zeros
                    else:
                        a = a[done:hi]
                    whole[name] = a
                self._write_chunk(whole, self.chunk_events)
                done = hi
                continue
            take = min(n - done, self.chunk_events - self._fill)
            lo, hi = self._fill, self._fill + take
            for name, buf in self._buf.items():
                a = arrays.get(name)
                if a is None:
                    buf[lo:hi] = 0
                else:
                    buf[lo:hi] = a[done : done + take]
            self._fill = hi
            done += take
            if self._fill == self.chunk_events:
                self._flush()

    def set_header(self, header: Header, *, as_first: bool = False) -> None:
        """Replace the header; it is written at close, when its final size is known (the
        Go importer learns the attribution table generation by generation, #17).
        `as_first`: written as it would have been had the writer been opened with it (the
        event count patched into its fixed 9-byte placeholder), for a caller that opened
        the writer before it knew the header (the Go importer, to compress its first
        generation while converting it); a later call without it writes the usual form."""
        self.header = header
        self._late_header = True
        self._late_as_first = as_first

    def write_chunk(self, chunk) -> None:
        """Append a chunk read from another trace (see reader.Chunk)."""
        self.write(**{name: getattr(chunk, name) for name in fmt.COLUMNS})

    def close(self) -> None:
        if self._out.file.closed:
            return
        try:
            self._flush()
            # the placeholder's 9 bytes can also be a value elsewhere in the header (a
            # uint64 of 2^64 - 1): it is then not patched in place but the header rewritten
            placeholder = self.header.events is None
            if self._late_header and self._late_as_first:
                data, at = self._header_bytes()
                if at is not None:
                    data = data[:at] + b"\xcf" + self.events.to_bytes(8, "big") + data[at + 9:]
                elif placeholder:
                    data = self._counted_header()
                self._out.replace_head(self._head_len, data)
            elif self._late_header or (self._events_at is None and placeholder):
                self._out.replace_head(self._head_len, self._counted_header())
            elif self._events_at is not None:
                self._out.file.seek(self._events_at)
                self._out.file.write(b"\xcf" + self.events.to_bytes(8, "big"))
            self._out.commit()
        except BaseException:
            self._out.discard()
            raise
        finally:
            self._shutdown_pool()

    def abort(self) -> None:
        """Drop everything written; the target file is left as it was."""
        self._shutdown_pool()
        self._out.discard()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- internals ----------------------------------------------------------------------

    def _write_header(self) -> int | None:
        data, at = self._header_bytes()
        self._head_len = len(data)
        self._out.file.write(data)
        return at

    def _header_bytes(self) -> tuple[bytes, int | None]:
        """The header as written at open, and where its event count placeholder is (None:
        no placeholder to patch at close)."""
        m = self._header_map()
        patch = m.get("events") is None
        if patch:
            m["events"] = _EVENTS_PLACEHOLDER
        data = self._pack_header(m)
        if patch and data.count(_PLACEHOLDER_BYTES) == 1:
            return data, data.index(_PLACEHOLDER_BYTES)
        return data, None

    def _counted_header(self) -> bytes:
        """The header with the events written so far as its count."""
        m = self._header_map()
        m["events"] = self.events
        return self._pack_header(m)

    def _header_map(self) -> dict:
        return map_for_codec(self.header.to_map(), self.codec)

    def _pack_header(self, m: dict) -> bytes:
        data = msgpack.packb(m, use_bin_type=True)
        if len(data) > fmt.MAX_HEADER_BYTES:
            raise GoallocError(f"{self._out.path}: the trace header is larger than 1 MiB")
        return data

    def _flush(self) -> None:
        n = self._fill
        if n == 0:
            return
        self._write_chunk({name: buf[:n] for name, buf in self._buf.items()}, n)
        self._fill = 0

    def _write_chunk(self, arrays: dict[str, np.ndarray], n: int) -> None:
        """Frame one chunk by hand so column bytes go to the file without extra copies."""
        cols = []
        for name in fmt.COLUMNS:
            a = arrays[name]
            if name not in fmt.REQUIRED_COLUMNS and not a.any():
                continue  # an all-zero optional column is omitted; readers supply zeros
            raw = memoryview(np.ascontiguousarray(a, dtype=fmt.COLUMNS[name])).cast("B")
            cols.append((name, raw))
        if self.codec == fmt.SHUFFLE_CODEC:
            stored = list(self._compress_pool.map(self._shuffled, cols))
            checksum = fmt.chunk_sum64([s for s, _ in stored])
            cols = [(name, frame) for (name, _), (_, frame) in zip(cols, stored, strict=True)]
        else:
            checksum = fmt.chunk_sum64([fmt.column_sum64(raw) for _, raw in cols])
        if self.codec == "zstd":
            frames = self._compress_pool.map(self._compress, [raw for _, raw in cols])
            cols = [(name, frame) for (name, _), frame in zip(cols, frames, strict=True)]
        pk = msgpack.Packer(use_bin_type=True)
        f = self._out.file
        f.write(pk.pack_map_header(4))
        f.write(pk.pack("n") + pk.pack(n))
        f.write(pk.pack("codec") + pk.pack(self.codec))
        f.write(pk.pack("sum64") + pk.pack(checksum))
        f.write(pk.pack("cols") + pk.pack_map_header(len(cols)))
        for name, raw in cols:
            f.write(pk.pack(name) + _bin_header(len(raw)))
            f.write(raw)
        self.events += n

    def _shuffled(self, col) -> tuple[int, bytes]:
        """A column as zstd-shuffle stores it: the checksum of its shuffled bytes (what a
        reader has once it decompresses) and their zstd frame."""
        from goalloc.trace.shuffle import shuffle_column

        name, raw = col
        stored = shuffle_column(name, np.frombuffer(raw, fmt.COLUMNS[name]))
        return fmt.column_sum64(stored), self._compress(stored)

    def _compress(self, raw) -> bytes:
        c = getattr(self._compressors, "c", None)
        if c is None:
            import zstandard

            c = self._compressors.c = zstandard.ZstdCompressor(level=3)
        return c.compress(raw)

    def _shutdown_pool(self) -> None:
        if self._compress_pool is not None:
            self._compress_pool.shutdown()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _bin_header(length: int) -> bytes:
    """msgpack `bin` header (bin 8/16/32, big-endian length); msgpack-python has no public
    packer for it."""
    if length < 1 << 8:
        return b"\xc4" + length.to_bytes(1, "big")
    if length < 1 << 16:
        return b"\xc5" + length.to_bytes(2, "big")
    return b"\xc6" + length.to_bytes(4, "big")
