"""The lifetime estimate behind pacer-mode death times (engine/lifetimes.py), against lifetimes
drawn from known distributions and observed only as a Go trace shows them: between the mark
starts around the cycle whose sweep reported the free."""

import numpy as np
import pytest

from goalloc.engine import lifetimes

MS = 1_000_000


def observe(alloc, life, gc_starts):
    """What the planning pass sees of objects allocated at `alloc` living `life` ns, with
    mark starts at `gc_starts`: freed objects' (alloc, lo, hi) - hi the first mark start after
    the death, lo the later of the allocation and the mark start before hi - and the
    survivors' (alloc, last mark start they were seen alive at), censored at the
    next-to-last mark start as the planning pass does."""
    death = alloc + life
    k = np.searchsorted(gc_starts, death, side="left")  # first mark start at or after death
    censor = gc_starts[-2]
    freed = (k < len(gc_starts) - 1) & (gc_starts[np.minimum(k, len(gc_starts) - 1)] > alloc)
    hi = gc_starts[k[freed]]
    prev = np.where(k[freed] > 0, gc_starts[np.maximum(k[freed] - 1, 0)], 0)
    lo = np.maximum(alloc[freed], prev)
    surv = ~freed & (death > censor) & (alloc < censor)
    return (alloc[freed], lo, hi), (alloc[surv], np.full(int(surv.sum()), censor))


def scenario(life_ms, n=40_000, seed=1):
    rng = np.random.default_rng(seed)
    # cycles of uneven length (7-13 ms) over 2 s; objects allocated evenly through it
    gaps = rng.uniform(7 * MS, 13 * MS, 200)
    gc_starts = np.cumsum(gaps).astype(np.int64)
    alloc = np.sort(rng.uniform(0, gc_starts[-1], n)).astype(np.int64)
    life = life_ms(rng, n)
    return alloc, life, gc_starts


@pytest.mark.parametrize("name,life_ms,median_ms", [
    # exponential, mean 3 ms: median 3 ln 2 = 2.08 ms, shorter than every cycle
    ("exponential 3 ms", lambda rng, n: (rng.exponential(3 * MS, n)).astype(np.int64),
     3 * np.log(2)),
    # every object lives 25 ms: two to three cycles
    ("fixed 25 ms", lambda rng, n: np.full(n, 25 * MS, np.int64), 25.0),
    # half die within 1 ms, half live 40 ms
    ("two generations", lambda rng, n: np.where(rng.random(n) < 0.5, rng.uniform(0, MS, n),
                                                40 * MS).astype(np.int64), None),
])
def test_estimate_recovers_the_lifetime_distribution(name, life_ms, median_ms):
    alloc, life, gc_starts = scenario(life_ms)
    (a, lo, hi), (sa, slo) = observe(alloc, life, gc_starts)
    est = lifetimes.estimate(a, lo, hi, sa, slo)
    assert est is not None and abs(est.prob.sum() - 1) < 1e-9
    q = est.quantile(np.array([0.25, 0.5, 0.75]))
    truth = np.percentile(life, [25, 50, 75])
    if median_ms is not None:
        assert abs(np.median(life) / MS - median_ms) < 0.2  # the scenario is what it says
    # the quartiles within 15% (or 0.3 ms): the data only resolve ages through the phases of
    # cycles 7-13 ms long
    for got, want in zip(q, truth, strict=True):
        assert abs(got - want) <= max(0.15 * want, 0.3 * MS), (name, q / MS, truth / MS)


@pytest.mark.parametrize("life_ms,gain", [
    # lifetimes short or sharp against the cycle: the midpoint is far off, the estimate is not
    (lambda rng, n: (rng.exponential(3 * MS, n)).astype(np.int64), 0.8),
    (lambda rng, n: np.full(n, 25 * MS, np.int64), 0.8),
    # spread over many cycles: deaths are nearly even across an interval, little to gain
    (lambda rng, n: (rng.lognormal(np.log(15 * MS), 0.8, n)).astype(np.int64), 1.0),
])
def test_placed_deaths_are_closer_than_midpoints(life_ms, gain):
    """Each placed death lies in its interval, and on average nearer the true death than the
    interval's midpoint is (the reason for the rule): by `gain` at least."""
    alloc, life, gc_starts = scenario(life_ms, seed=7)
    (a, lo, hi), (sa, slo) = observe(alloc, life, gc_starts)
    est = lifetimes.estimate(a, lo, hi, sa, slo)
    t = lifetimes.place(est, a, lo, hi)
    assert ((t >= lo) & (t <= hi)).all()
    death = {int(x): int(x + y) for x, y in zip(alloc, life, strict=True)}
    true = np.array([death[int(x)] for x in a])
    mid = lo + (hi - lo) // 2
    err_placed = np.abs(t - true).mean()
    err_mid = np.abs(mid - true).mean()
    assert err_placed < gain * err_mid, (err_placed / MS, err_mid / MS)


def test_unknown_ages_keep_the_midpoint():
    """Snapshot objects (allocation time -1: allocated before tracing) get the midpoint, and
    with no known age at all there is no estimate."""
    lo = np.array([10 * MS, 20 * MS])
    hi = np.array([20 * MS, 30 * MS])
    a = np.array([-1, -1])
    assert lifetimes.estimate(a, lo, hi, np.zeros(0, np.int64), np.zeros(0, np.int64)) is None
    assert (lifetimes.place(None, a, lo, hi) == lo + (hi - lo) // 2).all()


def test_pacer_replay_places_deaths_by_the_estimate():
    """Config(death_time="lifetimes") on a shipped Go trace: the report names the estimate it
    placed the deaths by (objects behind it, median lifetime inside the trace's span); the
    midpoint rule's report has none; both replays are deterministic."""
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay

    trace = "traces/go126-parser.msgpack"
    r = replay(trace, Config(gc_mode="pacer", death_time="lifetimes"))
    est = r.recorded_replay["lifetimes"]
    assert est["objects_freed"] > 10_000 and est["objects_surviving"] > 0
    span = r.timeline[-1].ts - r.timeline[0].ts
    assert 0 < est["median_ns"] <= est["p90_ns"] < span
    mid = replay(trace, Config(gc_mode="pacer"))
    assert "lifetimes" not in mid.recorded_replay
    again = replay(trace, Config(gc_mode="pacer", death_time="lifetimes"))
    assert [c.start_event for c in again.cycles] == [c.start_event for c in r.cycles]
