"""Attribution's cost (#17): replay wall time of the shipped traces (and a freshly imported Go
trace that carries types) with and without `attribute=True`, best of N in one warm process.
Target: at most 25% slower with it; without it the replay does no attribution work (the
kernel is untouched, Engine.attribution is None).

    python benchmarks/bench_attribution.py [--repeat N] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace.importers.gotrace import import_gotrace

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["go126-parser.msgpack", "go-parser.msgpack", "go127-http-clientserver.msgpack",
           "c-python-json.msgpack"]


def timed(path, attribute: bool) -> float:
    t = time.perf_counter()
    replay(path, Config(), attribute=attribute)
    return time.perf_counter() - t


def best_pair(path, repeat: int) -> tuple[float, float]:
    """Best of `repeat` without and with attribution, the two runs alternating so that load
    from other processes on a shared machine falls on both alike."""
    off, on = [], []
    for _ in range(repeat):
        off.append(timed(path, False))
        on.append(timed(path, True))
    return min(off), min(on)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out")
    ap.add_argument("--synth-events", type=int, default=4_000_000,
                    help="also a `goalloc synth steady` trace of this many events (0: none)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-attr-"))
    typed = tmp / "gotrace-tiny.msgpack"
    import_gotrace(ROOT / "tests/data/gotrace-tiny.trace", typed)
    paths = [ROOT / "traces" / n for n in SHIPPED] + [typed]
    if args.synth_events:
        import goalloc.synth

        steady = tmp / f"steady-{args.synth_events}.msgpack"
        goalloc.synth.generate("steady", args.synth_events, steady)
        paths.append(steady)
    replay(paths[-1], Config(), attribute=True)  # compile / load the cache
    rows = []
    for p in paths:
        off, on = best_pair(p, args.repeat)
        rows.append({"trace": p.name, "off_s": round(off, 4), "on_s": round(on, 4),
                     "slowdown": round(on / off - 1, 4)})
        print(f"{p.name:36} off {off:7.3f} s  on {on:7.3f} s  {100 * (on / off - 1):+6.1f}%")
    if args.out:
        Path(args.out).write_text(json.dumps({"bench": "attribution", "rows": rows}, indent=2)
                                  + "\n")


if __name__ == "__main__":
    main()
