"""The tail's deaths held out (#15, docs/model.md 2d, "The tail's deaths"): how much of the
objects a Go trace never saw freed are still live at the mark starts after its end, against
what the rest of the recording says.

A recording is cut short, in the sweep phase of one of its cycles (halfway from its mark
termination to the next gc_start, so that cycle's sweep is seen in part, as at a trace's real
end), and planned as if it ended there: its survivors are the objects that cut trace never
saw freed, and Config.tail_deaths "placed" (engine/lifetimes.py tail_deaths) says where each
dies. The whole recording then says which of them were dead at the two mark starts around
the cut: the last one whose sweep the cut trace saw in part (its sweep, seen whole in the
recording, reported every object dead at it) and the first one after the cut. At each, the
survivors' bytes still live: the truth, the tail kept (all of them) and placed (those whose
death lies past the mark start).

Run: `.venv/bin/python benchmarks/tail_holdout.py TRACE... [--cuts 6]` (Go recordings: the
what-if sets' PROGRAM.msgpack, the shipped traces/go12*.msgpack).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _chunks(path):
    import goalloc.trace

    with goalloc.trace.open(path) as reader:
        header = reader.header
        chunks = list(reader)
    return header, chunks


def _cut(chunk, n: int):
    """The first n events of a chunk."""
    from goalloc.trace import format as fmt

    cols = {c: getattr(chunk, c)[:n] for c in fmt.COLUMNS}
    return dataclasses.replace(chunk, n=n, stored=None, **cols)


def plan_until(path, header, chunks, end: int):
    """The plan of the recording's first `end` events, as if the trace ended there."""
    from goalloc.engine import lookahead

    planner = lookahead._Planner(header, path, spans=True)
    for chunk in chunks:
        if chunk.start >= end:
            break
        planner.read(_cut(chunk, end - chunk.start) if chunk.start + chunk.n > end else chunk)
    plan = planner.finish(header)
    plan.place_deaths("cohorts", tail=True)
    return plan


def marks(chunks):
    """(gc_start event, its time, the next gc_mark_term's event) of every recorded cycle."""
    from goalloc.trace import format as fmt

    out, clock = [], np.iinfo(np.int64).min
    for chunk in chunks:
        ts = np.maximum.accumulate(np.maximum(chunk.ts, clock))
        clock = ts[-1] if chunk.n else clock
        for i in np.flatnonzero(chunk.kind == fmt.GC_START):
            out.append([chunk.start + i, int(ts[i]), -1])
        for i in np.flatnonzero(chunk.kind == fmt.GC_MARK_TERM):
            for row in reversed(out):
                if row[2] < 0 and row[0] < chunk.start + i:
                    row[2] = chunk.start + i
                    break
    return [r for r in out if r[2] >= 0]


def sizes_by_id(chunks) -> dict:
    from goalloc.trace import format as fmt

    out = {}
    for chunk in chunks:
        al = chunk.kind == fmt.ALLOC
        out.update(zip(chunk.id[al].tolist(), chunk.size[al].tolist(), strict=True))
    return out


def holdout(path, cuts: int) -> list[dict]:
    """Per cut: the survivors' live bytes at the two mark starts around it (MiB): true, kept,
    placed."""
    header, chunks = _chunks(path)
    full = plan_until(path, header, chunks, header.events or sum(c.n for c in chunks))
    a, _, hi, _ = full.death_span
    # the recording's deaths by (id, allocation time): when each was found dead
    dead_at = dict(zip(zip(full.death_id.tolist(), a.tolist(), strict=True), hi.tolist(),
                       strict=True))
    size = sizes_by_id(chunks)
    cycles = marks(chunks)
    out = []
    picks = np.linspace(len(cycles) // 3, len(cycles) - 3, cuts).astype(int)
    for k in sorted(set(picks.tolist())):
        term, nxt = cycles[k][2], cycles[k + 1][0]
        plan = plan_until(path, header, chunks, (term + nxt) // 2)
        s_alloc, _, s_id = plan.survivors[:3]
        placed = dict(zip(plan.tail_id.tolist(), plan.tail_point.tolist(), strict=True))
        nbytes = np.array([size.get(i, 0) for i in s_id.tolist()], np.float64)
        found = np.array([dead_at.get(key, np.iinfo(np.int64).max)
                          for key in zip(s_id.tolist(), s_alloc.tolist(), strict=True)])
        point = np.array([placed.get(i, np.iinfo(np.int64).max) for i in s_id.tolist()])
        row = {"cut_cycle": k + 1, "survivors": int(s_id.shape[0]),
               "sweep_seen": plan.tail["last_sweep_seen"]}
        for name, t in (("last", cycles[k][1]), ("next", cycles[k + 1][1])):
            row[name] = {"true": nbytes[found > t].sum() / 2**20,
                         "kept": nbytes.sum() / 2**20,
                         "placed": nbytes[point > t].sum() / 2**20}
        out.append(row)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", type=Path, nargs="+")
    ap.add_argument("--cuts", type=int, default=6)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    errs = {"kept": [], "placed": []}
    for path in args.traces:
        for row in holdout(path, args.cuts):
            print(f"{path} cut in cycle {row['cut_cycle']} ({row['survivors']:,} never freed, "
                  f"sweep seen {row['sweep_seen']:.2f}): " + "; ".join(
                      f"{name} mark {v['true']:.2f} MiB live, kept {v['kept']:.2f}, placed "
                      f"{v['placed']:.2f}" for name, v in ((n, row[n]) for n in ("last",
                                                                                   "next"))))
            for w in errs:
                errs[w] += [row[n][w] - row[n]["true"] for n in ("last", "next")]
    for w, e in errs.items():
        print(f"tail {w}: mean |error| {statistics.fmean(abs(x) for x in e):.2f} MiB, "
              f"mean {statistics.fmean(e):+.2f} MiB over {len(e)} mark starts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
