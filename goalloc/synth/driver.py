"""Run a synth workload: set up its kernel state, fill event buffers, stream them to a Writer.

The kernel fills one buffer in a worker thread (it releases the GIL) while the main thread
writes the previous one, so generation and writing overlap.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from goalloc.errors import GoallocError
from goalloc.synth import kernels as K
from goalloc.synth import profiles
from goalloc.synth.rng import seed_state
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt

CHUNK = 1 << 18  # events per kernel call (4 writer chunks)
# Object ids stay below the peak live count; `profile` keeps its pools' ids as int32.
MAX_IDS = 1 << 31

# Size buckets (lo, hi, ratio): bucket b in lo..hi w.p. proportional to ratio**(b - lo), then a
# size uniform in (2^b, 2^(b+1)]. docs/synth.md lists the resulting ranges.
STEADY_CACHE = (4, 12, 0.7)
STEADY_REQUEST = (2, 14, 0.6)
BATCH = (3, 13, 0.7)
FRAGMENTER = (2, 7, 1.0)
LARGE = (15, 21, 1.0)


class Job:
    """A kernel and its argument arrays; `fill` resumes it and grows arrays it runs short of."""

    def __init__(self, kernel, args: dict[str, Any]):
        self.kernel = kernel
        self.args = args

    def fill(self, out: tuple[np.ndarray, ...], n: int) -> int:
        i = 0
        while i < n:
            i = self.kernel(*self.args.values(), out, i, n)
            status = self.args["st"][K.ST_STATUS]
            if i < n:
                if status == K.GROW_IDS:
                    if len(self.args["fstack"]) >= MAX_IDS:
                        raise GoallocError(f"more than {MAX_IDS:,} live objects at once")
                    self._grow("fstack")
                elif status == K.GROW_ARENA:
                    self._grow("arena")
                else:
                    raise RuntimeError(f"synth kernel stopped early with status {status}")
        return n

    def _grow(self, name: str) -> None:
        a = self.args[name]
        b = np.zeros(2 * len(a), dtype=a.dtype)
        b[: len(a)] = a
        self.args[name] = b


def buckets(lo: int, hi: int, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    w = ratio ** np.arange(hi - lo + 1, dtype=np.float64)
    cdf = np.cumsum(w) / w.sum()
    cdf[-1] = 1.0
    return cdf, np.arange(lo, hi + 1, dtype=np.int64)


def _common(n: int, procs: int, seed: int, opts: dict[str, Any], n_ip: int, n_fp: int):
    _check(0 <= opts["noscan"] <= 1, "--noscan must be in 0..1")
    _check(opts["gap_ns"] >= 0, "--gap-ns must be >= 0")
    st = np.zeros(K.ST_LEN, dtype=np.int64)
    st[K.ST_TOTAL] = n
    ip = np.zeros(n_ip, dtype=np.int64)
    ip[K.IP_PROCS] = procs
    ip[K.IP_GAP] = int(opts["gap_ns"])
    fp = np.zeros(n_fp, dtype=np.float64)
    fp[K.FP_NOSCAN] = opts["noscan"]
    return {
        "rs": seed_state(seed),
        "st": st,
        "ip": ip,
        "fp": fp,
        "fstack": np.zeros(1024, dtype=np.int64),
    }


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise GoallocError(message)


def setup_steady(n, procs, seed, o):
    _check(o["live"] >= 1, "--live must be >= 1")
    _check(o["request_objects"] >= 1, "--request-objects must be >= 1")
    _check(0 <= o["replace"] <= 1, "--replace must be in 0..1")
    a = _common(n, procs, seed, o, 4, 4)
    maxreq = int(16 * o["request_objects"]) + 1
    a["ip"][K.SP_LIVE] = o["live"]
    a["ip"][K.SP_MAXREQ] = maxreq
    a["fp"][K.SF_REPLACE] = o["replace"]
    a["fp"][K.SF_FILL] = 0.5
    a["fp"][K.SF_REQ_MEAN] = o["request_objects"]
    a["st"][K.S_PEND_SLOT] = -1
    a["cache"] = np.zeros(o["live"], dtype=np.int64)
    a["req_ids"] = np.zeros(procs * maxreq, dtype=np.int64)
    a["req_n"] = np.zeros(procs, dtype=np.int64)
    a["req_left"] = np.zeros(procs, dtype=np.int64)
    a["cb_cdf"], a["cb_exp"] = buckets(*STEADY_CACHE)
    a["rb_cdf"], a["rb_exp"] = buckets(*STEADY_REQUEST)
    return Job(K.steady, a)


def batch_target(n: int, phases: int, keep: float) -> int:
    """Kept objects at each phase's peak: a phase takes about 2*T/keep events."""
    return max(1, int(n * keep / (2 * phases)))


