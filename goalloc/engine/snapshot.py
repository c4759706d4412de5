"""Replaying recorded Go traces faithfully (trace-sources.md section 6): the trace-start
snapshot rebuilt in place, and sweep-observed frees turned into deaths with look-ahead.

A Go execution trace (frees: "sweep") reports an object's free when a sweeper reclaims it, and
starts with a snapshot of the heap (spans, and the objects allocated in them). Replaying it
naively (snapshot objects packed afresh, frees applied when they are reported) shifts every
death by up to a cycle. Before replaying, one pass over the trace (`lookahead.plan`) works out:

- **Deaths with look-ahead.** A free reported between mark termination k and the next mark
  start means the object was unmarked in cycle k: it died before cycle k's mark start. The
  free becomes a death applied just before the trace's gc_start k (allocations during marking
  are black, so no such object is allocated after it). A free whose object was allocated after
  that gc_start (which a consistent trace never has) stays where it is.
- **The snapshot.** With header `snapshot: "placed"` (docs/trace-format.md) every snapshot
  object names its recorded span and slot. Heap spans flagged snapshot become model spans of
  their recorded class and pages, where the trace shows the runtime had them (the Go
  importer's span_pages: holes and all, manual spans too, each P's page cache holding the
  block its first small span came from; else first fit in trace order), the objects go into
  their recorded slots, and the snapshot allocs are not replayed again. Snapshot objects freed
  before the trace's first mark termination died before tracing started: they stay allocated
  but unmarked, in spans left unswept for the model's sweepers, as the runtime had them. Other
  spans start swept, in mcentral's partial or full swept sets, but those some P's mcache
  held: the recording's P's first allocation into one names it, and when no GC came before
  the trace (its first heapLive reading is its spans' bytes) every partly used span was one,
  none of its objects counted yet in the heap statistics. heapLive starts at the
  allocated slot bytes (plus, once the trace's readings of it show, what the trace never did:
  pacer.recorded_heap_live); the pacer's state is a fresh program's (heapMarked 0, consMark 0).

`Plan.run_chunk` hands each chunk's deaths to the replay kernel, which applies each just
before the event it is due at (no Python per death or per piece).
"""

from __future__ import annotations

import copy
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from goalloc.engine import gc, lifetimes, mcentral, mheap, mspan, pagealloc, pagecache, spanset
from goalloc.engine import state as S
from goalloc.jit import kernel
from goalloc.trace import format as fmt

# the death-time rules (Config.death_time) that read each death's allocation time, interval
# and site (Plan.death_span), which the planning pass keeps only when asked (engine/passes.py);
# Plan.place_deaths places the deaths under each
SPAN_RULES = ("cohorts", "lifetimes")


