"""Shared machinery of the text importers (mtrace, heaptrack): streaming a possibly compressed
file in blocks of whole lines, numba helpers that parse hex numbers out of raw bytes, and the
one-line error for a bad line."""

from __future__ import annotations

import dataclasses
import gzip
import os
from collections.abc import Iterator

import numpy as np

from goalloc import limits
from goalloc.errors import TraceError
from goalloc.jit import njit
from goalloc.trace import format as fmt
from goalloc.trace.addrmap import AddrMap, map_insert, map_remove
from goalloc.trace.writer import Writer

BLOCK = 8 << 20
MAX_LINE = limits.MAX_TEXT_LINE_BYTES

NIL = np.int64(-1)  # "(nil)"
BAD = np.int64(-2)  # not a number


def _open(src: str | os.PathLike):
    """The file's text as a binary stream, decompressed if it starts with a gzip or zstd magic."""
    try:
        f = open(src, "rb")
    except OSError as e:
        raise TraceError(src, f"cannot open: {e.strerror}") from None
    magic = f.read(4)
    f.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")
    if magic == b"\x28\xb5\x2f\xfd":
        return _ZstdStream(f)
    return f


class _ZstdStream:
    """Read concatenated zstd frames; a file that ends inside a frame is an error (zstandard's
    stream_reader would just stop, and a cut-off trace would import as a shorter one)."""

    def __init__(self, f):
        import zstandard

        self._zstd = zstandard
        self._f = f
        self._d = zstandard.ZstdDecompressor().decompressobj()
        self._in_frame = False
        self._left = b""  # decompressed beyond the last read's n

    def read(self, n: int) -> bytes:
        out = [self._left]
        size = len(self._left)
        while size < n:
            # small feeds bound what one decompress call can return (a bomb's 32768:1)
            raw = self._f.read(limits.ZSTD_FEED_BYTES)
            if not raw:
                if self._in_frame:
                    raise EOFError("the file ends inside a zstd frame")
                break
            while raw:
                self._in_frame = True
                data = self._d.decompress(raw)
                out.append(data)
                size += len(data)
                if self._d.eof:  # frame complete; any bytes after it start the next one
                    raw = self._d.unused_data
                    self._d = self._zstd.ZstdDecompressor().decompressobj()
                    self._in_frame = False
                else:
                    raw = b""
        data = b"".join(out)
        self._left = data[n:]  # a read returns at most n bytes, however well the input packed
        return data[:n]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def line_blocks(src: str | os.PathLike, block: int = BLOCK) -> Iterator[tuple[np.ndarray, bytes, int]]:
    """Yield (bytes as uint8 array, the block, offset of the block in the text) for blocks of
    whole lines; the last block may end without a newline."""
    offset = 0
    carry = b""
    with _open(src) as f:
        while True:
            try:
                data = f.read(block)
            except (OSError, EOFError, ValueError) as e:
                raise TraceError(src, f"cannot decompress ({e})", offset + len(carry)) from None
            except Exception as e:  # zstandard raises its own ZstdError
                raise TraceError(src, f"cannot decompress ({e})", offset + len(carry)) from None
            chunk = carry + data
            if not chunk:
                return
            cut = chunk.rfind(b"\n") + 1 if data else len(chunk)
            if cut == 0:
                if len(chunk) > MAX_LINE:
                    raise TraceError(src, f"line longer than {MAX_LINE >> 20} MiB", offset)
                carry = chunk
                continue
            yield np.frombuffer(chunk, np.uint8, count=cut), chunk, offset
            offset += cut
            carry = chunk[cut:]
            if not data:
                return


def bad_line(src, what: str, buf: np.ndarray, chunk: bytes, bad_at: int, offset: int,
             first_line: int) -> TraceError:
    """The error for the line starting at `bad_at` of a block whose first line is `first_line`."""
    lineno = first_line + int(np.count_nonzero(buf[:bad_at] == 10))
    text = bytes(chunk[bad_at:bad_at + 60]).split(b"\n")[0].decode("utf-8", "replace")
    return TraceError(src, f"not {what} line: {text!r}", offset + bad_at, line=lineno)


