"""Fidelity report (`goalloc replay --validate`): the recorded runtime's facts, read straight
from a trace's recorded events, against the model's replay of the same trace.

Recorded side (computed from the trace alone, independently of the engine):
- in-use heap span bytes at every GC mark start: the sum of pages * 8192 over live heap spans
  (span_alloc with aux >= 0, not yet span_free'd) at each gc_start. A second span_alloc of a
  live span id counts as a lost span_free of the earlier span (the runtime lost its event);
- heap spans per span class at the end of the trace;
- the heap goal in effect at each mark start (the last heap_goal sample before the gc_start);
- the number of cycles (gc_start events) and their start times;
- the runtime/metrics samples the program logged (trace kind `metric`, issue #20): the heap's
  memory classes (objects, unused, free, released) and their total at each sample.

Model side: `Report.mark_start_inuse` (the engine samples in-use span bytes at every mark
start, after sweep termination), `Report.classes` (spans per class at the end), each
`Cycle.goal` and `Cycle.start_ts`, and the timeline samples the engine takes at each metric sample group
(kind "metric": its classes at the same event).

No numba here; rich only in `render`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from goalloc.trace import format as fmt

PAGE_SIZE = 8192

# Acceptance targets (issue #5), checked by `check_targets` and shown in the report.
TARGET_CYCLE_MAX = 0.05  # in-use heap span bytes at every mark start (recorded GC mode)
TARGET_CYCLE_MEAN = 0.015  # ... mean over cycles
TARGET_CLASSES = 0.05  # spans per class at the end: sum |model - recorded| / recorded spans
TARGET_PACER_CYCLES = 0.10  # pacer mode: number of cycles
# Memory classes over time (issue #20), against the recorded runtime/metrics samples: error as
# a share of the recorded heap total (objects + unused + free + released) at each sample.
HEAP_CLASSES = ("objects", "unused", "free", "released", "total")
_CLASS_METRICS = {name: fmt.METRIC_INDEX[f"/memory/classes/heap/{name}:bytes"]
                  for name in HEAP_CLASSES[:4]}
TARGET_CLASSES_OVER_TIME = {  # recorded mode: (mean, max) |error|
    "objects": (0.01, 0.01), "unused": (0.01, 0.01), "free": (0.05, 0.15),
    "released": (0.05, 0.15)}
TARGET_PACER_CLASSES_MEAN = 0.10  # pacer mode: mean |error| of each class


@dataclass
class Recorded:
    """What the recorded runtime did, from the trace's recorded-fact events."""

    cycles: int = 0  # gc_start events
    cycles_ended: int = 0  # gc_mark_term (or gc_end) events
    mark_start_ts: list[int] = field(default_factory=list)
    mark_start_inuse: list[int] = field(default_factory=list)  # heap span bytes at gc_start
    goal: list[int | None] = field(default_factory=list)  # heap goal in effect at gc_start
    heap_live: list[int | None] = field(default_factory=list)  # last heapLive sample there
    end_spans: dict[int, int] = field(default_factory=dict)  # span class -> live heap spans
    end_inuse: int = 0
    # cycles (1-based) the program forced (runtime.GC, e.g. the testing package before each
    # benchmark run): those whose gc_start says so (aux GC_TRIGGER_FORCED, from the GCBegin
    # stack) when the trace gives trigger kinds; else those that started below the lowest
    # trigger the pacer allows (heapMarked + 45/64 of the runway to the goal, from the samples)
    forced: list[int] = field(default_factory=list)
    forced_source: str = "trace"  # "trace" (gc_start aux) or "samples" (the heuristic)
    triggers: list[int] = field(default_factory=list)  # gc_start aux per cycle
    lost_span_frees: int = 0  # span_alloc of a live span id
    # runtime/metrics samples (trace kind `metric`): ts and {METRIC_NAMES index: value} per
    # sample group, in trace order
    metric_ts: list[int] = field(default_factory=list)
    metric_values: list[dict[int, int]] = field(default_factory=list)
    unknown_span_frees: int = 0  # span_free of an id not live
    span_events: int = 0
    # the header's `scavenger` (Go importer): the background scavenger goroutine's running
    # time over the trace, {goroutine, running_ns, runs}; None when the trace does not say
    scavenger: dict | None = None

    @property
    def has_facts(self) -> bool:
        # span events are the facts; a recording without cycles (GOGC=off, no limit reached)
        # still has the heap at the end to compare (#15)
        return self.span_events > 0


