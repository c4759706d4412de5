"""Pacer mode places each death of a recorded Go trace at a point of its interval
(Plan._timed_cuts): the death is due before the first event at which the trace clock (the
largest timestamp so far) reaches its point, and not before the first event its interval
allows; deaths due before the same event come in the order of their points. The replay asks
chunk by chunk; the answer must not depend on where the chunks end. Checked against a direct
reading of that rule over the whole trace at once."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from goalloc.engine.snapshot import Plan


def _expected(ts, point, lo, ids):
    """(event, id) of every death due before an event of the trace, by (event, point, death
    order)."""
    clock = np.maximum.accumulate(ts)
    rows = []
    for d in range(point.shape[0]):
        reached = np.flatnonzero(clock >= point[d])
        if reached.shape[0] == 0 or lo[d] >= ts.shape[0]:
            continue  # the clock never gets there, or the trace ends first: never due
        rows.append((max(int(reached[0]), int(lo[d])), int(point[d]), d, int(ids[d])))
    rows.sort()
    return [(r[0], r[3]) for r in rows]


def _cut(ts, point, lo, ids, bounds, rule):
    plan = Plan(death_mid=point, death_lo=lo, death_id=ids,
                death_at=np.zeros(point.shape[0], np.int64), timed_deaths=True,
                death_rule=rule)
    plan = plan.replay_copy()
    out = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        at, dead = plan._timed_cuts(SimpleNamespace(start=a, n=b - a, ts=ts[a:b]))
        assert np.all((a <= at) & (at < b))  # due in this chunk
        out += list(zip(at.tolist(), dead.tolist(), strict=True))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_deaths_due_as_the_clock_reaches_their_point(seed):
    rng = np.random.default_rng(seed)
    n, deaths = 400, 120
    # a clock that mostly rises, sometimes steps back (Ps' timestamps interleave), with ties
    ts = np.cumsum(rng.integers(-3, 6, n)).astype(np.int64) + 1000
    point = rng.integers(990, int(ts.max()) + 40, deaths).astype(np.int64)
    point[:10] = point[10]  # ties of point
    lo = rng.integers(0, n + 20, deaths).astype(np.int64)  # some past the trace's end
    lo[rng.random(deaths) < 0.5] = 0
    ids = rng.permutation(10_000)[:deaths].astype(np.int64)
    want = _expected(ts, point, lo, ids)
    assert want  # the case has deaths due
    cuts = np.sort(rng.choice(np.arange(1, n), rng.integers(0, 12), replace=False))
    for bounds in ([0, n], [0, *cuts.tolist(), n], list(range(0, n, 7)) + [n]):
        assert _cut(ts, point, lo, ids, bounds, "mid") == want


def test_early_rule_points_all_at_the_start():
    """death_time "early": every death at the first event its interval allows, in death order
    among equals."""
    ts = np.arange(100, 200, dtype=np.int64)
    lo = np.array([50, 3, 50, 0, 99, 120], np.int64)
    ids = np.array([7, 8, 9, 10, 11, 12], np.int64)
    point = np.array([190, 110, 105, 100, 101, 102], np.int64)  # not read by the rule
    got = _cut(ts, point, lo, ids, [0, 30, 60, 100], "early")
    assert got == [(0, 10), (3, 8), (50, 7), (50, 9), (99, 11)]  # lo 120: past the end
