"""Minimum mutator utilisation (MMU) from stop-the-world pauses, as `go tool trace` defines it:
for a window length w, the smallest fraction of any window [x, x + w] inside the trace during
which the mutator could run. A STW stops all GOMAXPROCS Ps, so utilisation is 0 inside a pause
and 1 outside (assists and mark workers are not modelled: this is the STW-only MMU, `go tool
trace`'s "STW" flag alone). A window longer than the trace is clamped to the trace, as
internal/trace's MMU does. Pure numpy.
"""

from __future__ import annotations

import numpy as np

WINDOWS_NS = {"1ms": 1_000_000, "10ms": 10_000_000, "100ms": 100_000_000, "1s": 1_000_000_000}


def _merge(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    out_s: list[int] = []
    out_e: list[int] = []
    for a, b in zip(s.tolist(), e.tolist(), strict=True):
        if out_e and a <= out_e[-1]:
            out_e[-1] = max(out_e[-1], b)
        else:
            out_s.append(a)
            out_e.append(b)
    return np.array(out_s, np.int64), np.array(out_e, np.int64)


def mmu(pauses: list[tuple[int, int]], t0: int, t1: int, window: int) -> float | None:
    """MMU for `window` ns over [t0, t1] given (start, duration) pauses in ns; None for an
    empty trace span."""
    if t1 <= t0:
        return None
    w = min(window, t1 - t0)
    if not pauses:
        return 1.0
    st = np.array([max(t0, min(t1, s)) for s, d in pauses], np.int64)
    en = np.array([max(t0, min(t1, s + d)) for s, d in pauses], np.int64)
    st, en = _merge(st, en)
    # cumulative pause time P(t) is piecewise linear with breakpoints at the pause edges
    bx = np.concatenate(([t0], np.stack([st, en], 1).ravel(), [t1])).astype(np.float64)
    inside = np.concatenate(([0], np.stack([np.zeros_like(st), en - st], 1).ravel(), [0]))
    by = np.cumsum(inside).astype(np.float64)
    cand = np.concatenate((bx, bx - w))
    cand = cand[(cand >= t0) & (cand <= t1 - w)]
    cand = np.unique(np.concatenate((cand, [float(t0), float(t1 - w)])))
    paused = np.interp(cand + w, bx, by) - np.interp(cand, bx, by)
    worst = float(paused.max()) / w
    return max(0.0, 1.0 - worst)


def mmu_table(pauses: list[tuple[int, int]], t0: int, t1: int) -> dict[str, float | None]:
    return {name: mmu(pauses, t0, t1, w) for name, w in WINDOWS_NS.items()}