def has_recorded_facts(path: str | os.PathLike) -> bool:
    """True if the trace carries span events (a Go execution trace)."""
    return recorded_side(path).has_facts


def recorded_side(path: str | os.PathLike) -> Recorded:
    """Read the recorded facts of the trace at `path` (one streaming pass; only span, GC and
    heap-sample events are looked at one by one)."""
    import goalloc.trace

    r = _FactReader()
    with goalloc.trace.open(path) as reader:
        for k, i, sz, aux, t in _fact_events(reader):
            if k == fmt.SPAN_ALLOC:
                r.span_alloc(i, sz, aux)
            elif k == fmt.SPAN_FREE:
                r.span_free(i)
            elif k == fmt.GC_START:
                r.gc_start(aux, t)
            elif k == fmt.GC_MARK_TERM:
                r.ended_by = "mark_term"
                r.rec.cycles_ended += 1
            elif k == fmt.GC_END:
                r.after_end = True
                if r.ended_by is None:
                    r.rec.cycles_ended += 1
            elif k == fmt.HEAP_GOAL:
                r.goal = sz
            elif k == fmt.METRIC:
                r.metric(i, t, aux, sz)
            elif k == fmt.HEAP_LIVE:
                r.heap_live_sample(sz)
        source = reader.header.source
    rec = r.finish()
    scav = source.get("scavenger") if isinstance(source, dict) else None
    if (isinstance(scav, dict) and type(scav.get("running_ns")) is int
            and type(scav.get("runs")) is int):
        rec.scavenger = scav
    return rec


FACT_KINDS = (fmt.SPAN_ALLOC, fmt.SPAN_FREE, fmt.GC_START, fmt.GC_MARK_TERM, fmt.GC_END,
              fmt.HEAP_LIVE, fmt.HEAP_GOAL, fmt.METRIC)


def _fact_events(reader):
    """(kind, id, size, aux, ts) of an open trace's recorded-fact events, in order (the
    chunks are filtered by kind in numpy first)."""
    want = np.zeros(256, bool)
    want[list(FACT_KINDS)] = True
    for chunk in reader:
        idx = np.flatnonzero(want[chunk.kind])
        if idx.size:
            yield from zip(chunk.kind[idx].tolist(), chunk.id[idx].tolist(),
                           chunk.size[idx].tolist(), chunk.aux[idx].tolist(),
                           chunk.ts[idx].tolist(), strict=True)


