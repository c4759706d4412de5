"""Replaying recorded Go traces faithfully (trace-sources.md section 6): the trace-start
snapshot rebuilt in place, and sweep-observed frees turned into deaths with look-ahead.

A Go execution trace (frees: "sweep") reports an object's free when a sweeper reclaims it, and
starts with a snapshot of the heap (spans, and the objects allocated in them). Replaying it
naively (snapshot objects packed afresh, frees applied when they are reported) shifts every
death by up to a cycle. Before replaying, one pass over the trace (`plan`) works out:

- **Deaths with look-ahead.** A free reported between mark termination k and the next mark
  start means the object was unmarked in cycle k: it died before cycle k's mark start. The
  free becomes a death applied just before the trace's gc_start k (allocations during marking
  are black, so no such object is allocated after it). A free whose object was allocated after
  that gc_start (which a consistent trace never has) stays where it is.
- **The snapshot.** With header `snapshot: "placed"` (docs/trace-format.md) every snapshot
  object names its recorded span and slot. Heap spans flagged snapshot become model spans of
  their recorded class and pages (in trace order, from the lowest address), the objects go into
  their recorded slots, and the snapshot allocs are not replayed again. Snapshot objects freed
  before the trace's first mark termination died before tracing started: they stay allocated
  but unmarked, in spans left unswept for the model's sweepers, as the runtime had them. Other
  spans start swept, in mcentral's partial or full swept sets. heapLive starts at the
  allocated slot bytes; the pacer's state is a fresh program's (heapMarked 0, consMark 0).

`Plan.run_chunk` hands each chunk's deaths to the replay kernel, which applies each just
before the event it is due at (no Python per death or per piece).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from goalloc import limits
from goalloc.engine import gc, lifetimes, mcentral, mheap, mspan, pacer, spanset
from goalloc.engine import state as S
from goalloc.engine.state import (
    OB_SIZE,
    OB_SLOT,
    OB_SPAN,
    OB_TB,
    PAGE_SIZE,
    S_HEAP_LIVE,
    S_OBJ_BYTES,
    S_SG,
    S_UNSWEPT,
    SP_ALLOCCOUNT,
    SP_ELEMSIZE,
    SP_FREEINDEX,
    SP_NELEMS,
    SP_NPAGES,
    SP_REQ,
    SP_SPC,
    SP_SWEEPGEN,
    SP_WHERE,
)
from goalloc.jit import kernel
from goalloc.trace import format as fmt
from goalloc.trace import validate

# plan counters
C_MOVED = 0  # frees turned into deaths before their cycle's gc_start
C_DEAD_AT_SNAPSHOT = 1  # snapshot objects freed before the first mark termination
C_IN_PLACE = 2  # frees left where they are (pre-trace window non-snapshot, or alloc too late)
N_C = 4


@kernel
def _plan_chunk(kind, ts, ids, flags, start, st, last_alloc, last_alloc_t, snap, mv_t, mv_id,
                mv_mid, mv_lo, mv_span, dead, cnt):
    """One chunk of the planning pass. st[0]: index of the current cycle's gc_start (-1 none),
    st[1]: the gc_start index frees now belong before (-1: before the trace), st[2] its trace
    time, st[3] / st[4]: index / time of the gc_start before that one (-1: none), st[5]: time
    of the current cycle's gc_start, st[6]: trace clock (the largest ts so far). Returns
    (moved, dead-at-snapshot) entries written to mv_* / dead; a moved death has the gc_start
    it must precede (mv_t), the midpoint of the interval it lies in (mv_mid, trace time) and
    the first event index that interval allows (mv_lo), and for the lifetime estimate
    (engine/lifetimes.py) mv_span[:, nm] = (allocation time, -1 for a snapshot object whose
    age is unknown; the interval's low end; its high end), trace time."""
    nm = 0
    nd = 0
    for i in range(kind.shape[0]):
        k = kind[i]
        g = start + i
        if ts[i] > st[6]:
            st[6] = ts[i]
        if k == fmt.ALLOC:
            o = ids[i]
            if 0 <= o < last_alloc.shape[0]:
                last_alloc[o] = g
                last_alloc_t[o] = st[6]
                snap[o] = 1 if (flags[i] & fmt.FLAG_SNAPSHOT) != 0 else 0
        elif k == fmt.FREE:
            o = ids[i]
            if o < 0 or o >= last_alloc.shape[0] or last_alloc[o] < 0:
                continue
            t = st[1]
            if t < 0:
                if snap[o] == 1:
                    dead[nd] = o
                    nd += 1
                    cnt[C_DEAD_AT_SNAPSHOT] += 1
                else:
                    cnt[C_IN_PLACE] += 1
            elif last_alloc[o] < t:
                # marked by the previous cycle's mark (or allocated after it), unmarked by
                # this one: it died in (max(alloc, previous gc_start), this gc_start]
                lo_i = last_alloc[o]
                lo_t = last_alloc_t[o]
                if st[3] > lo_i:
                    lo_i = st[3]
                    lo_t = st[4]
                mv_t[nm] = t
                mv_id[nm] = o
                mv_mid[nm] = lo_t + (st[2] - lo_t) // 2
                mv_lo[nm] = lo_i + 1
                mv_span[0, nm] = -1 if snap[o] == 1 else last_alloc_t[o]
                mv_span[1, nm] = lo_t
                mv_span[2, nm] = st[2]
                nm += 1
                cnt[C_MOVED] += 1
            else:
                cnt[C_IN_PLACE] += 1
            last_alloc[o] = -1
        elif k == fmt.GC_START:
            st[0] = g
            st[5] = st[6]
        elif k == fmt.GC_MARK_TERM:
            st[3] = st[1]
            st[4] = st[2]
            st[1] = st[0]
            st[2] = st[5] if st[0] >= 0 else -1
            st[0] = -1
    return nm, nd


@dataclass
class Plan:
    """What the planning pass found; `None` from `plan()` when nothing applies."""

    lookahead: bool = False
    death_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # event index
    death_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # where in its interval a death lies (trace time) and the first event index it allows
    death_mid: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    death_lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # each death's (allocation time or -1: a snapshot object's, interval low, high) and the
    # survivors' (allocation time, alive at, id), 3 x n: what the lifetime estimate rests on;
    # where it puts each death (estimate_lifetimes, on demand) and its summary
    death_span: np.ndarray | None = None
    survivors: np.ndarray | None = None
    death_est: np.ndarray | None = None
    lifetimes: dict | None = None
    # False: deaths just before their gc_start (recorded GC mode: the recorded cycles mark
    # exactly what the runtime marked); True: inside their interval (pacer mode), where
    # death_rule says (Config.death_time): "lifetimes" (the estimate's conditional median),
    # "mid" (the midpoint) or "early" (the earliest point: the low end of the range, #15)
    timed_deaths: bool = False
    death_rule: str = "mid"
    # the snapshot: spans (trace id, pages, span class) and placed objects
    span_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    span_pages: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    span_spc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    obj_event: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # alloc index
    obj_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    obj_size: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    obj_span: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # index in span_*
    obj_slot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    dead_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # the execution tracer's own buffers (allocs flagged `tracer`, event indices), and whether
    # this replay leaves them out (Config.tracer_buffers): not placed, their allocs no events
    tracer_event: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    drop_tracer: bool = False
    # before the first mark termination (mcaches not yet flushed): fresh (non-snapshot) heap
    # span allocations (event index, P, span class) and allocations (event index, slot size,
    # noscan), to infer which snapshot spans other Ps' mcaches held (`_cache_snapshot_spans`)
    fresh_event: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    fresh_p: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    fresh_spc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    early_event: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    early_slot: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    early_noscan: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))
    # the recording's stacks + globals in each cycle (pacer.nonheap_scan): the cycle's gc_start
    # event index and bytes, and whether this replay uses them (not when Config gives stand-ins)
    commit_event: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    commit_nonheap: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    recorded_gogc: tuple = (100, "")
    nonheap_from_trace: bool = True
    counts: dict = field(default_factory=dict)

    @property
    def rebuilds_snapshot(self) -> bool:
        return self.obj_id.shape[0] > 0 or self.span_id.shape[0] > 0

    def estimate_lifetimes(self) -> None:
        """death_est and lifetimes from the lifetime estimate (engine/lifetimes.py); once."""
        if self.death_est is not None or self.death_span is None:
            return
        a, lo, hi = self.death_span
        est = lifetimes.estimate(a, lo, hi, self.survivors[0], self.survivors[1])
        self.death_est = lifetimes.place(est, a, lo, hi)
        self.lifetimes = est.summary() if est is not None else None

    def replay_copy(self) -> Plan:
        """A copy for one replay (build and the timed-death cursor change it), without the
        intervals, which only estimate_lifetimes reads."""
        span, surv = self.death_span, self.survivors
        self.death_span = self.survivors = None
        try:
            return copy.deepcopy(self)
        finally:
            self.death_span, self.survivors = span, surv

    def summary(self) -> dict:
        out = {"snapshot_spans": int(self.span_id.shape[0]),
               "snapshot_objects_placed": int(self.obj_id.shape[0]),
               **self.counts}
        if self.lifetimes is not None and self.timed_deaths and self.death_rule == "lifetimes":
            out["lifetimes"] = self.lifetimes  # the estimate the deaths were placed by
        return out

    # ---- replay ---------------------------------------------------------------------------
    def build(self, eng) -> None:
        """Rebuild the snapshot in the engine (before the first event). Only with the Go
        table (a recorded span class means the runtime's slot size); objects whose slot the
        modelled version's span does not have are replayed as allocs instead."""
        if self.drop_tracer and self.tracer_event.shape[0]:
            out = np.isin(self.obj_event, self.tracer_event)
            self.span_pages = self.span_pages.copy()
            self.span_pages[self.obj_span[out]] = 0  # their large spans are not built
            for name in ("obj_event", "obj_id", "obj_size", "obj_span", "obj_slot"):
                setattr(self, name, getattr(self, name)[~out])
        if not self.rebuilds_snapshot:
            return
        if eng.table.name != "go":
            self.counts["snapshot_objects_unplaced"] = (
                self.counts.get("snapshot_objects_unplaced", 0) + int(self.obj_id.shape[0]))
            self.span_id = self.span_id[:0]
            self.obj_event = self.obj_event[:0]
            self.obj_id = self.obj_id[:0]
            return
        a = eng.arrays
        pages = int(self.span_pages.sum())
        a.grow(S.NEED_SPANS, int(a.sc[S.S_SPAN_HW]) + self.span_id.shape[0] + 64)
        a.grow(S.NEED_CHUNKS, 2 * (pages // S.CHUNK_PAGES + self.span_id.shape[0] // 64 + 4))
        if self.obj_id.shape[0]:
            a.grow(S.NEED_OBJS, int(self.obj_id.max()) + 1)
        recs = np.full(self.span_id.shape[0], -1, np.int64)
        nelems = np.zeros(self.span_id.shape[0], np.int64)
        placed = np.zeros(self.obj_id.shape[0], np.bool_)
        _build(a.state, self.span_pages, self.span_spc, self.obj_id, self.obj_size,
               self.obj_span, self.obj_slot, self.dead_ids, recs, nelems, placed)
        small = self.early_slot <= eng.table.max_small_size
        early_spc = np.where(small, (eng.table.size_to_class(np.where(small, self.early_slot, 0))
                                     << 1) | self.early_noscan, -1)
        self.counts["snapshot_spans_cached"] = int(_cache_snapshot_spans(
            a.state, recs, self.fresh_event, self.fresh_p, self.fresh_spc, self.early_event,
            early_spc))
        if not placed.all():  # replayed as ordinary allocs
            self.counts["snapshot_objects_unplaced"] = (
                self.counts.get("snapshot_objects_unplaced", 0) + int((~placed).sum()))
            self.obj_event = self.obj_event[placed]
            self.obj_id = self.obj_id[placed]
        drain = getattr(eng, "drain_locks", None)
        if drain is not None:
            drain()

    def _timed_cuts(self, chunk):
        """(event index, object id) of the deaths due before an event of this chunk, at the
        midpoint of their interval: before the first event at which the trace clock (the
        largest ts so far) reaches the midpoint, and not before the first event the interval
        allows. Deaths are resolved in midpoint order and wait in `_pending` until their
        event comes."""
        if not hasattr(self, "_order"):
            self._mid = {"early": np.full_like(self.death_mid, np.iinfo(np.int64).min),
                         "mid": self.death_mid}.get(self.death_rule, self.death_est)
            self._order = np.argsort(self._mid, kind="stable")
            self._mid_sorted = self._mid[self._order]
            self._ptr = 0
            self._tmax = np.iinfo(np.int64).min
            self._pending = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        lo, hi = chunk.start, chunk.start + chunk.n
        clock = np.maximum(np.maximum.accumulate(chunk.ts), self._tmax)
        self._tmax = int(clock[-1])
        q = int(np.searchsorted(self._mid_sorted, self._tmax, side="right"))
        sel = self._order[self._ptr:q]
        self._ptr = q
        at = np.maximum(lo + np.searchsorted(clock, self._mid[sel], side="left"),
                        self.death_lo[sel])
        at = np.concatenate([self._pending[0], at])
        ids = np.concatenate([self._pending[1], self.death_id[sel]])
        now = at < hi
        self._pending = (at[~now], ids[~now])
        at, ids = at[now], ids[now]
        order = np.argsort(at, kind="stable")
        return at[order], ids[order]

    def run_chunk(self, eng, chunk) -> None:
        """Replay one chunk: snapshot allocs skipped (already placed), deaths applied before
        the gc_start they belong to (or, with `timed_deaths`, at their interval's midpoint),
        by the replay kernel itself; the recording's stacks + globals at its mark
        terminations."""
        import dataclasses

        lo, hi = chunk.start, chunk.start + chunk.n
        if self.nonheap_from_trace and self.commit_event.shape[0]:
            a, b = np.searchsorted(self.commit_event, [lo, hi])
            if b > a:  # the kernel reads them from the gc_starts' size, plus one
                size = chunk.size.copy()
                size[self.commit_event[a:b] - lo] = self.commit_nonheap[a:b] + 1
                chunk = dataclasses.replace(chunk, size=size)
        for events in (self.obj_event, self.tracer_event if self.drop_tracer else None):
            if events is None or not events.shape[0]:
                continue
            a, b = np.searchsorted(events, [lo, hi])
            if b > a:
                kind = chunk.kind.copy()
                kind[events[a:b] - lo] = 0  # placed by build(), or left out: no event
                chunk = dataclasses.replace(chunk, kind=kind)
        if self.timed_deaths:
            death_at, death_id = self._timed_cuts(chunk)
        else:
            a, b = np.searchsorted(self.death_at, [lo, hi])
            death_at, death_id = self.death_at[a:b], self.death_id[a:b]
        eng.run_chunk(chunk, (np.ascontiguousarray(death_at, np.int64),
                              np.ascontiguousarray(death_id, np.int64)))


def _survivors(st, last_alloc, last_alloc_t, snap) -> np.ndarray:
    """(allocation time, a time it was alive at, id) of each traced object never freed: alive at
    the mark start before the last one whose mark ended (st[4]), since that cycle's sweep ended
    before the last mark began and so reported every object dead at it."""
    alive = (last_alloc >= 0) & (snap == 0) & (st[4] >= 0)
    return np.stack([last_alloc_t[alive], np.full(int(alive.sum()), st[4], np.int64),
                     np.flatnonzero(alive)])


def plan(path, header, on_chunk=None) -> Plan | None:
    """Plan a faithful replay of a recorded Go trace: look-ahead deaths when frees are
    sweep-observed and the trace has GC markers; the snapshot when it is placed. `on_chunk`:
    called with each chunk read (the replay driver keeps them for its passes)."""
    import goalloc.trace

    sweep = header.frees == "sweep"
    placed = header.extra.get("snapshot") == fmt.SNAPSHOT_PLACED
    if not sweep and not placed:
        return None
    st = np.array([-1, -1, -1, -1, -1, -1, np.iinfo(np.int64).min], np.int64)
    last_alloc = np.full(1 << 16, -1, np.int64)
    last_alloc_t = np.zeros(1 << 16, np.int64)
    snap = np.zeros(1 << 16, np.int8)
    cnt = np.zeros(N_C, np.int64)
    mv_t, mv_id, mv_mid, mv_lo, mv_span, dead = [], [], [], [], [], []
    sp_id, sp_pages, sp_spc = [], [], []
    ob = {"event": [], "id": [], "size": [], "aux": []}
    tracer = []
    fresh = {"event": [], "p": [], "spc": []}
    early = {"event": [], "slot": [], "noscan": []}
    first_term = -1  # event index of the first mark termination (mcaches flushed)
    markers = 0
    cm_st = np.array([0, -1, 0, -1, 0, -1], np.int64)  # pacer.COMMIT_STATE
    cm_ev, cm_marked, cm_goal = [], [], []
    with goalloc.trace.open(path) as reader:
        for chunk in reader:
            if on_chunk is not None:
                on_chunk(chunk)
            kind = chunk.kind
            allocs = kind == fmt.ALLOC
            if allocs.any():
                top = int(chunk.id[allocs].max()) + 1
                # larger ids are anomalies the validation pass rejects (the kernel skips them)
                top = min(top, chunk.start + chunk.n + validate.ID_SLACK)
                if top > last_alloc.shape[0]:
                    n = max(top, 2 * last_alloc.shape[0])
                    last_alloc = np.concatenate([last_alloc, np.full(n - last_alloc.shape[0],
                                                                     -1, np.int64)])
                    snap = np.concatenate([snap, np.zeros(n - snap.shape[0], np.int8)])
                    last_alloc_t = np.concatenate([last_alloc_t, np.zeros(
                        n - last_alloc_t.shape[0], np.int64)])
            terms = np.flatnonzero(kind == fmt.GC_MARK_TERM)
            markers += terms.shape[0]
            out = np.empty((3, terms.shape[0] + 1), np.int64)  # one may be the last chunk's
            nc = pacer.recorded_commits(kind, chunk.size, chunk.start, cm_st, out[0], out[1],
                                        out[2])
            cm_ev.append(out[0, :nc])
            cm_marked.append(out[1, :nc])
            cm_goal.append(out[2, :nc])
            snapf = (chunk.flags & fmt.FLAG_SNAPSHOT) != 0
            if (chunk.flags & fmt.FLAG_TRACER).any():
                tracer.append(np.flatnonzero(allocs & ((chunk.flags & fmt.FLAG_TRACER) != 0))
                              + chunk.start)
            if placed and first_term < 0:
                end = chunk.n if terms.shape[0] == 0 else int(terms[0])
                if terms.shape[0]:
                    first_term = chunk.start + end
                w = np.arange(chunk.n) < end
                m = w & ~snapf & (kind == fmt.SPAN_ALLOC) & (chunk.aux > 0)
                fresh["event"].append(np.flatnonzero(m) + chunk.start)
                fresh["p"].append(chunk.p[m].astype(np.int64))
                fresh["spc"].append(chunk.aux[m].copy())
                m = w & ~snapf & allocs & (chunk.aux > 0)
                early["event"].append(np.flatnonzero(m) + chunk.start)
                early["slot"].append(chunk.aux[m].copy())
                early["noscan"].append((chunk.flags[m] & fmt.FLAG_NOSCAN) != 0)
            if placed and snapf.any():
                # ids, pages and classes out of range are corrupt: left out here (validation
                # rejects such events; the snapshot kernels index arrays with them)
                m = snapf & (kind == fmt.SPAN_ALLOC) & (chunk.aux >= 0) & (chunk.size > 0) \
                    & (chunk.size <= limits.MAX_HEAP_BYTES // S.PAGE_SIZE)
                sp_id.append(chunk.id[m].copy())
                sp_pages.append(chunk.size[m].copy())
                sp_spc.append(chunk.aux[m].copy())
                m = snapf & allocs & (chunk.aux > 0) & (chunk.id >= 0) \
                    & (chunk.id < chunk.start + chunk.n + validate.ID_SLACK)
                ob["event"].append(np.flatnonzero(m) + chunk.start)
                ob["id"].append(chunk.id[m].copy())
                ob["size"].append(chunk.size[m].copy())
                ob["aux"].append(chunk.aux[m].copy())
            if sweep:
                buf_t = np.empty(chunk.n, np.int64)
                buf_id = np.empty(chunk.n, np.int64)
                buf_mid = np.empty(chunk.n, np.int64)
                buf_lo = np.empty(chunk.n, np.int64)
                buf_d = np.empty(chunk.n, np.int64)
                buf_span = np.empty((3, chunk.n), np.int64)
                nm, nd = _plan_chunk(kind, chunk.ts, chunk.id, chunk.flags, chunk.start, st,
                                     last_alloc, last_alloc_t, snap, buf_t, buf_id, buf_mid,
                                     buf_lo, buf_span, buf_d, cnt)
                mv_span.append(buf_span[:, :nm])
                mv_t.append(buf_t[:nm])
                mv_id.append(buf_id[:nm])
                mv_mid.append(buf_mid[:nm])
                mv_lo.append(buf_lo[:nm])
                dead.append(buf_d[:nd])
    p = Plan()
    if cm_ev:
        p.recorded_gogc = pacer.recorded_gogc(int(cm_st[3]), header.source or {})
        x = pacer.nonheap_scan(np.concatenate(cm_marked), np.concatenate(cm_goal),
                               p.recorded_gogc[0])
        ok = x >= 0
        p.commit_event, p.commit_nonheap = np.concatenate(cm_ev)[ok], x[ok]
    if tracer:
        p.tracer_event = np.concatenate(tracer)
    if sweep and markers > 0:
        p.lookahead = True
        p.death_at = np.concatenate(mv_t) if mv_t else p.death_at
        p.death_id = np.concatenate(mv_id) if mv_id else p.death_id
        p.death_mid = np.concatenate(mv_mid) if mv_mid else p.death_mid
        p.death_lo = np.concatenate(mv_lo) if mv_lo else p.death_lo
        span = np.concatenate(mv_span, axis=1) if mv_span else np.zeros((3, 0), np.int64)
        order = np.argsort(p.death_at, kind="stable")
        p.death_at, p.death_id = p.death_at[order], p.death_id[order]
        p.death_mid, p.death_lo = p.death_mid[order], p.death_lo[order]
        p.death_span = span[:, order]
        p.survivors = _survivors(st, last_alloc, last_alloc_t, snap)
    p.counts = {"frees_moved_before_mark_start": int(cnt[C_MOVED]) if p.lookahead else 0,
                "frees_in_place": int(cnt[C_IN_PLACE]) if p.lookahead else 0}
    if placed and sp_id:
        ids = np.concatenate(sp_id)
        _attach_objects(p, ids, np.concatenate(sp_pages), np.concatenate(sp_spc),
                        {k: np.concatenate(v) for k, v in ob.items()})
        if p.obj_id.shape[0] and dead:
            d = np.concatenate(dead)
            p.dead_ids = d[np.isin(d, p.obj_id)]
        p.counts["snapshot_objects_dead"] = int(p.dead_ids.shape[0])
        if fresh["event"]:
            p.fresh_event, p.fresh_p, p.fresh_spc = (np.concatenate(fresh[k])
                                                     for k in ("event", "p", "spc"))
            p.early_event, p.early_slot, p.early_noscan = (np.concatenate(early[k])
                                                           for k in ("event", "slot", "noscan"))
    if not p.lookahead and not p.rebuilds_snapshot:
        return None
    return p


def _attach_objects(p: Plan, ids, pages, spc, ob) -> None:
    """Keep the snapshot spans and the objects whose placement names one of them."""
    p.span_id, p.span_pages, p.span_spc = ids, pages, spc
    if ids.shape[0] == 0 or ob["id"].shape[0] == 0:
        return
    span_of = ob["aux"] >> fmt.PLACEMENT_SHIFT
    slot = ob["aux"] & fmt.PLACEMENT_SLOT_MASK
    trace_span = span_of - 1
    order = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids[order], trace_span)
    pos = np.minimum(pos, ids.shape[0] - 1)
    found = ids[order][pos] == trace_span
    idx = order[pos]
    large = (spc[idx] >> 1) == 0
    ok = found & (slot >= 0) & (~large | (slot == 0))
    p.obj_event = ob["event"][ok]
    p.obj_id = ob["id"][ok]
    p.obj_size = ob["size"][ok]
    p.obj_span = idx[ok]
    p.obj_slot = slot[ok]
    p.counts["snapshot_objects_unplaced"] = int(np.count_nonzero(~ok))


@kernel
def _build(s, span_pages, span_spc, obj_id, obj_size, obj_span, obj_slot, dead_ids, recs,
           nelems, placed):
    """The snapshot: spans of their recorded class and pages, objects in their slots, objects
    dead before tracing left allocated but unmarked in unswept spans."""
    sc = s.sc
    sg = sc[S_SG]
    for j in range(span_pages.shape[0]):
        spc = span_spc[j]
        c = spc >> 1
        npg = span_pages[j]
        if c >= s.class_size.shape[0] or npg <= 0:
            continue
        if c == 0:
            es = npg * PAGE_SIZE
            nel = 1
        else:
            es = s.class_size[c]
            nel = s.objs_noscan[c] if spc & 1 else s.objs_scan[c]
            if nel <= 0 or s.class_pages[c] != npg:
                continue  # not a span of this table's class: leave it out
        recs[j] = mheap.alloc_span(s, npg, spc, -1, es, nel, sg)
        nelems[j] = nel
    for j in range(obj_id.shape[0]):
        sid = recs[obj_span[j]]
        slot = obj_slot[j]
        o = obj_id[j]
        if sid < 0 or slot >= nelems[obj_span[j]] or mspan.test_bit(s.abits, sid, slot):
            continue
        if s.ob[o, OB_SPAN] != -1:
            continue
        mspan.set_bit(s.abits, sid, slot)
        s.sp[sid, SP_ALLOCCOUNT] += 1
        if s.sp[sid, SP_SPC] >> 1 == 0:
            s.sp[sid, SP_REQ] = obj_size[j]
            s.sp[sid, SP_FREEINDEX] = 1
        mspan.slot_live(s, sid, slot, obj_size[j])
        s.ob[o, OB_SPAN] = sid
        s.ob[o, OB_SLOT] = slot
        s.ob[o, OB_SIZE] = obj_size[j]
        s.ob[o, OB_TB] = -1
        placed[j] = True
    # died before tracing: unmarked, their spans unswept
    unswept = np.zeros(recs.shape[0], np.bool_)
    rec_to_j = np.full(s.sp.shape[0], -1, np.int64)
    for j in range(recs.shape[0]):
        if recs[j] >= 0:
            rec_to_j[recs[j]] = j
    for j in range(dead_ids.shape[0]):
        o = dead_ids[j]
        sid = s.ob[o, OB_SPAN]
        if sid >= 0:
            unswept[rec_to_j[sid]] = True
            gc.free_object(s, o, False)
    idx = spanset.swept_idx(s)
    for j in range(recs.shape[0]):
        sid = recs[j]
        if sid < 0:
            continue
        spc = s.sp[sid, SP_SPC]
        full = s.sp[sid, SP_ALLOCCOUNT] == s.sp[sid, SP_NELEMS]
        if unswept[j]:
            s.sp[sid, SP_SWEEPGEN] = sg - 2
            for w in range((s.sp[sid, SP_NELEMS] + 63) >> 6):
                s.mbits[sid, w] = s.lbits[sid, w]
            spanset.push(s, spanset.set_id(spc, full or spc >> 1 == 0, 1 - idx), sid)
            sc[S_UNSWEPT] += 1
        elif spc >> 1 == 0:
            mcentral.push(s, mcentral.set_id(spc, True, idx), sid)
        else:
            spanset.push(s, spanset.set_id(spc, full, idx), sid)
    sc[S_HEAP_LIVE] += sc[S_OBJ_BYTES]


@kernel
def _cache_snapshot_spans(s, recs, fresh_event, fresh_p, fresh_spc, early_event, early_spc):
    """Which snapshot spans sat in Ps' mcaches when tracing started (the trace does not say).
    mcentral.cacheSpan takes a partial swept span before growing the heap, so when a P
    allocated a fresh span of a class before the first mark termination while that class's
    snapshot spans still had more free slots than the allocations of the class so far could
    have used, those spans were out of its reach: cached by other Ps. They go to the other
    Ps' mcaches (one per P, the roomiest first) until the first flush, as the runtime had
    them. Returns the number of spans cached."""
    nspc = s.mc.shape[1]
    nprocs = s.mc.shape[0]
    first = np.full(nspc, -1, np.int64)  # first fresh span allocation per class
    first_p = np.full(nspc, -1, np.int64)
    for j in range(fresh_event.shape[0]):
        c = fresh_spc[j]
        if 0 < c < nspc and first[c] < 0:
            first[c] = fresh_event[j]
            first_p[c] = fresh_p[j]
    used = np.zeros(nspc, np.int64)  # allocations of the class before that
    for j in range(early_event.shape[0]):
        c = early_spc[j]
        if 0 < c < nspc and first[c] >= 0 and early_event[j] < first[c]:
            used[c] += 1
    room = np.zeros(nspc, np.int64)
    for j in range(recs.shape[0]):
        sid = recs[j]
        if sid >= 0 and s.sp[sid, SP_SWEEPGEN] == s.sc[S_SG]:  # swept: in a partial/full set
            room[s.sp[sid, SP_SPC]] += s.sp[sid, SP_NELEMS] - s.sp[sid, SP_ALLOCCOUNT]
    cached = 0
    for c in range(2, nspc):  # small classes only (class 0 is large objects)
        if first[c] < 0 or used[c] >= room[c]:
            continue
        for q in range(nprocs):
            if q == first_p[c] % nprocs or s.mc[q, c] >= 0:
                continue
            best = -1
            for j in range(recs.shape[0]):
                sid = recs[j]
                if (sid >= 0 and s.sp[sid, SP_SPC] == c and s.sp[sid, SP_SWEEPGEN] == s.sc[S_SG]
                        and s.sp[sid, SP_WHERE] >= 0
                        and s.sp[sid, SP_ALLOCCOUNT] < s.sp[sid, SP_NELEMS]
                        and (best < 0 or s.sp[sid, SP_ALLOCCOUNT] < s.sp[best, SP_ALLOCCOUNT])):
                    best = sid
            if best < 0:
                break
            spanset.unlink(s, best)
            s.sp[best, SP_SWEEPGEN] = s.sc[S_SG] + 3  # as mcache.refill leaves it
            s.sp[best, SP_WHERE] = -2 - q
            s.mc[q, c] = best
            mcentral.havespan(s, best)  # allocCache at freeindex, as cacheSpan leaves it
            s.sc[S_HEAP_LIVE] += (s.sp[best, SP_NPAGES] * PAGE_SIZE
                                  - s.sp[best, SP_ALLOCCOUNT] * s.sp[best, SP_ELEMSIZE])
            cached += 1
    return cached
