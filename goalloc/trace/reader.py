"""Streaming reader of format v1 traces: one chunk of numpy columns at a time.

Memory is bounded by the chunk size, not the trace: msgpack's limits refuse any declared length
beyond what a legal chunk can hold, and zstd frames are decompressed with a bounded output.
Columns are read-only: zero-copy views of the chunk's bytes (zstd-shuffle's: arrays of their
own, the shuffle undone).
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import numpy as np

from goalloc.errors import TraceError
from goalloc.trace import format as fmt
from goalloc.trace.header import Header, header_from_map

_MAX_COLUMN_BYTES = fmt.MAX_CHUNK_EVENTS * 8
_MAX_BUFFER = 16 * _MAX_COLUMN_BYTES  # room for every known column plus a few unknown ones


@dataclass
class Chunk:
    """`n` events; `start` is the index of the first one in the trace, `offset` its byte offset."""

    n: int
    start: int
    offset: int
    kind: np.ndarray
    ts: np.ndarray
    p: np.ndarray
    id: np.ndarray
    size: np.ndarray
    flags: np.ndarray
    aux: np.ndarray
    site: np.ndarray  # format 1.1 (#17); zeros when the file has no site column
    # the chunk as the file stores it, when a reader read it (None for a chunk made otherwise;
    # a chunk derived with dataclasses.replace carries its origin's, which is not its own)
    stored: StoredChunk | None = field(default=None, repr=False, compare=False)

    def columns(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in fmt.COLUMNS}


@dataclass(frozen=True, eq=False)
class StoredChunk:
    """A chunk as its file stores it (its msgpack map: compressed columns, codec, checksum),
    checked when it was read: `decode()` gives the same Chunk again without the file. A
    replay's later passes keep these rather than the decoded columns (engine/passes.py):
    zstd-shuffle stores a Go trace's 44 bytes of columns per event in about 3."""

    obj: dict
    offset: int
    start: int
    path: Path
    nbytes: int  # of the stored columns

    def decode(self) -> Chunk:
        dec = getattr(_DECODERS, "d", None)
        if dec is None:  # a zstd decompressor per thread: the passes decode on threads
            dec = _DECODERS.d = _Decoder(verify=False)  # (checked when it was read)
        return dec.decode(self.obj, self.offset, self.start, self.path)


_DECODERS = threading.local()


class TraceReader:
    """Iterate a trace's chunks. Use `goalloc.trace.open(path)` to make one."""

    def __init__(self, path: str | os.PathLike, *, verify: bool = True):
        self.path = Path(path)
        self.verify = verify
        try:
            self._file = builtins.open(self.path, "rb")  # closed by close()
        except OSError as e:
            raise TraceError(self.path, f"cannot open: {e.strerror}") from None
        self.file_size = os.fstat(self._file.fileno()).st_size
        self._unpacker = msgpack.Unpacker(
            self._file,
            raw=False,
            read_size=1 << 20,
            max_buffer_size=_MAX_BUFFER,
            max_bin_len=_MAX_COLUMN_BYTES,
            max_str_len=fmt.MAX_HEADER_BYTES,
            max_array_len=fmt.MAX_HEADER_LIST,
            max_map_len=1 << 12,
            max_ext_len=0,
            strict_map_key=True,
        )
        self.header: Header = self._read_header()
        self._decoder = _Decoder(verify)

    # -- public API ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[Chunk]:
        return self.chunks()

    def chunks(self) -> Iterator[Chunk]:
        start = 0
        while True:
            offset = self._unpacker.tell()
            obj = self._next(offset, start)
            if obj is None:
                break
            chunk = self._decode_chunk(obj, offset, start)
            start += chunk.n
            # (decoded, so its map and columns were checked)
            chunk.stored = StoredChunk(obj, offset, chunk.start, self.path,
                                       sum(len(v) for v in obj["cols"].values()))
            yield chunk
        declared = self.header.events
        if declared is not None and declared != start:
            raise TraceError(
                self.path,
                f"truncated trace: header declares {declared} events, the file holds {start}",
                offset=self.file_size,
                event=start,
            )

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TraceReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------

    def _next(self, offset: int, event: int):
        """The next msgpack value, or None at a clean end of file."""
        try:
            return self._unpacker.unpack()
        except msgpack.OutOfData:
            if self._unpacker.tell() != self.file_size or offset != self.file_size:
                where = "the header" if event is None else "a chunk"
                raise TraceError(
                    self.path, f"truncated trace: the file ends inside {where}", offset, event
                ) from None
            return None
        except (ValueError, msgpack.UnpackException, msgpack.ExtraData) as e:
            raise TraceError(self.path, f"corrupt msgpack data ({_short(e)})", offset, event) from None
        except Exception as e:  # msgpack raises assorted types on garbage; all mean corruption
            raise TraceError(self.path, f"corrupt msgpack data ({_short(e)})", offset, event) from None

    def _read_header(self) -> Header:
        if self.file_size == 0:
            raise TraceError(self.path, "empty file, not a goalloc trace", 0)
        m = self._next(0, None)
        if m is None:
            raise TraceError(self.path, "empty file, not a goalloc trace", 0)
        try:
            return header_from_map(m)
        except ValueError as e:
            raise TraceError(self.path, str(e), 0) from None

    def _decode_chunk(self, obj, offset: int, start: int) -> Chunk:
        return self._decoder.decode(obj, offset, start, self.path)


