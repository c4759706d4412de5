"""Replay engine speed and memory (issue #4): steady-state kernel events/s on a 10 M-event
`goalloc synth steady` trace and on a 10 M-event trace of #14's heavy shape (8 Ps, ~1.9 M
objects live, 2.6% large objects of 36-64 KiB: `goalloc synth profile` of
benchmarks/data/heavy-shape.csv), the whole-process wall time of a replay with the JIT cache warm,
the cold compile time (a fresh NUMBA_CACHE_DIR), peak RSS replaying a 50 M-event trace with
<= 1 M live objects, and the speed-up over a pure-Python run (NUMBA_DISABLE_JIT=1) of the same
kernel on a 20 k-event trace of the same workload.

    python benchmarks/bench_replay.py [--events N] [--big-events N] [--quick] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import goalloc.synth

# sizes, allocation rates and live counts of #14's heavy trace: 19 small sizes (8 B - 16 KiB,
# ~1.9 M live) and three large ones (36, 48, 64 KiB) taking 2.6% of the allocations
HEAVY_PROFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                             "heavy-shape.csv")

_CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
import goalloc
from goalloc.engine.config import Config
mode = sys.argv[2]
if mode == "kernel":
    # kernel only: chunks read and validated first, then Engine.run_chunk over them
    import goalloc.trace
    from goalloc.engine.replay import Engine, replay
    replay(sys.argv[1], Config())  # compile / load the cache, warm up
    with goalloc.trace.open(sys.argv[1]) as r:
        chunks = list(r)
        header = r.header
    eng = Engine(header, Config())
    t = time.perf_counter()
    for c in chunks:
        eng.run_chunk(c)
    dt = time.perf_counter() - t
    out = {"events": sum(c.n for c in chunks), "seconds": dt}
else:
    r = goalloc.replay(sys.argv[1], Config())
    out = {"events": r.events, "seconds": time.perf_counter() - t0}
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
out["rss"] = int(hwm.split()[1]) * 1024
print(json.dumps(out))
"""


def _child(path: str, mode: str, env: dict | None = None) -> dict:
    e = dict(os.environ)
    e.update(env or {})
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", _CHILD, path, mode], capture_output=True,
                       text=True, env=e, check=True)
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall"] = time.perf_counter() - t
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--big-events", type=int, default=50_000_000)
    ap.add_argument("--big-live", type=int, default=1_000_000)
    ap.add_argument("--prefix-events", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true", help="skip the 50 M-event RSS run")
    ap.add_argument("--dir", default=None, help="where to write the traces (default: temp)")
    args = ap.parse_args(argv)
    d = args.dir or tempfile.mkdtemp(prefix="goalloc-bench-replay-")
    steady = os.path.join(d, "steady.msgpack")
    small = os.path.join(d, "prefix.msgpack")
    goalloc.synth.generate("steady", args.events, steady, procs=4, seed=1, force=True)
    goalloc.synth.generate("steady", args.prefix_events, small, procs=4, seed=1, force=True)
    res: dict = {}
    # cold: a fresh numba cache directory, a small trace (compile time dominates)
    with tempfile.TemporaryDirectory(prefix="goalloc-numba-") as cold:
        c = _child(small, "whole", {"NUMBA_CACHE_DIR": cold})
        w = _child(small, "whole", {"NUMBA_CACHE_DIR": cold})
        res["cold_compile_seconds"] = c["wall"] - w["wall"]
    _child(small, "whole")  # warm the default cache
    whole = min((_child(steady, "whole") for _ in range(2)), key=lambda r: r["wall"])
    res["replay_events"] = whole["events"]
    res["replay_whole_process_warm_seconds"] = whole["wall"]
    res["replay_whole_events_per_s"] = whole["events"] / whole["seconds"]
    k = min((_child(steady, "kernel") for _ in range(2)), key=lambda r: r["seconds"])
    res["replay_kernel_events_per_s"] = k["events"] / k["seconds"]
    heavy = os.path.join(d, "heavy.msgpack")
    goalloc.synth.generate("profile", args.events, heavy, procs=8, seed=1, force=True,
                           profile=HEAVY_PROFILE)
    k = min((_child(heavy, "kernel") for _ in range(2)), key=lambda r: r["seconds"])
    res["replay_kernel_heavy_events_per_s"] = k["events"] / k["seconds"]
    os.unlink(heavy)
    # pure Python run of the same kernel (NUMBA_DISABLE_JIT=1) vs the JIT on the same trace
    py = _child(small, "kernel", {"NUMBA_DISABLE_JIT": "1"})
    jit = min((_child(small, "kernel") for _ in range(3)), key=lambda r: r["seconds"])
    res["pure_python_kernel_events_per_s"] = py["events"] / py["seconds"]
    res["jit_kernel_prefix_events_per_s"] = jit["events"] / jit["seconds"]
    res["jit_over_pure_python"] = py["seconds"] / jit["seconds"]
    res["jit_10m_over_pure_python"] = (res["replay_kernel_events_per_s"]
                                       / res["pure_python_kernel_events_per_s"])
    os.unlink(steady)
    os.unlink(small)
    if not args.quick and args.big_events:
        big = os.path.join(d, "big.msgpack")
        goalloc.synth.generate("steady", args.big_events, big, procs=4, seed=2, force=True,
                               live=args.big_live)
        b = _child(big, "whole")
        res["big_replay_events"] = b["events"]
        res["big_replay_live_objects"] = args.big_live
        res["big_replay_peak_rss_bytes"] = b["rss"]
        res["big_replay_seconds"] = b["wall"]
        os.unlink(big)
    return res


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
