"""The scavenger against the runtime over time (#20): record tests/data/scavprogs with Go
toolchains (as tests/test_scavenger_go.py does) and print, per program and GC mode, each heap
memory class's mean and worst |model - recorded| as a share of the heap total at the
runtime/metrics samples (`goalloc replay --validate`), as a markdown table.

    python benchmarks/scavenger_fidelity.py [--releases 1.23,1.27] [--modes recorded,pacer]

Mode recorded-model is recorded mode with the scavenger on its own controller's timing
(--scavenger-timing model) instead of the recording's runs.

With --kept GLOB it records nothing: it imports again every scavenger program trace the tests
left (their directories are named goalloc-scav1.XX-*), replays each in recorded mode, and
prints per release and program how many meet the issue's free and released targets (means
within 5% of the heap total, every sample within 15%), with the scavenger on the recording's
runs and on its controller, and the cost model given (--page-ns, --call-ns); then the same
recordings in pacer mode (the tracer's buffers kept: the recorded run had them), against the
issue's pacer target (each class's mean within 10%), beside the runtime's own run-to-run
spread (each kept recording of a program and release against each other one, sample by
sample, in the same figures) and the error of each class's average over the run:

    python benchmarks/scavenger_fidelity.py --kept '/tmp/goalloc-scav*/*.trace'

--jsonl OUT also writes each kept recording's figures as a JSON line (its directory, release,
program; per scavenger timing each class [mean, worst]; pacer mode's class means),
so that two versions of the model can be compared recording by recording.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_scavenger_go import CLASSES, PACER_MEAN, PROGRAMS, RECORDED, classes, recording  # noqa: E402

TIMINGS = ("recorded", "model")
PACER_CLASSES = ("objects", "free", "released")


def kept_one(args) -> dict:
    """One kept recording: imported again, replayed with each scavenger timing."""
    trace, work, page_ns, call_ns = args
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay
    from goalloc.report import fidelity
    from goalloc.trace.importers.gotrace import import_gotrace

    p = Path(trace)
    out = Path(work) / f"{p.parent.name}-{p.stem}.msgpack"
    import_gotrace(trace, out, force=True)
    knobs = {"gogc": None, "memlimit": 64 << 20} if p.stem == "limit" else {}
    row = {"recording": p.parent.name,
           "release": p.parent.name.split("-")[1].removeprefix("scav"), "program": p.stem}
    for timing in TIMINGS:
        cfg = Config(gc_mode="recorded", tracer_buffers="keep", scavenger_timing=timing,
                     scavenge_page_ns=page_ns, scavenge_call_ns=call_ns, **knobs)
        mc = fidelity.validate(out, replay(out, cfg)).memory_classes["classes"]
        row[timing] = {c: (mc[c]["mean_error"], mc[c]["max_error"]) for c in CLASSES}
    cfg = Config(gc_mode="pacer", tracer_buffers="keep", scavenge_page_ns=page_ns,
                 scavenge_call_ns=call_ns, **knobs)
    mc = fidelity.validate(out, replay(out, cfg)).memory_classes["classes"]
    row["pacer"] = {c: mc[c]["mean_error"] for c in PACER_CLASSES}
    row["pacer_of_avg"] = {c: mc[c]["time_mean_error"] for c in PACER_CLASSES}
    return row


def spread(imports: dict[tuple[str, str], list[str]]) -> dict:
    """The runtime's own run-to-run spread per release and program: every ordered pair of its
    kept recordings, one against the other sample by sample (fidelity.runs_apart), each
    class's mean error and the error of its average, over the pairs."""
    from goalloc.report import fidelity

    out = {}
    for key, paths in imports.items():
        recs = [fidelity.recorded_side(p) for p in paths]
        pairs = [fidelity.runs_apart(a, b) for a in recs for b in recs if a is not b]
        pairs = [p for p in pairs if p is not None]
        out[key] = {c: ([p["classes"][c]["mean_error"] for p in pairs],
                        [p["classes"][c]["time_mean_error"] for p in pairs])
                    for c in PACER_CLASSES}
    return out


