"""JSON Lines form of a trace: the header map on the first line, then one event per line.

This is the human side of the format: write small traces by hand, read any trace as text.
Per-line work happens in Python here, which is fine for a text path (~0.5 M lines/s); the
binary format is the one the tools read fast. Spec: docs/trace-format.md, "JSON Lines".
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import numpy as np

from goalloc import jsonread, limits
from goalloc.errors import TraceError
from goalloc.trace import format as fmt
from goalloc.trace.header import Header, header_from_map, map_for_codec

_FIELDS = ("ts", "p", "id", "size", "aux", "site")


def looks_like_jsonl(path: str | os.PathLike) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(64).lstrip()
    except OSError:
        return False  # the trace reader says why it cannot be opened
    return head[:1] in (b"{", b"#") or head == b""


def read_jsonl(path: str | os.PathLike, chunk_events: int = fmt.DEFAULT_CHUNK_EVENTS):
    """Return (header, iterator of column dicts). A file whose first line is an event, not a
    header, gets a default header (requested sizes, death frees)."""
    try:
        f = open(path, "rb")
    except OSError as e:
        raise TraceError(path, f"cannot open: {e.strerror}") from None
    lines = _numbered_lines(f, path)
    first = next(lines, None)
    header = Header(producer="hand-written")
    pending = None
    if first is not None:
        lineno, obj = first
        if isinstance(obj, dict) and "format" in obj:
            try:
                header = header_from_map(obj)
            except ValueError as e:
                f.close()
                raise TraceError(path, str(e), line=lineno) from None
        else:
            pending = first
    return header, _chunks(f, path, lines, pending, chunk_events)


def _numbered_lines(f, path) -> Iterator[tuple[int, object]]:
    lineno = 0
    while True:
        line = f.readline(limits.MAX_JSONL_LINE_BYTES + 1)
        if not line:
            return
        lineno += 1
        if len(line) > limits.MAX_JSONL_LINE_BYTES:
            raise TraceError(path, f"line longer than {limits.MAX_JSONL_LINE_BYTES >> 20} MiB",
                             line=lineno)
        s = line.strip()
        if not s or s.startswith(b"#"):
            continue
        try:
            yield lineno, jsonread.loads(s)
        except jsonread.JsonError as e:
            raise TraceError(path, str(e), line=lineno) from None


def _chunks(f, path, lines, pending, chunk_events):
    cols = {name: [] for name in fmt.COLUMNS}
    event = 0
    try:
        stream = lines if pending is None else _prepend(pending, lines)
        for lineno, obj in stream:
            try:
                row = _event_from_json(obj)
            except ValueError as e:
                raise TraceError(path, str(e), event=event, line=lineno) from None
            for name, v in zip(fmt.COLUMNS, row, strict=True):
                cols[name].append(v)
            event += 1
            if len(cols["kind"]) == chunk_events:
                yield _arrays(cols)
                cols = {name: [] for name in fmt.COLUMNS}
        if cols["kind"]:
            yield _arrays(cols)
    finally:
        f.close()


def _prepend(first, rest):
    yield first
    yield from rest


def _arrays(cols) -> dict[str, np.ndarray]:
    return {name: np.array(v, dtype=fmt.COLUMNS[name]) for name, v in cols.items()}


def _event_from_json(obj) -> tuple:
    if not isinstance(obj, dict):
        raise ValueError("expected an event object")
    kind = obj.get("kind")
    if isinstance(kind, str):
        if kind not in fmt.KIND_BY_NAME:
            raise ValueError(f"unknown event kind {kind!r}")
        kind = fmt.KIND_BY_NAME[kind]
    if not isinstance(kind, int) or isinstance(kind, bool) or not 0 <= kind <= 255:
        raise ValueError(f"event kind must be a name or a number 0..255, not {kind!r}")
    vals = {}
    for name in _FIELDS:
        v = obj.get(name, 0)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"'{name}' must be an integer, not {v!r}")
        vals[name] = v
    if "reason" in obj:
        reason = obj["reason"]
        if not isinstance(reason, str) or reason not in fmt.STW_REASONS:
            raise ValueError(f"unknown stop-the-world reason {reason!r}")
        vals["aux"] = fmt.STW_REASONS.index(reason)
    flags = obj.get("flags", 0)
    if isinstance(flags, list):
        bits = 0
        for name in flags:
            if not isinstance(name, str) or name not in fmt.FLAG_BY_NAME:
                raise ValueError(f"unknown flag {name!r}")
            bits |= fmt.FLAG_BY_NAME[name]
        flags = bits
    if not isinstance(flags, int) or isinstance(flags, bool) or not 0 <= flags <= 255:
        raise ValueError(f"'flags' must be a list of names or a number 0..255, not {flags!r}")
    if not -(1 << 15) <= vals["p"] < 1 << 15:
        raise ValueError(f"'p' is {vals['p']}, outside the 16-bit range")
    for name in ("ts", "id", "size", "aux"):
        if not -(1 << 63) <= vals[name] < 1 << 63:
            raise ValueError(f"'{name}' does not fit in 64 bits")
    if not 0 <= vals["site"] < 1 << 31:
        raise ValueError(f"'site' is {vals['site']}, outside 0..2^31-1")
    return (kind, vals["ts"], vals["p"], vals["id"], vals["size"], flags, vals["aux"],
            vals["site"])


def event_to_json(kind, ts, p, oid, size, flags, aux, site=0) -> str:
    """One event as a JSON line, leaving out fields that hold their default."""
    name = fmt.KIND_NAMES.get(kind, kind)
    parts = [f'"kind":{json.dumps(name)}', f'"ts":{ts}']
    if p:
        parts.append(f'"p":{p}')
    if kind not in (fmt.GC_START, fmt.GC_MARK_TERM, fmt.GC_END, fmt.STW_BEGIN, fmt.STW_END,
                    fmt.HEAP_LIVE, fmt.HEAP_GOAL) or oid:
        parts.append(f'"id":{oid}')
    if size or kind == fmt.ALLOC:
        parts.append(f'"size":{size}')
    if flags:
        names = [n for bit, n in fmt.FLAG_NAMES.items() if flags & bit]
        rest = flags & ~fmt.KNOWN_FLAGS
        parts.append(f'"flags":{json.dumps(names)}' if not rest else f'"flags":{flags}')
    if kind == fmt.STW_BEGIN and 0 <= aux < len(fmt.STW_REASONS):
        parts.append(f'"reason":{json.dumps(fmt.STW_REASONS[aux])}')
    elif aux:
        parts.append(f'"aux":{aux}')
    if site:
        parts.append(f'"site":{site}')
    return "{" + ",".join(parts) + "}"


def write_jsonl(out, header: Header, chunks) -> int:
    """Write a header line and the events of `chunks` (reader.Chunk objects) to text file `out`."""
    out.write(json.dumps(map_for_codec(header.to_map(), "raw"), sort_keys=True) + "\n")
    n = 0
    for c in chunks:
        cols = [c.kind.tolist(), c.ts.tolist(), c.p.tolist(), c.id.tolist(), c.size.tolist(),
                c.flags.tolist(), c.aux.tolist(), c.site.tolist()]
        out.write("\n".join(event_to_json(*row) for row in zip(*cols, strict=True)))
        out.write("\n")
        n += c.n
    return n
