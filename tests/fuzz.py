"""Mutation fuzzer for every input goalloc reads (issue #18).

For each format, seeds in tests/data/fuzz are mutated (truncation, bit flips, inserted and
deleted bytes, swapped ranges, hostile integers, hostile structure: lengths, counts, ids, deep
nesting, wrong types, compression bombs) and run through the real CLI entry point
(goalloc.cli.main) in a worker process under resource limits. The contract checked per case:

- exit status 0, or 2 with exactly one line on stderr in goalloc's format ("goalloc: ...");
- no traceback, no crash (the worker dying), no hang (a per-case time limit);
- peak RSS of the worker under a cap;
- no leftover files: no temp files, no output unless the command succeeded.

Run any count from the command line (`make fuzz N=10000 SEED=7`):

    python tests/fuzz.py [--formats a,b] [-n N] [--seed S] [--case I] [--keep DIR]

A case is reproducible from (format, seed, index); failures print the command to re-run one.
tests/test_fuzz.py runs a few hundred cases per format in `make test`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "fuzz"
REPO = HERE.parent

RSS_CAP_MB = 1024  # acceptance: peak RSS under 1 GB
AS_LIMIT = 8 << 30  # address space of a worker: a runaway allocation fails instead of swapping
CASE_TIMEOUT = 90.0  # seconds per command; beyond this is a hang
SUBPROCESS_EVERY = 40  # every 40th case runs `python -m goalloc` in a child process

# ---------------------------------------------------------------------------------------------
# mutators: (rng, bytes) -> bytes


INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFF, 1 << 31, 1 << 32, 1 << 40, (1 << 40) + 1, 1 << 62, (1 << 63) - 1,
               1 << 63, (1 << 64) - 1]


def m_truncate(rng, d):
    return d[: rng.randrange(len(d) + 1)] if d else d


def m_bitflip(rng, d):
    b = bytearray(d)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        if b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def m_insert(rng, d):
    i = rng.randrange(len(d) + 1)
    if rng.random() < 0.5 and d:
        j = rng.randrange(len(d))
        ins = d[j: j + rng.randrange(1, 64)]
    else:
        ins = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 17)))
    return d[:i] + ins + d[i:]


def m_delete(rng, d):
    if not d:
        return d
    i = rng.randrange(len(d))
    return d[:i] + d[i + rng.randrange(1, min(64, len(d) - i) + 1):]


def m_swap(rng, d):
    if len(d) < 4:
        return d
    n = rng.randrange(1, max(2, len(d) // 4))
    i, j = sorted(rng.randrange(len(d) - n + 1) for _ in range(2))
    if j < i + n:
        return d
    return d[:i] + d[j:j + n] + d[i + n:j] + d[i:i + n] + d[j + n:]


def m_int(rng, d):
    """Overwrite 1, 2, 4 or 8 bytes with an interesting integer (either byte order)."""
    if not d:
        return d
    width = rng.choice((1, 2, 4, 8))
    v = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
    raw = v.to_bytes(width, rng.choice(("little", "big")))
    i = rng.randrange(len(d))
    return d[:i] + raw + d[i + width:]


def m_varint(rng, d):
    """Overwrite or insert a hostile unsigned LEB128 varint (Go traces are varints)."""
    out = bytearray(_enc(rng.choice(INTERESTING + [(1 << 70) - 1])))
    if rng.random() < 0.2:
        out = bytearray(b"\xff" * rng.randrange(10, 40) + b"\x01")  # overlong
    i = rng.randrange(len(d) + 1)
    if rng.random() < 0.5:
        return d[:i] + bytes(out) + d[i:]
    return d[:i] + bytes(out) + d[i + len(out):]


def m_text_number(rng, d):
    """Replace a decimal or hex number in text with a hostile one."""
    import re

    nums = [m.span() for m in re.finditer(rb"-?(0x)?[0-9a-fA-F]+", d[:200000])]
    if not nums:
        return d
    i, j = rng.choice(nums)
    v = rng.choice(INTERESTING + [-1, -(1 << 63), 10 ** 30])
    text = (hex(v) if d[i:i + 2] == b"0x" else str(v)).encode()
    if rng.random() < 0.2:
        text = rng.choice((b"1e400", b"-inf", b"NaN", b"Infinity", b"1.5", b'"x"', b"null",
                           b"true", b"[]", b"{}"))
    return d[:i] + text + d[j:]


BYTE_MUTATORS = [m_truncate, m_bitflip, m_bitflip, m_insert, m_delete, m_swap, m_int]


def mutate_bytes(rng, d, extra=()):
    mutators = BYTE_MUTATORS + list(extra)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        d = rng.choice(mutators)(rng, d)
    return d


# -- structured mutations ---------------------------------------------------------------------

HOSTILE_VALUES = [0, -1, 1, 7, 255, 256, 65535, 65536, 1 << 20, 1 << 31, 1 << 32, 1 << 40,
                  (1 << 40) + 1, 1 << 62, (1 << 63) - 1, -(1 << 63), 1099511627777, 1048576,
                  0.5, 1e300, float("inf"), float("-inf"), float("nan"), "", "x" * 300, None,
                  True, [], {}, [1, 2], {"a": 1}]


def deep(rng, depth=None):
    depth = depth or rng.choice((50, 200, 1000, 5000, 100000))
    return json.loads("[" * depth + "]" * depth) if depth < 900 else DeepMarker(depth)


class DeepMarker:
    """Nesting too deep to build as Python objects: serialised as text."""

    def __init__(self, depth):
        self.depth = depth


def hostile(rng):
    if rng.random() < 0.08:
        return deep(rng)
    return rng.choice(HOSTILE_VALUES)


def dump_json(obj, indent=None) -> bytes:
    """json.dumps that lets NaN/Infinity through (Python's json reads them) and expands deep
    markers."""
    marks = {}

    def walk(o):
        if isinstance(o, DeepMarker):
            key = f"__deep{len(marks)}__"
            marks[key] = o.depth
            return key
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o

    text = json.dumps(walk(o=obj), indent=indent)
    for key, depth in marks.items():
        text = text.replace(json.dumps(key), "[" * depth + "]" * depth)
    return text.encode()


def json_paths(obj, path=()):
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from json_paths(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:50]):
            yield from json_paths(v, path + (i,))


def mutate_tree(rng, obj, hostile_fn=hostile):
    """Replace, delete or duplicate one node of a JSON-like tree."""
    paths = list(json_paths(obj))
    path = rng.choice(paths)
    if not path:
        return hostile_fn(rng)
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    k = path[-1]
    r = rng.random()
    if r < 0.7:
        parent[k] = hostile_fn(rng)
    elif r < 0.85:
        del parent[k]
    elif isinstance(parent, list):
        parent.extend([parent[k]] * rng.choice((1, 5, 1000)))
    else:
        parent[str(rng.random())] = parent[k]
    return obj


def m_json_doc(rng, d):
    doc = json.loads(d)
    for _ in range(rng.choice((1, 1, 2, 3))):
        doc = mutate_tree(rng, doc)
    return dump_json(doc, indent=rng.choice((None, 1)))


def m_jsonl(rng, d):
    lines = d.split(b"\n")
    i = rng.randrange(len(lines))
    r = rng.random()
    if r < 0.6 and lines[i].strip():
        try:
            obj = json.loads(lines[i])
        except (ValueError, RecursionError):  # a line an earlier mutation broke or deepened
            return d
        lines[i] = dump_json(mutate_tree(rng, obj))
    elif r < 0.7:
        lines[i] = b"[" * 100000 + b"]" * 100000
    elif r < 0.8:
        lines[i] = lines[i] + b"\xff\xfe\xc3"  # invalid UTF-8
    elif r < 0.9:
        lines.insert(i, lines[rng.randrange(len(lines))])
    else:
        del lines[i]
    return b"\n".join(lines)


def m_toml(rng, d):
    """Rewrite a table as TOML with hostile values (parsed from the seed)."""
    import tomllib

    doc = tomllib.loads(d.decode())
    classes = doc["class"]
    r = rng.random()
    vals = [0, -1, 1, 7, 8, 9, 1 << 20, 1048576, 1 << 31, 1 << 40, 1099511627777, 1 << 62,
            (1 << 63) - 1, 32768, 65536, 8192, 4096]
    if r < 0.5:
        c = rng.choice(classes)
        c[rng.choice(("size", "pages", "span"))] = rng.choice(vals)
    elif r < 0.75:
        doc[rng.choice(("page_size", "max_small_size"))] = rng.choice(vals)
    elif r < 0.85:
        n = rng.choice((100, 5000, 100000))
        step = rng.choice((8, 16))
        doc["class"] = [{"size": step * (k + 1), "pages": 1} for k in range(n)]
        doc["max_small_size"] = step * n
    else:
        c = rng.choice(classes)
        c["size"] = rng.choice(vals)
        c["pages"] = rng.choice(vals)
        doc["page_size"] = rng.choice(vals)
        doc["max_small_size"] = rng.choice(vals)
    return _toml(doc)


def _toml(doc) -> bytes:
    out = []
    for k, v in doc.items():
        if k != "class":
            out.append(f"{k} = {json.dumps(v)}")
    for c in doc.get("class", []):
        out.append("[[class]]")
        out += [f"{k} = {json.dumps(v)}" for k, v in c.items()]
    return ("\n".join(out) + "\n").encode()


# -- goalloc msgpack traces: structure-aware mutations with valid checksums --------------------

def _shallow(v):
    """msgpack cannot carry a deep marker: nest 500 deep instead (the reader's limit is 64)."""
    return v if not isinstance(v, DeepMarker) else json.loads("[" * 500 + "]" * 500)


def _unpack_trace(d):
    import msgpack

    u = msgpack.Unpacker(io.BytesIO(d), raw=False, strict_map_key=False)
    return list(u)


def _repack_trace(objs, fix_sums=True) -> bytes:
    import msgpack

    from goalloc.trace import format as fmt

    out = bytearray()
    for o in objs:
        if fix_sums and isinstance(o, dict) and isinstance(o.get("cols"), dict) and "sum64" in o:
            try:
                raw = o["cols"]
                if o.get("codec") in ("zstd", "zstd-shuffle"):
                    import zstandard

                    raw = {k: zstandard.ZstdDecompressor().decompress(v) for k, v in raw.items()}
                o["sum64"] = fmt.chunk_sum64([fmt.column_sum64(v) for v in raw.values()])
            except Exception:
                pass
        out += msgpack.packb(o, use_bin_type=True)
    return bytes(out)


def m_trace(rng, d):
    import numpy as np
    import zstandard

    from goalloc.trace import format as fmt

    objs = _unpack_trace(d)
    header, chunks = objs[0], objs[1:]
    r = rng.random()
    if r < 0.15 or not chunks:
        key = rng.choice(("events", "gomaxprocs", "version", "sizes", "frees", "source",
                          "producer", "snapshot", "required", "clock", "sites", "sites"))
        if key == "sites" and isinstance(header.get("sites"), dict) and rng.random() < 0.7:
            # one node inside the attribution table (names, size, ptr_bytes, kind)
            header["sites"] = mutate_tree(rng, header["sites"],
                                          lambda r: _shallow(hostile(r)))
            return _repack_trace(objs)
        header[key] = _shallow(hostile(rng))
        return _repack_trace(objs)
    ci = rng.randrange(len(chunks))
    ch = chunks[ci]
    zstd = ch.get("codec") in ("zstd", "zstd-shuffle")  # shuffled: the stored bytes mutated

    def cols():
        return {k: np.frombuffer(zstandard.ZstdDecompressor().decompress(v) if zstd else v,
                                 dtype=fmt.COLUMNS.get(k, "u1")).copy()
                for k, v in ch["cols"].items()}

    def put(cs):
        ch["cols"] = {k: (zstandard.ZstdCompressor().compress(a.tobytes()) if zstd else a.tobytes())
                      for k, a in cs.items()}

    if r < 0.25:
        ch["n"] = rng.choice((0, -1, 1, ch["n"] - 1, ch["n"] + 1, 1 << 20, (1 << 20) + 1,
                              1 << 40, "x", None))
    elif r < 0.3:
        key = rng.choice(list(ch["cols"]))
        del ch["cols"][key]
    elif r < 0.35:
        ch["cols"][rng.choice(list(fmt.COLUMNS))] = rng.choice((b"", b"\x00" * 7, b"x" * 100))
    elif r < 0.4:
        # a zstd bomb: a frame with no declared size expanding far beyond the column
        c = zstandard.ZstdCompressor(level=1, write_content_size=False)
        ch["codec"] = "zstd"
        ch["cols"][rng.choice(list(ch["cols"]))] = c.compress(b"\x00" * (rng.choice((64, 512)) << 20))
    elif r < 0.45 and len(chunks) > 1:
        cj = rng.randrange(len(chunks))
        chunks[ci], chunks[cj] = chunks[cj], chunks[ci]
    else:
        cs = cols()
        n = ch["n"]
        for _ in range(rng.choice((1, 1, 2, 5))):
            name = rng.choice(["kind", "id", "size", "aux", "p", "flags", "ts", "id", "size",
                               "aux", "site", "site"])
            a = cs.setdefault(name, np.zeros(n, dtype=fmt.COLUMNS[name]))
            if len(a) == 0:
                continue
            info = np.iinfo(a.dtype)
            pool = [v for v in INTERESTING + [-1, -2, -(1 << 62), -(1 << 63), 13, 14, 17, 18, 68,
                                              136, 4096, 65535, 65536]
                    if info.min <= v <= info.max]
            idx = rng.randrange(len(a))
            if rng.random() < 0.8:
                a[idx] = rng.choice(pool)
            else:
                a[:] = rng.choice(pool)
        put(cs)
    return _repack_trace(objs)


def _uvarint(b, i):
    v = shift = 0
    while i < len(b):
        c = b[i]
        v |= (c & 0x7F) << shift
        i += 1
        if c < 0x80:
            return v, i
        shift += 7
    return None, i


def _enc(v):
    out = bytearray()
    while True:
        out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
        v >>= 7
        if not out[-1] & 0x80:
            return bytes(out)


def _go_batches(d):
    """[(start, header bytes, data)] of a Go trace's batches after its 16-byte header."""
    out, i = [], 16
    while i < len(d):
        start = i
        if d[i] not in (1, 49):
            i += 1  # Go 1.26+ EvEndOfGeneration and the like: kept as they are
            out.append((start, d[start:i], b""))
            continue
        i += 2 if d[i] == 49 else 1
        vals = []
        for _ in range(4):
            v, i = _uvarint(d, i)
            if v is None:
                return None
            vals.append(v)
        out.append((start, d[start:i], d[i:i + vals[3]]))
        i += vals[3]
    return out


def m_go_batch(rng, d):
    """Replace one varint inside one batch with a hostile value (ids, counts, lengths, sizes)
    and fix the batch's size, so the importer parses up to the hostile value; or give a batch
    a hostile size, generation or M."""
    batches = _go_batches(d)
    if not batches:
        return m_varint(rng, d)
    k = rng.randrange(len(batches))
    start, head, data = batches[k]
    if not data:
        return d
    pos, i = [], 0
    while i < len(data):
        pos.append(i)
        _, i = _uvarint(data, i)
    hv = rng.choice(INTERESTING + [1 << 20, 1 << 24, (1 << 24) + 1, 1 << 28, 100000, 5000])
    if rng.random() < 0.8:
        j = rng.choice(pos)
        _, end = _uvarint(data, j)
        data = data[:j] + _enc(hv) + data[end:]
        size = len(data)
    else:
        size = hv if rng.random() < 0.5 else len(data)
    first = 2 if head[0] == 49 else 1
    vals, i = [], first
    for _ in range(4):
        v, i = _uvarint(head, i)
        vals.append(v)
    vals[3] = size
    if rng.random() < 0.15:
        vals[rng.randrange(2)] = hv  # generation or M
    head = head[:first] + b"".join(_enc(v) for v in vals)
    out = bytearray(d[:16])
    for n, (_, h, dd) in enumerate(batches):
        out += (head + data) if n == k else (h + dd)
    return bytes(out)


def m_go_trace(rng, d):
    if rng.random() < 0.5:
        for _ in range(rng.choice((1, 1, 2, 4))):
            d = m_go_batch(rng, d)
        return d
    return mutate_bytes(rng, d, extra=[m_varint, m_varint, m_varint])


def m_text_trace(rng, d):
    return mutate_bytes(rng, d, extra=[m_text_number, m_text_number])


def compress(rng, d) -> bytes:
    import gzip

    import zstandard

    if rng.random() < 0.5:
        return zstandard.ZstdCompressor(write_content_size=rng.random() < 0.5).compress(d)
    return gzip.compress(d, mtime=0)


_BOMBS: dict = {}


def bomb(kind: str) -> bytes:
    """A compressed stream expanding to 512 MiB (cached per process): half the RSS cap, and
    more than any buffer a reader may hold."""
    if kind not in _BOMBS:
        import zstandard

        c = zstandard.ZstdCompressor(level=1, write_content_size=False)
        if kind == "zeros":
            block = b"\x00" * (1 << 20)
        elif kind == "newlines":
            block = b"\n" * (1 << 20)
        else:  # one endless line of a valid-looking prefix
            block = b"x" * (1 << 20)
        obj = c.compressobj()
        parts = [obj.compress(b"v 10400 3\n" if kind == "line" else b"")]
        for _ in range(512):
            parts.append(obj.compress(block))
        parts.append(obj.flush())
        _BOMBS[kind] = b"".join(parts)
    return _BOMBS[kind]


# ---------------------------------------------------------------------------------------------
# formats: seeds, mutation and the commands each input goes through

SYNTH = DATA / "synth.msgpack"
METRICS = DATA / "metrics.msgpack"  # a Go 1.27 import: sites table, metric samples


class Format:
    def __init__(self, name, seeds, suffix, mutate, commands):
        self.name, self.seeds, self.suffix = name, seeds, suffix
        self.mutate, self.commands = mutate, commands


def _trace_mut(rng, d):
    return m_trace(rng, d) if rng.random() < 0.6 else mutate_bytes(rng, d)


def _json_mut(rng, d):
    return m_json_doc(rng, d) if rng.random() < 0.7 else mutate_bytes(rng, d, [m_text_number])


def _jsonl_mut(rng, d):
    r = rng.random()
    if r < 0.6:
        for _ in range(rng.choice((1, 2))):
            d = m_jsonl(rng, d)
        return d
    return mutate_bytes(rng, d, [m_text_number])


def _table_mut(rng, d):
    if rng.random() < 0.6:
        return m_toml(rng, d)
    return mutate_bytes(rng, d, [m_text_number])


def _table_json_mut(rng, d):
    import tomllib

    if rng.random() < 0.5:
        doc = json.loads(d)
        return dump_json(tomllib.loads(m_toml(rng, _toml(doc)).decode()))
    return _json_mut(rng, d)


def _heaptrack_mut(rng, d):
    r = rng.random()
    if r < 0.015:
        return bomb(rng.choice(("zeros", "newlines", "line")))
    d = m_text_trace(rng, d)
    return compress(rng, d) if r < 0.3 else d


FORMATS = {
    "msgpack": Format("msgpack", ["synth.msgpack", "recorded.msgpack", "metrics.msgpack"],
                      ".msgpack", _trace_mut, [
        ["info", "{in}"], ["info", "--json", "--lenient", "{in}"], ["replay", "{in}"],
        ["replay", "--json", "{in}", "-o", "{out}.json"], ["replay", "--gc", "recorded", "{in}"],
        ["replay", "--validate", "--gc", "recorded", "{in}"],
        ["replay", "--validate", "--gc", "recorded", "--json", "{in}"],
        ["convert", "{in}", "-o", "{out}.jsonl"], ["convert", "{in}", "-o", "{out}.msgpack",
                                                   "--codec", "zstd"],
        ["convert", "{in}", "-o", "{out}.msgpack", "--codec", "zstd-shuffle"],
        ["classes", "go", "pow2", "--trace", "{in}"],
        # the attribution (sites table and column, #17) and what reads it
        ["replay", "--attribute", "{in}"], ["replay", "--attribute", "--json", "{in}"],
        ["replay", "--format", "pprof", "{in}", "-o", "{out}.pb.gz"],
        ["explain", "{in}"], ["explain", "--json", "--gc", "recorded", "{in}"],
    ]),
    "jsonl": Format("jsonl", ["synth.jsonl", "recorded.jsonl", "metrics.jsonl"], ".jsonl",
                    _jsonl_mut, [
        ["convert", "{in}", "-o", "{out}.msgpack", "&&", "replay", "{out}.msgpack"],
        ["convert", "{in}", "-o", "{out}.msgpack", "&&", "replay", "--gc", "recorded",
         "{out}.msgpack"],
        ["info", "{in}"], ["replay", "--attribute", "--json", "{in}"],
        ["replay", "--validate", "--gc", "recorded", "{in}"],
    ]),
    "gotrace": Format("gotrace", ["go1.23.trace", "go1.25.trace", "go1.27-metrics.trace"],
                      ".trace", m_go_trace, [
        ["import", "gotrace", "{in}", "-o", "{out}.msgpack", "&&", "replay", "--gc", "recorded",
         "{out}.msgpack"],
        ["replay", "{in}"],
        ["replay", "--validate", "--gc", "recorded", "--attribute", "{in}"],
        ["explain", "--json", "{in}"],
    ]),
    "mtrace": Format("mtrace", ["../mtrace-git-version.txt"], ".txt", m_text_trace, [
        ["import", "mtrace", "{in}", "-o", "{out}.msgpack", "&&", "replay", "{out}.msgpack"],
        ["replay", "{in}"],
        ["replay", "--attribute", "{in}"],
        ["replay", "--format", "pprof", "{in}", "-o", "{out}.pb.gz"],
    ]),
    "heaptrack": Format("heaptrack", ["heaptrack.raw", "../heaptrack-git-version.raw.zst"],
                        ".raw", _heaptrack_mut, [
        ["import", "heaptrack", "{in}", "-o", "{out}.msgpack", "&&", "replay",
         "{out}.msgpack"],
        ["replay", "{in}"],
        ["replay", "--attribute", "--json", "{in}"],
    ]),
    "table": Format("table", ["table.toml"], ".toml", _table_mut, [
        ["classes", "{in}"], ["classes", "go", "{in}", "--trace", str(SYNTH)],
        ["replay", "--classes", "{in}", str(SYNTH)],
        ["replay", "--classes", "{in}", "--json", str(SYNTH)],
        ["replay", "--classes", "{in}", "--attribute", str(METRICS)],
    ]),
    "table-json": Format("table-json", ["table.json"], ".json", _table_json_mut, [
        ["classes", "{in}", "--json"], ["replay", "--classes", "{in}", str(SYNTH)],
        ["explain", "--classes", "{in}", str(METRICS)],
    ]),
    "report": Format("report", ["report.json", "report-attr.json"], ".json", _json_mut, [
        ["compare", "{in}", str(DATA / "report.json")],
        ["compare", str(DATA / "report-attr.json"), "{in}", "--format", "json"],
        ["compare", "{in}", "{in}", "--format", "benchstat"],
        ["compare", "{in}", "{in}", "--format", "gab", "--all"],
    ]),
}

# Special paths, every format: (what, how the case directory is set up)
SPECIAL = ("missing", "directory", "unreadable", "out-missing-dir", "out-is-dir", "out-exists",
           "empty", "stale-tmp")


def make_case(fmt_name: str, seed: int, index: int, workdir: Path):
    """Write case `index` into `workdir`; return (argv lists, description)."""
    f = FORMATS[fmt_name]
    rng = random.Random(f"{seed}:{fmt_name}:{index}")
    src = DATA / rng.choice(f.seeds)
    data = src.read_bytes()
    inp = workdir / ("input" + (src.suffix if src.suffix in (".zst",) else f.suffix))
    out = str(workdir / "out")
    command = rng.choice(f.commands)
    special = rng.choice(SPECIAL) if rng.random() < 0.05 else None
    what = f"{src.name}"
    if special is None:
        inp.write_bytes(f.mutate(rng, data))
    elif special == "missing":
        pass
    elif special == "directory":
        inp.mkdir()
    elif special == "unreadable":
        inp.write_bytes(data)
        inp.chmod(0)
    elif special == "empty":
        inp.write_bytes(b"")
    else:
        inp.write_bytes(data)
        if special == "out-missing-dir":
            out = str(workdir / "no-such-dir" / "out")
        elif special == "out-is-dir":
            for ext in ("", ".json", ".jsonl", ".msgpack"):
                (workdir / ("out" + ext)).mkdir()
        elif special == "out-exists":
            for ext in (".json", ".jsonl", ".msgpack"):
                (workdir / ("out" + ext)).write_bytes(b"keep")
        elif special == "stale-tmp":
            (workdir / ".out.msgpack.abc123.tmp").write_bytes(b"stale")
            os.utime(workdir / ".out.msgpack.abc123.tmp", (0, 0))
    if special:
        what += f" special={special}"
    argvs = [[]]
    for a in command:
        if a == "&&":
            argvs.append([])
        else:
            argvs[-1].append(a.replace("{in}", str(inp)).replace("{out}", out))
    return argvs, what


# ---------------------------------------------------------------------------------------------
# worker: runs argv lists in-process, one JSON line per case


def worker() -> None:
    os.environ.setdefault("NO_COLOR", "1")
    import contextlib

    from goalloc.cli import main

    out_stream = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        tempfile.tempdir = req["tmp"]
        results = []
        for argv in req["argvs"]:
            if req.get("subprocess"):
                results.append(_run_subprocess(argv, req["tmp"]))
                if results[-1]["code"] != 0:
                    break
                continue
            out, err = io.StringIO(), io.StringIO()
            code = None
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main(argv)
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                except BaseException:  # noqa: BLE001 - an escaped exception is the finding
                    import traceback

                    err.write(traceback.format_exc())
                    code = "exception"
            results.append({"argv": argv, "code": code, "err": err.getvalue()[-4000:],
                            "out": len(out.getvalue())})
            if code != 0:
                break
        rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) // 1024
        out_stream.write(json.dumps({"results": results, "rss_mb": rss}) + "\n")
        out_stream.flush()


def _run_subprocess(argv, tmp):
    """The real executable in a child process under the same limits: crashes show as a
    negative status (the signal), memory as the child's peak RSS."""
    env = dict(os.environ, TMPDIR=tmp)
    p = subprocess.run([sys.executable, "-m", "goalloc", *argv], capture_output=True,
                       text=True, env=env, preexec_fn=_limits, timeout=CASE_TIMEOUT)
    code = p.returncode
    if code < 0:
        code = f"signal {signal.Signals(-code).name}"
    return {"argv": argv, "code": code, "err": p.stderr[-4000:], "out": len(p.stdout)}


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Worker:
    def __init__(self, env=None):
        e = dict(os.environ)
        e.update(env or {})
        e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
        self.p = subprocess.Popen([sys.executable, str(Path(__file__)), "--worker"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=e,
                                  preexec_fn=_limits, cwd=REPO)

    def run(self, argvs, tmp, timeout, sub=False):
        """(reply dict) or ("crash", detail) / ("hang", detail)."""
        import selectors

        self.p.stdin.write(json.dumps({"argvs": argvs, "tmp": tmp, "subprocess": sub}) + "\n")
        self.p.stdin.flush()
        sel = selectors.DefaultSelector()
        sel.register(self.p.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            self.kill()
            return None, "hang"
        line = self.p.stdout.readline()
        if not line:
            rc = self.p.wait()
            err = self.p.stderr.read()[-2000:]
            return None, f"crash (worker exit {rc}{' ' + signal.Signals(-rc).name if rc < 0 else ''}): {err}"
        return json.loads(line), None

    def kill(self):
        try:
            self.p.kill()
            self.p.wait()
        except Exception:
            pass

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=30)
        except Exception:
            self.kill()


def check(reply, workdir: Path, tmpdir: Path, before: set[str]) -> list[str]:
    """Contract violations of one case."""
    problems = []
    last = reply["results"][-1]
    for r in reply["results"]:
        code, err = r["code"], r["err"]
        if "Traceback" in err or code == "exception":
            problems.append(f"traceback: {err.strip().splitlines()[-1] if err.strip() else ''}")
        elif code not in (0, 2) and not (code == 1 and "--validate" in r["argv"]):
            problems.append(f"exit status {code}")
        elif code == 2:
            lines = [x for x in err.splitlines() if x.strip()]
            if len(lines) != 1 or not lines[0].startswith("goalloc: "):
                problems.append(f"exit 2 without one goalloc line: {err[:300]!r}")
    if reply["rss_mb"] > RSS_CAP_MB:
        problems.append(f"RSS {reply['rss_mb']} MB over the cap")
    after = {str(p.relative_to(workdir)) for p in workdir.rglob("*")}
    new = after - before
    leftovers = sorted(x for x in new if x.endswith(".tmp") or "goalloc-" in x)
    if last["code"] != 0:  # the failing command's outputs must not exist
        argv = last["argv"]
        outs = {Path(b).name for a, b in zip(argv[:-1], argv[1:], strict=True) if a in ("-o", "--json-out")}
        leftovers += sorted(x for x in new if x in outs)
    stale = [x for x in after if x.endswith(".abc123.tmp")]
    if stale and last["code"] == 0 and any(a.endswith("out.msgpack") for a in last["argv"]) \
            and "convert" in last["argv"]:
        problems.append("stale temp file of ours not cleaned")
    if leftovers:
        problems.append(f"leftover files {leftovers[:5]}")
    if any(tmpdir.iterdir()):
        problems.append(f"leftover temp files {[p.name for p in tmpdir.iterdir()][:5]}")
    return problems


def run(formats, n, seed, cases=None, keep=None, env=None, log=sys.stderr, jobs=1, first=0):
    """Run n cases per format (indices first .. first+n-1, so a long run can be split into
    parts that together are the same cases); return {format: {"cases", "failures": [...],
    "rss_mb"}}."""
    summary = {}
    base = Path(tempfile.mkdtemp(prefix="goalloc-fuzz-"))
    try:
        for name in formats:
            summary[name] = _run_format(name, n, seed, cases, keep, env, log, base, jobs, first)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return summary


def _run_format(name, n, seed, cases, keep, env, log, base, jobs, first=0):
    import threading

    indices = list(cases) if cases is not None else list(range(first, first + n))
    failures = []
    peak = [0]
    done = [0]
    lock = threading.Lock()
    t0 = time.monotonic()

    def lane(k):
        try:
            _lane(k)
        except Exception as e:  # a harness failure must fail the run, not shorten it
            with lock:
                failures.append({"format": name, "case": -1, "seed": seed, "input": "",
                                 "command": "", "problems": [f"fuzz harness: {e!r}"]})
                print(f"FAIL {name}: fuzz harness error {e!r}", file=log)

    def _lane(k):
        w = Worker(env)
        try:
            for pos in range(k, len(indices), jobs):
                i = indices[pos]
                workdir = base / f"{name}-{i}"
                workdir.mkdir()
                tmpdir = workdir / "tmp"
                tmpdir.mkdir()
                argvs, what = make_case(name, seed, i, workdir)
                before = {str(p.relative_to(workdir)) for p in workdir.rglob("*")}
                # a sample runs the real executable in a child process (crashes, RSS)
                sub = i % SUBPROCESS_EVERY == 0
                reply, bad = w.run(argvs, str(tmpdir), CASE_TIMEOUT * len(argvs), sub)
                if bad is not None:
                    problems = [bad]
                    w.kill()
                    w = Worker(env)
                else:
                    problems = check(reply, workdir, tmpdir, before)
                    with lock:
                        peak[0] = max(peak[0], reply["rss_mb"])
                    if reply["rss_mb"] > RSS_CAP_MB:  # restart: later cases get a fresh peak
                        w.close()
                        w = Worker(env)
                if problems:
                    cmd = " && ".join(" ".join(a) for a in argvs)
                    rec = {"format": name, "case": i, "seed": seed, "input": what,
                           "command": cmd, "problems": problems}
                    with lock:
                        failures.append(rec)
                        print(f"FAIL {name} case {i} ({what}): {'; '.join(problems)[:400]}\n"
                              f"     {cmd}\n     reproduce: python tests/fuzz.py --formats "
                              f"{name} --seed {seed} --case {i} --keep DIR", file=log)
                    if keep:
                        dst = Path(keep) / f"{name}-{i}"
                        shutil.rmtree(dst, ignore_errors=True)
                        shutil.copytree(workdir, dst, symlinks=True)
                _rmtree(workdir)
                with lock:
                    done[0] += 1
        finally:
            w.close()

    threads = [threading.Thread(target=lane, args=(k,)) for k in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"{name}: {done[0]} cases, {len(failures)} failing, peak RSS {peak[0]} MB, "
          f"{time.monotonic() - t0:.0f} s", file=log)
    return {"cases": done[0], "failures": failures, "rss_mb": peak[0]}


def _rmtree(p: Path):
    for q in p.rglob("*"):
        try:
            q.chmod(0o700)
        except OSError:
            pass
    shutil.rmtree(p, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--first", type=int, default=0, help="index of the first case")
    ap.add_argument("--case", type=int, action="append")
    ap.add_argument("--keep", help="copy failing cases' directories here")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    a = ap.parse_args(argv)
    if a.worker:
        worker()
        return 0
    formats = [f for f in a.formats.split(",") if f]
    summary = run(formats, a.n, a.seed, cases=a.case, keep=a.keep, jobs=a.jobs, first=a.first)
    bad = sum(len(s["failures"]) for s in summary.values())
    total = sum(s["cases"] for s in summary.values())
    print(f"total: {total} cases, {bad} failing, peak RSS "
          f"{max(s['rss_mb'] for s in summary.values())} MB")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