def setup_batch(n, procs, seed, o):
    _check(o["phases"] >= 1, "--phases must be >= 1")
    _check(0 < o["keep_fraction"] <= 1, "--keep-fraction must be in (0, 1]")
    _check(o["window"] >= 1, "--window must be >= 1")
    a = _common(n, procs, seed, o, 3, 2)
    target = batch_target(n, o["phases"], o["keep_fraction"])
    a["ip"][K.BP_TARGET] = target
    a["fp"][K.BF_KEEP] = o["keep_fraction"]
    a["kept"] = np.zeros(target, dtype=np.int64)
    a["ring"] = np.zeros(o["window"], dtype=np.int64)
    a["b_cdf"], a["b_exp"] = buckets(*BATCH)
    return Job(K.batch, a)


def setup_fragmenter(n, procs, seed, o):
    _check(o["keep_every"] >= 1, "--keep-every must be >= 1")
    _check(o["window"] >= 1, "--window must be >= 1")
    a = _common(n, procs, seed, o, 3, 1)
    a["ip"][K.FR_KEEP_EVERY] = o["keep_every"]
    a["ring"] = np.zeros(o["window"], dtype=np.int64)
    a["f_cdf"], a["f_exp"] = buckets(*FRAGMENTER)
    return Job(K.fragmenter, a)


def setup_large(n, procs, seed, o):
    _check(o["live"] >= 1, "--live must be >= 1")
    a = _common(n, procs, seed, o, 3, 1)
    a["ip"][K.LP_TARGET] = o["live"]
    a["live"] = np.zeros(4 * o["live"] + 64, dtype=np.int64)  # births stop when it is full
    a["l_cdf"], a["l_exp"] = buckets(*LARGE)
    return Job(K.large, a)


def setup_profile(n, procs, seed, o):
    if o["profile"] is None:
        raise GoallocError("workload profile needs --profile FILE.csv or tcmalloc:NAME")
    _check(o["scale"] > 0, "--scale must be > 0")
    _check(o["live"] >= 1, "--live must be >= 1")
    prof = profiles.load(str(o["profile"]))
    rate = prof.alloc_rate
    if prof.num_live is None:  # (size, weight): equal mean lifetimes, `live` objects in all
        num_live = o["live"] * rate / rate.sum()
    else:
        num_live = prof.num_live
    num_live = num_live * o["scale"]
    drate = np.where(rate > 0, rate / np.where(num_live > 0, num_live, 1.0), 0.0)
    nsizes = len(prof.sizes)
    leaves = 1 << max(0, (nsizes - 1).bit_length())
    a = _common(n, procs, seed, o, 3, 4)
    total = float(rate.sum())
    alias_p, alias_i = alias_table(rate)
    a["ip"][K.PP_LEAVES] = leaves
    a["fp"][K.PF_ALLOC_RATE] = total
    # In steady state deaths match births, so events come at rate 2A: a gap_ns mean gap.
    a["fp"][K.PF_UNIT_NS] = 2.0 * o["gap_ns"] * total
    a.update(
        sizes=prof.sizes,
        alias_p=alias_p,
        alias_i=alias_i,
        drate=drate,
        tree=np.zeros(2 * leaves),
        live_n=np.zeros(nsizes, dtype=np.int64),
        pool_off=np.arange(nsizes, dtype=np.int64) * 4,
        pool_cap=np.full(nsizes, 4, dtype=np.int64),
        # int32 ids: a death reads a random pool slot, usually a cache miss, and half the
        # footprint makes it ~10 % cheaper (kernel time, tcmalloc:beta). MAX_IDS bounds ids.
        arena=np.zeros(8 * nsizes, dtype=np.int32),
    )
    a["st"][K.PR_ARENA_TOP] = 4 * nsizes
    return Job(K.profile, a), prof


