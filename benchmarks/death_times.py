"""Where in its interval an object died, checked against the runtime's own readings (#15).

A pacer-mode replay of a Go trace must place each death inside the interval the trace allows
(engine/lifetimes.py). The trace itself can check a rule: hold out every other recorded mark
start, so that each death's interval spans two cycles, place the deaths by the rule from the
thinned data alone, and count at each held-out mark start the bytes the rule says were still
live against the bytes that really were (the full trace says which side of it each died on).
The error is relative to the traced live heap at that mark start (objects allocated before it
and not dead by it; snapshot objects, whose age is unknown, left out).

A second check needs no held-out data (`--replay`): replayed in pacer mode at the recording's
own settings, a rule should give the cycles the recording had. Recorded mode's cycles are the
recording's own (its marks at the recorded instants, each death just before the mark that
found it); the table shows, per rule, the pacer replay's completed cycles, mean heap goal and
mean marked heap beside them. A rule whose deaths come too early finds less live at its marks,
sets lower goals and runs more cycles; one whose deaths come late, the reverse.

Run: `.venv/bin/python benchmarks/death_times.py traces/go126-parser.msgpack [more traces]`
     `.venv/bin/python benchmarks/death_times.py --replay TRACE...`
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RULES = ("cohorts", "lifetimes", "mid", "early", "late")


def thinned(span: np.ndarray, starts_kept: np.ndarray) -> np.ndarray:
    """Each death's interval as the trace would give it with only `starts_kept` as mark
    starts: high end the first kept start at or after the real one, low end the last kept
    start at or before the real one (or the allocation, when later)."""
    a, lo, hi, site = span
    k_hi = np.searchsorted(starts_kept, hi, side="left")
    new_hi = starts_kept[np.minimum(k_hi, starts_kept.shape[0] - 1)]
    new_hi = np.where(k_hi < starts_kept.shape[0], new_hi, hi)
    k_lo = np.searchsorted(starts_kept, lo, side="right") - 1
    prev = np.where(k_lo >= 0, starts_kept[np.maximum(k_lo, 0)], 0)
    new_lo = np.where(lo > a, np.maximum(prev, a), lo)
    return np.stack([a, new_lo, new_hi, site])


def placed(rule: str, span: np.ndarray, surv: np.ndarray) -> np.ndarray:
    from goalloc.engine import lifetimes

    a, lo, hi, site = span
    if rule == "early":
        return lo + 1
    if rule == "late":
        return hi
    if rule == "mid":
        return lo + (hi - lo) // 2
    if rule == "cohorts":
        return lifetimes.spread_cohorts(a, lo, hi, site)
    return lifetimes.place(lifetimes.estimate(a, lo, hi, surv[0], surv[1]), a, lo, hi)


def check(path: str) -> dict:
    """{rule: [relative error of the live bytes at each held-out mark start]}."""
    import goalloc.trace
    from goalloc.engine import lookahead
    from goalloc.trace import format as fmt

    with goalloc.trace.open(path) as reader:
        header = reader.header
        size_of = np.zeros(0, np.int64)
        for chunk in reader:
            m = chunk.kind == fmt.ALLOC
            if m.any():
                top = int(chunk.id[m].max()) + 1
                if top > size_of.shape[0]:
                    size_of = np.concatenate([size_of, np.zeros(top - size_of.shape[0],
                                                                np.int64)])
                size_of[chunk.id[m]] = chunk.size[m]  # the last allocation under each id
    p = lookahead.plan(path, header)
    if p is None or p.death_span is None or p.death_span.shape[1] == 0:
        raise SystemExit(f"{path}: no sweep-observed deaths to check")
    known = p.death_span[0] >= 0
    span, ids = p.death_span[:, known], p.death_id[known]
    size = size_of[ids]
    surv = p.survivors
    starts = np.unique(span[2])
    held, kept = starts[1::2], starts[0::2]
    thin = thinned(span, kept)
    out = {}
    for rule in RULES:
        t = placed(rule, thin, surv)
        errs = []
        for s in held:
            born = span[0] < s
            truly_live = born & (span[2] > s)
            said_live = born & (t > s)
            live = size[truly_live].sum() + size_of[surv[2][surv[0] < s]].sum()
            if live > 0:
                errs.append((size[said_live].sum() - size[truly_live].sum()) / live)
        out[rule] = np.array(errs)
    return out


def replayed(path: str) -> dict:
    """{rule or "recorded": (completed cycles, mean goal, mean marked bytes)}: pacer-mode
    replays at the recording's own settings, and the recorded-mode replay."""
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay

    out = {}
    for rule in (*RULES, "recorded"):
        cfg = (Config(gc_mode="recorded", tracer_buffers="keep") if rule == "recorded" else
               Config(gc_mode="pacer", death_time=rule, tracer_buffers="keep"))
        done = [c for c in replay(path, cfg).cycles if c.end_ts is not None]
        out[rule] = (len(done), float(np.mean([c.goal for c in done])) if done else 0.0,
                     float(np.mean([c.marked for c in done])) if done else 0.0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--replay", action="store_true",
                    help="pacer replays at the recording's own settings, per rule, against "
                         "recorded mode")
    args = ap.parse_args()
    if args.replay:
        cols = (*RULES, "recorded")
        print("| trace | " + " | ".join(f"{r}: cycles, goal, marked MiB" for r in cols) + " |")
        print("|---|" + "---|" * len(cols))
        for path in args.traces:
            res = replayed(path)
            print(f"| {Path(path).name} | " + " | ".join(
                f"{n}, {g / 2**20:.1f}, {m / 2**20:.1f}" for n, g, m in res.values()) + " |",
                flush=True)
        return 0
    print("| trace | held-out mark starts | " + " | ".join(
        f"{r}: mean / max abs error" for r in RULES) + " |")
    print("|---|---|" + "---|" * len(RULES))
    for path in args.traces:
        res = check(path)
        n = len(next(iter(res.values())))
        cells = [f"{np.mean(np.abs(e)) * 100:.1f}% / {np.max(np.abs(e)) * 100:.1f}%"
                 if len(e) else "-" for e in res.values()]
        print(f"| {Path(path).name} | {n} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
