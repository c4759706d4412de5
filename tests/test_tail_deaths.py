"""The tail's deaths (Config.tail_deaths "placed", engine/lifetimes.py tail_deaths; docs/model.md
2d): the objects a Go trace never saw freed die where the first-cycle lifetimes put them, given
what the trace says of each (alive at the last mark start whose sweep it saw whole, and not
reported dead by the partly seen sweep after it). Checked on hand-made lifetimes and traces,
the expectations worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from goalloc.engine import lifetimes
from goalloc.engine.config import Config
from goalloc.engine.lifetimes import Estimate
from goalloc.engine.replay import replay
from goalloc.errors import GoallocError
from goalloc.report.replay import to_dict
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt

# F uniform over ages (0, 100] holding half the mass; the other half past 100 (the open bin)
HALF = Estimate(np.array([0.0, 100.0, np.inf]), np.array([0.5, 0.5]), 1, 1)
M64 = (1 << 64) - 1
REPO = Path(__file__).resolve().parents[1]


def _splitmix(i: int) -> float:
    """splitmix64's finaliser in Python integers, top 53 bits, as unit_hash documents it."""
    x = (i + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    x ^= x >> 31
    return ((x >> 11) + 0.5) / 2.0 ** 53


def test_unit_hash_is_splitmix_and_even():
    ids = np.arange(200_000, dtype=np.int64)
    u = lifetimes.unit_hash(ids)
    assert [u[i] for i in (0, 1, 2, 12345)] == [_splitmix(i) for i in (0, 1, 2, 12345)]
    assert ((u > 0) & (u < 1)).all()
    # even over (0, 1): each tenth holds 10% of 200,000 consecutive ids, to 0.5 points
    share = np.bincount((u * 10).astype(int), minlength=10) / u.shape[0]
    assert np.abs(share - 0.1).max() < 0.005


def _expect(u, a, c0, f0_mass_below_cm, swept):
    """One object's death by hand under HALF (F(x) = x / 200 up to 100): returns the time or
    -1. c0: age at alive_t; the mass of F below its age at last_t, over L > c0: dm."""
    f0 = min(c0, 100) / 200
    dm = f0_mass_below_cm
    norm = 1 - swept * dm
    if u * norm <= dm * (1 - swept):
        v = u * norm / (1 - swept)
    else:
        v = u * norm + swept * dm
    level = f0 + (1 - f0) * v
    if level >= 0.5:
        return -1
    return a + max(round(200 * level), c0 + 1)


@pytest.mark.parametrize("swept", [0.0, 0.5, 1.0])
def test_tail_deaths_by_hand(swept):
    """alive_t 500, last_t 800. Allocated after last_t (a 1000): F itself, dying at age 200u
    when u < 1/2. Allocated between them (a 700, age 100 at last_t: all of F's finite mass
    below it): not reported dead by last_t, so with the sweep seen whole (swept 1) alive then
    and past the support: kept; with none of it seen, F itself; with half of it, dead before
    last_t with probability (1/2 x 1/2) / (1/2 x 1/2 + 1/2) = 1/3 (Bayes), at age 300u for u <=
    1/3. Alive at alive_t at age 50 (a 450): F past 50 is uniform on (50, 100] with 1/3 of
    what is left, all of it below its age 350 at last_t: with none of the sweep seen it dies
    with probability 1/3, with all of it never, with half of it (unreported with probability
    1/3 x 1/2 + 2/3 = 5/6) with (1/6) / (5/6) = 1/5. At age 200 (a 300): past the support,
    kept."""
    ids = np.arange(4000, dtype=np.int64)
    u = lifetimes.unit_hash(ids)
    kinds = [(1000, 0, 0.0), (700, 0, 0.5), (450, 50, 1 / 3), (300, 200, 0.0)]
    a = np.array([kinds[i % 4][0] for i in range(ids.shape[0])], np.int64)
    got = lifetimes.tail_deaths(HALF, a, ids, 500, 800, swept)
    for i in range(ids.shape[0]):
        at, c0, dm = kinds[i % 4]
        assert got[i] == _expect(float(u[i]), at, c0, dm, swept), i
    # the shares worked out above
    after, between, aged = (got[k::4] >= 0 for k in range(3))
    assert after.mean() == pytest.approx(0.5, abs=0.03)
    assert between.mean() == pytest.approx({0.0: 0.5, 0.5: 1 / 3, 1.0: 0.0}[swept], abs=0.03)
    assert aged.mean() == pytest.approx({0.0: 1 / 3, 0.5: 1 / 5, 1.0: 0.0}[swept], abs=0.03)
    assert (got[3::4] == -1).all()
    # within F's support: dies in its first 100 ns of age (or, when seen alive past that, never)
    live = got >= 0
    assert (got[live] - a[live] <= 101).all() and (got[live] > np.maximum(a, 500)[live]).all()


def test_no_estimate_keeps_every_one():
    ids = np.arange(10, dtype=np.int64)
    assert (lifetimes.tail_deaths(None, ids * 0, ids, 5, 8, 1.0) == -1).all()


def test_last_sweep_share_by_hand():
    """Window (500, 800] under HALF: deaths reported at 800 of objects allocated at 700 (one)
    and at 400 (older: not in it); never freed: allocated at 600, 650, 750, 790 (in it) and
    900 (after). Expected dead at 800: F(100) + F(200) + F(150) + F(50) + F(10) = 0.5 + 0.5 +
    0.5 + 0.25 + 0.05 = 1.8, one reported: 1 / 1.8."""
    alloc = np.array([700, 400], np.int64)
    hi = np.array([800, 800], np.int64)
    surv = np.array([600, 650, 750, 790, 900], np.int64)
    s = lifetimes.last_sweep_share(HALF, alloc, hi, surv, 500, 800)
    assert s == pytest.approx(1 / 1.8)
    # more reported than expected: 1; no window: 1
    assert lifetimes.last_sweep_share(HALF, np.array([790] * 3), np.array([800] * 3),
                                      surv[:0], 500, 800) == 1.0
    assert lifetimes.last_sweep_share(HALF, alloc, hi, surv, 800, 800) == 1.0


MS = 1_000_000
OBJ = 64 << 10  # 8 pages each: one object a span, in-use bytes 65,536 per live object


def _trace(path):
    """A program whose objects each live 2 ms: one 64 KiB object every 0.1 ms for 100 ms
    (ids 0-999), freed 2 ms after its allocation; gc_starts every 10 ms (at 5, 15, ... 95 ms,
    each mark 0.5 ms long), and each sweep reports, just after its mark ends, the objects
    dead at its gc_start. The trace ends before the last cycle's sweep (gc_start 95 ms)
    reports anything, so the objects dead since the one before it (85 ms) are never freed:
    the tail. Returns the allocation times by id."""
    allocs = [(i * MS // 10 + 1, i) for i in range(1000)]
    marks = [5 * MS + 10 * MS * k for k in range(10)]
    evs = [(t, 1, fmt.ALLOC, i) for t, i in allocs]
    for k, m in enumerate(marks):
        evs.append((m, 0, fmt.GC_START, k + 1))
        evs.append((m + MS // 2, 0, fmt.GC_MARK_TERM, k + 1))
        if k + 1 < len(marks):
            dead = [i for t, i in allocs if t + 2 * MS <= m and
                    (k == 0 or t + 2 * MS > marks[k - 1])]
            evs += [(m + MS // 2 + 1 + j, 2, fmt.FREE, i) for j, i in enumerate(dead)]
    evs.sort()
    cols = {c: [] for c in ("kind", "ts", "id", "size", "aux", "flags", "p")}
    for t, _, kind, i in evs:
        for c, v in zip(cols, (kind, t, i, OBJ if kind == fmt.ALLOC else 0,
                               fmt.GC_TRIGGER_NAMES.index("heap") if kind == fmt.GC_START
                               else 0, 0, 0), strict=True):
            cols[c].append(v)
    with Writer(path, Header(frees="sweep", sizes="requested", gomaxprocs=2), force=True) as w:
        w.write(**cols)
    return np.array([t for t, _ in allocs])


def _live_at_end(r):
    """The bytes of the objects alive at the trace's end (the dead the model has not swept
    yet are in `objects`, as in the runtime's heap-objects class, but not here)."""
    return r.timeline[-1].live_requested


def _spacing(starts):
    return (starts[-1] - starts[0]) / (len(starts) - 1)


def test_the_tail_dies_young_as_the_trace_showed(tmp_path):
    """Every object lives 2 ms, so at the trace's end (100 ms) 20 objects are live. The trace
    reports no death after the sweep of gc_start 85 ms, so 170 objects are never freed: the
    150 allocated since 85 ms and the 20 of 83-85 ms (dead after 85 ms). Kept, all 170 are
    live at the end. Placed, each dies about 2 ms after its allocation (the first-cycle F
    steps from 0 to 1 there: an object was dead at its first mark start exactly when that
    came more than 2 ms after it), so 18-22 are live at the end, as in the program; the
    sweep of gc_start 95 ms reported none of the deaths it would have (seen share 0). The
    model's cycles past the horizon then come as often as before it (the live heap, and so
    the goal, as before); kept, they come further apart."""
    path = tmp_path / "t.msgpack"
    _trace(path)
    kept = replay(path, Config(gc_mode="pacer", tail_deaths="kept"))
    placed = replay(path, Config(gc_mode="pacer", tail_deaths="placed"))
    assert _live_at_end(kept) == 170 * OBJ
    assert 18 * OBJ <= _live_at_end(placed) <= 22 * OBJ
    info = placed.recorded_replay["tail_deaths"]
    assert info["objects_placed"] + info["objects_kept"] == 170
    assert info["last_sweep_seen"] == 0.0
    assert "tail_deaths" not in kept.recorded_replay
    # before the horizon (gc_start 85 ms) the two replays are the same
    until = kept.deaths_known_until_event
    before = [c.start_ts for c in kept.cycles if c.start_event < until]
    assert before == [c.start_ts for c in placed.cycles if c.start_event < until]
    after = {name: [before[-1]] + [c.start_ts for c in r.cycles if c.start_event >= until]
             for name, r in (("kept", kept), ("placed", placed))}
    usual = _spacing(before)  # 4.0 ms
    assert np.diff(after["placed"]) == pytest.approx([usual] * (len(after["placed"]) - 1),
                                                     rel=0.15)
    assert np.diff(after["kept"])[-1] > 1.5 * usual  # (when written: 6.75 ms)


def test_recorded_mode_and_the_late_bound_keep_the_tail(tmp_path):
    """Recorded GC mode and the latest-deaths bound put each death before the gc_start of the
    cycle that swept it, so they place no tail death: the JSON is the same either way; the
    same options twice give the same bytes."""
    path = tmp_path / "t.msgpack"
    _trace(path)

    def js(**kw):
        cfg = Config(**kw)
        doc = to_dict(replay(path, cfg), str(path), None)
        return json.dumps(doc, sort_keys=True)
    assert js(gc_mode="recorded", tail_deaths="placed") == js(gc_mode="recorded")
    assert js(gc_mode="pacer", death_time="late", tail_deaths="placed") == \
        js(gc_mode="pacer", death_time="late")
    assert js(gc_mode="pacer", tail_deaths="placed") == js(gc_mode="pacer", tail_deaths="placed")


def test_a_tail_rule_goalloc_does_not_know_is_refused():
    with pytest.raises(GoallocError, match="tail_deaths must be one of kept, placed"):
        Config(tail_deaths="never").check()


@pytest.mark.parametrize("name", ["go126-parser.msgpack", "go-parser.msgpack"])
def test_the_tail_held_out_of_a_real_recording(name):
    """A shipped Go recording cut short in four of its cycles' sweeps (benchmarks/
    tail_holdout.py): at the mark starts around each cut, the bytes of the objects the cut
    trace never saw freed that are still live, as the rest of the recording reports them,
    against the tail kept (all of them live) and placed. The go/parser benchmark's objects
    die within a cycle: kept overstates them by half a MiB or more on average, placed is
    within about 0.1 (when written: 0.81 / 0.09 and 0.49 / 0.07 MiB)."""
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import tail_holdout

    rows = tail_holdout.holdout(REPO / "traces" / name, 4)
    err = {w: [abs(r[m][w] - r[m]["true"]) for r in rows for m in ("last", "next")]
           for w in ("kept", "placed")}
    assert len(err["kept"]) == 8
    assert np.mean(err["kept"]) > 0.3  # MiB: the tail kept is far off here
    assert np.mean(err["placed"]) < np.mean(err["kept"]) / 4
    # at the mark after the cut every survivor kept is wrong but the few still live
    assert all(r["next"]["placed"] <= r["next"]["kept"] for r in rows)
