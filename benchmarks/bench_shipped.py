"""Replay speed on the shipped real traces (#14): for each traces/*.msgpack, a fresh process
loads the numba cache (warm-up replays of the smallest trace in both GC modes: each mode's
kernels are loaded from the cache at their first call, start-up that a timed call would
otherwise pay: 10-20 ms, a fifth of a pacer replay of the 0.2 M-event http trace), then times
`goalloc.replay(trace)` in the default configuration (pacer mode: on a Go trace that includes
the recorded-mode pass measuring the scan rate) and with --gc recorded, with the memory
settings `goalloc replay` makes at start-up (goalloc.cli.memory_settings): malloc keeps freed
memory (since 2026-12-05; without it each replay's arrays are fresh pages again) and numpy
advises no huge pages (since the evening of 2026-12-05: before, the child ran with numpy's
default, which the command does not, and its large arrays' huge-page faults stalled in the
kernel's compaction now and then). Events/s are the
trace's events over that call's wall time: the speed after start-up; "cpu": over the
process's CPU time in the call (both threads), the figure to compare on a shared machine.
The median of --runs.

    python benchmarks/bench_shipped.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import json, sys, time
from goalloc.cli import memory_settings
memory_settings()  # numpy (not imported yet) and malloc as `goalloc replay` has them
import goalloc
from goalloc.engine.config import Config
for warm_mode in ("recorded", "pacer"):  # load the cache: both modes' kernels
    goalloc.replay(sys.argv[2], Config(gc_mode=warm_mode))
# the warm-up's scan rate is kept per trace file: forget it, or a timed pacer replay of the
# warm-up trace itself would skip its scan-rate pass
from goalloc.engine import replay as replay_module
replay_module._SCAN_RATES.clear()
out = {}
for mode in ("pacer", "recorded"):
    t = time.perf_counter()
    c = time.process_time()
    r = goalloc.replay(sys.argv[1], Config(gc_mode=mode))
    out[mode] = r.events / (time.perf_counter() - t)
    out[mode + " cpu"] = r.events / (time.process_time() - c)
print(json.dumps(out))
"""


def _events(path: str) -> int:
    import goalloc.trace

    with goalloc.trace.open(path) as r:
        return r.header.events


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    traces = sorted(os.path.join(ROOT, "traces", f) for f in os.listdir(os.path.join(ROOT, "traces"))
                    if f.endswith(".msgpack"))
    warm = min(traces, key=_events)  # by events: since the traces became zstd-shuffle
    # (2026-12-05) the smallest file is the C trace, whose replay loads no Go-only kernel
    res: dict = {}
    for _ in range(args.runs):
        for t in traces:  # interleaved: load drifts hit every trace alike
            p = subprocess.run([sys.executable, "-c", _CHILD, t, warm], check=True,
                               capture_output=True, text=True)
            for mode, v in json.loads(p.stdout.strip().splitlines()[-1]).items():
                name = os.path.basename(t).removesuffix(".msgpack")
                res.setdefault(f"{name} {mode} events_per_s", []).append(v)
    return {k: statistics.median(v) for k, v in res.items()}


if __name__ == "__main__":
    for k, v in main(sys.argv[1:]).items():
        print(f"{k:50s} {v / 1e6:6.2f} M")
