"""Heap-lock contention model (issue #6): exact counts of the heap-lock acquisitions the
modelled runtime makes, by operation (goalloc/engine/locks.py says where each
is taken), and a modelled contention replay of them on the trace's clock.

Contention model (labelled modelled everywhere): the lock is FIFO by issue time; an acquisition
that finds it held waits until it is released; it then holds it for the operation's hold time
(HOLD_NS, below, or `--lock-costs FILE` / Config.lock_hold_ns). A P is one thread: it issues its
next acquisition no earlier than the release of its previous one (so a P never waits for
itself, and a single-P trace has no contention), but waits never delay the P's trace events
(the trace's timeline is what was recorded). The background sweeper and scavenger are one more
lane (they run on another P) when GOMAXPROCS > 1, and share the only P when it is 1. Wait percentiles are nearest-rank over the acquisitions that waited.

No numba at import (the FIFO recurrence runs in goalloc.engine.locks.fifo). The report's
figures and text are goalloc/report/locks.py.
"""

from __future__ import annotations

import numpy as np

# Default heap-lock hold times, ns, per operation. No Go benchmark times these critical
# sections directly; they are estimates from what each does under the lock (Go 1.23 source)
# at ~1 ns per simple instruction and ~20 ns for an uncontended lock/unlock pair, to be
# replaced by measurements (--lock-costs FILE):
HOLD_NS: dict[str, int] = {
    # allocToCache: radix-tree search for the first free page, one 64-bit bitmap word taken,
    # summaries updated up the 5 levels
    "pcache-refill": 400,
    # pageAlloc.alloc (first-fit search + allocRange + summary update) + allocMSpanLocked
    "alloc": 600,
    # the same plus mheap.grow: sysMap of 4 MiB (an mmap/mprotect, ~10 us), summary and
    # scavenge-index growth, arena metadata
    "grow": 15000,
    # freeSpanLocked: pageAlloc.free (bitmap + summaries) + freeMSpanLocked + stats
    "free": 400,
    # reclaimChunk: scanning one 512-page chunk's inUse/marked bitmaps, or re-locking after
    # sweeping a span
    "reclaim": 200,
    # scavengeOne: find a candidate and allocRange + update, or free + update + setRange
    "scavenge": 300,
    # allocMSpanLocked refilling a P's mspan cache: 32 fixalloc allocations (~20 ns each)
    "mspan-cache": 800,
}


OPS = tuple(HOLD_NS)  # order = goalloc.engine.locks.OP_NAMES


SPANSET_OPS = ("push-partial", "push-full", "pop-partial", "pop-full")


WINDOW_NS = 1_000_000  # busiest intervals: 1 ms windows


TOP_WINDOWS = 5


def hold_table(overrides: dict | None) -> dict[str, int]:
    """The hold times in force: defaults, then overrides (ns, non-negative)."""
    from goalloc.engine.config import ns_table

    return ns_table(HOLD_NS, overrides, "lock costs", "heap-lock operation")