def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table: column j keeps j w.p. prob[j], else gives alias[j]."""
    n = len(weights)
    scaled = [float(w) * n for w in weights / weights.sum()]
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int64)
    small = [j for j in range(n) if scaled[j] < 1.0]
    big = [j for j in range(n) if scaled[j] >= 1.0]
    while small and big:
        j, k = small.pop(), big.pop()
        prob[j] = scaled[j]
        alias[j] = k
        scaled[k] -= 1.0 - scaled[j]
        (small if scaled[k] < 1.0 else big).append(k)
    return prob, alias  # leftovers keep prob 1: rounding residue only


SETUP = {
    "steady": setup_steady,
    "batch": setup_batch,
    "fragmenter": setup_fragmenter,
    "large": setup_large,
    "profile": setup_profile,
}


def _buffers() -> tuple[np.ndarray, ...]:
    return tuple(
        np.zeros(CHUNK, dtype=fmt.COLUMNS[c]) for c in ("kind", "ts", "p", "id", "size", "flags")
    )


def run(workload, n_events, out, *, procs, seed, force, progress, options) -> dict[str, Any]:
    _check(n_events >= 0, "-n must be >= 0")
    _check(1 <= procs <= 1 << 15, "--procs must be in 1..32768")
    _check(0 <= seed < 1 << 64, "--seed must be in 0..2^64-1")
    made = SETUP[workload](n_events, procs, seed, options)
    job, prof = made if isinstance(made, tuple) else (made, None)
    source_opts = dict(options)
    if prof is not None:
        source_opts["profile_sha256"] = prof.sha256
    header = Header(
        producer="goalloc 0.1.0 synth",
        sizes="requested",
        frees="death",
        gomaxprocs=procs,
        events=None,
        source={
            "recorder": "goalloc synth",
            "program": workload,
            "seed": seed,
            "options": source_opts,
        },
    )
    t0 = time.perf_counter()
    with np.errstate(over="ignore"):  # uint64 wrap-around is intended (only numpy warns)
        _stream(job, n_events, out, header, force, progress)
    seconds = time.perf_counter() - t0
    return {
        "path": str(out),
        "events": n_events,
        "seconds": seconds,
        "peak_ids": int(job.args["st"][K.ST_NEXT_ID]),
    }


def _stream(job: Job, n_events: int, out, header: Header, force: bool, progress) -> None:
    bufs = (_buffers(), _buffers())
    names = ("kind", "ts", "p", "id", "size", "flags")
    with Writer(out, header, force=force) as w, ThreadPoolExecutor(1) as pool:
        todo = n_events
        k = 0
        pending = pool.submit(job.fill, bufs[0], min(CHUNK, todo)) if todo else None
        while pending is not None:
            n = pending.result()
            todo -= n
            # Generate the next buffer while this one is written.
            pending = pool.submit(job.fill, bufs[1 - k], min(CHUNK, todo)) if todo else None
            w.write(**{name: col[:n] for name, col in zip(names, bufs[k], strict=True)})
            if progress is not None:
                progress(n)
            k = 1 - k
