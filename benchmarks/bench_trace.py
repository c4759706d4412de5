"""Trace I/O throughput: write, read (raw, zstd and zstd-shuffle), validate (`goalloc info`'s
scan), the `goalloc --help` start time, and peak RSS while reading a large trace.

    python benchmarks/bench_trace.py [--events N] [--big-events N] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from goalloc.trace import Header, Writer
from goalloc.trace import open as open_trace

HERE = os.path.dirname(os.path.abspath(__file__))


def make_columns(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """A valid alloc/free stream: each object freed right after the next one is allocated."""
    rng = np.random.default_rng(seed)
    kind = np.ones(n, np.uint8)
    kind[1::2] = 2
    ids = np.arange(n, dtype=np.int64) // 2
    size = np.where(kind == 1, rng.integers(1, 4096, n), 0)
    return {"kind": kind, "ts": np.arange(n, dtype=np.int64) * 10, "id": ids,
            "size": size, "p": (ids % 4).astype(np.int16), "flags": (ids % 2).astype(np.uint8)}


def write_trace(path: str, cols, codec: str, chunk=1 << 16) -> float:
    n = len(cols["kind"])
    t = time.perf_counter()
    with Writer(path, Header(producer="bench", gomaxprocs=4), codec=codec, force=True) as w:
        for lo in range(0, n, chunk):  # streaming, as a producer would
            w.write(**{k: v[lo:lo + chunk] for k, v in cols.items()})
    return n / (time.perf_counter() - t)


def read_trace(path: str) -> float:
    t = time.perf_counter()
    n = 0
    with open_trace(path) as r:
        for c in r:
            n += c.n
    return n / (time.perf_counter() - t)


def scan_trace(path: str) -> float:
    from goalloc.trace.validate import scan

    scan(path)  # compile / load the cached kernel first
    t = time.perf_counter()
    s = scan(path)
    return s.events / (time.perf_counter() - t)


def help_seconds(repeats: int = 5) -> float:
    best = 1e9
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "goalloc", "--help"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def read_peak_rss(path: str) -> int:
    """Peak RSS (bytes) of a fresh process that reads the whole trace. VmHWM, not ru_maxrss:
    Linux carries ru_maxrss over exec from the forked parent, VmHWM belongs to the new image."""
    code = (
        "import sys\n"
        "from goalloc.trace import open as o\n"
        "n=0\n"
        "for c in o(sys.argv[1]): n+=c.n\n"
        "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(n, int(hwm.split()[1])*1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--big-events", type=int, default=50_000_000)
    ap.add_argument("--dir", default=None, help="where to write the traces (default: a temp dir)")
    args = ap.parse_args(argv)
    d = args.dir or tempfile.mkdtemp(prefix="goalloc-bench-")
    cols = make_columns(args.events)
    raw = os.path.join(d, "raw.msgpack")
    zst = os.path.join(d, "zstd.msgpack")
    shuf = os.path.join(d, "zstd-shuffle.msgpack")
    res = {
        "trace_write_raw_events_per_s": write_trace(raw, cols, "raw"),
        "trace_write_zstd_events_per_s": write_trace(zst, cols, "zstd"),
        "trace_write_zstd_shuffle_events_per_s": write_trace(shuf, cols, "zstd-shuffle"),
        "trace_read_raw_events_per_s": read_trace(raw),
        "trace_read_zstd_events_per_s": read_trace(zst),
        "trace_read_zstd_shuffle_events_per_s": read_trace(shuf),
        "trace_bytes_per_event_raw": os.path.getsize(raw) / args.events,
        "trace_bytes_per_event_zstd": os.path.getsize(zst) / args.events,
        "trace_bytes_per_event_zstd_shuffle": os.path.getsize(shuf) / args.events,
        "info_scan_events_per_s": scan_trace(raw),
        "help_seconds": help_seconds(),
    }
    del cols
    if args.big_events:
        big = os.path.join(d, "big.msgpack")
        with Writer(big, Header(producer="bench"), force=True) as w:
            step = 1 << 22
            for lo in range(0, args.big_events, step):
                c = make_columns(min(step, args.big_events - lo), seed=lo)
                c["id"] = c["id"] + lo // 2
                c["ts"] = c["ts"] + lo * 10
                w.write(**c)
        res["big_trace_events"] = args.big_events
        res["big_trace_read_peak_rss_bytes"] = read_peak_rss(big)
        os.unlink(big)
    for p in (raw, zst):
        os.unlink(p)
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
