"""A/B speed of the replay kernel between two checkouts on a shared, noisy machine: runs
alternate between the two source trees (interleaved, so load drifts hit both alike), each a
fresh process that loads its numba cache, replays the trace once to warm up, then times
Engine.run_chunk over the pre-read chunks in thread CPU time. Prints the median events/s of
each side.

    python benchmarks/ab_kernel.py A_SRC B_SRC TRACE [--runs N] [--config recorded]

A_SRC / B_SRC: directories holding a `goalloc` package (a worktree or `git worktree add` of
the base commit). The same Python environment runs both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, sys, time
import goalloc.trace
from goalloc.engine.config import Config
from goalloc.engine.replay import Engine, replay
cfg = Config(gc_mode=sys.argv[2])
replay(sys.argv[1], cfg)  # load the cache, warm up
with goalloc.trace.open(sys.argv[1]) as r:
    chunks = list(r)
    header = r.header
eng = Engine(header, cfg)
t = time.thread_time()
for c in chunks:
    eng.run_chunk(c)
dt = time.thread_time() - t
print(json.dumps({"events": sum(c.n for c in chunks), "cpu_s": dt}))
"""


def run(src: str, trace: str, mode: str) -> float:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(src))
    # not from the caller's directory: `python -c` puts it first on sys.path, so run from a
    # checkout both sides would import that checkout's goalloc, not PYTHONPATH's
    p = subprocess.run([sys.executable, "-c", _CHILD, os.path.abspath(trace), mode], env=env,
                       check=True, capture_output=True, text=True, cwd=tempfile.gettempdir())
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return r["events"] / r["cpu_s"]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("trace")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--config", default="pacer", choices=["pacer", "recorded"])
    args = ap.parse_args(argv)
    res: dict = {args.a: [], args.b: []}
    for _ in range(args.runs):
        for side in (args.a, args.b):
            res[side].append(run(side, args.trace, args.config))
    out = {side: {"median_Mev_s": round(statistics.median(v) / 1e6, 2),
                  "runs_Mev_s": [round(x / 1e6, 2) for x in v]} for side, v in res.items()}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
