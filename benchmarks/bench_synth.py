"""Measure `goalloc synth` end to end (kernels + writing) in events/s for every workload.

    .venv/bin/python benchmarks/bench_synth.py [RESULTS.json] [--events N] [--dir DIR]

Prints one line per workload; writes github-action-benchmark JSON (customBiggerIsBetter) to
RESULTS.json, or to stdout when no path is given. Not run by the tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from goalloc.synth import generate

WORKLOADS = {
    "steady": {},
    "batch": {},
    "fragmenter": {},
    "large": {},
    "profile": {"profile": "tcmalloc:beta"},
}


def main(argv=None) -> dict:
    """Run every workload; returns {synth_<workload>_events_per_s: rate} for benchmarks/run.py."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="?", help="write JSON here (default: stdout)")
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--dir", default=None, help="where to write traces (default: a temp dir)")
    args = ap.parse_args(argv)
    results = []
    rates = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for name, opts in WORKLOADS.items():
            out = Path(tmp) / f"{name}.trace"
            generate(name, 1000, out, force=True, **opts)  # compile or load the kernel
            t0 = time.perf_counter()
            generate(name, args.events, out, force=True, **opts)
            seconds = time.perf_counter() - t0
            rate = args.events / seconds
            rates[f"synth_{name}_events_per_s"] = rate
            size = out.stat().st_size
            print(
                f"synth {name:<11} {args.events:>12,} events  {seconds:6.2f} s  "
                f"{rate / 1e6:6.2f} M events/s  {size / args.events:5.1f} B/event",
                file=sys.stderr,
            )
            results.append(
                {
                    "name": f"synth/{name}",
                    "unit": "events/s",
                    "value": round(rate),
                    "extra": f"{args.events} events, {size} bytes",
                }
            )
            out.unlink()
    text = json.dumps(results, indent=2)
    if args.results:
        Path(args.results).write_text(text + "\n")
    elif argv is None:
        print(text)
    return rates


if __name__ == "__main__":
    main()
