"""Object lifetimes as a Go trace shows them, and where in its interval each death lies (#15).

A Go execution trace reports a free when a sweeper reclaims the object, so its death is known
only to an interval (engine/snapshot.py): after the later of its allocation and the mark start
before the one that did not mark it, up to that mark start. Each freed object is one
interval-censored observation of its lifetime L, lo < L <= hi (ages from its allocation); an
object never freed was alive at the last mark start whose sweep the trace saw end: L > lo.
Objects are allocated at every phase of the GC cycle, so their intervals start and end at
every age and the distribution of L is identifiable at the time scale of the cycles. Its
nonparametric maximum-likelihood estimate is Turnbull's (1976) self-consistency EM, here over a
log-spaced age grid.

Each death is then placed at the conditional median of its lifetime given its interval,
F^-1((F(lo) + F(hi)) / 2): where the program's objects die young its deaths come early in their
intervals, where they live long, late. The midpoint of the interval (the rule before, and
Config.death_time "mid") is what this gives when F rises evenly across the interval. Where the
estimate has no mass in an interval, the midpoint; a snapshot object's age is unknown (it was
allocated before tracing began): the midpoint too. The earliest and latest admissible deaths
(engine/whatif.py) still bound every answer.

Assumed (docs/model.md 2c, "Death-time range"): one lifetime distribution for the whole
trace, the same whatever the phase of the GC cycle an object is allocated in.

The default rule (Config.death_time "cohorts", `cohort_rule`) does without that estimate:
the deaths of an interval's older objects from one allocation site (its cohort) are spread in
allocation order over a width their allocation span sets, where the midpoint would put them
at one instant (`spread_cohorts`); an object that died in its first cycle goes to its
conditional median under the first cycle's lifetimes (`first_cycle`, then `place`:
current-status data, whose estimate needs no EM); one of unknown age to its midpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goalloc.jit import kernel

GRID_BINS = 256  # log-spaced age bins between GRID_MIN_NS and the longest finite age seen
GRID_MIN_NS = 100  # ages below this share the first bin (trace clocks tick in ~10-100 ns)
EM_MAX_ITER = 3000
EM_TOL = 1e-9  # largest change of a bin's probability that still counts as moving


@dataclass
class Estimate:
    """The lifetime distribution: bin edges (ns; the last bin is open-ended) and each bin's
    probability; how many freed (interval) and surviving (right-censored) objects it rests on."""

    edges: np.ndarray
    prob: np.ndarray
    freed: int
    surviving: int

    def cdf(self, age: np.ndarray) -> np.ndarray:
        """F(age), linear within a bin (the open last bin holds its mass beyond its start)."""
        cum = np.concatenate([[0.0], np.cumsum(self.prob)])
        j = np.clip(np.searchsorted(self.edges, age, side="right") - 1, 0, self.prob.shape[0] - 1)
        lo, hi = self.edges[j], self.edges[j + 1]
        frac = np.where(np.isfinite(hi), (age - lo) / np.where(np.isfinite(hi), hi - lo, 1.0), 0.0)
        return cum[j] + self.prob[j] * np.clip(frac, 0.0, 1.0)

    def quantile(self, u: np.ndarray) -> np.ndarray:
        """F^-1(u), linear within a bin; the open last bin gives its start."""
        cum = np.concatenate([[0.0], np.cumsum(self.prob)])
        j = np.clip(np.searchsorted(cum, u, side="right") - 1, 0, self.prob.shape[0] - 1)
        lo, hi = self.edges[j], self.edges[j + 1]
        p = self.prob[j]
        frac = np.where(p > 0, (u - cum[j]) / np.where(p > 0, p, 1.0), 0.0)
        width = np.where(np.isfinite(hi), hi - lo, 0.0)
        return lo + np.clip(frac, 0.0, 1.0) * width

    def summary(self) -> dict:
        """Median and 90th percentile lifetime (ns) and the objects behind the estimate."""
        q = self.quantile(np.array([0.5, 0.9]))
        return {"objects_freed": self.freed, "objects_surviving": self.surviving,
                "median_ns": int(q[0]), "p90_ns": int(q[1])}


def grid(top: float) -> np.ndarray:
    """Bin edges: 0, then log-spaced from GRID_MIN_NS to just past `top`, then infinity."""
    top = max(float(top), 2.0 * GRID_MIN_NS)
    inner = np.geomspace(GRID_MIN_NS, top * (1 + 1e-9) + 1, GRID_BINS - 1)
    return np.concatenate([[0.0], inner, [np.inf]])


def bin_of(edges: np.ndarray, age: np.ndarray) -> np.ndarray:
    """The bin holding each age (ages past the last finite edge: the open last bin)."""
    return np.clip(np.searchsorted(edges, age, side="right") - 1, 0, edges.shape[0] - 2)


def turnbull(edges: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The self-consistency EM for interval-censored data over the grid: each observation
    lo < L <= hi covers the bins from lo's to hi's (inf: to the last); each iteration spreads
    every observation over the bins it covers in proportion to the current estimate.
    Observations are counted per (first bin, last bin) pair, so an iteration costs O(bins^2)
    whatever the number of objects."""
    nb = edges.shape[0] - 1
    first = bin_of(edges, lo)
    # hi is an age the object was dead at: its own bin, unless it opens that bin exactly
    last = np.maximum(first, bin_of(edges, np.nextafter(hi, -np.inf)))
    counts = np.bincount(first * nb + last, minlength=nb * nb).reshape(nb, nb).astype(np.float64)
    n = counts.sum()
    p = np.full(nb, 1.0 / nb)
    rows, cols = np.nonzero(counts)
    c = counts[rows, cols]
    for _ in range(EM_MAX_ITER):
        cum = np.concatenate([[0.0], np.cumsum(p)])
        denom = cum[cols + 1] - cum[rows]
        w = np.zeros((nb, nb))
        w[rows, cols] = np.where(denom > 0, c / np.where(denom > 0, denom, 1.0), 0.0)
        # s[j] = sum of w[l, h] over l <= j <= h
        tail = np.cumsum(w[:, ::-1], axis=1)[:, ::-1]  # tail[l, j] = sum over h >= j
        s = np.diagonal(np.cumsum(tail, axis=0))  # sum over l <= j of tail[l, j]
        new = p * s / n
        new /= new.sum()
        moved = np.abs(new - p).max()
        p = new
        if moved < EM_TOL:
            break
    return p


