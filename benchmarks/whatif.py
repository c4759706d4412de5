"""What-if validation (issue #15): goalloc's answers for other GOGC and GOMEMLIMIT settings
against the real runtime's.

For each program of tests/data/whatif (built with a real Go toolchain), the runtime runs it
RUNS times under every setting, traced as the recording is (so the tracer's own memory is in
every run), with GODEBUG=gctrace=1. The first GOGC=100 recording is imported and replayed by
goalloc under each setting (`--gc pacer`, tracer buffers kept: the real runs had them);
goalloc's figure is the mean over `--mark-speed-samples` replays (default 6) whose marks each
ran at the speed of one of the recording's own marks, as the real runs' mean averages over the
runtime's varying marks (0: the central replay's, every mark at the pooled rate). The
table compares goalloc's prediction with the real runs' mean and shows their own spread
(max - min over the mean), which bounds how closely any prediction can be judged:

- cycles: GC cycles completed during the workload (runtime/metrics /gc/cycles/total);
- peak in-use: heap objects + unused (runtime/metrics sampled every 256 operations; goalloc's
  timeline);
- mean goal: the heap goal of each cycle as gctrace prints it ("MB goal": heapGoal() at the
  cycle's endCycle; goalloc's Cycle.goal_at_end);
- GC CPU: GC CPU time less idle marking over GOMAXPROCS x the workload's time (gctrace's
  percentage counts the same; goalloc's gc_cpu.fraction).

Limits are set from the GOGC=100 runs' mean peak of mapped-ready memory (total - released,
what GOMEMLIMIT limits): 50, 70 and 90% of it, and one below the live heap (35%).

Run: `.venv/bin/python benchmarks/whatif.py [--go 1.23] [--runs 3] [--work DIR]`; `--reuse DIR`
predicts again from a kept set, `--survey DIR...` summarises the targets over several sets
(`--death-time RULE`: another Config.death_time than its default); `--own-setting DIR...`
replays each set's GOGC=100 recordings at their own setting, where the model should give the
recording's cycles and its marks past maxScanWork (docs/model.md, "What-if validation");
tests/test_whatif.py runs the same and checks the issue's targets.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROG_DIR = REPO / "tests" / "data" / "whatif"
# a steady cache, a heap that steps up and down, a compiler front end (go/types)
PROGRAMS = ("lru", "builder", "types")
GOGCS = (25, 50, 200, 400)
LIMIT_SHARES = (0.5, 0.7, 0.9)
BELOW_LIVE_SHARE = 0.35
GOMAXPROCS = 2
_GOAL = re.compile(r"(\d+) MB goal")
RUN_ATTEMPTS = 3  # a run whose program died (a runtime fault) is run again, at most this often
SPEED_SAMPLES = 6  # --mark-speed-samples: replays whose figures' mean is goalloc's answer
TAIL_DEATHS = None  # --tail-deaths: Config.tail_deaths (None: its default)


@dataclass
class Real:
    """One real run: what the program and gctrace said."""

    cycles: int
    peak_inuse: int
    peak_mapped: int
    mean_goal: float
    gc_cpu: float


@dataclass
class Row:
    program: str
    setting: str  # "GOGC=50", "GOMEMLIMIT=70%"
    gogc: int | None
    memlimit: int | None
    real: list[Real] = field(default_factory=list)
    model: dict | None = None  # cycles, peak_inuse, mean_goal, gc_cpu

    def real_mean(self, key: str) -> float:
        return statistics.fmean(getattr(r, key) for r in self.real)

    def spread(self, key: str) -> float:
        """The runtime's own spread: (max - min) / mean over the runs."""
        v = [getattr(r, key) for r in self.real]
        m = statistics.fmean(v)
        return (max(v) - min(v)) / m if m else 0.0

    def error(self, key: str) -> float:
        """(model - real mean) / real mean; GC CPU: the difference in points."""
        m = self.real_mean(key)
        if key == "gc_cpu":
            return self.model[key] - m
        return (self.model[key] - m) / m if m else 0.0


