"""The attribution table (#17) as a pprof profile: profile.proto (github.com/google/pprof,
proto/profile.proto), gzipped, one sample per site with the site (Go type or call site) as
its only location, so `go tool pprof -top`, `-http` and `-diff_base` read it.

A hand encoder: the profile needs five small messages of varints, strings and packed int64s
(about sixty lines); a protobuf runtime would be a compiled dependency plus a generated or
hand-built descriptor for this one output. Go's own `go tool pprof` checks it in
tests/test_attribution.py.
"""

from __future__ import annotations

import gzip
import io

# (sample type, unit, attribution row key), in this order in every sample's values
SAMPLE_TYPES = (
    ("inuse_space", "bytes", "live_bytes"),
    ("inuse_objects", "count", "live_objects"),
    ("alloc_space", "bytes", "alloc_bytes"),
    ("alloc_objects", "count", "alloc_objects"),
    ("rounding_waste", "bytes", "rounding_bytes"),
    ("held_space", "bytes", "held_bytes"),
)
DEFAULT_SAMPLE_TYPE = "held_space"


def _varint(x: int) -> bytes:
    x &= (1 << 64) - 1  # int64 values are sent as their two's complement
    out = bytearray()
    while True:
        b = x & 0x7F
        x >>= 7
        if x:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, x: int) -> bytes:
    return _key(field, 0) + _varint(x) if x else b""


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _packed(field: int, xs) -> bytes:
    return _bytes(field, b"".join(_varint(x) for x in xs)) if xs else b""


class _Strings:
    def __init__(self):
        self.index = {"": 0}

    def __call__(self, s: str) -> int:
        return self.index.setdefault(s, len(self.index))


def profile_bytes(attribution: dict, comments: list[str] = ()) -> bytes:
    """The gzipped profile.proto of Report.attribution (engine/attribution.py report()):
    values are exactly the rows' integers. Deterministic (gzip mtime 0)."""
    s = _Strings()
    msg = bytearray()
    for name, unit, _ in SAMPLE_TYPES:  # 1: sample_type
        msg += _bytes(1, _int(1, s(name)) + _int(2, s(unit)))
    for i, row in enumerate(attribution["rows"], 1):
        values = [int(row[k] or 0) for _, _, k in SAMPLE_TYPES]
        msg += _bytes(2, _packed(1, [i]) + _packed(2, values))  # sample: location, values
    for i in range(1, len(attribution["rows"]) + 1):
        msg += _bytes(4, _int(1, i) + _bytes(4, _int(1, i)))  # location: id, line{function}
    for i, row in enumerate(attribution["rows"], 1):
        name = s(row["name"])
        msg += _bytes(5, _int(1, i) + _int(2, name) + _int(3, name))  # function
    strings_at = len(msg)
    comment_ids = [s(c) for c in comments]
    default = s(DEFAULT_SAMPLE_TYPE)
    table = b"".join(_bytes(6, t.encode()) for t in s.index)  # 6: string_table, in id order
    msg[strings_at:strings_at] = table
    msg += _packed(13, comment_ids) + _int(14, default)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(bytes(msg))
    return buf.getvalue()
