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


# ---- the cohort rule (Config.death_time "cohorts", the default) ----------------------------


def test_cohort_rule_follows_steady_turnover():
    """Every object lives 25 ms (two to three cycles): an interval's deaths are its cohort,
    allocated over the interval's length before it, and die evenly through it in allocation
    order. Spread over their allocation span (w = A, 80% of the interval) they lie about a
    twentieth of the interval from their true deaths on average, against the midpoint's
    quarter (0.23 of its error measured; 0.35 allowed); and in order."""
    alloc, life, gc_starts = scenario(lambda rng, n: np.full(n, 25 * MS, np.int64), seed=3)
    (a, lo, hi), _ = observe(alloc, life, gc_starts)
    t = lifetimes.spread_cohorts(a, lo, hi, np.zeros_like(a))
    assert ((t >= lo) & (t <= hi)).all()
    true = a + 25 * MS
    mid = lo + (hi - lo) // 2
    err, err_mid = np.abs(t - true).mean(), np.abs(mid - true).mean()
    assert err < 0.35 * err_mid, (err / MS, err_mid / MS)
    by_alloc = np.argsort(a, kind="stable")  # deaths come in allocation order
    assert (np.diff(t[by_alloc]) >= 0).all()


def test_cohort_rule_keeps_bursts_and_dropped_structures_together():
    """Worked by hand, one interval (3000, 3100] ms (T = 100 ms), 101 objects each: a burst
    allocated 100 ns apart (A = 79 x 100 ns = 7.9 us between its 10th and 90th percentile)
    dies within A / 2 of the midpoint; a structure built 20 ms apart (A = 1.58 s, T^2 / A =
    6.33 ms) within 3.17 ms of it; an object allocated inside its interval and one of unknown
    age (a snapshot object, allocation time -1) at their midpoints."""
    lo, hi = 3_000 * MS, 3_100 * MS
    mid = 3_050 * MS

    def place(a):
        n = a.shape[0]
        return lifetimes.spread_cohorts(a, np.full(n, lo), np.full(n, hi), np.zeros(n, np.int64))

    burst = place(2_950 * MS + np.arange(101) * 100)
    assert burst.min() >= mid - 3_950 - 1 and burst.max() <= mid + 3_950 + 1
    assert burst.max() - burst.min() >= 7_500  # spread, not one point
    built = place(500 * MS + np.arange(101) * (20 * MS))
    half = 100 * MS * 100 * MS / (79 * 20 * MS) / 2  # 3.165 ms
    assert built.min() >= mid - half - 1 and built.max() <= mid + half + 1
    assert built.max() - built.min() >= 0.95 * 2 * half
    inside = lifetimes.spread_cohorts(np.array([3_050 * MS, -1]), np.array([3_050 * MS, lo]),
                                      np.array([hi, hi]), np.zeros(2, np.int64))
    assert inside.tolist() == [3_075 * MS, mid]


