"""Start-up (#14): a warm `goalloc replay` of a 22-event trace as a whole process (the JIT
cache loaded, not compiled), best of --runs, wall and CPU (user + sys of the child); beside
it, for scale, the same for `python -c "import numba"` and for a process that loads one
trivial cached numba function: the floor any numba program pays here.

    python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

_FLOOR = r"""
import numba, numpy as np
@numba.njit(cache=True)
def f(a):
    return a.sum()
f(np.arange(3))
"""


def _run(cmd: list[str], env: dict) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    import goalloc.synth

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: byte code cached
    with tempfile.TemporaryDirectory(prefix="goalloc-startup-") as d:
        trace = os.path.join(d, "tiny.msgpack")
        goalloc.synth.generate("steady", 22, trace, procs=4, seed=1, force=True)
        replay = [sys.executable, "-m", "goalloc", "replay", trace]
        script = os.path.join(d, "floor.py")  # numba caches functions defined in a file
        with open(script, "w") as f:
            f.write(_FLOOR)
        floor = [sys.executable, script]
        floor_env = dict(env, NUMBA_CACHE_DIR=os.path.join(d, "numba"))
        _run(replay, env)  # compile if needed, fill the page cache
        _run(floor, floor_env)
        rows = {"replay": [], "import_numba": [], "numba_floor": []}
        for _ in range(args.runs):  # interleaved: load drifts hit each alike
            rows["replay"].append(_run(replay, env))
            rows["import_numba"].append(_run([sys.executable, "-c", "import numba"], env))
            rows["numba_floor"].append(_run(floor, floor_env))
    res = {}
    for k, v in rows.items():
        res[f"{k}_wall_seconds"] = min(w for w, _ in v)
        res[f"{k}_cpu_seconds"] = min(c for _, c in v)
    return res


if __name__ == "__main__":
    for k, v in main(sys.argv[1:]).items():
        print(f"{k:32s} {v:6.3f}")