def estimate(alloc_t, lo_t, hi_t, surv_alloc_t, surv_lo_t) -> Estimate | None:
    """The lifetime distribution from freed objects (allocation time, interval in trace time;
    allocation time < 0: age unknown, left out) and surviving ones (alive at surv_lo_t).
    None when no freed object has a known age."""
    known = alloc_t >= 0
    if not known.any():
        return None
    lo = (lo_t[known] - alloc_t[known]).astype(np.float64)
    hi = (hi_t[known] - alloc_t[known]).astype(np.float64)
    keep = surv_lo_t > surv_alloc_t  # allocated after that mark start: nothing learnt
    s_lo = (surv_lo_t[keep] - surv_alloc_t[keep]).astype(np.float64)
    edges = grid(hi.max())
    prob = turnbull(edges, np.concatenate([lo, s_lo]),
                    np.concatenate([hi, np.full(s_lo.shape[0], np.inf)]))
    return Estimate(edges, prob, int(lo.shape[0]), int(s_lo.shape[0]))


def place(est: Estimate | None, alloc_t, lo_t, hi_t) -> np.ndarray:
    """Each death's time (trace time): the conditional median of its lifetime given its
    interval, F^-1((F(lo) + F(hi)) / 2), kept inside the interval; the midpoint where the age
    is unknown or the estimate has no mass in the interval."""
    mid = lo_t + (hi_t - lo_t) // 2
    if est is None:
        return mid
    known = alloc_t >= 0
    a = alloc_t[known]
    lo = (lo_t[known] - a).astype(np.float64)
    hi = (hi_t[known] - a).astype(np.float64)
    f_lo, f_hi = est.cdf(lo), est.cdf(hi)
    age = est.quantile((f_lo + f_hi) / 2.0)
    flat = f_hi - f_lo <= 1e-12
    t = a + np.round(np.clip(age, lo, hi)).astype(np.int64)
    out = mid.copy()
    out[known] = np.where(flat, mid[known], np.clip(t, lo_t[known], hi_t[known]))
    return out