@dataclass
class Plan:
    """What the planning pass found; `None` from `lookahead.plan()` when nothing applies."""

    lookahead: bool = False
    death_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # event index
    death_id: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # where in its interval a death lies (trace time) and the first event index it allows
    death_mid: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    death_lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # each death's (allocation time or -1: a snapshot object's, interval low, high, allocation
    # site), 4 x n, and the survivors' (allocation time, alive at, id), 3 x n: what the lifetime
    # estimate and the cohort rule rest on; where the estimate puts each death
    # (estimate_lifetimes, on demand) and its summary; where the cohort rule puts each
    # (cohort_rule, on demand)
    death_span: np.ndarray | None = None
    survivors: np.ndarray | None = None
    death_est: np.ndarray | None = None
    lifetimes: dict | None = None
    death_cohorts: np.ndarray | None = None
    # False: deaths just before their gc_start (recorded GC mode: the recorded cycles mark
    # exactly what the runtime marked); True: inside their interval (pacer mode), where
    # death_rule says (Config.death_time, which the replay sets): "cohorts" (engine/lifetimes.py
    # cohort_rule), "lifetimes" (the estimate's conditional median), "mid" (the midpoint)
    # or "early" (the earliest point: the low end of the range, #15)
    timed_deaths: bool = False
    death_rule: str = "mid"
    # the tail: the objects the trace never saw freed (survivors), kept live to the end unless
    # `tail_placed` (Config.tail_deaths "placed", with timed deaths): then those
    # engine/lifetimes.py tail_deaths gives a death die there (place_tail: id, trace time,
    # first event allowed; `tail` its summary). tail_window: the survivors' last mark start
    # alive and the last mark start whose sweep the trace reports deaths of, maybe in part
    tail_window: tuple | None = None
    tail_id: np.ndarray | None = None
    tail_point: np.ndarray | None = None
    tail_lo: np.ndarray | None = None
    tail: dict | None = None
    tail_placed: bool = False
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
    # where the recording had the snapshot's pages (the Go importer's span_pages,
    # lookahead._placement; page offsets from the recorded heap's first chunk): each heap
    # span's base page (aligned with span_id, -1: not known), the manual spans (id, page,
    # pages), each P's first small span (P, page: the block its page cache held). None: the
    # snapshot packed first fit
    place_span: np.ndarray | None = None
    place_manual: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    place_pcache: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    # the execution tracer's own buffers (allocs flagged `tracer`, event indices), and whether
    # this replay leaves them out (Config.tracer_buffers): not placed, their allocs no events
    tracer_event: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    drop_tracer: bool = False
    # before the first mark termination (mcaches not yet flushed): fresh (non-snapshot) heap
    # span allocations (event index, P, span class) and allocations (event index, slot size,
    # noscan), to infer which snapshot spans other Ps' mcaches held (`_cache_snapshot_spans`)
    # [P, span id] of the snapshot spans the recording shows in the Ps' mcaches (the
    # header's snapshot_mcaches), cached there before `_cache_snapshot_spans` infers more
    mcache0: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    # no GC cycle before tracing began (lookahead._first_heap_live): the trace's first reading
    # of heapLive is its heap spans' bytes, which only a heap never swept has; then every
    # partly used snapshot span is some P's current mcache span, none of its slots counted
    # (`_cache_never_swept`)
    before_any_gc: bool = False
    # every gc_mark_term row is followed by its gc_end before the next GC row (a Go
    # recording's: STW begins, then GCEnd once the world has stopped), lookahead.read
    mark_term_at_end: bool = False
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
    # late mcache flushes (the header's mcache_flushes, lookahead.mcache_flushes): each
    # recorded mark termination whose flush left some Ps' mcaches stale (event index, a bit
    # per P), and every flush (the event it comes before, the P); applied only when
    # `late_flushes` (recorded GC mode: the cycles are the recording's)
    late_term_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    late_term_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    flush_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    flush_p: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    late_flushes: bool = False
    recorded_gogc: tuple = (100, "")
    nonheap_from_trace: bool = True
    # timed deaths: each rule's point order (_by_point), shared by the replay copies, and this
    # replay's cursor over it (a copy starts without one)
    _rank_cache: dict = field(default_factory=dict, repr=False)
    _cursor: object = field(default=None, repr=False)
    # slot bytes of the tracer's buffers left out so far (drop_tracer): the trace's readings of
    # heapLive held them (_without_dropped_tracer)
    _tracer_dropped: int = field(default=0, repr=False)
    counts: dict = field(default_factory=dict)
    # 1 + the largest object id the trace allocates: the engine's object table is sized for
    # it before the replay (build), not doubled again and again as the ids come
    ids_top: int = 0
    # the event index of the trace's last gc_mark_term (-1: none): the recorded cycles' ends,
    # all the scan-rate pass needs (replay.measured_scan_rate stops there)
    last_mark_term: int = -1
    # the trace times of its gc_mark_terms (each sets the scavenger's goals, gcPaceScavenger:
    # scavenge.recorded_runs paces no run across one)
    mark_term_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def rebuilds_snapshot(self) -> bool:
        return self.obj_id.shape[0] > 0 or self.span_id.shape[0] > 0

    def estimate_lifetimes(self) -> None:
        """death_est and lifetimes from the lifetime estimate (engine/lifetimes.py); once."""
        if self.death_est is not None or self.death_span is None:
            return
        a, lo, hi, _ = self.death_span
        est = lifetimes.estimate(a, lo, hi, self.survivors[0], self.survivors[1])
        self.death_est = lifetimes.place(est, a, lo, hi)
        self.lifetimes = est.summary() if est is not None else None

    def cohort_rule(self) -> None:
        """death_cohorts, the cohort rule's points (engine/lifetimes.py); once."""
        if self.death_cohorts is None and self.death_span is not None:
            # a, lo, hi, site; the survivors' allocation and alive-at times
            self.death_cohorts = lifetimes.cohort_rule(*self.death_span, *self.survivors[:2])

    def place_deaths(self, rule: str, tail: bool = False) -> None:
        """The points death rule `rule` puts the deaths at, where it needs more than the
        intervals' midpoints (a rule of SPAN_RULES, which reads death_span), and with `tail`
        the tail's deaths (place_tail); once. Each rule of SPAN_RULES has its step here."""
        if rule == "lifetimes":
            self.estimate_lifetimes()
        elif rule == "cohorts":
            self.cohort_rule()
        if tail:
            self.place_tail()

    def place_tail(self) -> None:
        """tail_id, tail_point, tail_lo and tail: the never-freed objects that die, where the
        first-cycle lifetimes put them (engine/lifetimes.py tail_deaths); once, while the
        plan has the intervals."""
        if self.tail_point is not None or self.death_span is None or self.tail_window is None:
            return
        a, lo, hi, _ = self.death_span
        s_alloc, s_alive, s_id, s_event = self.survivors
        est = lifetimes.first_cycle(a, lo, hi, s_alloc, s_alive)
        alive_t, last_t = self.tail_window
        swept = (lifetimes.last_sweep_share(est, a, hi, s_alloc, alive_t, last_t)
                 if est is not None else 1.0)
        t = lifetimes.tail_deaths(est, s_alloc, s_id, alive_t, last_t, swept)
        dies = t >= 0
        self.tail_id, self.tail_point, self.tail_lo = s_id[dies], t[dies], s_event[dies] + 1
        self.tail = {"objects_placed": int(dies.sum()), "objects_kept": int((~dies).sum()),
                     "last_sweep_seen": round(swept, 4)}

    def replay_copy(self) -> Plan:
        """A copy for one replay, without the intervals, which only estimate_lifetimes and
        cohort_rule read (before it).
        build and the timed-death cursor rebind its attributes and count into `counts`; none
        writes into an array (build copies span_pages before it does), so the arrays are
        shared with the plan, not copied per pass (the death-time bounds' replays read them
        from their own threads). tests/test_replay_passes.py replays one plan several times."""
        p = copy.copy(self)
        p.counts = dict(self.counts)
        p._cursor = None
        p._tracer_dropped = 0
        p.death_span = p.survivors = None
        return p

    def summary(self) -> dict:
        out = {"snapshot_spans": int(self.span_id.shape[0]),
               "snapshot_objects_placed": int(self.obj_id.shape[0]),
               **self.counts}
        if self.lifetimes is not None and self.timed_deaths and self.death_rule == "lifetimes":
            out["lifetimes"] = self.lifetimes  # the estimate the deaths were placed by
        if self.tail is not None and self.timed_deaths and self.tail_placed:
            out["tail_deaths"] = self.tail
        return out

    # ---- replay ---------------------------------------------------------------------------
    def build(self, eng) -> None:
        """Rebuild the snapshot in the engine (before the first event). Only with the Go
        table (a recorded span class means the runtime's slot size); objects whose slot the
        modelled version's span does not have are replayed as allocs instead."""
        if self.ids_top:  # the plan read every id the replay allocates: that many rows (the
            # doubling the replay's allocations would do filled up to twice as many, and
            # those pages are time: docs/model.md "Memory touched is time")
            eng.arrays.grow(S.NEED_OBJS, self.ids_top, exact=True)
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
        at = self._lay_out(eng)
        _build(a.state, at, self.span_pages, self.span_spc, self.obj_id, self.obj_size,
               self.obj_span, self.obj_slot, self.dead_ids, recs, nelems, placed)
        if self.place_span is not None:
            built = recs >= 0
            self.counts["snapshot_spans_as_recorded"] += int(
                (a.sp[recs[built], S.SP_BASE] == at[built]).sum())
        if self.place_span is not None and eng.place_shift % 64 == 0:
            # (a shift by other than whole blocks leaves no block where the runtime's was)
            pc = self.place_pcache
            self.counts["page_caches_as_recorded"] = int(_seed_page_caches(
                a.state, pc[:, 0].copy(), pc[:, 1] + eng.place_shift))
        small = self.early_slot <= eng.table.max_small_size
        early_spc = np.where(small, (eng.table.size_to_class(np.where(small, self.early_slot, 0))
                                     << 1) | self.early_noscan, -1)
        if self.mcache0.shape[0]:
            order = np.argsort(self.span_id, kind="stable")
            k = np.minimum(np.searchsorted(self.span_id[order], self.mcache0[:, 1]),
                           self.span_id.shape[0] - 1)
            known = self.span_id[order][k] == self.mcache0[:, 1]
            self.counts["snapshot_spans_cached_as_recorded"] = int(_cache_recorded_spans(
                a.state, recs[order][k][known], self.mcache0[known, 0], self.before_any_gc))
        if self.before_any_gc:
            self.counts["snapshot_spans_cached_before_any_gc"] = int(_cache_never_swept(
                a.state, recs, self.fresh_p, self.fresh_spc))
        self.counts["snapshot_spans_cached"] = int(_cache_snapshot_spans(
            a.state, recs, self.fresh_event, self.fresh_p, self.fresh_spc, self.early_event,
            early_spc, self.before_any_gc))
        if not placed.all():  # replayed as ordinary allocs
            self.counts["snapshot_objects_unplaced"] = (
                self.counts.get("snapshot_objects_unplaced", 0) + int((~placed).sum()))
            self.obj_event = self.obj_event[placed]
            self.obj_id = self.obj_id[placed]
        drain = getattr(eng, "drain_locks", None)
        if drain is not None:
            drain()

    def _lay_out(self, eng) -> np.ndarray:
        """The page heap as the recording had it when tracing began, where the trace says
        (place_*; the modelled release's heap-base padding for the recording's): mapped as far
        as its spans reach, the manual spans (stacks) placed. Returns each heap span's page
        (-1: first fit, as without)."""
        at = np.full(self.span_id.shape[0], -1, np.int64)
        if self.place_span is None:
            return at
        shift = eng.place_shift
        at = np.where(self.place_span >= 0, self.place_span + shift, -1)
        man = self.place_manual
        known = at >= 0
        ends = np.concatenate([at[known] + self.span_pages[known], man[:, 1] + man[:, 2] + shift])
        end = int(ends.max()) if ends.shape[0] else 0
        a = eng.arrays
        a.grow(S.NEED_CHUNKS, end // S.CHUNK_PAGES + 4)
        if man.shape[0]:
            a.grow(S.NEED_MSPANS, int(man[:, 0].max()) + 1)
        self.counts["snapshot_spans_as_recorded"] = int(_map_and_place_manual(
            a.state, end, man[:, 0].copy(), man[:, 1] + shift, man[:, 2].copy()))
        return at

    def _timed_cuts(self, chunk):
        """(event index, object id) of the deaths due before an event of this chunk, at the
        point death_rule puts them at in their interval: before the first event at
        which the trace clock (the largest ts so far) reaches it, and not before the first
        event the interval allows; in the order of that index, then of the point. The points
        are taken in order as the clock reaches them (`_due_at`); a death whose interval
        starts past this chunk waits in the cursor's pending list, kept in that order."""
        if self._cursor is None:
            rank_point, rank_lo, rank_id = self._by_point()
            self._cursor = _DeathCursor(rank_point, rank_lo, rank_id)
        return self._cursor.cut(chunk)

    def _by_point(self):
        """The deaths in the order of their point (stable), with each one's first allowed
        event and id: (point, lo, id), computed once per rule and shared by the plan's
        replay copies (a dict the shallow copies share)."""
        return self._point_order(self.death_rule, self.tail_placed, background=False)

    def order_ahead(self, rule: str, tail: bool = False) -> None:
        """Start putting the deaths in `rule`'s point order (with the tail's placed deaths:
        `tail`) on another thread, for a replay that comes later (the scan-rate pass, which
        does not need the order, runs meanwhile: the sort and the kernel both release the
        GIL)."""
        self._point_order(rule, tail, background=True)

    def _point_order(self, rule: str, tail: bool, background: bool):
        """`rule`'s order, made once (here, or on a thread with `background`, which returns
        None at once); a second asker waits for the first one's."""
        key = (rule, tail and self.tail_point is not None)
        with _RANK_LOCK:
            fut = self._rank_cache.get(key)
            mine = fut is None
            if mine:
                fut = self._rank_cache[key] = Future()
        if mine:
            def work():
                try:
                    fut.set_result(self._order_by(*key))
                except BaseException as e:  # the replay that waits for it raises it
                    fut.set_exception(e)
            if background:
                threading.Thread(target=work, name="goalloc-death-order", daemon=True).start()
            else:
                work()
        return None if background else fut.result()

    def _order_by(self, rule: str, tail: bool):
        """(point, first allowed event, id) of the deaths in point order. The tail's placed
        deaths (`tail`) are at their points under every rule: the earliest and latest
        admissible points bound the deaths the trace reports (engine/whatif.py); "late" is
        not a timed rule (the recorded passes' death_at), so it keeps them all."""
        lo, ids = self.death_lo, self.death_id
        if rule == "early":  # every point at the start: in death order
            point = np.full_like(self.death_mid, np.iinfo(np.int64).min)
        else:
            point = {"lifetimes": self.death_est, "cohorts": self.death_cohorts}.get(rule)
            if point is None:  # "mid", or a plan with no death known to an interval (no spans)
                point = self.death_mid
        if tail:
            point = np.concatenate([point, self.tail_point])
            lo = np.concatenate([lo, self.tail_lo])
            ids = np.concatenate([ids, self.tail_id])
        elif rule == "early":
            return point, lo, ids
        order = np.argsort(point, kind="stable")
        return point[order], lo[order], ids[order]

    def run_chunk(self, eng, chunk) -> None:
        """Replay one chunk: snapshot allocs skipped (already placed), deaths applied before
        the gc_start they belong to (or, with `timed_deaths`, at their death_rule's points),
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
        if self.drop_tracer and self.tracer_event.shape[0]:
            chunk = self._without_dropped_tracer(eng, chunk)
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
        death_at = np.ascontiguousarray(death_at, np.int64)
        death_id = np.ascontiguousarray(death_id, np.int64)
        flushes = ()
        if self.late_flushes:
            chunk = self._late_term_masks(chunk)
            a, b = np.searchsorted(self.flush_at, [lo, hi])
            flushes = zip(self.flush_at[a:b].tolist(), self.flush_p[a:b].tolist(), strict=True)
        at = lo
        for e, p in flushes:  # the chunk in pieces: each late flush before its event
            if e > at:
                self._run_piece(eng, chunk, at, e, death_at, death_id)
                at = e
            eng.late_flush(p)
        if at == lo:
            eng.run_chunk(chunk, (death_at, death_id))
        elif at < hi:
            self._run_piece(eng, chunk, at, hi, death_at, death_id)

    def _without_dropped_tracer(self, eng, chunk):
        """The chunk with its readings of heapLive (heap_live events) less the slot bytes of
        the tracer's buffers allocated before each, which this replay leaves out: the model
        compares its heapLive with them before the first GC (pacer.recorded_heap_live)."""
        import dataclasses

        lo, hi = chunk.start, chunk.start + chunk.n
        a, b = np.searchsorted(self.tracer_event, [lo, hi])
        live = np.flatnonzero(chunk.kind == fmt.HEAP_LIVE)
        if b == a and (self._tracer_dropped == 0 or not live.shape[0]):
            return chunk
        at = self.tracer_event[a:b] - lo
        slot = np.asarray(eng.table.slot_size(np.maximum(chunk.size[at], 1)), np.int64)
        before = np.searchsorted(at, live)  # the tracer's allocations before each reading
        dropped = self._tracer_dropped + np.concatenate([[0], np.cumsum(slot)])[before]
        self._tracer_dropped += int(slot.sum())
        if not live.shape[0]:
            return chunk
        size = chunk.size.copy()
        size[live] = np.maximum(size[live] - dropped, 0)
        return dataclasses.replace(chunk, size=size)

    def _late_term_masks(self, chunk):
        """The chunk with each recorded gc_mark_term's size set to its mask of Ps whose
        mcache flush comes late (gc.mark_term leaves them to Engine.late_flush)."""
        import dataclasses

        lo, hi = chunk.start, chunk.start + chunk.n
        a, b = np.searchsorted(self.late_term_at, [lo, hi])
        if b == a:
            return chunk
        size = chunk.size.copy()
        size[self.late_term_at[a:b] - lo] = self.late_term_mask[a:b]
        return dataclasses.replace(chunk, size=size)

    @staticmethod
    def _run_piece(eng, chunk, a: int, b: int, death_at, death_id) -> None:
        """Replay events [a, b) of the chunk (trace event indices) with the deaths due before
        them."""
        import dataclasses

        lo = chunk.start
        piece = dataclasses.replace(chunk, start=a, n=b - a, **{
            k: v[a - lo:b - lo] for k, v in chunk.columns().items()})
        i, j = np.searchsorted(death_at, [a, b])
        eng.run_chunk(piece, (death_at[i:j], death_id[i:j]))


# Plan._rank_cache's entries are made under this lock (a replay and its bounds' threads share it)
_RANK_LOCK = threading.Lock()


class _DeathCursor:
    """One replay's walk over the timed deaths in point order (Plan._timed_cuts): the next
    death not yet reached, the trace clock so far, and the reached deaths whose event lies
    past the chunks replayed so far, sorted by (event, point order)."""

    def __init__(self, point, lo, ids):
        self.point, self.lo, self.ids = point, lo, ids
        self.at = np.empty(point.shape[0], np.int64)  # each reached death's event, by rank
        self.next = 0
        self.clock = np.iinfo(np.int64).min
        self.pending_at = self.pending_id = np.zeros(0, np.int64)

    def cut(self, chunk):
        lo, hi = chunk.start, chunk.start + chunk.n
        first = self.next
        self.next, self.clock, ordered = _due_at(chunk.ts, lo, self.clock, self.point,
                                                 self.lo, first, self.at)
        at, ids = self.at[first:self.next], self.ids[first:self.next]
        if self.pending_at.shape[0]:  # earlier ranks first: a stable sort keeps the order
            at = np.concatenate([self.pending_at, at])
            ids = np.concatenate([self.pending_id, ids])
            ordered = ordered and self.next == first
        if not ordered:
            order = np.argsort(at, kind="stable")
            at, ids = at[order], ids[order]
        k = int(np.searchsorted(at, hi))
        self.pending_at, self.pending_id = at[k:], ids[k:]
        return at[:k], ids[:k]


@kernel
def _due_at(ts, lo, clock, point, first_lo, rank, at):
    """Deaths from `rank` on (point order) whose point the trace clock reaches in this chunk
    (events lo, lo+1, ... with times ts): at[rank] = the first event at which the clock (the
    largest ts so far, from `clock`) is at or past its point, or its first allowed event if
    that is later. Returns (the next rank not reached, the clock, whether the at[] written
    are in order)."""
    n = point.shape[0]
    ordered = True
    last = np.int64(-1)
    for i in range(ts.shape[0]):
        if ts[i] > clock:
            clock = ts[i]
        while rank < n and point[rank] <= clock:
            a = lo + i
            if first_lo[rank] > a:
                a = first_lo[rank]
            if a < last:
                ordered = False
            last = a
            at[rank] = a
            rank += 1
    return rank, clock, ordered


@kernel
def _map_and_place_manual(s, end, man_id, man_at, man_pages):
    """The heap mapped up to page `end` and the manual spans at their pages; returns how
    many were placed there (one whose pages are not free goes first fit, at its event)."""
    pagealloc.grow_to(s, end)
    n = 0
    for j in range(man_id.shape[0]):
        if mheap.alloc_manual_at(s, man_id[j], man_at[j], man_pages[j]):
            n += 1
    return n


@kernel
def _seed_page_caches(s, ps, pages):
    """Each P's page cache holds the 64-page block of its first small span (pagecache.seed),
    for the Ps the model has; returns how many took one."""
    n = 0
    if s.prm[S.P_NO_PCACHE] != 0:  # (--no-pagecache: no P has one)
        return n
    for j in range(ps.shape[0]):
        if ps[j] < s.pcache.shape[0] and pagecache.seed(s, ps[j], pages[j] & ~np.int64(63)):
            n += 1
    return n


@kernel
def _build(s, at, span_pages, span_spc, obj_id, obj_size, obj_span, obj_slot, dead_ids, recs,
           nelems, placed):
    """The snapshot: spans of their recorded class and pages (at their recorded page `at`
    where it is known and free, else first fit), objects in their slots, objects dead before
    tracing left allocated but unmarked in unswept spans."""
    sc = s.sc
    sg = sc[S.S_SG]
    for j in range(span_pages.shape[0]):
        spc = span_spc[j]
        c = spc >> 1
        npg = span_pages[j]
        if c >= s.class_size.shape[0] or npg <= 0:
            continue
        if c == 0:
            es = npg * S.PAGE_SIZE
            nel = 1
        else:
            es = s.class_size[c]
            nel = s.objs_noscan[c] if spc & 1 else s.objs_scan[c]
            if nel <= 0 or s.class_pages[c] != npg:
                continue  # not a span of this table's class: leave it out
        sid = -1
        if at[j] >= 0:
            sid = mheap.alloc_span_at(s, at[j], npg, spc, es, nel, sg)
        recs[j] = sid if sid >= 0 else mheap.alloc_span(s, npg, spc, -1, es, nel, sg)
        nelems[j] = nel
    for j in range(obj_id.shape[0]):
        sid = recs[obj_span[j]]
        slot = obj_slot[j]
        o = obj_id[j]
        if sid < 0 or slot >= nelems[obj_span[j]] or mspan.test_bit(s.abits, sid, slot):
            continue
        if s.ob[o, S.OB_SPAN] != -1:
            continue
        mspan.set_bit(s.abits, sid, slot)
        s.sp[sid, S.SP_ALLOCCOUNT] += 1
        if s.sp[sid, S.SP_SPC] >> 1 == 0:
            s.sp[sid, S.SP_REQ] = obj_size[j]
            s.sp[sid, S.SP_FREEINDEX] = 1
        mspan.slot_live(s, sid, slot, obj_size[j])
        s.ob[o, S.OB_SPAN] = sid
        s.ob[o, S.OB_SLOT] = slot
        s.ob[o, S.OB_SIZE] = obj_size[j]
        s.ob[o, S.OB_TB] = -1
        placed[j] = True
    # died before tracing: unmarked, their spans unswept
    unswept = np.zeros(recs.shape[0], np.bool_)
    rec_to_j = np.full(s.sp.shape[0], -1, np.int64)
    for j in range(recs.shape[0]):
        if recs[j] >= 0:
            rec_to_j[recs[j]] = j
    for j in range(dead_ids.shape[0]):
        o = dead_ids[j]
        sid = s.ob[o, S.OB_SPAN]
        if sid >= 0:
            unswept[rec_to_j[sid]] = True
            gc.free_object(s, o, False)
    idx = spanset.swept_idx(s)
    for j in range(recs.shape[0]):
        sid = recs[j]
        if sid < 0:
            continue
        spc = s.sp[sid, S.SP_SPC]
        full = s.sp[sid, S.SP_ALLOCCOUNT] == s.sp[sid, S.SP_NELEMS]
        if unswept[j]:
            s.sp[sid, S.SP_SWEEPGEN] = sg - 2
            for w in range((s.sp[sid, S.SP_NELEMS] + 63) >> 6):
                s.mbits[sid, w] = s.lbits[sid, w]
            spanset.push(s, spanset.set_id(spc, full or spc >> 1 == 0, 1 - idx), sid)
            sc[S.S_UNSWEPT] += 1
        elif spc >> 1 == 0:
            mcentral.push(s, mcentral.set_id(spc, True, idx), sid)
        else:
            spanset.push(s, spanset.set_id(spc, full, idx), sid)
    sc[S.S_HEAP_LIVE] += sc[S.S_OBJ_BYTES]


@kernel(inline="always")
def _cache_span_on(s, sid, q, fresh):
    """P q's mcache holds snapshot span sid (out of its mcentral set), as mcache.refill
    leaves a span it cached; `fresh`: it came to the mcache empty, from the page heap, so
    none of its objects is in the heap statistics yet (allocCountBeforeCache 0), else all
    of those the snapshot shows are (the trace does not say which came after)."""
    spanset.unlink(s, sid)
    s.sp[sid, S.SP_SWEEPGEN] = s.sc[S.S_SG] + 3
    s.sp[sid, S.SP_WHERE] = -2 - q
    s.sp[sid, S.SP_ALLOC_BEFORE_CACHE] = 0 if fresh else s.sp[sid, S.SP_ALLOCCOUNT]
    s.mc[q, s.sp[sid, S.SP_SPC]] = sid
    mcentral.havespan(s, sid)  # allocCache at freeindex, as cacheSpan leaves it
    s.sc[S.S_HEAP_LIVE] += (s.sp[sid, S.SP_NPAGES] * S.PAGE_SIZE
                            - s.sp[sid, S.SP_ALLOCCOUNT] * s.sp[sid, S.SP_ELEMSIZE])


@kernel
def _cache_recorded_spans(s, sids, ps, fresh):
    """The snapshot spans the recording shows in Ps' mcaches (the header's snapshot_mcaches:
    a P's first allocation of a class before the first flush went into that span) go there,
    when the P exists in the replay, its mcache has none of the class yet and the span is a
    small one in a swept set with a free slot (`fresh`: _cache_span_on). Returns how many
    were cached."""
    cached = 0
    for j in range(sids.shape[0]):
        sid = sids[j]
        q = ps[j]
        if sid < 0 or q >= s.mc.shape[0]:
            continue
        c = s.sp[sid, S.SP_SPC]
        if (c >= 2 and s.mc[q, c] < 0 and s.sp[sid, S.SP_SWEEPGEN] == s.sc[S.S_SG]
                and s.sp[sid, S.SP_WHERE] >= 0
                and s.sp[sid, S.SP_ALLOCCOUNT] < s.sp[sid, S.SP_NELEMS]):
            _cache_span_on(s, sid, q, fresh)
            cached += 1
    return cached


@kernel(inline="always")
def _idle_holder(s, c, opened):
    """The lowest P whose mcache holds no span of class c and that opened no fresh span of it
    before the first mark termination (-1: none): one that could have held a span of c all
    along without allocating from it."""
    for q in range(s.mc.shape[0]):
        if s.mc[q, c] < 0 and not opened[q, c]:
            return q
    return -1


@kernel
def _cache_never_swept(s, recs, fresh_p, fresh_spc):
    """A heap that has not been through a GC cycle (Plan.before_any_gc) was never swept: a
    small span leaves an mcache only full (mcache.refill) or at a flush, and mcentral holds
    no partial span to hand out, so each partly used snapshot span is some P's current span,
    taken empty from the page heap (none of its objects counted in the heap statistics until
    its P lets it go). Each one no mcache holds yet goes to the lowest P that holds none of
    its class and opened no fresh span of it before the first mark termination (a P that
    allocated the class then used the span its mcache held). And a class with full spans
    and no partly used one: the last P to allocate it holds the span it filled (it refills
    only at its next allocation of the class, which would have left a partly used span) -
    the P that opens a fresh span of the class first, else the lowest P holding none. Which
    full span is not known; they hold the same bytes. Returns how many spans were cached."""
    nprocs = s.mc.shape[0]
    nspc = s.mc.shape[1]
    opened = np.zeros((nprocs, nspc), np.bool_)
    first_open = np.full(nspc, -1, np.int64)
    for j in range(fresh_p.shape[0]):
        q = fresh_p[j]
        c = fresh_spc[j]
        if 0 <= q < nprocs and 0 <= c < nspc:
            opened[q, c] = True
            if first_open[c] < 0:
                first_open[c] = q
    partial = np.zeros(nspc, np.bool_)
    full = np.full(nspc, -1, np.int64)  # a full snapshot span of the class
    cached = 0
    for j in range(recs.shape[0]):
        sid = recs[j]
        if sid < 0:
            continue
        c = s.sp[sid, S.SP_SPC]
        if c < 2:
            continue
        if s.sp[sid, S.SP_ALLOCCOUNT] >= s.sp[sid, S.SP_NELEMS]:
            if full[c] < 0 and s.sp[sid, S.SP_WHERE] >= 0:
                full[c] = sid
            continue
        partial[c] = True
        if s.sp[sid, S.SP_SWEEPGEN] != s.sc[S.S_SG] or s.sp[sid, S.SP_WHERE] < 0:
            continue
        q = _idle_holder(s, c, opened)
        if q >= 0:
            _cache_span_on(s, sid, q, True)
            cached += 1
    for c in range(2, nspc):
        sid = full[c]
        if partial[c] or sid < 0 or s.sp[sid, S.SP_SWEEPGEN] != s.sc[S.S_SG]:
            continue
        q = first_open[c]
        if q < 0 or s.mc[q, c] >= 0:
            q = _idle_holder(s, c, opened)
        if q >= 0:
            _cache_span_on(s, sid, q, True)
            cached += 1
    return cached


@kernel
def _cache_snapshot_spans(s, recs, fresh_event, fresh_p, fresh_spc, early_event, early_spc,
                          fresh):
    """Which snapshot spans sat in Ps' mcaches when tracing started (the trace does not say).
    mcentral.cacheSpan takes a partial swept span before growing the heap, so when a P
    allocated a fresh span of a class before the first mark termination while that class's
    snapshot spans still had more free slots than the allocations of the class so far could
    have used, those spans were out of its reach: cached by other Ps. They go to the other
    Ps' mcaches (one per P, the roomiest first) until the first flush, as the runtime had
    them (`fresh`: _cache_span_on). Returns the number of spans cached."""
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
        if sid >= 0 and s.sp[sid, S.SP_SWEEPGEN] == s.sc[S.S_SG]:  # swept: in a partial/full set
            room[s.sp[sid, S.SP_SPC]] += s.sp[sid, S.SP_NELEMS] - s.sp[sid, S.SP_ALLOCCOUNT]
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
                if (sid >= 0 and s.sp[sid, S.SP_SPC] == c and s.sp[sid, S.SP_SWEEPGEN] == s.sc[S.S_SG]
                        and s.sp[sid, S.SP_WHERE] >= 0
                        and s.sp[sid, S.SP_ALLOCCOUNT] < s.sp[sid, S.SP_NELEMS]
                        and (best < 0 or s.sp[sid, S.SP_ALLOCCOUNT] < s.sp[best, S.SP_ALLOCCOUNT])):
                    best = sid
            if best < 0:
                break
            _cache_span_on(s, best, q, fresh)
            cached += 1
    return cached
