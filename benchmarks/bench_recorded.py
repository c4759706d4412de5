"""Replay speed on one real recording of >= 10 M events (#14): `goalloc record` of
encoding/json BenchmarkCodeDecoder -benchtime=500x with the newest Go installed (about
10.7 M goalloc events with Go 1.27: 250x gave 5.4 M), then, as bench_shipped does for the shipped traces, a fresh
process per run loads the numba cache (a warm-up replay of a shipped trace) and times
`goalloc.replay(trace)` in the default configuration (pacer mode, which includes the
recorded-mode pass measuring the scan rate) and with --gc recorded, with the memory settings
the CLI makes (bench_shipped's child: goalloc.cli.memory_settings). Events/s over the call's
wall time (the speed after start-up) and over the process's CPU time in the call; medians of
--runs. Without Go 1.23+ it reports that nothing was recorded.

    python benchmarks/bench_recorded.py [--trace FILE.msgpack] [--runs N] [--benchtime N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from bench_shipped import _CHILD  # the same timed replays as the shipped traces get

import goalloc.trace
from goalloc.trace.importers.gotoolchain import DEBIAN_GO, go_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARM = os.path.join(ROOT, "traces", "go127-http-clientserver.msgpack")


def newest_go() -> str | None:
    for minor in range(30, 22, -1):
        go = DEBIAN_GO.format(minor=minor)
        if os.access(go, os.X_OK) and go_version(go) == (1, minor):
            return go
    go = shutil.which("go")
    v = go_version(go) if go else None
    return go if v and v >= (1, 23) else None


def record(go: str, out: str, benchtime: int) -> str:
    env = dict(os.environ, GOTOOLCHAIN="local",
               PATH=os.path.dirname(go) + os.pathsep + os.environ.get("PATH", ""))
    subprocess.run([sys.executable, "-m", "goalloc", "record", "-o", out, "--force", "--",
                    go, "test", "-run=^$", "-bench=CodeDecoder", f"-benchtime={benchtime}x",
                    "encoding/json"], env=env, check=True, capture_output=True,
                   cwd=os.path.dirname(out))
    version = ".".join(map(str, go_version(go) or ()))
    return f"go {version} encoding/json BenchmarkCodeDecoder -benchtime={benchtime}x"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trace", help="replay this goalloc trace instead of recording one")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--benchtime", type=int, default=500)
    args = ap.parse_args(argv)
    d = tempfile.mkdtemp(prefix="goalloc-bench-recorded-")
    try:
        if args.trace:
            trace, source = os.path.abspath(args.trace), args.trace
        else:
            go = newest_go()
            if go is None:
                return {"recorded_trace": "Go >= 1.23 not installed: nothing recorded"}
            trace = os.path.join(d, "json.msgpack")
            source = record(go, trace, args.benchtime)
        res: dict = {}
        for _ in range(args.runs):
            p = subprocess.run([sys.executable, "-c", _CHILD, trace, WARM], check=True,
                               capture_output=True, text=True, cwd=tempfile.gettempdir())
            for k, v in json.loads(p.stdout.strip().splitlines()[-1]).items():
                res.setdefault(k, []).append(v)
        with goalloc.trace.open(trace) as r:
            events = sum(c.n for c in r)
        out = {"recorded_trace": source, "recorded_events": events}
        for k, v in res.items():
            out[f"recorded {k.replace(' ', '_')} events_per_s"] = statistics.median(v)
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