def kept(pattern: str, page_ns: float, call_ns: float, jsonl: str | None = None) -> None:
    import glob
    import tempfile
    from multiprocessing import Pool

    traces = sorted(t for t in glob.glob(pattern) if Path(t).stem in PROGRAMS)
    with tempfile.TemporaryDirectory(prefix="goalloc-scavkept-") as work, Pool(2) as pool:
        rows = pool.map(kept_one, [(t, work, page_ns, call_ns) for t in traces])
        imports: dict[tuple[str, str], list[str]] = {}
        for r in rows:
            imports.setdefault((r["release"], r["program"]), []).append(
                str(Path(work) / f"{r['recording']}-{r['program']}.msgpack"))
        apart = spread(imports)
    if jsonl:
        with open(jsonl, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    print(f"{len(rows)} recordings, cost {call_ns:g} ns per call + {page_ns:g} ns per page; "
          "meeting the free and released targets (of the recordings), mean free / released "
          "mean error; with the recorded runs, meeting every class's (objects and unused "
          "within 1% too)")
    print("| Go | program | " + " | ".join(f"{t} timing" for t in TIMINGS)
          + " | every class |")
    print("|---|---|" + "---|" * (len(TIMINGS) + 1))
    met = dict.fromkeys(TIMINGS, 0)
    every = 0
    for release in sorted({r["release"] for r in rows}):
        for program in PROGRAMS:
            rs = [r for r in rows if r["release"] == release and r["program"] == program]
            if not rs:
                continue
            cells = []
            for t in TIMINGS:
                ok = sum(all(r[t][c][0] <= RECORDED[c][0] and r[t][c][1] <= RECORDED[c][1]
                             for c in ("free", "released")) for r in rs)
                met[t] += ok
                means = [sum(r[t][c][0] for r in rs) / len(rs) for c in ("free", "released")]
                cells.append(f"{ok} of {len(rs)}, {100 * means[0]:.1f} / {100 * means[1]:.1f}%")
            ok = sum(all(r["recorded"][c][0] <= RECORDED[c][0]
                         and r["recorded"][c][1] <= RECORDED[c][1] for c in CLASSES)
                     for r in rs)
            every += ok
            cells.append(f"{ok} of {len(rs)}")
            print(f"| {release} | {program} | " + " | ".join(cells) + " |")
    print("all: " + ", ".join(f"{t} timing {met[t]} of {len(rows)}" for t in TIMINGS)
          + f"; every class (recorded runs) {every} of {len(rows)}")
    print()
    print(f"pacer mode: recordings with every class's mean within {100 * PACER_MEAN:.0f}%; "
          "each class's mean error, mean (max) over the recordings; the runtime's own spread "
          "(another kept run of the program against each, sample by sample: mean (max) "
          "over the pairs); the error of each class's average over the run (mean over the "
          "recordings / over the pairs)")
    print("| Go | program | met | " + " | ".join(PACER_CLASSES) + " | "
          + " | ".join(f"{c}, runs apart" for c in PACER_CLASSES) + " | "
          + " | ".join(f"{c} of avg, model / runs apart" for c in PACER_CLASSES) + " |")
    print("|---|---|---|" + "---|" * 3 * len(PACER_CLASSES))
    for release in sorted({r["release"] for r in rows}):
        for program in PROGRAMS:
            rs = [r for r in rows if r["release"] == release and r["program"] == program]
            if not rs:
                continue
            ok = sum(all(r["pacer"][c] <= PACER_MEAN for c in PACER_CLASSES) for r in rs)
            cells = [f"{100 * sum(r['pacer'][c] for r in rs) / len(rs):.1f} "
                     f"({100 * max(r['pacer'][c] for r in rs):.1f})%" for c in PACER_CLASSES]
            sp = apart[(release, program)]
            cells += [f"{100 * mean(sp[c][0]):.1f} ({100 * max(sp[c][0]):.1f})%"
                      if sp[c][0] else "-" for c in PACER_CLASSES]
            cells += [f"{100 * sum(r['pacer_of_avg'][c] for r in rs) / len(rs):.1f} / "
                      + (f"{100 * mean(sp[c][1]):.1f}%" if sp[c][1] else "-")
                      for c in PACER_CLASSES]
            print(f"| {release} | {program} | {ok} of {len(rs)} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default="1.23,1.27")
    ap.add_argument("--modes", default="recorded,pacer")
    ap.add_argument("--kept", metavar="GLOB", help="survey the kept recordings instead")
    ap.add_argument("--page-ns", type=float, default=None)
    ap.add_argument("--call-ns", type=float, default=None)
    ap.add_argument("--jsonl", metavar="OUT", help="with --kept: each recording's figures")
    a = ap.parse_args()
    if a.kept:
        from goalloc.engine.config import Config

        d = Config()
        kept(a.kept, d.scavenge_page_ns if a.page_ns is None else a.page_ns,
             d.scavenge_call_ns if a.call_ns is None else a.call_ns, a.jsonl)
        return
    print("| Go | program | mode | samples | " + " | ".join(CLASSES) + " |")
    print("|---|---|---|---|" + "---|" * len(CLASSES))
    for release in a.releases.split(","):
        for program in PROGRAMS:
            rec = recording(release, program)
            for mode in a.modes.split(","):
                mc = classes(rec, mode)
                cells = [f"{100 * mc['classes'][n]['mean_error']:.1f} / "
                         f"{100 * mc['classes'][n]['max_error']:.1f}%" for n in CLASSES]
                print(f"| {release} | {program} | {mode} | {mc['samples']} | "
                      + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