class _FactReader:
    """recorded_side's state over one pass: live spans, the pacer's last samples."""

    def __init__(self):
        self.rec = Recorded()
        self.live: dict[int, tuple[int, int]] = {}  # span id -> (pages, span class or -1)
        self.inuse = 0  # heap span bytes
        self.goal = None
        self.heap_live = None
        self.group = None  # the metric sample group being read
        self.below: list[int] = []  # cycles that started below the pacer's lowest trigger
        self.ended_by = None  # which end marker the trace uses: gc_mark_term if it has any
        self.marked = None  # heapLive sampled first after a cycle's end: its marked bytes
        self.after_end = False

    def _drop(self, span_id: int) -> bool:
        """Forget a live span (its heap bytes leave `inuse`); False if it was not live."""
        old = self.live.pop(span_id, None)
        if old is not None and old[1] >= 0:
            self.inuse -= old[0] * PAGE_SIZE
        return old is not None

    def span_alloc(self, span_id: int, pages: int, spc: int) -> None:
        self.rec.span_events += 1
        if self._drop(span_id):
            self.rec.lost_span_frees += 1
        self.live[span_id] = (pages, spc)
        if spc >= 0:
            self.inuse += pages * PAGE_SIZE

    def span_free(self, span_id: int) -> None:
        self.rec.span_events += 1
        if not self._drop(span_id):
            self.rec.unknown_span_frees += 1

    def gc_start(self, trigger: int, ts: int) -> None:
        rec = self.rec
        rec.cycles += 1
        rec.triggers.append(trigger)
        goal, heap_live, marked = self.goal, self.heap_live, self.marked
        if (marked is not None and goal is not None and heap_live is not None
                and heap_live < marked + (goal - marked) * 45 // 64):
            self.below.append(rec.cycles)
        rec.mark_start_ts.append(ts)
        rec.mark_start_inuse.append(self.inuse)
        rec.goal.append(goal)
        rec.heap_live.append(heap_live)

    def metric(self, group: int, ts: int, index: int, value: int) -> None:
        if group != self.group:
            self.group = group
            self.rec.metric_ts.append(ts)
            self.rec.metric_values.append({})
        self.rec.metric_values[-1][index] = value

    def heap_live_sample(self, value: int) -> None:
        self.heap_live = value
        if self.after_end:
            self.marked = value
            self.after_end = False

    def finish(self) -> Recorded:
        """The spans live at the end per class, and which cycles were forced."""
        rec = self.rec
        spans: dict[int, int] = {}
        for _pages, spc in self.live.values():
            if spc >= 0:
                spans[spc] = spans.get(spc, 0) + 1
        rec.end_spans = dict(sorted(spans.items()))
        if any(t != fmt.GC_TRIGGER_UNKNOWN for t in rec.triggers):
            rec.forced = [n for n, t in enumerate(rec.triggers, 1)
                          if t == fmt.GC_TRIGGER_FORCED]
        else:
            rec.forced, rec.forced_source = self.below, "samples"
        rec.end_inuse = self.inuse
        return rec


def _rel(model, recorded):
    if model is None or recorded is None:
        return None
    if recorded == 0:
        return 0.0 if model == 0 else None
    return (model - recorded) / recorded


@dataclass
class CycleRow:
    n: int  # 1-based
    recorded_inuse: int | None
    model_inuse: int | None
    inuse_error: float | None  # (model - recorded) / recorded
    recorded_goal: int | None
    model_goal: int | None
    goal_error: float | None
    recorded_start_ts: int | None
    model_start_ts: int | None
    start_ts_error: float | None


@dataclass
class ClassRow:
    span_class: int  # size class << 1 | noscan
    size_class: int
    noscan: bool
    recorded: int
    model: int


@dataclass
class Fidelity:
    gc_mode: str
    recorded_cycles: int
    model_cycles: int
    cycles_error: float | None
    cycles: list[CycleRow]
    inuse_max_error: float | None  # max |error| over cycles with both sides
    inuse_mean_error: float | None  # mean |error|
    goal_max_error: float | None
    goal_mean_error: float | None
    classes: list[ClassRow]
    classes_abs_diff: int  # sum over classes of |model - recorded| spans
    recorded_spans: int
    classes_error: float | None  # classes_abs_diff / recorded_spans
    recorded_end_inuse: int
    model_end_inuse: int
    lost_span_frees: int
    recorded_forced: list[int] = field(default_factory=list)  # see Recorded.forced
    recorded_forced_source: str = "trace"  # Recorded.forced_source
    # memory classes over time against the recorded runtime/metrics samples (None: the trace
    # has none): {"samples": n, "classes": {class: {mean_error, max_error (share of the
    # recorded heap total), mean_error_bytes, max_error_bytes (signed, at the worst sample),
    # worst_ts}}, "recorded_end"/"model_end": the classes at the last sample}
    memory_classes: dict | None = None
    # the background scavenger's CPU time, the runtime's (its goroutine's running time, from
    # the header) and the model's (Report.scavenge background_ns): {recorded_ns, runs,
    # model_ns}; None when the trace does not say. No target: docs/model.md, "Scavenger
    # over time"
    scavenger: dict | None = None
    targets: dict = field(default_factory=dict)  # name -> {value, limit, ok}

    @property
    def ok(self) -> bool:
        return all(t["ok"] for t in self.targets.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def compare(report, rec: Recorded) -> Fidelity:
    """Model (a replay Report) against the recorded side."""
    model_inuse = list(getattr(report, "mark_start_inuse", None) or [])
    mcycles = report.cycles
    n = max(rec.cycles, len(mcycles))
    rows = []
    for c in range(n):
        ri = rec.mark_start_inuse[c] if c < rec.cycles else None
        mi = model_inuse[c] if c < len(model_inuse) else None
        rg = rec.goal[c] if c < rec.cycles else None
        mg = mcycles[c].goal if c < len(mcycles) else None
        rt = rec.mark_start_ts[c] if c < rec.cycles else None
        # in the trace's own time: less the time mutators were parked before it (mark.park)
        # and the skew of the mutators' time while marking (mark.mutator_clock)
        mt = (mcycles[c].start_ts - mcycles[c].stall_at_start_ns - mcycles[c].skew_at_start_ns
              if c < len(mcycles) else None)
        rows.append(CycleRow(n=c + 1, recorded_inuse=ri, model_inuse=mi,
                             inuse_error=_rel(mi, ri), recorded_goal=rg, model_goal=mg,
                             goal_error=_rel(mg, rg), recorded_start_ts=rt, model_start_ts=mt,
                             start_ts_error=_rel(mt, rt)))
    errs = [abs(r.inuse_error) for r in rows if r.inuse_error is not None]
    gerrs = [abs(r.goal_error) for r in rows if r.goal_error is not None]
    model_spans: dict[int, int] = {}
    for cl in report.classes:
        spc = cl.size_class << 1 | (1 if cl.noscan else 0)
        if cl.spans:
            model_spans[spc] = model_spans.get(spc, 0) + cl.spans
    classes = []
    for spc in sorted(set(rec.end_spans) | set(model_spans)):
        classes.append(ClassRow(span_class=spc, size_class=spc >> 1, noscan=bool(spc & 1),
                                recorded=rec.end_spans.get(spc, 0),
                                model=model_spans.get(spc, 0)))
    diff = sum(abs(c.model - c.recorded) for c in classes)
    nrec = sum(rec.end_spans.values())
    model_cycles = len(mcycles)
    end = report.end
    f = Fidelity(
        gc_mode=report.gc_mode, recorded_cycles=rec.cycles, model_cycles=model_cycles,
        cycles_error=_rel(model_cycles, rec.cycles), cycles=rows,
        inuse_max_error=max(errs) if errs else None,
        inuse_mean_error=sum(errs) / len(errs) if errs else None,
        goal_max_error=max(gerrs) if gerrs else None,
        goal_mean_error=sum(gerrs) / len(gerrs) if gerrs else None,
        classes=classes, classes_abs_diff=diff, recorded_spans=nrec,
        classes_error=diff / nrec if nrec else None, recorded_end_inuse=rec.end_inuse,
        model_end_inuse=(end.objects + end.unused) if end is not None else 0,
        lost_span_frees=rec.lost_span_frees, recorded_forced=list(rec.forced),
        recorded_forced_source=rec.forced_source,
    )
    f.memory_classes = classes_over_time(report, rec)
    model_scav = (getattr(report, "scavenge", None) or {}).get("background_ns")
    if rec.scavenger is not None and model_scav is not None:
        f.scavenger = {"recorded_ns": int(rec.scavenger["running_ns"]),
                       "runs": int(rec.scavenger["runs"]), "model_ns": int(model_scav)}
    f.targets = check_targets(f)
    return f


def classes_over_time(report, rec: Recorded) -> dict | None:
    """The model's heap memory classes at each recorded metric sample against the runtime's
    (the k-th "metric" timeline sample is taken at the k-th sample group). Samples missing a
    class are left out of that class."""
    model = [{"objects": t.objects, "unused": t.unused, "free": t.free,
              "released": t.released} for t in report.timeline if t.kind == "metric"]
    out = _classes_against(model, rec)
    if out is not None:
        out["recorded_series"] = recorded_series(rec)
    return out


def runs_apart(rec: Recorded, other: Recorded) -> dict | None:
    """Another recording of the same program and setting against `rec`, sample by sample
    (the k-th sample group of each: both programs sample from their start), in the figures
    classes_over_time gives the model: the runtime's own run-to-run spread, the floor no
    replay of one run can be judged tighter than where the cycles fall where they may (pacer
    mode, #15 and #20)."""
    return _classes_against([_class_bytes(v) for v in other.metric_values], rec)


def _class_bytes(vals: dict[int, int]) -> dict[str, int] | None:
    """One recorded sample group's heap classes by name (None if it lacks one)."""
    if not all(k in vals for k in _CLASS_METRICS.values()):
        return None
    return {name: vals[k] for name, k in _CLASS_METRICS.items()}


def _classes_against(model: list[dict | None], rec: Recorded) -> dict | None:
    """Per class, the errors of `model` (the classes by name at each of rec's sample groups,
    in order; None: none there) against rec's samples, as shares of rec's heap total."""
    n = min(len(model), len(rec.metric_values))
    if n == 0:
        return None
    out = {}
    ends = {}
    for name in HEAP_CLASSES:
        errs, diffs, tss, totals = [], [], [], []
        for m, vals, t in zip(model[:n], rec.metric_values[:n], rec.metric_ts[:n], strict=True):
            got = _class_bytes(vals)
            if m is None or got is None:
                continue
            total = sum(got.values())
            if total <= 0:
                continue
            if name == "total":
                r, mv = total, sum(m.values())
            else:
                r, mv = got[name], m[name]
            diffs.append(mv - r)
            errs.append(abs(mv - r) / total)
            tss.append(t)
            totals.append(total)
            ends[name] = (r, mv)
        if not errs:
            continue
        w = int(np.argmax(errs))
        out[name] = {"mean_error": float(np.mean(errs)), "max_error": errs[w],
                     "mean_error_bytes": int(round(float(np.mean(np.abs(diffs))))),
                     "max_error_bytes": int(diffs[w]), "worst_ts": int(tss[w]),
                     "time_mean_error": time_mean_error(diffs, totals)}
    if not out:
        return None
    return {"samples": n, "recorded_samples": len(rec.metric_values), "classes": out,
            "recorded_end": {k: v[0] for k, v in ends.items()},
            "model_end": {k: v[1] for k, v in ends.items()}}


def time_mean_error(diffs: list[int], totals: list[int]) -> float:
    """|mean over the samples of (model - recorded)| / the mean recorded heap total: how far
    the class's average over the run is off, whatever the phase. Sample by sample, a heap that
    rises and falls with its GC cycles is compared at one point of the model's cycle and
    another of the runtime's as soon as the two run out of step, which any two runs of the
    same program do (docs/model.md, "Scavenger over time": pacer mode); the average over the
    run is what the cycles' timing does not move."""
    return abs(float(np.mean(diffs))) / float(np.mean(totals))


MAX_SERIES = 2000  # recorded samples kept for the pictures (evenly strided)


def recorded_series(rec: Recorded) -> dict:
    """The runtime's own heap at its metric samples, for the timeline picture: ts, held
    (objects + unused + free, what it had not returned to the OS) and the heap total."""
    keys = list(_CLASS_METRICS.values())
    rows = [(t, v) for t, v in zip(rec.metric_ts, rec.metric_values, strict=True)
            if all(k in v for k in keys)]
    step = -(-len(rows) // MAX_SERIES) if rows else 1
    rows = rows[::step]
    rel = _CLASS_METRICS["released"]
    total = [sum(v[k] for k in keys) for _, v in rows]
    return {"ts": [t for t, _ in rows], "held": [tt - v[rel] for tt, (_, v) in
                                                   zip(total, rows, strict=True)],
            "total": total}


def check_targets(f: Fidelity) -> dict:
    """The acceptance targets for this GC mode: name -> {value, limit, ok}."""
    t = {}

    def put(name, value, limit, ok=None):
        t[name] = {"value": value, "limit": limit,
                   "ok": bool(value is not None and value <= limit) if ok is None else ok}

    classes = (f.memory_classes or {}).get("classes", {})
    if f.gc_mode == "recorded":
        for name, (mean, worst) in TARGET_CLASSES_OVER_TIME.items():
            if name in classes and mean is not None:
                put(f"{name}_mean_error", classes[name]["mean_error"], mean)
            if name in classes and worst is not None:
                put(f"{name}_max_error", classes[name]["max_error"], worst)
    else:
        for name in HEAP_CLASSES[:4]:
            if name in classes:
                put(f"{name}_mean_error", classes[name]["mean_error"],
                    TARGET_PACER_CLASSES_MEAN)
    if f.gc_mode == "recorded":
        if f.recorded_cycles:  # no mark start to compare at without a recorded cycle
            put("inuse_max_error", f.inuse_max_error, TARGET_CYCLE_MAX)
            put("inuse_mean_error", f.inuse_mean_error, TARGET_CYCLE_MEAN)
        put("classes_error", f.classes_error, TARGET_CLASSES)
        put("cycles", f.model_cycles, f.recorded_cycles,
            ok=f.model_cycles == f.recorded_cycles)
    elif f.recorded_cycles:
        err = abs(f.cycles_error) if f.cycles_error is not None else None
        put("cycles_error", err, TARGET_PACER_CYCLES)
    else:
        put("cycles", f.model_cycles, 0, ok=f.model_cycles == 0)
    return t


def validate(trace_path, report, *, name=None, reruns=()) -> Fidelity:
    """`goalloc replay --validate`: the replay `report` of `trace_path` against the facts the
    trace recorded. GoallocError when the trace recorded none (not a Go execution trace).
    `reruns`: (path, name) of other recordings of the same program and setting, whose
    runtime/metrics samples against this one's give the runtime's own spread
    (memory_classes["runs_apart"])."""
    from goalloc.errors import GoallocError

    rec = recorded_side(trace_path)
    if not rec.has_facts:
        raise GoallocError(
            f"{os.fspath(name or trace_path)}: --validate needs a trace with recorded runtime "
            "facts (span events), i.e. a Go execution trace recorded with "
            "GODEBUG=traceallocfree=1 (goalloc record; docs/importers.md)")
    f = compare(report, rec)
    if reruns:
        if f.memory_classes is None:
            raise GoallocError(f"{os.fspath(name or trace_path)}: --rerun compares runtime/"
                               "metrics samples, and this trace has none (docs/importers.md, "
                               "\"Metric samples\")")
        got = []
        for path, rname in reruns:
            got.append(runs_apart(rec, recorded_side(path)))
            if got[-1] is None:
                raise GoallocError(f"{os.fspath(rname)}: --rerun: no runtime/metrics samples "
                                   "to compare (docs/importers.md, \"Metric samples\")")
        f.memory_classes["runs_apart"] = runs_apart_summary(got)
    return f


def runs_apart_summary(got: list[dict]) -> dict:
    """runs_apart's figures for several other recordings, per class: the mean over them of
    the mean error and of the error of the average, and the worst sample of any."""
    classes = {}
    for name in HEAP_CLASSES:
        cs = [g["classes"][name] for g in got if name in g["classes"]]
        if cs:
            classes[name] = {"mean_error": float(np.mean([c["mean_error"] for c in cs])),
                             "max_error": max(c["max_error"] for c in cs),
                             "time_mean_error": float(np.mean([c["time_mean_error"]
                                                               for c in cs]))}
    return {"recordings": len(got), "classes": classes}


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:+.2f}%"


def _apct(x) -> str:
    return "—" if x is None else f"{100 * x:.2f}%"


def target_lines(f: Fidelity) -> list[str]:
    """One line per target: value, limit, ok or missed by how much."""
    names = {
        "inuse_max_error": "in-use span bytes at mark start, max |error|",
        "inuse_mean_error": "in-use span bytes at mark start, mean |error|",
        "classes_error": "spans per size class at the end, sum |diff| / recorded spans",
        "cycles": "number of cycles (model / recorded)",
        "cycles_error": "number of cycles, |error|",
    }
    for name in HEAP_CLASSES:
        names[f"{name}_mean_error"] = (f"heap {name} at the metric samples, mean |error| / "
                                       "heap total")
        names[f"{name}_max_error"] = (f"heap {name} at the metric samples, max |error| / "
                                      "heap total")
    out = []
    for key, t in f.targets.items():
        v, lim = t["value"], t["limit"]
        if key == "cycles":
            shown = f"{v} / {lim}"
            verdict = "ok" if t["ok"] else f"MISSED by {v - lim:+d}"
        else:
            shown = f"{_apct(v)} (target <= {100 * lim:g}%)"
            verdict = "ok" if t["ok"] else (
                "MISSED (no value)" if v is None else f"MISSED by {100 * (v - lim):.2f} points")
        out.append(f"{names.get(key, key)}: {shown}: {verdict}")
    return out


def render(f: Fidelity, console, *, classes: int = 12) -> None:
    """The fidelity tables (rich): per cycle, per size class, targets."""
    from rich import box
    from rich.table import Table

    from goalloc.report.units import iec_bytes

    def table(title):
        return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                     pad_edge=False, show_edge=False)

    console.print()
    console.print(f"[bold]Fidelity[/bold] — model vs the recorded runtime (--gc {f.gc_mode}); "
                  "error = (model - recorded) / recorded")
    t = table("In-use heap span bytes at each mark start (MiB), heap goal (MiB), start (ms)")
    for col in ("cycle", "in use", "recorded", "error", "goal", "recorded", "error", "start",
                "recorded"):
        t.add_column(col, justify="right")
    for r in f.cycles:
        def b(x):
            return "—" if x is None else f"{x / 2**20:.2f}"

        def ts(x):
            return "—" if x is None else f"{x / 1e6:.1f}"
        t.add_row(str(r.n), b(r.model_inuse), b(r.recorded_inuse), _pct(r.inuse_error),
                  b(r.model_goal), b(r.recorded_goal), _pct(r.goal_error),
                  ts(r.model_start_ts), ts(r.recorded_start_ts))
    console.print(t)
    console.print(f"in use at mark start: max |error| {_apct(f.inuse_max_error)}, mean "
                  f"{_apct(f.inuse_mean_error)}; heap goal: max |error| "
                  f"{_apct(f.goal_max_error)}, mean {_apct(f.goal_mean_error)}")
    diff = [c for c in f.classes if c.model != c.recorded]
    diff.sort(key=lambda c: (-abs(c.model - c.recorded), c.span_class))
    console.print(f"spans per size class at the end: {f.classes_abs_diff} differ of "
                  f"{f.recorded_spans} recorded ({_apct(f.classes_error)}), {len(diff)} classes"
                  + (f" (the {classes} largest below)" if len(diff) > classes else ""))
    t = table(None)
    for col in ("class", "model", "recorded", "diff"):
        t.add_column(col, justify="right")
    for c in diff[:classes]:
        t.add_row(f"{c.size_class}{' noscan' if c.noscan else ''}", str(c.model),
                  str(c.recorded), f"{c.model - c.recorded:+d}")
    if diff:
        console.print(t)
    console.print(f"cycles: model {f.model_cycles}, recorded {f.recorded_cycles} "
                  f"({_pct(f.cycles_error)}); in use at the end: model "
                  f"{iec_bytes(f.model_end_inuse)}, recorded {iec_bytes(f.recorded_end_inuse)}"
                  + (f"; lost span frees in the recording: {f.lost_span_frees}"
                     if f.lost_span_frees else ""))
    if f.recorded_forced:
        why = ("runtime.GC on the GCBegin stack" if f.recorded_forced_source == "trace" else
               "started below the pacer's lowest trigger: runtime.GC or periodic")
        console.print(f"recorded cycles forced by the program ({why}): "
                      + ", ".join(str(n) for n in f.recorded_forced))
    if f.scavenger:
        sv = f.scavenger
        console.print(f"background scavenger CPU: model {sv['model_ns'] / 1e6:.1f} ms, recorded "
                      f"{sv['recorded_ns'] / 1e6:.1f} ms (its goroutine's running time, "
                      f"{sv['runs']:,} runs)")
    mc = f.memory_classes
    if mc:
        t = table(f"Heap memory classes at the {mc['samples']} runtime/metrics samples: "
                  "|model - recorded| / recorded heap total")
        for col in ("class", "mean", "max", "of avg", "mean MiB", "worst MiB", "at (ms)",
                    "end MiB"):
            t.add_column(col, justify="right", no_wrap=col.startswith("end"))
        for name, c in mc["classes"].items():
            t.add_row(name, _apct(c["mean_error"]), _apct(c["max_error"]),
                      _apct(c["time_mean_error"]),
                      f"{c['mean_error_bytes'] / 2**20:.2f}",
                      f"{c['max_error_bytes'] / 2**20:+.2f}", f"{c['worst_ts'] / 1e6:.0f}",
                      f"{mc['model_end'][name] / 2**20:.1f} / "
                      f"{mc['recorded_end'][name] / 2**20:.1f}")
        console.print(t)
        console.print("  of avg: the class's average over the samples, |model - recorded| / "
                      "the average heap total (not moved by where the cycles fall); end: "
                      "model / recorded at the last sample")
        apart = mc.get("runs_apart")
        if apart:
            t = table("The runtime's own spread (--rerun)")
            for col in ("class", "mean", "max", "of avg"):
                t.add_column(col, justify="right")
            for name, c in apart["classes"].items():
                t.add_row(name, _apct(c["mean_error"]), _apct(c["max_error"]),
                          _apct(c["time_mean_error"]))
            console.print(t)
            console.print(f"  {apart['recordings']} other recording(s) of the program (--rerun) "
                          "against this one's samples, in the figures above: the mean over "
                          "them; max: the worst sample of any")
        elif f.gc_mode != "recorded":
            console.print("  [yellow]![/yellow] pacer mode: the model's cycles fall where its "
                          "pacer puts them, so a heap that rises and falls with them is "
                          "compared at one point of the model's cycle and another of the "
                          "runtime's; two runs of one program differ so too (13-14% of the "
                          "heap in objects and free on a steady server, docs/model.md). "
                          "--rerun OTHER measures it for this program; of avg is not moved "
                          "by it.")
    for line in target_lines(f):
        style = "green" if line.endswith(": ok") else "bold red"
        console.print(f"[{style}]target[/{style}] {line}")