def load_costs(path) -> dict:
    """A --lock-costs TOML file: `[heap-lock]` op = ns (hold times) and `[pauses]`
    sweep-term-fixed / mark-term-fixed / per-p = ns (modelled STW pauses). Returns
    {"lock_hold_ns": {...}, "pause_ns": {...}} with the tables given."""
    import tomllib

    from goalloc.errors import GoallocError

    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise GoallocError(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise GoallocError(f"{path}: not valid TOML: {e}") from None
    stray = sorted(set(doc) - {"heap-lock", "pauses"})
    if stray:
        raise GoallocError(f"{path}: unknown table(s) {', '.join(stray)} "
                           "(expected [heap-lock] and/or [pauses])")
    out = {}
    if "heap-lock" in doc:
        out["lock_hold_ns"] = dict(doc["heap-lock"])
        hold_table(out["lock_hold_ns"])
    if "pauses" in doc:
        from goalloc.engine.pauses import pause_params

        out["pause_ns"] = dict(doc["pauses"])
        pause_params(out["pause_ns"])
    return out


def _pct(sorted_vals: np.ndarray, q: float) -> int | None:
    """Nearest-rank percentile of an ascending array (None when empty)."""
    n = sorted_vals.shape[0]
    if n == 0:
        return None
    k = max(1, int(np.ceil(q * n)))
    return int(sorted_vals[k - 1])


def _summary(op_idx, waits, holds, mask) -> dict:
    w = waits[mask]
    cont = np.sort(w[w > 0])
    n = int(mask.sum())
    return {
        "acquisitions": n,
        "contended": int(cont.shape[0]),
        "contended_share": (cont.shape[0] / n) if n else None,
        "wait_ns": int(w.sum()),
        "wait_p50_ns": _pct(cont, 0.50),
        "wait_p99_ns": _pct(cont, 0.99),
        "wait_max_ns": int(cont[-1]) if cont.shape[0] else None,
        "hold_ns": int(holds[mask].sum()),
    }


def fifo_waits(log: np.ndarray, holds_by_op: dict[str, int], nprocs: int):
    """Replay the log rows (ts, P, op) through the FIFO lock. Returns per acquisition, in
    issue-time order: (t, issue, wait, op, hold) arrays (ns, op index into OPS)."""
    from goalloc.engine.locks import fifo

    hold_arr = np.array([holds_by_op[o] for o in OPS], np.int64)
    n = log.shape[0]
    if n == 0:
        z = np.zeros(0, np.int64)
        return z, z, z, z, z
    log = log[np.argsort(log[:, 0], kind="stable")]
    t = np.ascontiguousarray(log[:, 0])
    # background sweeper/scavenger (P -1): a lane of their own on another P, or the only P
    bg = nprocs if nprocs > 1 else 0
    lane = np.where(log[:, 1] < 0, bg, log[:, 1]).astype(np.int64)
    ops = log[:, 2]
    holds = hold_arr[ops]
    issue, start = fifo(t, lane, np.ascontiguousarray(holds), nprocs + 1)
    return t, issue, start - issue, ops, holds


def contention(log: np.ndarray, holds_by_op: dict[str, int], nprocs: int) -> dict:
    """Replay the log rows (ts, P, op) through the FIFO lock; per-op and total summaries and
    the busiest 1 ms windows (by wait of the acquisitions issued in them)."""
    out: dict = {"model": "modelled", "hold_ns": dict(holds_by_op)}
    t, issue, waits, ops, holds = fifo_waits(log, holds_by_op, nprocs)
    n = t.shape[0]
    out["total"] = _summary(None, waits, holds, np.ones(n, bool))
    out["ops"] = {o: _summary(i, waits, holds, ops == i) for i, o in enumerate(OPS)}
    span = int(t.max() - t.min()) if n else 0
    out["lock_busy_share"] = (int(holds.sum()) / span) if span > 0 else None
    windows = []
    if n and waits.any():
        win = issue // WINDOW_NS
        keys, inv = np.unique(win, return_inverse=True)
        wsum = np.bincount(inv, weights=waits.astype(np.float64)).astype(np.int64)
        acq = np.bincount(inv)
        con = np.bincount(inv, weights=(waits > 0).astype(np.float64)).astype(np.int64)
        top = np.lexsort((keys, -wsum))[:TOP_WINDOWS]
        for k in top:
            if wsum[k] <= 0:
                break
            windows.append({"start_ns": int(keys[k] * WINDOW_NS), "wait_ns": int(wsum[k]),
                            "acquisitions": int(acq[k]), "contended": int(con[k])})
    out["busiest_windows"] = windows
    return out


def attach(report, eng) -> None:
    """Fill report.locks from the engine after a replay (goalloc.engine.replay calls it)."""
    from goalloc.engine import locks as L
    from goalloc.engine import state as S

    a = eng.arrays
    sc = a.sc
    counts = {o: int(sc[S.S_LK_CNT0 + i]) for i, o in enumerate(L.OP_NAMES)}
    total = sum(counts.values())
    mallocs = int(sc[S.S_MALLOCS])
    log = (np.concatenate(eng.lock_log) if eng.lock_log else np.zeros((0, 3), np.int64))
    holds = hold_table(eng.config.lock_hold_ns)
    per_class = []
    ss = a.cs[:, S.CS_SS0:S.CS_SS0 + S.N_SS]
    for spc, row in enumerate(ss.tolist()):  # Python ints: per-element numpy reads are slow
        if any(row):
            c = spc >> 1
            per_class.append({"class": f"{c}{'-noscan' if spc & 1 else ''}",
                              **{o: row[i] for i, o in enumerate(SPANSET_OPS)}})
    report.locks = {
        "mheap": {
            "acquisitions": total,
            "by_op": counts,
            "per_million_allocs": {o: (v * 1e6 / mallocs if mallocs else None)
                                   for o, v in counts.items()},
            "per_million_allocs_total": total * 1e6 / mallocs if mallocs else None,
            "span_allocs": int(sc[S.S_SPAN_ALLOCS]),
            "span_allocs_pagecache": int(sc[S.S_SPANS_PCACHE]),
            "no_pagecache": bool(eng.config.no_pagecache),
            "unlogged": int(sc[S.S_LK_LOST]),
            "contention": contention(log, holds, eng.procs),
        },
        "mcentral_spanset": {
            "note": "lock-free in the runtime (atomic span-set operations), counted, not timed",
            "total": {o: int(ss[:, i].sum()) for i, o in enumerate(SPANSET_OPS)},
            "by_class": per_class,
        },
    }
