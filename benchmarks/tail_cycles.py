"""The tail's GC cycles against real runs (#15, docs/model.md 2d, "The tail's deaths").

A Go trace reports no death after its last whole sweep, so how the model treats the objects it
never saw freed (Config.tail_deaths) decides the cycles it runs past that point, the horizon
(engine/whatif.py deaths_known_until). This counts them against the runtime's own: the real
runs of a what-if setting (benchmarks/whatif.py: the set's program, traced as the recording
was) are recorded and imported, and each one's cycles that start past the same share of the
workload's allocations as the recording's horizon are counted; beside them the model's cycles
past the horizon when it replays the recording (GOGC=100) at that setting, central replay,
with the tail kept and placed. The allocations' count is the workload's progress: the programs
allocate the same objects in the same order whatever the setting.

Run: `.venv/bin/python benchmarks/tail_cycles.py SET PROGRAM [--gogc N] [--memlimit BYTES]
[--runs 3]`, SET a directory `benchmarks/whatif.py --work` filled (its build/whatif and
PROGRAM.msgpack); --memlimit with GOGC=100, as the what-if limit rows run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def progress(path) -> tuple[np.ndarray, np.ndarray]:
    """The allocations before each event (cumulative, by event) and the gc_starts' events."""
    import goalloc.trace
    from goalloc.trace import format as fmt

    counts, starts, done = [], [], 0
    with goalloc.trace.open(path) as reader:
        for chunk in reader:
            c = np.cumsum(chunk.kind == fmt.ALLOC) + done
            counts.append(c)
            done = int(c[-1]) if c.shape[0] else done
            starts.append(np.flatnonzero(chunk.kind == fmt.GC_START) + chunk.start)
    return np.concatenate(counts), np.concatenate(starts)


def model_tail(path, gogc: int | None, memlimit: int | None, tail: str) -> dict:
    """The model's cycles (started, as a real run's trace counts its gc_starts) in all and
    past the horizon, and the horizon's event."""
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay

    r = replay(path, Config(gc_mode="pacer", gogc=gogc, memlimit=memlimit,
                            tracer_buffers="keep", tail_deaths=tail))
    until = r.deaths_known_until_event
    past = sum(until is not None and c.start_event >= until for c in r.cycles)
    return {"cycles": len(r.cycles), "past": past, "until": until}


def real_tail(trace, share: float) -> dict:
    """A real run's cycles started, and those past `share` of its allocations."""
    counts, starts = progress(trace)
    done = counts[starts] / counts[-1]
    return {"cycles": int(starts.shape[0]), "past": int((done >= share).sum())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("set", type=Path)
    ap.add_argument("program")
    ap.add_argument("--gogc", type=int, default=100)
    ap.add_argument("--memlimit", type=int, default=None)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "benchmarks"))
    import whatif

    from goalloc.errors import TraceError
    from goalloc.trace.importers.gotrace import import_gotrace

    rec = args.set / f"{args.program}.msgpack"
    model = {t: model_tail(rec, args.gogc, args.memlimit, t) for t in ("kept", "placed")}
    counts, _ = progress(rec)
    share = counts[model["kept"]["until"]] / counts[-1]
    reals = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            raw, out = Path(tmp) / f"{i}.trace", Path(tmp) / f"{i}.msgpack"
            for attempt in range(whatif.RUN_ATTEMPTS):
                whatif.run(args.set / "build" / "whatif", args.program, raw, args.gogc,
                           args.memlimit)
                try:
                    import_gotrace(raw, out, force=True)
                    break
                except TraceError as e:  # the runtime wrote it broken (whatif.record): again
                    if attempt == whatif.RUN_ATTEMPTS - 1:
                        raise
                    print(f"run {i}: the trace cannot be read ({e}), run again",
                          file=sys.stderr)
            reals.append(real_tail(out, share))
    setting = f"GOGC={args.gogc}" + (f" GOMEMLIMIT={args.memlimit}" if args.memlimit else "")
    print(f"{args.program} {setting}: horizon at {share:.1%} of the recording's allocations")
    print(f"  real runs: cycles {[r['cycles'] for r in reals]}, past it "
          f"{[r['past'] for r in reals]} (mean {statistics.fmean(r['past'] for r in reals):.1f})")
    for t, m in model.items():
        print(f"  model, tail {t}: cycles {m['cycles']}, past it {m['past']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