def build(go: str, work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.go").write_text((PROG_DIR / "main.go").read_text())
    (work / "go.mod").write_text("module whatif\n\ngo 1.23\n")
    exe = work / "whatif"
    subprocess.run([go, "build", "-o", str(exe), "."], cwd=work, env=go_env(go), check=True,
                   timeout=600, capture_output=True)
    return exe


def go_env(go: str) -> dict:
    return {**os.environ, "PATH": str(Path(go).parent) + os.pathsep + os.environ.get("PATH", ""),
            "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod",
            "GOCACHE": os.environ.get("GOCACHE") or os.path.join(tempfile.gettempdir(),
                                                                 "goalloc-test-gocache")}


def run(exe: Path, program: str, trace: Path, gogc: int | None, memlimit: int | None) -> Real:
    """One traced run under the setting."""
    env = {**os.environ, "GOMAXPROCS": str(GOMAXPROCS), "GOALLOC_TRACE": str(trace),
           "GODEBUG": "traceallocfree=1,gctrace=1", "GOGC": "off" if gogc is None else str(gogc)}
    env.pop("GOMEMLIMIT", None)
    if memlimit is not None:
        env["GOMEMLIMIT"] = str(memlimit)
    for _ in range(RUN_ATTEMPTS):
        p = subprocess.run([str(exe), program], env=env, capture_output=True, text=True,
                           timeout=300)
        if p.returncode == 0:
            break
        # a runtime fault is the toolchain's, not the setting's: Go 1.25's traceAdvance at
        # StopTrace faulted (SIGSEGV, trace.go:679 walking trace.empty) in about 1 run in 10
        # under GOMEMLIMIT; a failed run says nothing about the setting, so run it again
        print(f"{program} {env['GOGC']} {memlimit}: exit {p.returncode}, run again: "
              f"{p.stderr.strip().splitlines()[0] if p.stderr.strip() else ''}", file=sys.stderr)
    else:
        raise subprocess.CalledProcessError(p.returncode, [str(exe), program], p.stdout,
                                            p.stderr)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    goals = [int(m.group(1)) << 20 for m in _GOAL.finditer(p.stderr)]
    return Real(cycles=int(out["cycles"]), peak_inuse=int(out["peak_inuse"]),
                peak_mapped=int(out["peak_mapped"]),
                mean_goal=statistics.fmean(goals) if goals else 0.0,
                gc_cpu=out["gc_cpu_seconds"] / out["cpu_seconds"] if out["cpu_seconds"] else 0.0)


def predict(path: Path, gogc: int | None, memlimit: int | None,
            death_time: str | None = None) -> dict:
    """goalloc's answer for the setting, replaying the GOGC=100 recording (the central
    value; engine/whatif.py figures); `death_time`: Config.death_time (--death-time; None:
    its default)."""
    from goalloc.engine import whatif
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay

    r = replay(path, Config(gogc=gogc, memlimit=memlimit, gc_mode="pacer",
                            tracer_buffers="keep",
                            death_time=death_time or Config.death_time,
                            tail_deaths=TAIL_DEATHS or Config.tail_deaths),
               mark_speed_samples=SPEED_SAMPLES)
    fig = whatif.figures(r)
    if r.mark_speed_range:  # the mean over the mark-speed samples
        fig = {k: r.mark_speed_range[k]["mean"] for k in whatif.FIGURES}
    return {**fig, "mean_goal": fig["mean_goal"] or 0.0, "gc_cpu": fig["gc_cpu"] or 0.0,
            "limited_cycles": (r.gc_cpu or {}).get("limiter", {}).get("cycles_limited", 0),
            "warnings": list(r.warnings)}


def save(rows: list[Row], path: Path) -> None:
    """The real runs of `rows` as JSON (what `reuse` reads back)."""
    path.write_text(json.dumps([{"program": r.program, "setting": r.setting, "gogc": r.gogc,
                                 "memlimit": r.memlimit, "real": [vars(x) for x in r.real]}
                                for r in rows], indent=1))


def reuse(work: Path, log=lambda s: None, death_time: str | None = None) -> list[Row]:
    """Predict again from an earlier run's recordings and real figures (`--reuse DIR`):
    the model changes, the runtime's runs stay."""
    rows = []
    for d in json.loads((work / "real.json").read_text()):
        row = Row(d["program"], d["setting"], d["gogc"], d["memlimit"],
                  [Real(**x) for x in d["real"]])
        row.model = predict(work / f"{row.program}.msgpack", row.gogc, row.memlimit,
                            death_time)
        log(format_row(row))
        rows.append(row)
    return rows


def record(exe: Path, prog: str, work: Path, base: Row, rec: Path, packed: bool,
           import_gotrace) -> None:
    """Import the first GOGC=100 run's trace as the recording (the header notes this CPU's
    packed span scan, as `goalloc record` does). A trace the runtime wrote broken is that
    run's fault, not the setting's: a Go 1.27 run once left one that Go's own reader rejects
    too (`go tool trace -d=parsed`: "expected batch event, got event 89", 1.3 MB in), so the
    run is made again, its figures replacing the broken one's, at most RUN_ATTEMPTS times."""
    from goalloc.errors import TraceError

    trace = work / f"{prog}-100-0.trace"
    for attempt in range(RUN_ATTEMPTS):
        try:
            import_gotrace(trace, rec, force=True, packed_span_scan=packed)
            return
        except TraceError as e:
            if attempt == RUN_ATTEMPTS - 1:
                raise
            print(f"{prog}: the recording cannot be read ({e}), run again", file=sys.stderr)
            base.real[0] = run(exe, prog, trace, 100, None)


def validate(go: str, programs=PROGRAMS, runs: int = 3, work: Path | None = None,
             log=lambda s: None) -> list[Row]:
    """Record, replay and compare every setting of every program; the recordings and the
    real runs' figures stay in `work` (real.json) for `reuse`."""
    from goalloc.trace.importers.gocpu import packed_span_scan_here
    from goalloc.trace.importers.gotrace import import_gotrace

    work = Path(work or tempfile.mkdtemp(prefix="goalloc-whatif-"))
    exe = build(go, work / "build")
    rows: list[Row] = []
    for prog in programs:
        base = Row(prog, "GOGC=100", 100, None)
        for i in range(runs):
            base.real.append(run(exe, prog, work / f"{prog}-100-{i}.trace", 100, None))
        rec = work / f"{prog}.msgpack"
        record(exe, prog, work, base, rec, packed_span_scan_here(), import_gotrace)
        mapped = base.real_mean("peak_mapped")
        settings = [(f"GOGC={g}", g, None) for g in GOGCS]
        settings += [(f"GOMEMLIMIT={int(s * 100)}%", 100, int(mapped * s)) for s in LIMIT_SHARES]
        settings.append((f"GOMEMLIMIT={int(BELOW_LIVE_SHARE * 100)}% (below live)", 100,
                         int(mapped * BELOW_LIVE_SHARE)))
        rows.append(base)
        for name, gogc, limit in settings:
            row = Row(prog, name, gogc, limit)
            for _ in range(runs):
                row.real.append(run(exe, prog, work / f"{prog}-x.trace", gogc, limit))
            rows.append(row)
        save(rows, work / "real.json")
        for row in rows:
            if row.program == prog:
                row.model = predict(rec, row.gogc, row.memlimit)
                log(format_row(row))
    return rows


KEYS = ("cycles", "peak_inuse", "mean_goal", "gc_cpu")


def format_row(row: Row) -> str:
    cells = []
    for k in KEYS:
        real = row.real_mean(k)
        if k == "gc_cpu":
            cells.append(f"{row.model[k] * 100:.1f}% vs {real * 100:.1f}% "
                         f"({row.error(k) * 100:+.1f} pt, spread {row.spread(k) * 100:.0f}%)")
        elif k == "cycles":
            cells.append(f"{row.model[k]:.1f} vs {real:.1f} ({row.error(k) * 100:+.1f}%, "
                         f"spread {row.spread(k) * 100:.0f}%)")
        else:
            cells.append(f"{row.model[k] / 2**20:.1f} vs {real / 2**20:.1f} MiB "
                         f"({row.error(k) * 100:+.1f}%, spread {row.spread(k) * 100:.0f}%)")
    return f"| {row.program} | {row.setting} | " + " | ".join(cells) + " |"


def table(rows: list[Row]) -> str:
    head = ("| program | setting | GC cycles: goalloc vs real mean | peak in-use | mean heap goal "
            "| GC CPU |\n|---|---|---|---|---|---|")
    return "\n".join([head] + [format_row(r) for r in rows])


def targets(rows: list[Row]) -> dict:
    """The issue's acceptance figures over one recording set (what tests/test_whatif.py
    checks): name -> (figure, target, met). GOGC rows: mean and worst |error| of cycles, peak
    in-use and mean goal; GOMEMLIMIT 50-90%: worst |error| of cycles and goal, worst GC CPU
    difference in points; below the live heap: the highest modelled GC CPU share."""
    gogc = [r for r in rows if r.memlimit is None]
    limits = [r for r in rows if r.memlimit is not None and "below" not in r.setting]
    below = [r for r in rows if "below" in r.setting]
    out = {}
    for key in ("cycles", "peak_inuse", "mean_goal"):
        errs = [abs(r.error(key)) for r in gogc]
        out[f"GOGC {key} mean"] = (statistics.fmean(errs), 0.10)
        out[f"GOGC {key} worst"] = (max(errs), 0.20)
    if limits:
        out["limit cycles worst"] = (max(abs(r.error("cycles")) for r in limits), 0.25)
        out["limit goal worst"] = (max(abs(r.error("mean_goal")) for r in limits), 0.10)
        out["limit GC CPU worst (pt)"] = (max(abs(r.error("gc_cpu")) for r in limits), 0.10)
    if below:
        out["below-live GC CPU"] = (max(r.model["gc_cpu"] for r in below), 0.55)
    return {k: (v, t, v <= t) for k, (v, t) in out.items()}


def targets_table(rows: list[Row]) -> str:
    """The issue's figures for one set: goalloc's, and the runtime's own runs' as predictions."""
    own = runtime_as_prediction(rows)
    lines = ["| figure | target | goalloc | one real run as the prediction: mean, share "
             "meeting |", "|---|---|---|---|"]
    for k, (v, t, ok) in targets(rows).items():
        o = f"{own[k][0] * 100:.1f}, {own[k][2]:.2f}" if k in own else "-"
        lines.append(f"| {k} | {t * 100:.0f} | {v * 100:.1f}{'' if ok else ' (miss)'} | {o} |")
    return "\n".join(lines)


def runtime_as_prediction(rows: list[Row]) -> dict:
    """The runtime judged as goalloc is: each of a row's real runs in turn taken as the
    prediction and compared with the mean of the other runs, over every row (`targets`).
    name -> (the figure, averaged over the held-out runs; target; the share of held-out runs
    that meet it). No model can be expected to do better than this on a set: one real run is a
    perfect model's single draw. It is judged against one run fewer than goalloc is, so it
    reads a little worse than a perfect prediction of one run would; {} without two runs."""
    n = min((len(r.real) for r in rows), default=0)
    if n < 2:
        return {}
    per_run = []
    for i in range(n):
        held = []
        for r in rows:
            h = Row(r.program, r.setting, r.gogc, r.memlimit, r.real[:i] + r.real[i + 1:])
            h.model = {k: getattr(r.real[i], k) for k in KEYS}
            held.append(h)
        per_run.append(targets(held))
    return {k: (statistics.fmean(t[k][0] for t in per_run), per_run[0][k][1],
                sum(t[k][2] for t in per_run) / n) for k in per_run[0]}


def perfect_mean_prediction(rows: list[Row], draws: int = 20000, seed: int = 0) -> dict:
    """How often a prediction of each row's true mean would meet each target when judged as
    goalloc is, against the mean of the row's runs: the runs drawn normal around the row's
    mean with its sample standard deviation (seeded: deterministic). name -> the share of
    draws meeting it. The GOGC figures only (the limit rows' targets are worst rows of a few
    rows, below-live an absolute share); {} without two runs a row."""
    import numpy as np

    gogc = [r for r in rows if r.memlimit is None]
    if not gogc or min(len(r.real) for r in gogc) < 2:
        return {}
    rng = np.random.default_rng(seed)
    out = {}
    for key in ("cycles", "peak_inuse", "mean_goal"):
        runs = [[getattr(x, key) for x in r.real] for r in gogc]
        mu = np.array([statistics.fmean(v) for v in runs])
        sd = np.array([statistics.stdev(v) for v in runs])
        n = np.array([len(v) for v in runs])
        judged = mu + sd / np.sqrt(n) * rng.standard_normal((draws, len(runs)))
        err = np.abs(mu - judged) / np.abs(judged)
        out[f"GOGC {key} mean"] = float((err.mean(axis=1) <= 0.10).mean())
        out[f"GOGC {key} worst"] = float((err.max(axis=1) <= 0.20).mean())
    return out


def survey(dirs: list[Path], log=print, death_time: str | None = None) -> dict:
    """`--reuse` over several recording sets (the runtime's runs differ from set to set):
    each acceptance figure per set, and in how many sets it is met; beside it the same for
    the runtime's own runs taken as the prediction (`runtime_as_prediction`: how many sets
    meet it on average when the prediction is one real run)."""
    per_set, own, perfect = {}, {}, {}
    for d in dirs:
        rows = reuse(d, death_time=death_time)
        per_set[str(d)] = targets(rows)
        own[str(d)] = runtime_as_prediction(rows)
        perfect[str(d)] = perfect_mean_prediction(rows)
        log(f"{d}: " + ", ".join(f"{k} {v * 100:.1f}{'' if ok else ' (miss)'}"
                                  for k, (v, _, ok) in per_set[str(d)].items()))
    names = list(next(iter(per_set.values()))) if per_set else []
    summary = {}
    for k in names:
        vals = [t[k] for t in per_set.values() if k in t]
        runtime = [t[k] for t in own.values() if k in t]
        summary[k] = {"target": vals[0][1], "median": statistics.median(v for v, _, _ in vals),
                      "worst": max(v for v, _, _ in vals), "met": sum(ok for _, _, ok in vals),
                      "sets": len(vals),
                      "runtime_median": statistics.median(v for v, _, _ in runtime)
                      if runtime else None,
                      "runtime_met": sum(m for _, _, m in runtime) if runtime else None,
                      "perfect_met": sum(t[k] for t in perfect.values() if k in t)
                      if any(k in t for t in perfect.values()) else None}
    return summary


def own_setting(path: Path) -> dict:
    """A GOGC=100 recording replayed at its own setting, where the model should give what
    the recording has: the recorded cycles and how many of its marks had passed maxScanWork
    by their end (recorded mode), and the pacer's cycles (central and the mean over the
    mark-speed samples) and marks past maxScanWork; tracer buffers kept, as `--validate`
    keeps them (the recording had them)."""
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay

    def ended(r):
        return [c for c in r.cycles if c.end_ts is not None]

    rec = replay(path, Config(gc_mode="recorded", tracer_buffers="keep"))
    pacer = replay(path, Config(gc_mode="pacer", tracer_buffers="keep"),
                   mark_speed_samples=SPEED_SAMPLES)
    # completed cycles throughout, as the samples' mean counts them (engine/whatif.py figures)
    mean = (pacer.mark_speed_range["cycles"]["mean"] if pacer.mark_speed_range
            else float(len(ended(pacer))))
    return {"recorded": len(ended(rec)), "central": len(ended(pacer)), "mean": mean,
            "recorded_past_max": sum(c.past_max_scan_work for c in ended(rec)),
            "recorded_marks": len(ended(rec)),
            "pacer_past_max": sum(c.past_max_scan_work for c in ended(pacer)),
            "pacer_marks": len(ended(pacer))}


def own_setting_summary(rows: dict) -> dict:
    """Per program (the recording's file name): the mean |cycles - recorded| / recorded of
    the central replay and of the samples' mean, their signed means, and the marks past
    maxScanWork over all marks, pacer and recorded."""
    out = {}
    for prog in sorted({Path(k).stem for k in rows}):
        r = [v for k, v in rows.items() if Path(k).stem == prog]
        err = {w: [v[w] / v["recorded"] - 1 for v in r] for w in ("central", "mean")}
        out[prog] = {
            **{f"{w} |error|": statistics.fmean(abs(e) for e in err[w]) for w in err},
            **{f"{w} signed": statistics.fmean(err[w]) for w in err},
            "pacer past max": sum(v["pacer_past_max"] for v in r) / sum(v["pacer_marks"] for v in r),
            "recorded past max": sum(v["recorded_past_max"] for v in r)
            / sum(v["recorded_marks"] for v in r)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--go", default="1.23", help="Go release to build and run with")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--programs", default=",".join(PROGRAMS))
    ap.add_argument("--work", type=Path, help="keep recordings and real figures here")
    ap.add_argument("--reuse", type=Path, metavar="DIR",
                    help="predict again from DIR's recordings and real figures (no Go runs)")
    ap.add_argument("--survey", type=Path, nargs="+", metavar="DIR",
                    help="--reuse several recording sets and count, per acceptance figure, "
                         "the sets that meet it")
    ap.add_argument("--death-time", default=None,
                    help="where in its interval each death lies (Config.death_time; default: "
                         "its default)")
    ap.add_argument("--tail-deaths", default=None, choices=("kept", "placed"),
                    help="the never-freed objects' deaths (Config.tail_deaths; default: its "
                         "default)")
    ap.add_argument("--mark-speed-samples", type=int, default=SPEED_SAMPLES,
                    help="replays whose figures' mean is goalloc's answer (0: the central one)")
    ap.add_argument("--own-setting", type=Path, nargs="+", metavar="DIR",
                    help="replay each set's GOGC=100 recordings at their own setting: cycles "
                         "and marks past maxScanWork against the recording's")
    args = ap.parse_args()
    globals()["SPEED_SAMPLES"] = args.mark_speed_samples
    globals()["TAIL_DEATHS"] = args.tail_deaths
    sys.path.insert(0, str(REPO))
    if args.own_setting:
        rows = {}
        for d in args.own_setting:
            for prog in PROGRAMS:
                path = d / f"{prog}.msgpack"
                if path.exists():
                    rows[str(path)] = own_setting(path)
                    print(path, rows[str(path)], file=sys.stderr)
        print("\n| program | cycles off, central | mean of samples | signed, central / mean | "
              "marks past maxScanWork, pacer / recorded |\n|---|---|---|---|---|")
        for prog, v in own_setting_summary(rows).items():
            print(f"| {prog} | {v['central |error|']:.1%} | {v['mean |error|']:.1%} | "
                  f"{v['central signed']:+.1%} / {v['mean signed']:+.1%} | "
                  f"{v['pacer past max']:.0%} / {v['recorded past max']:.0%} |")
        return 0
    if args.survey:
        print("\n| figure | target | median over sets | worst | sets meeting it | one real "
              "run as the prediction: median, sets meeting (mean) | the true mean as the "
              "prediction: sets meeting (expected) |\n|---|---|---|---|---|---|---|")
        for k, v in survey(args.survey, log=lambda s: print(s, file=sys.stderr),
                           death_time=args.death_time).items():
            own = ("-" if v["runtime_median"] is None else
                   f"{v['runtime_median'] * 100:.1f}, {v['runtime_met']:.1f}")
            perfect = "-" if v["perfect_met"] is None else f"{v['perfect_met']:.1f}"
            print(f"| {k} | {v['target'] * 100:.0f} | {v['median'] * 100:.1f} | "
                  f"{v['worst'] * 100:.1f} | {v['met']}/{v['sets']} | {own} | {perfect} |")
        return 0
    if args.reuse:
        rows = reuse(args.reuse, log=print, death_time=args.death_time)
        print()
        print(table(rows))
        print()
        print(targets_table(rows))
        return 0
    from goalloc.trace.importers.gotoolchain import go_release

    go = go_release(int(args.go.split(".")[1]))
    if go is None:
        print(f"Go {args.go} is not installed", file=sys.stderr)
        return 2
    rows = validate(go, args.programs.split(","), args.runs, work=args.work, log=print)
    print()
    print(table(rows))
    print()
    print(targets_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
