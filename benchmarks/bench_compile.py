"""Cold compile (#14): what the first run after install compiles, and for how long. A fresh
process with an empty numba cache (NUMBA_CACHE_DIR in a temporary directory) replays a
22-event synthetic trace, as the first `goalloc replay` after install does; numba's compile
events give each function's own compile time (CPU, the compiling thread's, nested compiles
of callees subtracted). Prints the total, the number of functions and the slowest ones.

    python benchmarks/bench_compile.py [--top N] [--keep DIR]

The machine is shared: CPU time is the figure to compare, wall time is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_CHILD = r"""
import json, sys, time
from numba.core import event

stack = []   # (name, thread CPU at start, CPU spent in nested compiles)
rows = []

class Timer(event.Listener):
    def on_start(self, ev):
        d = ev.data["dispatcher"]
        f = getattr(d, "py_func", None)
        name = f"{f.__module__}.{f.__qualname__}" if f is not None else str(d)
        stack.append([name, time.thread_time(), 0.0])

    def on_end(self, ev):
        name, t0, nested = stack.pop()
        total = time.thread_time() - t0
        rows.append((name, total - nested, len(stack)))
        if stack:
            stack[-1][2] += total

event.register("numba:compile", Timer())
cpu0 = time.process_time()
wall0 = time.perf_counter()
import goalloc
goalloc.replay(sys.argv[1])
print(json.dumps({"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
                  "rows": rows}))
"""


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--keep", default=None, help="numba cache directory to fill (default: temp)")
    args = ap.parse_args(argv)
    import goalloc.synth

    with tempfile.TemporaryDirectory(prefix="goalloc-compile-") as d:
        trace = os.path.join(d, "tiny.msgpack")
        goalloc.synth.generate("steady", 22, trace, procs=4, seed=1, force=True)
        env = dict(os.environ, NUMBA_CACHE_DIR=args.keep or os.path.join(d, "numba"))
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", _CHILD, trace], env=env, check=True,
                           capture_output=True, text=True)
        wall = time.perf_counter() - t
    out = json.loads(p.stdout.strip().splitlines()[-1])
    own: dict[str, float] = {}
    for name, cpu, _depth in out["rows"]:
        own[name] = own.get(name, 0.0) + cpu
    res = {"cold_replay_cpu_seconds": out["cpu_s"], "cold_replay_wall_seconds": wall,
           "compiled_functions": len(own),
           "compile_cpu_seconds": sum(own.values())}
    top = sorted(own.items(), key=lambda kv: -kv[1])[:args.top]
    res["slowest"] = {k.removeprefix("goalloc."): round(v, 2) for k, v in top}
    return res


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