@njit(cache=True, inline="always")
def line_end(buf, i):
    """Index of the newline ending the line that starts at i (or the buffer's length)."""
    n = buf.shape[0]
    end = i
    while end < n and buf[end] != 10:
        end += 1
    return end


@njit(cache=True, inline="always")
def skip_spaces(buf, i, end):
    while i < end and (buf[i] == 32 or buf[i] == 9):
        i += 1
    return i


@njit(cache=True)
def parse_hex(buf, i, end, prefixed):
    """Parse a hex number at i (after spaces): `0x...` when `prefixed`, bare digits otherwise;
    `(nil)` gives NIL. Returns (value, next index); BAD when malformed or over 16 digits."""
    i = skip_spaces(buf, i, end)
    if i + 5 <= end and buf[i] == 40:  # "(nil)"
        if buf[i + 1] == 110 and buf[i + 2] == 105 and buf[i + 3] == 108 and buf[i + 4] == 41:
            return NIL, i + 5
        return BAD, i
    if prefixed:
        if i + 2 > end or buf[i] != 48 or (buf[i + 1] != 120 and buf[i + 1] != 88):
            return BAD, i
        i += 2
    v = np.int64(0)
    digits = 0
    while i < end:
        c = buf[i]
        if 48 <= c <= 57:
            d = c - 48
        elif 97 <= c <= 102:
            d = c - 87
        elif 65 <= c <= 70:
            d = c - 55
        else:
            break
        if digits >= 16:
            return BAD, i
        v = (v << 4) | np.int64(d)
        digits += 1
        i += 1
    if digits == 0 or v < 0 or (i < end and buf[i] != 32 and buf[i] != 9 and buf[i] != 13):
        return BAD, i  # v < 0: 16 digits beyond int64, never an address or a size
    return v, i


# Counters every text importer keeps (`cnt`); importer-specific ones start at N_SHARED.
C_LINES = 0
C_EVENTS = 1
C_UNKNOWN_FREES = 2  # free of an address allocated before tracing started
C_REPLACED = 3  # alloc at an address that was live: its free was not traced
C_NOW_NS = 4  # the recorder's clock at this point (0 if it has none)
C_LAST_TS = 5  # timestamp given to the last event
N_SHARED = 6

OK = 0
BAD_LINE = 1


@njit(cache=True, inline="always")
def _stamp(cnt):
    """The recorder's clock, raised by 1 ns past the last event so time strictly increases."""
    t = max(cnt[C_NOW_NS], cnt[C_LAST_TS] + 1)
    cnt[C_LAST_TS] = t
    return t


@njit(cache=True)
def emit_alloc(keys, vals, free_ids, ctr, cnt, ptr, sz, kind, ids, size, ts, out):
    """Write an alloc of `sz` bytes at address `ptr` (and, if the address was still live, a free
    of the object there first). Returns the new output count."""
    oid, old = map_insert(keys, vals, free_ids, ctr, ptr)
    t = _stamp(cnt)
    if old >= 0:
        cnt[C_REPLACED] += 1
        kind[out] = fmt.FREE
        ids[out] = old
        size[out] = 0
        ts[out] = t
        out += 1
    kind[out] = fmt.ALLOC
    ids[out] = oid
    size[out] = sz
    ts[out] = t
    return out + 1


@njit(cache=True)
def emit_free(keys, vals, free_ids, ctr, cnt, ptr, kind, ids, size, ts, out):
    """Write a free of the object at `ptr`, or count it as unknown. Returns the output count."""
    oid = map_remove(keys, vals, free_ids, ctr, ptr)
    if oid < 0:
        cnt[C_UNKNOWN_FREES] += 1
        return out
    kind[out] = fmt.FREE
    ids[out] = oid
    size[out] = 0
    ts[out] = _stamp(cnt)
    return out + 1


