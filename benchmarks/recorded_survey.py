"""Recorded-mode fidelity over many Go recordings (#12): import each Go execution trace given
(again, into --work, so the importer of this checkout is the one measured), replay it with
`--gc recorded` and compare with what it recorded (report/fidelity.py), one JSON line per
recording; with --compare, the averages per program against an earlier run's lines (better /
worse counts, recordings over the issue's targets). How sessions measured the recorded-mode
rules on the recordings the tests leave in $TMPDIR (goalloc-go1.XX-*/{wide,long,multi}.trace).

    python benchmarks/recorded_survey.py OUT.jsonl 'TRACE_GLOB' ... [--work DIR] [--jobs 2]
    python benchmarks/recorded_survey.py OUT.jsonl --compare BASE.jsonl

A recording's key is its trace's directory and name, so a run of another checkout (or of the
code before a change, from a worktree with PYTHONPATH set to it) lines up with this one.
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import sys
from multiprocessing import Pool
from pathlib import Path

TARGETS = {"max": 0.02, "mean": 0.005, "cls": 0.05}  # issue #12's, recorded mode


def key(trace: str) -> str:
    p = Path(trace)
    return f"{p.parent.name}-{p.stem}"


def survey_one(args) -> dict:
    trace, work = args
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay
    from goalloc.report import fidelity
    from goalloc.trace.importers.gotrace import import_gotrace

    out = Path(work) / f"{key(trace)}.msgpack"
    try:
        if out.exists():
            out.unlink()
        import_gotrace(trace, out)
        f = fidelity.validate(out, replay(out, Config(gc_mode="recorded")))
        errs = [c.inuse_error for c in f.cycles if c.inuse_error is not None]
        return {"key": key(trace), "max": f.inuse_max_error, "mean": f.inuse_mean_error,
                "signed": sum(errs) / len(errs) if errs else 0.0, "cls": f.classes_error,
                "cycles": [f.model_cycles, f.recorded_cycles], "spans": f.recorded_spans,
                "classes": [[c.span_class, c.recorded, c.model] for c in f.classes
                            if c.recorded != c.model]}
    except Exception as e:  # noqa: BLE001 (a survey row says what went wrong)
        return {"key": key(trace), "error": str(e)[:300]}


def rows(path: str) -> dict[str, dict]:
    with open(path, encoding="utf-8") as f:
        return {r["key"]: r for r in map(json.loads, f) if "error" not in r}


def compare(new: dict[str, dict], base: dict[str, dict]) -> None:
    keys = sorted(set(new) & set(base))
    for prog in sorted({k.rsplit("-", 1)[1] for k in keys}):
        ks = [k for k in keys if k.endswith("-" + prog)]
        print(f"{prog}: {len(ks)} recordings in both")
        for fld in ("max", "mean", "signed", "cls"):
            b = [base[k][fld] for k in ks]
            n = [new[k][fld] for k in ks]
            better = sum(abs(y) < abs(x) - 1e-12 for x, y in zip(b, n, strict=True))
            worse = sum(abs(y) > abs(x) + 1e-12 for x, y in zip(b, n, strict=True))
            line = (f"  {fld:6} mean {100 * statistics.mean(b):.3f} -> "
                    f"{100 * statistics.mean(n):.3f}%, worst {100 * max(map(abs, b)):.2f} -> "
                    f"{100 * max(map(abs, n)):.2f}%, {better} better, {worse} worse")
            if fld in TARGETS:
                over = (sum(base[k][fld] > TARGETS[fld] for k in ks),
                        sum(new[k][fld] > TARGETS[fld] for k in ks))
                line += f", over {100 * TARGETS[fld]:g}%: {over[0]} -> {over[1]}"
            print(line)
        print(f"  cycles differing: {sum(new[k]['cycles'][0] != new[k]['cycles'][1] for k in ks)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="JSON Lines: one row per recording (written, or read with "
                                "--compare)")
    ap.add_argument("traces", nargs="*", help="Go execution traces (globs)")
    ap.add_argument("--work", default=None, help="where the imports go (default: a "
                                                 "directory beside OUT)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--compare", metavar="BASE", help="compare OUT with BASE's rows")
    a = ap.parse_args()
    if a.compare:
        compare(rows(a.out), rows(a.compare))
        return 0
    traces = sorted({t for pat in a.traces for t in glob.glob(pat)})
    if not traces:
        print("no traces match", file=sys.stderr)
        return 2
    work = Path(a.work or (str(a.out) + ".imports"))
    work.mkdir(parents=True, exist_ok=True)
    with Pool(a.jobs) as pool, open(a.out, "w", encoding="utf-8") as out:
        for row in pool.imap_unordered(survey_one, [(t, str(work)) for t in traces]):
            out.write(json.dumps(row) + "\n")
            out.flush()
            if "error" in row:
                print(f"{row['key']}: {row['error']}", file=sys.stderr)
    print(f"{len(traces)} recordings -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