def test_cohort_rule_orders_deaths_within_each_site():
    """Worked by hand, one interval (3000, 3100] ms (T = 100 ms), two sites in its cohort:
    100 long-lived objects of site 1 allocated 1 ms apart from 2900 ms (A = 79 ms: w = 79 ms)
    and 100 short-lived ones of site 2 allocated 0.1 ms apart in the last 10 ms before the
    interval (A = 7.9 ms: w = 7.9 ms). Each site's deaths are spread on their own around the
    middle: site 2's within 3.95 ms of it, site 1's over 79 ms, both in allocation order and
    centred. One order over both sites (every site the same) put the youngest, site 2, in the
    window's upper part (its mean more than 10 ms after the middle), where short-lived
    objects die first."""
    lo, hi = 3_000 * MS, 3_100 * MS
    mid = 3_050 * MS
    a = np.concatenate([2_900 * MS + np.arange(100) * MS, 2_990 * MS + np.arange(100) * (MS // 10)])
    site = np.repeat(np.array([1, 2], np.int64), 100)
    n = a.shape[0]
    t = lifetimes.spread_cohorts(a, np.full(n, lo), np.full(n, hi), site)
    young, old = t[site == 2], t[site == 1]
    assert young.min() >= mid - 3_950_000 - 1 and young.max() <= mid + 3_950_000 + 1
    assert abs(young.mean() - mid) <= 1 and abs(old.mean() - mid) <= 1
    assert old.min() <= mid - 39 * MS and old.max() >= mid + 39 * MS  # w = 79 ms
    assert (np.diff(young) >= 0).all() and (np.diff(old) >= 0).all()
    one = lifetimes.spread_cohorts(a, np.full(n, lo), np.full(n, hi), np.zeros(n, np.int64))
    assert one[site == 2].mean() > mid + 10 * MS


# ---- an object's first cycle (the cohort rule's young deaths) ----------------------------


def test_pava_by_hand():
    """Pool adjacent violators, worked by hand: a violating pair pools to its weighted mean;
    a falling run of three pools whole; a rising sequence stays."""
    got = lifetimes.pava(np.array([0.2, 0.1, 0.5]), np.array([1.0, 1.0, 2.0]))
    assert np.allclose(got, [0.15, 0.15, 0.5])
    got = lifetimes.pava(np.array([0.3, 0.2, 0.1]), np.array([1.0, 2.0, 1.0]))
    assert np.allclose(got, [0.2, 0.2, 0.2])  # (0.3 + 0.4 + 0.1) / 4
    assert np.allclose(lifetimes.pava(np.array([0.1, 0.4, 0.9]), np.ones(3)), [0.1, 0.4, 0.9])


def test_first_cycle_places_young_deaths_by_hand():
    """Worked by hand: mark starts every 10 ms; 100 objects allocated at 9 ms and 100 at 5 ms
    (1 and 5 ms before the next mark), half of each living 0.5 ms, half 30 ms. The first mark
    after their allocation finds half dead at c = 1 ms and half at c = 5 ms, so F(1 ms) =
    F(5 ms) = 1/2 and F runs linearly from (0, 0) to (1 ms, 1/2). A death with c = 5 ms goes
    to F^-1(F(5 ms) / 2) = F^-1(1/4) = 0.5 ms after its allocation (the truth; the midpoint
    says 2.5 ms), one with c = 1 ms to 0.5 ms too; the 30 ms deaths are older objects in
    (30, 40] ms, left to the cohort rule's spread."""
    gc_starts = np.arange(1, 8) * 10 * MS
    alloc = np.repeat(np.array([9 * MS, 5 * MS]), 100)
    life = np.tile(np.repeat(np.array([MS // 2, 30 * MS]), 50), 2)
    (a, lo, hi), (sa, slo) = observe(alloc, life, gc_starts)
    fc = lifetimes.first_cycle(a, lo, hi, sa, slo)
    assert fc is not None and (fc.freed, fc.surviving) == (100, 100)  # dead by c, alive at c
    assert np.allclose(fc.cdf(np.array([MS, 5 * MS, 3 * MS])), [0.5, 0.5, 0.5])
    young = a >= lo
    assert young.sum() == 100
    t = lifetimes.place(fc, a[young], lo[young], hi[young])
    assert (t == a[young] + MS // 2).all()
    rule = lifetimes.cohort_rule(a, lo, hi, np.zeros_like(a), sa, slo)
    assert (rule[young] == t).all()
    old = ~young
    spread = lifetimes.spread_cohorts(a, lo, hi, np.zeros_like(a))
    assert (rule[old] == spread[old]).all()


def test_first_cycle_recovers_short_lifetimes():
    """Lifetimes exponential with a 2 ms mean, cycles 7-13 ms: F over the first cycle within
    0.03 of 1 - exp(-c / 2 ms) from 1 to 6 ms; every young death placed inside its interval
    and, on average, within 5% as near its true death as the true distribution's conditional
    median puts it (-2 ms ln(1 - F(c) / 2), the point nearest on average), which is under
    0.6 of the midpoint's distance."""
    alloc, life, gc_starts = scenario(lambda rng, n: rng.exponential(2 * MS, n).astype(np.int64),
                                      seed=11)
    (a, lo, hi), (sa, slo) = observe(alloc, life, gc_starts)
    fc = lifetimes.first_cycle(a, lo, hi, sa, slo)
    c = np.array([1, 2, 4, 6]) * MS
    assert np.abs(fc.cdf(c) - (1 - np.exp(-c / (2 * MS)))).max() < 0.03
    young = a >= lo
    t = lifetimes.cohort_rule(a, lo, hi, np.zeros_like(a), sa, slo)
    assert ((t >= lo) & (t <= hi)).all()
    death = dict(zip(alloc.tolist(), (alloc + life).tolist(), strict=False))
    true = np.array([death[int(x)] for x in a[young]])
    mid = (lo + (hi - lo) // 2)[young]
    cy = (hi - a)[young].astype(np.float64)
    oracle = a[young] - 2 * MS * np.log(1 - (1 - np.exp(-cy / (2 * MS))) / 2)
    err, err_oracle = np.abs(t[young] - true).mean(), np.abs(oracle - true).mean()
    assert err <= 1.05 * err_oracle, (err / MS, err_oracle / MS)
    assert err_oracle < 0.6 * np.abs(mid - true).mean()
    # the rule's one-pass kernel places them exactly where the reference `place` does
    assert (t[young] == lifetimes.place(fc, a[young], lo[young], hi[young])).all()


def test_first_cycle_without_young_deaths_or_ages():
    """No death in a first cycle (objects allocated before their intervals, each alone in
    its cohort), or no known age: no estimate, and the cohort rule puts every death at its
    midpoint."""
    lo, hi = np.array([10 * MS, 20 * MS]), np.array([20 * MS, 30 * MS])
    none = np.zeros(0, np.int64)
    for a in (np.array([-1, -1]), np.array([5 * MS, 12 * MS])):
        assert lifetimes.first_cycle(a, lo, hi, none, none) is None
        rule = lifetimes.cohort_rule(a, lo, hi, np.zeros_like(a), none, none)
        assert (rule == lo + (hi - lo) // 2).all()


def _steady_trace(path):
    """A steady server by hand: a 64 KiB object every 0.1 ms for 600 ms, each dropped 30 ms
    after it was made (300 live: 18.75 MiB), recorded GC cycles every 10 ms (gc_start, mark
    termination 0.2 ms later), each freeing at its sweep the objects that died since the
    gc_start before it. The trace says only in which 10 ms an object died."""
    from goalloc.trace import Header, Writer
    from goalloc.trace import format as fmt

    events = []  # (ts, kind, id, size, aux), put in time order below
    step, life, period = MS // 10, 30 * MS, 10 * MS
    n = 6000
    alloc = np.arange(n) * step + 1
    death = alloc + life
    events += [(int(t), fmt.ALLOC, i, 64 << 10, 0) for i, t in enumerate(alloc)]
    freed = 0
    for g, start in enumerate(range(period, n * step, period), 1):
        events.append((start, fmt.GC_START, g, 0, fmt.GC_TRIGGER_NAMES.index("heap")))
        events.append((start + MS // 5, fmt.GC_MARK_TERM, g, 0, 0))
        while freed < n and death[freed] <= start:  # swept just after the mark
            events.append((start + MS // 5 + 2 + freed % 1000, fmt.FREE, freed, 0, 0))
            freed += 1
    events.sort(key=lambda e: e[0])
    cols = {"kind": [e[1] for e in events], "ts": [e[0] for e in events],
            "id": [e[2] for e in events], "size": [e[3] for e in events],
            "aux": [e[4] for e in events], "flags": [0] * len(events), "p": [0] * len(events)}
    with Writer(path, Header(frees="sweep", sizes="requested", gomaxprocs=2), force=True) as w:
        w.write(**cols)


def test_pacer_marks_see_a_steady_live_heap_under_the_cohort_rule(tmp_path):
    """The steady server of `_steady_trace` at GOGC=100 in pacer mode: its live heap never
    moves from 300 objects, so every mark after the first 100 ms finds about that (plus what
    is allocated while it marks). With the midpoint each interval's 100 deaths come at one
    instant and a mark finds up to 50 more or fewer, by where it falls; with the cohort rule
    they come in allocation order over 8 of its 10 ms, at most 10 from the truth."""
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay

    path = tmp_path / "steady.msgpack"
    _steady_trace(path)
    obj = 64 << 10

    def marked(rule):
        r = replay(path, Config(gc_mode="pacer", death_time=rule, gogc=100))
        return np.array([c.marked / obj for c in r.cycles
                         if c.end_ts is not None and c.start_ts > 100 * MS])

    cohorts, mid = marked("cohorts"), marked("mid")
    assert len(cohorts) >= 10 and len(mid) >= 10
    assert np.ptp(mid) >= 30  # the scenario makes the staircase the midpoint has
    # (the marks' own allocation adds ~10: allocated black)
    assert np.ptp(cohorts) <= 15 and 300 <= np.median(cohorts) <= 315
    assert Config().death_time == "cohorts"  # the default