class _Decoder:
    """A chunk's map to its Chunk: the codec undone, each column checked (and the checksum when
    `verify`)."""

    def __init__(self, verify: bool):
        self.verify = verify
        self._zstd = None

    def decode(self, obj, offset: int, start: int, path: Path) -> Chunk:
        def bad(msg: str) -> TraceError:
            return TraceError(path, f"corrupt chunk: {msg}", offset, start)

        if not isinstance(obj, dict):
            raise bad("expected a chunk map")
        n = obj.get("n")
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= fmt.MAX_CHUNK_EVENTS:
            raise bad(f"event count {n!r} is not in 1..{fmt.MAX_CHUNK_EVENTS}")
        codec = obj.get("codec", "raw")
        if codec not in fmt.CODECS:
            raise bad(f"unknown codec {codec!r}")
        cols = obj.get("cols")
        if not isinstance(cols, dict):
            raise bad("missing column map")
        for name in fmt.REQUIRED_COLUMNS:
            if name not in cols:
                raise bad(f"required column '{name}' is missing")
        arrays: dict[str, np.ndarray] = {}
        sums = []
        for name, data in cols.items():
            if not isinstance(data, bytes):
                raise bad(f"column '{name}' is not binary data")
            dtype = fmt.COLUMNS.get(name)
            if codec != "raw":
                data = self._decompress(data, n * (dtype.itemsize if dtype else 8), name, bad)
            if self.verify:
                sums.append(fmt.column_sum64(data))
            if dtype is None:
                continue  # an unknown optional column from a newer minor version: ignored
            if len(data) != n * dtype.itemsize:
                raise bad(f"column '{name}' holds {len(data)} bytes, expected {n * dtype.itemsize}")
            if codec == fmt.SHUFFLE_CODEC:
                from goalloc.trace.shuffle import unshuffle_column

                arrays[name] = unshuffle_column(name, data, n)
            else:
                arrays[name] = np.frombuffer(data, dtype=dtype)
        if self.verify and "sum64" in obj and obj["sum64"] != fmt.chunk_sum64(sums):
            raise bad("checksum mismatch (the data was altered or damaged)")
        for name, dtype in fmt.COLUMNS.items():
            if name not in arrays:
                arrays[name] = _zeros(n, dtype)
        return Chunk(n=n, start=start, offset=offset, **arrays)

    def _decompress(self, data: bytes, limit: int, name: str, bad) -> bytes:
        if self._zstd is None:
            import zstandard

            self._zstd = zstandard.ZstdDecompressor()
        import zstandard

        try:
            # A frame that declares its size is allocated at that size, so check the
            # declaration first; max_output_size bounds frames that do not declare one.
            declared = zstandard.frame_content_size(data)
            if declared > limit:
                raise ValueError(f"declares {declared} bytes, more than {limit}")
            return self._zstd.decompress(data, max_output_size=max(limit, 1))
        except Exception as e:
            raise bad(f"column '{name}' does not decompress ({_short(e)})") from None


def _zeros(n: int, dtype: np.dtype) -> np.ndarray:
    a = np.zeros(n, dtype=dtype)
    a.flags.writeable = False
    return a


def _short(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:120]


def open(path: str | os.PathLike, *, verify: bool = True) -> TraceReader:  # noqa: A001
    """Open a format v1 trace for streaming: `for chunk in goalloc.trace.open(p): ...`."""
    return TraceReader(path, verify=verify)
