"""The picture data of one replay: what the HTML report draws besides the JSON report itself.

The JSON report (docs/json.md) already holds the cycles, pauses' statistics and histograms,
size classes and fidelity; the pictures need four more things only the engine has after a
replay, each reduced to a bounded size whatever the trace's length:

- the memory-class timeline (Report.timeline: ~200 evenly spaced samples plus every GC
  boundary), thinned to at most MAX_POINTS rows keeping each bucket's lowest and highest
  total, so peaks survive;
- the heap lock's acquisitions and modelled waits per operation in LOCK_BINS time bins (from the
  engine's acquisition log through the same FIFO model as the report's totals);
- the recorded stop-the-world pauses (start, duration, kind), at most MAX_PAUSES of them;
- the MMU curve over MMU_WINDOWS window lengths (goalloc.engine.pauses, as `go tool trace` draws
  it), of the recorded GC pauses and of the cycles' modelled pauses.

Plain Python and numpy, no numba: `series(report, eng)` after `goalloc.replay(...,
engine_out=[eng])`.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import contention as lock_model
from goalloc.engine.pauses import mmus
from goalloc.report import caveats as CV

MAX_POINTS = 1200  # timeline rows kept per run (2 per bucket: its lowest and highest total)
LOCK_BINS = 240
MAX_PAUSES = 4000
MMU_POINTS = 48  # window lengths, log-spaced
MMU_MIN_NS = 10_000  # 10 us
TIMELINE_COLS = ("ts", "event", "objects", "unused", "free", "released", "heap_live",
                 "live_requested")


def x_axis(report) -> str:
    """"ns" when the trace has a clock (its own timestamps advance, report/caveats.py), else
    "event": synthetic traces written without gaps carry no time (the model's clock may still
    advance by the time mutators were parked, which means nothing without a clock)."""
    timeline = report.timeline or []
    if len(timeline) >= 2 and timeline[-1].ts > timeline[0].ts and CV.has_clock(report):
        return "ns"
    return "event"


def thin(rows: np.ndarray, key: np.ndarray, xs: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the rows to keep: all when few; else, in each of max_points/2 equal x
    buckets, the row with the lowest and the one with the highest key, plus the first and last
    row, in order. A peak is never thinned away."""
    n = rows.shape[0]
    if n <= max_points:
        return np.arange(n)
    nb = max(1, max_points // 2 - 1)
    lo, hi = float(xs[0]), float(xs[-1])
    b = np.minimum(((xs - lo) / max(hi - lo, 1.0) * nb).astype(np.int64), nb - 1)
    keep = {0, n - 1}
    # bucket boundaries in a sorted x: first index of each bucket
    starts = np.searchsorted(b, np.arange(nb + 1), side="left")
    for i in range(nb):
        a, z = int(starts[i]), int(starts[i + 1])
        if a < z:
            seg = key[a:z]
            keep.add(a + int(np.argmin(seg)))
            keep.add(a + int(np.argmax(seg)))
    return np.array(sorted(keep), np.int64)


def timeline_table(timeline: list, axis: str, max_points: int = MAX_POINTS) -> dict:
    """Columns of the thinned timeline: {col: [ints]} (the kind column is dropped: every GC
    boundary is in the JSON's cycles)."""
    if not timeline:
        return {c: [] for c in TIMELINE_COLS}
    rows = np.array([[getattr(t, c) for c in TIMELINE_COLS] for t in timeline], np.int64)
    xs = rows[:, 0] if axis == "ns" else rows[:, 1]
    total = rows[:, 2:6].sum(1)
    keep = thin(rows, total, xs.astype(np.float64), max_points)
    return {c: rows[keep, i].tolist() for i, c in enumerate(TIMELINE_COLS)}


def lock_bins(eng, nbins: int = LOCK_BINS) -> dict | None:
    """Heap-lock acquisitions and modelled wait (ns) per operation in nbins equal time bins
    over the logged span, by issue time (the contention model's clock). None when nothing was
    logged."""
    log = (np.concatenate(eng.lock_log) if eng.lock_log else np.zeros((0, 3), np.int64))
    if log.shape[0] == 0:
        return None
    holds = lock_model.hold_table(eng.config.lock_hold_ns)
    _t, issue, waits, ops, _holds = lock_model.fifo_waits(log, holds, int(eng.procs))
    t0, t1 = int(issue.min()), int(issue.max()) + 1
    width = max(1, -(-(t1 - t0) // nbins))
    b = (issue - t0) // width
    nb = int(b.max()) + 1
    out = {"t0": t0, "bin_ns": int(width), "ops": {}}
    for i, op in enumerate(lock_model.OPS):
        m = ops == i
        if not m.any():
            continue
        out["ops"][op] = {
            "acquisitions": np.bincount(b[m], minlength=nb).astype(np.int64).tolist(),
            "wait_ns": np.bincount(b[m], weights=waits[m].astype(np.float64),
                                   minlength=nb).round().astype(np.int64).tolist(),
        }
    return out


def recorded_pauses(eng) -> list[dict]:
    return eng.stw.pauses() if getattr(eng, "stw", None) is not None else []


def cycle_pauses(doc: dict) -> list[tuple[int, int]]:
    """The cycles' pauses as the model places them (sweep termination at the cycle's start,
    mark termination at its end: goalloc.report.pauses.attach, pacer mode)."""
    out = []
    by_n = {c["n"]: c for c in doc.get("cycles", [])}
    for p in (doc.get("pauses") or {}).get("cycles", []):
        c = by_n.get(p["n"])
        if c is None:
            continue
        out.append((c["start_ts"], p["sweep_termination_ns"]))
        if p.get("mark_termination_ns") is not None and c.get("end_ts") is not None:
            out.append((c["end_ts"], p["mark_termination_ns"]))
    return out


def mmu_windows(span_ns: int, points: int = MMU_POINTS) -> list[int]:
    """Log-spaced window lengths from 10 us to the trace's span, with the JSON's four
    (1 ms, 10 ms, 100 ms, 1 s) among them where they fit."""
    from goalloc.engine.pauses import WINDOWS_NS

    if span_ns <= MMU_MIN_NS:
        return sorted({max(1, span_ns)} | set(WINDOWS_NS.values()))
    ws = np.unique(np.geomspace(MMU_MIN_NS, span_ns, points).round().astype(np.int64))
    return sorted(set(ws.tolist()) | set(WINDOWS_NS.values()))


def mmu_curves(doc: dict, recorded: list[dict]) -> dict | None:
    """MMU against window length: `recorded` (the trace's GC stop-the-world pauses, as the
    JSON's pauses.recorded.mmu) and `cycles` (the cycles' pauses where they are modelled, as
    the JSON's pauses.gc.mmu; in recorded GC mode the cycles' pauses are the recorded ones)."""
    p = doc.get("pauses")
    if not p:
        return None
    t0, t1 = p["trace_span_ns"]
    if t1 <= t0:
        return None
    ws = mmu_windows(t1 - t0)
    out: dict = {"windows_ns": ws}
    rec = [(r["start_ns"], r["duration_ns"]) for r in recorded if r["kind"] != "other"]
    if recorded:
        out["recorded"] = mmus(rec, t0, t1, ws)
    if p.get("source") == "modelled":
        pauses = cycle_pauses(doc)
        out["cycles"] = mmus(pauses, t0, t1, ws)
    return out


def series(report, eng, doc: dict) -> dict:
    """Everything the pictures need besides the JSON report `doc`, bounded in size."""
    axis = x_axis(report)
    rec = recorded_pauses(eng)
    kept = rec
    if len(rec) > MAX_PAUSES:  # the longest, in time order
        kept = sorted(sorted(rec, key=lambda r: -r["duration_ns"])[:MAX_PAUSES],
                      key=lambda r: r["start_ns"])
    return {
        "x": axis,
        "timeline": timeline_table(report.timeline, axis),
        "locks": lock_bins(eng) if axis == "ns" else None,
        "recorded_pauses": [[r["start_ns"], r["duration_ns"], r["kind"]] for r in kept],
        "recorded_pauses_total": len(rec),
        "mmu": mmu_curves(doc, rec) if axis == "ns" else None,
    }