def run_import(src, out, header, parse_block, what: str, n_counters: int, *, force: bool,
               codec: str, progress, sites=None, site_name=None) -> tuple[np.ndarray, AddrMap]:
    """Stream `src` through `parse_block(buf, keys, vals, free_ids, ctr, cnt, kind, ids, size,
    ts) -> (status, events, bad byte)` (at most two events a line) into a trace at `out`.
    `sites` (a trace.sites.SiteTable): parse_block also takes three int64 columns per event,
    (site key, a, b): key 0 is no site, and allocs with a key get the site named by
    `site_name(buf, key, a, b)`, asked once per distinct key (#17); by default the name is
    the text buf[a:a + b] (mtrace's caller)."""
    amap = AddrMap()
    cnt = np.zeros(n_counters, np.int64)
    cnt[C_LAST_TS] = -1
    known: dict[int, int] = {}  # caller hash -> site id
    w = Writer(out, header, codec=codec, force=force)
    try:
        for buf, chunk, offset in line_blocks(src):
            lines = int(np.count_nonzero(buf == 10)) + 1
            if amap.needs_grow(lines):
                amap.grow(lines)
            cols = {"kind": np.empty(2 * lines, np.uint8), "id": np.empty(2 * lines, np.int64),
                    "size": np.empty(2 * lines, np.int64), "ts": np.empty(2 * lines, np.int64)}
            first_line = int(cnt[C_LINES]) + 1
            extra = ()
            if sites is not None:
                extra = (np.zeros(2 * lines, np.int64), np.zeros(2 * lines, np.int64),
                         np.zeros(2 * lines, np.int64))
            status, n, bad_at = parse_block(buf, amap.keys, amap.vals, amap.free_ids, amap.ctr,
                                            cnt, cols["kind"], cols["id"], cols["size"],
                                            cols["ts"], *extra)
            if status != OK:
                raise bad_line(src, what, buf, chunk, bad_at, offset, first_line)
            cnt[C_EVENTS] += n
            if sites is not None:
                cols["site"] = _caller_sites(buf, *(a[:n] for a in extra), sites, known,
                                             site_name or _text_name)
            w.write(**{k: v[:n] for k, v in cols.items()})
            if progress is not None:
                progress(len(buf))
        if sites is not None and len(sites):
            w.set_header(dataclasses.replace(w.header, sites=sites.sites))
        w.close()
    except BaseException:
        w.abort()
        raise
    return cnt, amap


def text_report(cnt, amap: AddrMap, own: dict[str, int]) -> dict[str, int]:
    """A text importer's report: lines and events read, the importer's `own` counts (in the
    order it gives them, C_UNKNOWN_FREES among them where it wants it), then the frees not
    traced and the objects live at the end."""
    return {"lines": int(cnt[C_LINES]), "events": int(cnt[C_EVENTS]), **own,
            "untraced_frees": int(cnt[C_REPLACED]), "live_at_end": int(amap.ctr[0])}


def _text_name(buf, key: int, at: int, length: int) -> str:
    return bytes(buf[at:at + length]).decode("utf-8", "replace").strip()


def _caller_sites(buf, chash, cat, clen, sites, known: dict, site_name) -> np.ndarray:
    """The site column of one block: per distinct site key (Python work per site, not per
    event), its name entered once in `sites`."""
    out = np.zeros(chash.shape[0], np.int32)
    has = chash != 0
    if not has.any():
        return out
    uniq, first = np.unique(chash[has], return_index=True)
    at = np.flatnonzero(has)
    ids = np.empty(uniq.shape[0], np.int32)
    for u, (h, f) in enumerate(zip(uniq.tolist(), first.tolist(), strict=True)):
        sid = known.get(h)
        if sid is None:
            e = at[f]
            sid = known[h] = sites.site(site_name(buf, h, int(cat[e]), int(clen[e])))
        ids[u] = sid
    out[has] = ids[np.searchsorted(uniq, chash[has])]
    return out