def pava(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The nondecreasing fit to y minimising sum w (y - fit)^2 (pool adjacent violators);
    y and w per point in order, w > 0. A loop over the points: called on GRID_BINS points."""
    vals, wts, sizes = [], [], []
    for v, wt in zip(y.tolist(), w.tolist(), strict=True):
        vals.append(v)
        wts.append(wt)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wt2 = wts[-2] + wts[-1]
            vals[-2] = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wt2
            wts[-2] = wt2
            sizes[-2] += sizes[-1]
            vals.pop()
            wts.pop()
            sizes.pop()
    return np.repeat(np.array(vals), np.array(sizes))


def first_cycle(alloc_t, lo_t, hi_t, surv_alloc_t, surv_lo_t) -> Estimate | None:
    """F over the first cycle of life, from what every object of known age says of it: the
    first mark start after its allocation, c ns later, found it dead (a death allocated
    inside its interval: hi = that mark start) or alive (a later death, or a survivor).
    That is current-status data, (c, dead by c), whose nonparametric maximum-likelihood
    estimate is the nondecreasing regression of "dead" on c (Ayer et al. 1955: pool adjacent
    violators), here over the log-spaced age grid, each bin at its objects' mean c: an
    Estimate whose edges are those points (F linear between them), its open last bin the
    mass beyond the longest wait (freed: the dead, surviving: the alive). Objects are
    allocated at every phase of the cycle, so c runs from 0 to a cycle's length. None when
    no object of known age died in its first cycle."""
    known = alloc_t >= 0
    a, lo, hi = alloc_t[known], lo_t[known], hi_t[known]
    young = a >= lo
    if not young.any():
        return None
    # the mark starts the deaths show (every interval ends at one, and an older object's
    # begins at one), and the survivors' last
    marks = np.unique(np.concatenate([hi, lo[~young], surv_lo_t]))
    old_a = a[~young]
    # allocated after the last mark start seen (or at an unknown time): nothing learnt
    keep = (surv_lo_t > surv_alloc_t) & (surv_alloc_t >= 0)
    alive_a = np.concatenate([old_a, surv_alloc_t[keep]])
    k = np.searchsorted(marks, alive_a, side="right")  # the first mark start after it
    seen = k < marks.shape[0]
    alive_c = (marks[np.minimum(k, marks.shape[0] - 1)] - alive_a)[seen]
    dead_c = hi[young] - a[young]
    c = np.concatenate([dead_c, alive_c]).astype(np.float64)
    dead = np.concatenate([np.ones(dead_c.shape[0]), np.zeros(alive_c.shape[0])])
    edges = grid(c.max())
    b = bin_of(edges, c)
    n = np.bincount(b, minlength=edges.shape[0] - 1).astype(np.float64)
    used = n > 0
    d = np.bincount(b, weights=dead, minlength=n.shape[0])[used]
    at = np.bincount(b, weights=c, minlength=n.shape[0])[used] / n[used]
    cum = pava(d / n[used], n[used])
    return Estimate(np.concatenate([[0.0], at, [np.inf]]),
                    np.concatenate([np.diff(cum, prepend=0.0), [1.0 - cum[-1]]]),
                    int(dead_c.shape[0]), int(alive_c.shape[0]))


def cohort_rule(alloc_t, lo_t, hi_t, site, surv_alloc_t, surv_lo_t) -> np.ndarray:
    """Each death's time under Config.death_time "cohorts": an object that died in its first
    cycle at its conditional median under the first-cycle estimate (`place`: F^-1(F(c) / 2),
    c = hi - alloc, as lo = its allocation), an older one by its cohort (spread_cohorts), one
    of unknown age at its interval's midpoint.

    Why two rules: most objects die young, soon after their allocation, so the midpoint of
    (allocation, next mark start] puts them late and the model's marks, falling elsewhere in
    the interval than the runtime's, find them still live (the go/types what-if program, Go
    1.27: 24 cycles at its own GOGC for the runtime's 26, its goals 13% high per cycle; 26
    and 8% with this). Their first cycle is observed at every phase, so F there is estimated
    well. An older object's
    death is where iid lifetimes fail: a structure dropped at once dies at one instant
    whatever its objects' ages, which its cohort's spread follows (docs/model.md 2c)."""
    out = spread_cohorts(alloc_t, lo_t, hi_t, site)
    young = np.flatnonzero((alloc_t >= 0) & (alloc_t >= lo_t))
    if young.shape[0]:
        fc = first_cycle(alloc_t, lo_t, hi_t, surv_alloc_t, surv_lo_t)
        if fc is not None:  # else their midpoints (spread_cohorts's for them)
            _place_young(alloc_t, lo_t, hi_t, young, fc.edges, fc.prob, out)
    return out


@kernel
def _place_young(alloc_t, lo_t, hi_t, young, edges, prob, out):
    """`place` for deaths allocated inside their intervals (`young`: their indices), in one
    pass (a pacer replay's plan places hundreds of thousands: numpy's passes took as long
    as the replay of a shipped trace): F(0) = 0, so the conditional median is F^-1(F(c) / 2),
    c = hi - alloc, with Estimate's cdf and quantile; where F(c) is 0, out is left as it is
    (tests/test_lifetimes.py checks it against place)."""
    nb = prob.shape[0]
    cum = np.zeros(nb + 1)
    for j in range(nb):
        cum[j + 1] = cum[j] + prob[j]
    for i in young:
        a = alloc_t[i]
        c = np.float64(hi_t[i] - a)
        # F(c): Estimate.cdf
        j = min(max(np.searchsorted(edges, c, side="right") - 1, 0), nb - 1)
        f = cum[j]
        if np.isfinite(edges[j + 1]):
            f += prob[j] * min(max((c - edges[j]) / (edges[j + 1] - edges[j]), 0.0), 1.0)
        if f <= 1e-12:
            continue
        # F^-1(f / 2): Estimate.quantile
        u = f / 2.0
        j = min(max(np.searchsorted(cum, u, side="right") - 1, 0), nb - 1)
        age = edges[j]
        if prob[j] > 0 and np.isfinite(edges[j + 1]):
            age += min(max((u - cum[j]) / prob[j], 0.0), 1.0) * (edges[j + 1] - edges[j])
        t = a + np.int64(np.rint(min(max(age, 0.0), c)))
        out[i] = min(max(t, lo_t[i]), hi_t[i])


def spread_cohorts(alloc_t, lo_t, hi_t, site) -> np.ndarray:
    """Each death's time (trace time) under the cohort rule (Config.death_time "cohorts"):
    the deaths of one interval whose objects were allocated before it began, at one site (its
    cohort: same lo, hi and site, every one older than the interval) die in the order they
    were allocated, evenly over a width w around the interval's middle; every other death
    (allocated inside its interval, or of unknown age) at its midpoint.

    The midpoint puts a whole cohort at one instant, so the live heap the model's marks see
    is a staircase: on a steady server its goals swung 40-113 MiB where the runtime's held
    75-78 (docs/model.md 2c, "The cohort rule"). How wide a cohort's deaths lie follows from how
    wide its births lay, A (the 10-90% span of its allocation times), against the interval T:
    objects that turn over at a steady lifetime were born over about T and die over about
    that (w = A); a burst born in a moment (A << T) dies together (w = A, small); a structure
    built over many cycles (A >> T) that still died within one interval was dropped at once
    (w = T^2 / A, small). So w = min(A, T^2 / A), never more than T.

    Allocation order is a death order only among objects that live alike: one site's (a Go
    trace's site is the allocated type; 0 where the trace has none). Across sites it is not:
    a program that keeps nodes for 130 ms and byte slices for 30 ms has, in an interval's
    cohort, its nodes born first and its slices born last, but the slices die first; one
    order over both put the slices' bytes at the interval's end (goprogs `long`: goals 10-30%
    high, 28-32 cycles for the runtime's 29-34; by site: 29-34, docs/model.md 2c, "A cohort
    per allocation site")."""
    out = lo_t + (hi_t - lo_t) // 2
    cohort = np.flatnonzero((alloc_t >= 0) & (alloc_t < lo_t))
    if not cohort.shape[0]:
        return out
    # by interval and site, then allocation time (lexsort is stable: ties keep their order)
    order = cohort[np.lexsort((alloc_t[cohort], site[cohort], hi_t[cohort], lo_t[cohort]))]
    a, lo, hi, k = alloc_t[order], lo_t[order], hi_t[order], site[order]
    first = np.ones(order.shape[0], np.bool_)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1]) | (k[1:] != k[:-1])
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    n = np.diff(np.append(starts, order.shape[0]))
    rank = np.arange(order.shape[0]) - starts[group]
    p10 = starts + n // 10
    p90 = starts + np.maximum(n * 9 // 10 - 1, 0)
    born = np.maximum((a[p90] - a[p10]).astype(np.float64), 1.0)  # A, at least 1 ns
    t = (hi[starts] - lo[starts]).astype(np.float64)
    w = np.minimum(born, t * t / born)[group]
    mid = (lo + hi) / 2.0
    at = mid - w / 2.0 + w * (2 * rank + 1) / (2.0 * n[group])
    out[order] = np.clip(np.round(at).astype(np.int64), lo, hi)
    return out


def unit_hash(ids: np.ndarray) -> np.ndarray:
    """A number in (0, 1) for each object id, the same on every run (splitmix64's finaliser
    of the id, its top 53 bits, offset by half a step so that neither end is reached)."""
    x = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


def last_sweep_share(est: Estimate, alloc_t, hi_t, surv_alloc_t, alive_t: int,
                     last_t: int) -> float:
    """How much of the last reported cycle's sweep the trace saw, s in [0, 1]: of the
    objects allocated between the last two reported mark starts (alive_t, last_t), the
    first-cycle lifetimes `est` expect sum F(last_t - alloc) dead at last_t, and the trace
    reported the deaths of those whose spans were swept before it ended. 1 when the window
    holds no object or the estimate expects no death in it."""
    if last_t <= alive_t:
        return 1.0
    born = (alloc_t > alive_t) & (alloc_t < last_t)
    reported = int((born & (hi_t == last_t)).sum())
    at_risk = np.concatenate([alloc_t[born],
                              surv_alloc_t[(surv_alloc_t > alive_t) & (surv_alloc_t < last_t)]])
    expected = float(est.cdf((last_t - at_risk).astype(np.float64)).sum())
    if expected <= 0.0:
        return 1.0
    return min(reported / expected, 1.0)


def tail_deaths(est: Estimate | None, surv_alloc_t, surv_id, alive_t: int, last_t: int,
                swept: float) -> np.ndarray:
    """Where the objects the trace never saw freed die (trace time; -1: they stay live),
    drawn from the first-cycle lifetimes `est` (first_cycle) with a number per object id
    (unit_hash), so the same trace gives the same deaths.

    What the trace says of such an object: alive at the mark start alive_t if allocated
    before it (its cycle's sweep, which reported every object dead at alive_t, ended before
    the last mark began); and, if allocated before the last reported mark start last_t, that
    its death by last_t was not reported, which the sweep of that cycle, a share `swept` of
    it seen (last_sweep_share), would have done for so much of them. So its lifetime L, from
    its age c0 at alive_t (0 if allocated after) and cm at last_t, has P(L <= x) = G(x):
    F conditioned on L > c0, its mass below cm weighted by (1 - swept) against the rest
    (Bayes: a death before last_t went unreported with probability 1 - swept). Its death is
    at G^-1(u) where that lies inside the estimate's support (a first cycle's length: the
    estimate says nothing of older ages, so an object older than that stays live, as does
    one whose u falls in the mass beyond)."""
    out = np.full(surv_id.shape[0], -1, np.int64)
    if est is None or not surv_id.shape[0]:
        return out
    a = surv_alloc_t
    f0 = est.cdf(np.maximum(alive_t - a, 0).astype(np.float64))
    fm = est.cdf(np.maximum(last_t - a, 0).astype(np.float64))
    # in F conditioned on L > c0: the mass below cm, dm; an unreported death there counts
    # (1 - swept) against the survivors' 1 - dm
    dm = np.where(f0 < 1.0, (fm - f0) / np.maximum(1.0 - f0, 1e-300), 0.0)
    norm = 1.0 - swept * dm
    u = unit_hash(surv_id)
    below = u * norm <= dm * (1.0 - swept)  # G^-1(u) lies before last_t
    v = np.where(below, u * norm / max(1.0 - swept, 1e-300), u * norm + swept * dm)
    level = f0 + (1.0 - f0) * np.clip(v, 0.0, 1.0)
    support = 1.0 - est.prob[-1]  # F at the last finite edge: the open bin's mass lies past
    inside = level < support
    if not inside.any():
        return out
    age = est.quantile(level[inside])
    c0 = np.maximum(alive_t - a[inside], 0)
    out[inside] = a[inside] + np.maximum(np.round(age).astype(np.int64), c0 + 1)
    return out
