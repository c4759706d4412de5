"""The planning pass: one read of a recorded Go trace before its replay (engine/snapshot.py
explains why). It turns sweep-observed frees into deaths with look-ahead (each due just before
the gc_start of the cycle that found the object dead, with the interval it lies in), finds the
trace-start snapshot's spans and placed objects and what the mcaches held before the first mark
termination, and reads the recorded pacer commits the goal's stacks + globals come from
(pacer.nonheap_scan). Its result is a `snapshot.Plan`. Follows the runtime's sweep and mark
ordering of Go 1.22-1.27 (mgcsweep.go, mgc.go); one pass, chunk by chunk, bounded by the trace's
id range.
"""

from __future__ import annotations

import numpy as np

from goalloc import limits
from goalloc.engine import pacer
from goalloc.engine import state as S
from goalloc.engine.snapshot import Plan
from goalloc.errors import TraceError
from goalloc.jit import kernel, prefetch
from goalloc.trace import format as fmt
from goalloc.trace import validate
from goalloc.trace.prefetch import prefetched

# Ps whose late mcache flush the plan can carry (a bit each in a mark termination's mask)
MAX_LATE_P = 63

# _plan_chunk asks for the per-id row of the event this far ahead (a hint: a free's id is
# random in a large heap, its row a cache miss)
PREFETCH_AHEAD = 16
# _plan_chunk's per-id table, by column: the last allocation's event index (-1: none live),
# its trace time, its snapshot flag, its allocation site (the trace's site column: a Go
# trace's allocated type; 0 where none)
BY_EVENT, BY_TIME, BY_SNAP, BY_SITE = range(4)
N_BY = 4

# the moved deaths' columns (_Deaths), in _plan_chunk's order: the gc_start each precedes, id,
# midpoint, first allowed event; allocation time, interval low and high end, allocation site
# (Plan.death_span)
D_AT, D_ID, D_MID, D_LO, D_ALLOC, D_FROM, D_TO, D_SITE = range(8)
N_D = 8
# _Deaths' columns are sized for the header's event count up to this many events (at most 8
# columns of int64: 4 GiB of address space, touched only as deaths are written); past it
# they double
MAX_PRESIZED_DEATHS = 1 << 26
SMALL_DEATHS = 1 << 16

# plan counters
C_MOVED = 0  # frees turned into deaths before their cycle's gc_start
C_DEAD_AT_SNAPSHOT = 1  # snapshot objects freed before the first mark termination
C_IN_PLACE = 2  # frees left where they are (pre-trace window non-snapshot, or alloc too late)
N_C = 4


@kernel
def _plan_chunk(kind, ts, ids, flags, sites, start, st, by_id, mv_t, mv_id, mv_mid, mv_lo,
                mv_alloc, mv_from, mv_to, mv_site, dead, cnt):
    """One chunk of the planning pass. st[0]: index of the current cycle's gc_start (-1 none),
    st[1]: the gc_start index frees now belong before (-1: before the trace), st[2] its trace
    time, st[3] / st[4]: index / time of the gc_start before that one (-1: none), st[5]: time
    of the current cycle's gc_start, st[6]: trace clock (the largest ts so far). by_id: per
    object id, its last allocation's event index (-1: none live), trace time, snapshot flag and
    site (BY_*: one row, so a free's lookups are one cache line). Returns (moved, dead-at-snapshot)
    entries written to mv_* / dead; a moved death has the gc_start it must precede (mv_t),
    the midpoint of the interval it lies in (mv_mid, trace time) and the first event index
    that interval allows (mv_lo), and for the lifetime estimate (engine/lifetimes.py) its
    allocation time (mv_alloc, -1 for a snapshot object whose age is unknown) and the
    interval's low and high ends (mv_from, mv_to), trace time, and its allocation's site
    (mv_site: the cohort rule's deaths die in allocation order within one site)."""
    nm = 0
    nd = 0
    n = kind.shape[0]
    top = by_id.shape[0] - 1
    for i in range(n):
        if top >= 0:  # the row of the free PREFETCH_AHEAD events on: a cache miss
            prefetch(by_id, min(max(ids[min(i + PREFETCH_AHEAD, n - 1)], 0), top), 0)
        k = kind[i]
        g = start + i
        if ts[i] > st[6]:
            st[6] = ts[i]
        if k == fmt.ALLOC:
            o = ids[i]
            if 0 <= o < by_id.shape[0]:
                by_id[o, BY_EVENT] = g
                by_id[o, BY_TIME] = st[6]
                by_id[o, BY_SNAP] = 1 if (flags[i] & fmt.FLAG_SNAPSHOT) != 0 else 0
                by_id[o, BY_SITE] = sites[i]
        elif k == fmt.FREE:
            o = ids[i]
            if o < 0 or o >= by_id.shape[0] or by_id[o, BY_EVENT] < 0:
                continue
            t = st[1]
            if t < 0:
                if by_id[o, BY_SNAP] == 1:
                    dead[nd] = o
                    nd += 1
                    cnt[C_DEAD_AT_SNAPSHOT] += 1
                else:
                    cnt[C_IN_PLACE] += 1
            elif by_id[o, BY_EVENT] < t:
                # marked by the previous cycle's mark (or allocated after it), unmarked by
                # this one: it died in (max(alloc, previous gc_start), this gc_start]
                lo_i = by_id[o, BY_EVENT]
                lo_t = by_id[o, BY_TIME]
                if st[3] > lo_i:
                    lo_i = st[3]
                    lo_t = st[4]
                mv_t[nm] = t
                mv_id[nm] = o
                mv_mid[nm] = lo_t + (st[2] - lo_t) // 2
                mv_lo[nm] = lo_i + 1
                mv_alloc[nm] = -1 if by_id[o, BY_SNAP] == 1 else by_id[o, BY_TIME]
                mv_from[nm] = lo_t
                mv_to[nm] = st[2]
                mv_site[nm] = by_id[o, BY_SITE]
                nm += 1
                cnt[C_MOVED] += 1
            else:
                cnt[C_IN_PLACE] += 1
            by_id[o, BY_EVENT] = -1
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


@kernel
def _late_flush_masks(kind, p, start, fl_at, fl_p, k, nt, st, since, term_at, term_mask):
    """One chunk of the late-mcache-flush step. A flush (fl_at: the event it comes before,
    fl_p: the P) is late for the last mark termination when it comes in that cycle's sweep
    phase (st[0]: the mark termination's event index, -1 after a gc_start; st[1] its row in
    term_at / term_mask) before the P allocated again (since[P]: it allocated since that mark
    termination): the P's bit goes into the mark termination's mask. Returns (flushes read,
    mark terminations so far)."""
    for i in range(kind.shape[0]):
        g = start + i
        while k < fl_at.shape[0] and fl_at[k] <= g:
            q = fl_p[k]
            if st[0] >= 0 and 0 <= q < MAX_LATE_P and since[q] == 0:
                term_mask[st[1]] |= np.int64(1) << q
            k += 1
        kd = kind[i]
        if kd == fmt.ALLOC:
            q = p[i]
            if 0 <= q < MAX_LATE_P:
                since[q] = 1
        elif kd == fmt.GC_MARK_TERM:
            st[0] = g
            st[1] = nt
            term_at[nt] = g
            term_mask[nt] = 0
            nt += 1
            since[:] = 0
        elif kd == fmt.GC_START:
            st[0] = -1
    return k, nt


def _header_pairs(header, name: str, what: str, path) -> np.ndarray:
    """The header's `name` (a list of [int, int] pairs, docs/trace-format.md) as a (n, 2)
    array; a TraceError naming `what` the pairs are when they are not such pairs."""
    raw = header.extra.get(name)
    if raw is None:
        return np.zeros((0, 2), np.int64)
    ok = isinstance(raw, list) and all(
        isinstance(e, list) and len(e) == 2 and all(type(v) is int and 0 <= v < 1 << 62
                                                    for v in e) for e in raw)
    if not ok:
        raise TraceError(path, f"header: {name} must be a list of {what} pairs of "
                               "non-negative integers")
    return np.array(raw, np.int64).reshape(-1, 2)


def mcache_flushes(header, path) -> tuple[np.ndarray, np.ndarray]:
    """The header's `mcache_flushes` ([event index, P] pairs) as two arrays in event order."""
    a = _header_pairs(header, "mcache_flushes", "[event index, P]", path)
    order = np.argsort(a[:, 0], kind="stable")
    return a[order, 0], a[order, 1]


def snapshot_mcaches(header, path) -> np.ndarray:
    """The header's `snapshot_mcaches` ([P, span id] pairs) as a (n, 2) array."""
    return _header_pairs(header, "snapshot_mcaches", "[P, span id]", path)


FIRST_SPAN_ALLOCS = 256  # the importer's (trace/importers/gotrace.py): after the snapshot


def span_pages(header) -> tuple[np.ndarray, np.ndarray] | None:
    """The Go importer's header source.span_pages: [base page, pages] of each snapshot
    span_alloc row in order, and of the first other span_alloc rows (page offsets from the
    recorded heap's first chunk). None when absent, or not what the importer writes (lists
    of such pairs, pages within limits.MAX_GO_HEAP_PAGES): then the snapshot is packed first
    fit, as for any other trace."""
    raw = (header.source or {}).get("span_pages") if isinstance(header.source, dict) else None
    if not isinstance(raw, dict):
        return None
    out = []
    for name in ("snapshot", "first_allocs"):
        rows = raw.get(name)
        if not isinstance(rows, list) or not all(
                isinstance(r, list) and len(r) == 2 and all(type(v) is int for v in r)
                and 0 <= r[0] and 1 <= r[1] and r[0] + r[1] <= limits.MAX_GO_HEAP_PAGES
                for r in rows):
            return None
        out.append(np.array(rows, np.int64).reshape(-1, 2))
    return out[0], out[1]


def _placement(pages, snap_rows: np.ndarray, first_rows: np.ndarray, heap_ids: np.ndarray):
    """Where the snapshot goes (Plan.place_*) from the header's span_pages and the trace's
    span_alloc rows read in order: snap_rows (3 x n: id, pages, span class; the snapshot's)
    and first_rows (2 x k: P, pages; the first others). The header's lists must name the same
    rows (their page counts equal, one for one), else None: nothing is placed. Returns the
    recorded base page of each of heap_ids (the snapshot heap spans the plan keeps; -1: not
    among them), the manual spans (id, page, pages) and each P's first small span (P, page),
    whose block its page cache held (fewer than PCACHE_MAX_NPAGES pages: from the cache)."""
    snap, first = pages
    if (not snap.shape[0] or snap.shape[0] != snap_rows.shape[1]
            or (snap[:, 1] != snap_rows[1]).any()):
        return None
    ids = snap_rows[0]
    order = np.argsort(ids, kind="stable")
    k = np.minimum(np.searchsorted(ids[order], heap_ids), ids.shape[0] - 1)
    span_page = np.where(ids[order][k] == heap_ids, snap[order[k], 0], -1)
    manual = snap_rows[2] < 0
    manual_rows = np.stack([ids[manual], snap[manual, 0], snap[manual, 1]], axis=1)
    n = min(first.shape[0], first_rows.shape[1])
    bad = np.flatnonzero(first[:n, 1] != first_rows[1, :n])
    n = int(bad[0]) if bad.shape[0] else n
    small = np.flatnonzero((first_rows[1, :n] < S.PCACHE_MAX_NPAGES) & (first_rows[0, :n] >= 0))
    ps, at = np.unique(first_rows[0, small], return_index=True)  # each P's first
    pcache = np.stack([ps, first[small[at], 0]], axis=1)
    return span_page.astype(np.int64), manual_rows, pcache


def _survivors(st, by_id) -> np.ndarray:
    """(allocation time, a time it was alive at, id, allocation event) of each traced object
    never freed: alive at the mark start before the last one whose mark ended (st[4]), since
    that cycle's sweep ended before the last mark began and so reported every object dead at
    it."""
    alive = (by_id[:, BY_EVENT] >= 0) & (by_id[:, BY_SNAP] == 0) & (st[4] >= 0)
    return np.stack([by_id[alive, BY_TIME], np.full(int(alive.sum()), st[4], np.int64),
                     np.flatnonzero(alive), by_id[alive, BY_EVENT]])


def _sweep_frees(header) -> bool:
    return header.frees == "sweep"


def _placed(header) -> bool:
    return header.extra.get("snapshot") == fmt.SNAPSHOT_PLACED


def plan(path, header, on_chunk=None, *, spans: bool = True) -> Plan | None:
    """Plan a faithful replay of a recorded Go trace: look-ahead deaths when frees are
    sweep-observed and the trace has GC markers; the snapshot when it is placed. `on_chunk`:
    called with each chunk read (the replay driver keeps them for its passes). `spans`: keep
    each death's allocation time, interval and site (Plan.death_span, survivors), which only the
    lifetime estimate and the cohort rule read (four of the deaths' eight columns)."""
    import goalloc.trace

    if not _sweep_frees(header) and not _placed(header):
        return None  # (before _Planner sizes its tables for the trace)
    planner = _Planner(header, path, spans=spans)
    with goalloc.trace.open(path) as reader:
        for chunk in prefetched(reader):  # the next chunk decompressed while this one is read
            if on_chunk is not None:
                on_chunk(chunk)
            planner.read(chunk)
    return planner.finish(header)


class _Planner:
    """The planning pass's running state: `read` takes each chunk in trace order, `finish`
    builds the Plan. Each concern is one step: the recorded pacer commits (stacks + globals),
    the tracer's buffers, the window before the first mark termination (which snapshot spans
    mcaches held), the snapshot's spans and objects, and the look-ahead deaths."""

    def __init__(self, header, path=None, *, spans: bool = True):
        self.sweep = _sweep_frees(header)
        self.placed = _placed(header)
        # _plan_chunk's state: by object id, its last alloc (event, time) and snapshot flag
        self.st = np.array([-1, -1, -1, -1, -1, -1, np.iinfo(np.int64).min], np.int64)
        self.by_id = _ById(header.events)
        self.cnt = np.zeros(N_C, np.int64)
        self.deaths = _Deaths(header.events, spans)
        self.dead = []
        self.spans = {"id": [], "pages": [], "spc": []}
        self.objs = {"event": [], "id": [], "size": [], "aux": []}
        self.tracer = []
        self.fresh = {"event": [], "p": [], "spc": []}
        self.early = {"event": [], "slot": [], "noscan": []}
        self.first_term = -1  # event index of the first mark termination (mcaches flushed)
        self.last_term = -1  # and of the last
        self.term_ts = []  # the mark terminations' times, a chunk's each
        self.markers = 0
        self.cm_st = np.array([0, -1, 0, -1, 0, -1], np.int64)  # pacer.COMMIT_STATE
        self.commits = {"event": [], "marked": [], "goal": []}
        # late mcache flushes (the header's): the next one to read, the last mark
        # termination (st), the Ps that allocated since it, each mark termination's mask
        self.fl_at, self.fl_p = mcache_flushes(header, path)
        # where the recording had its pages (span_pages): the span_alloc rows it names
        self.pages = span_pages(header) if self.placed else None
        self.snap_rows = []
        self.first_rows = []
        self.n_first = 0
        self.mcache0 = snapshot_mcaches(header, path)
        self.mcache0_listed = "snapshot_mcaches" in header.extra
        # until the trace's first heapLive reading: the heap spans' pages so far, and whether
        # a span was freed (_first_heap_live); then whether no GC came before the trace
        self.heap_pages = 0
        self.span_freed = False
        self.before_any_gc: bool | None = None
        # the last GC row's kind so far, and whether every gc_mark_term met its gc_end next;
        # the gc_end rows' event index (the last) and times
        self.gc_last = -1
        self.term_ends = True
        self.last_end = -1
        self.end_ts = []
        self.fl_k = 0
        self.fl_st = np.array([-1, -1], np.int64)
        self.fl_since = np.zeros(MAX_LATE_P, np.int8)
        self.nterm = 0
        self.term_at = np.zeros(0, np.int64)
        self.term_mask = np.zeros(0, np.int64)

    def read(self, chunk) -> None:
        allocs = chunk.kind == fmt.ALLOC
        snapf = (chunk.flags & fmt.FLAG_SNAPSHOT) != 0
        self._grow_ids(chunk, allocs)
        terms = np.flatnonzero(chunk.kind == fmt.GC_MARK_TERM)
        self.markers += terms.shape[0]
        if terms.shape[0]:
            self.last_term = chunk.start + int(terms[-1])
            self.term_ts.append(chunk.ts[terms])
        self._commits(chunk, terms.shape[0])
        self._mark_term_ends(chunk)
        if (chunk.flags & fmt.FLAG_TRACER).any():
            self.tracer.append(np.flatnonzero(allocs & ((chunk.flags & fmt.FLAG_TRACER) != 0))
                               + chunk.start)
        if self.placed and self.first_term < 0:
            self._before_first_term(chunk, allocs, snapf, terms)
        if self.placed and snapf.any():
            self._snapshot(chunk, allocs, snapf)
        if self.placed and self.mcache0_listed and self.before_any_gc is None:
            self._first_heap_live(chunk)
        if self.pages is not None and self.n_first < FIRST_SPAN_ALLOCS:
            self._span_rows(chunk, snapf)
        if self.sweep:
            self._deaths(chunk)
        if self.fl_at.shape[0]:
            self._late_flushes(chunk, terms.shape[0])

    def _mark_term_ends(self, chunk) -> None:
        """Whether each gc_mark_term's next GC row is its gc_end (Plan.mark_term_at_end)."""
        k = chunk.kind
        rows = np.flatnonzero((k == fmt.GC_START) | (k == fmt.GC_MARK_TERM) | (k == fmt.GC_END))
        if not rows.shape[0]:
            return
        seq = k[rows].astype(np.int64)
        ends = rows[seq == fmt.GC_END]
        if ends.shape[0]:
            self.last_end = chunk.start + int(ends[-1])
            self.end_ts.append(chunk.ts[ends])
        both = np.concatenate([np.array([self.gc_last], seq.dtype), seq])
        if ((both[:-1] == fmt.GC_MARK_TERM) & (both[1:] != fmt.GC_END)).any():
            self.term_ends = False
        self.gc_last = int(seq[-1])

    def _late_flushes(self, chunk, terms: int) -> None:
        """Which Ps' mcaches each mark termination left for a late flush (_late_flush_masks):
        one row per mark termination in term_at / term_mask, grown as they come."""
        need = self.nterm + terms
        if need > self.term_at.shape[0]:
            size = max(need, 2 * self.term_at.shape[0], 16)
            self.term_at = np.concatenate([self.term_at, np.zeros(size - self.term_at.shape[0],
                                                                  np.int64)])
            self.term_mask = np.concatenate([self.term_mask,
                                             np.zeros(size - self.term_mask.shape[0],
                                                      np.int64)])
        self.fl_k, self.nterm = _late_flush_masks(
            chunk.kind, chunk.p, chunk.start, self.fl_at, self.fl_p, self.fl_k, self.nterm,
            self.fl_st, self.fl_since, self.term_at, self.term_mask)

    def _grow_ids(self, chunk, allocs) -> None:
        """The per-id tables cover every id allocated so far."""
        if not allocs.any():
            return
        top = int(chunk.id[allocs].max()) + 1
        # larger ids are anomalies the validation pass rejects (the kernel skips them)
        self.by_id.cover(min(top, chunk.start + chunk.n + validate.ID_SLACK))

    def _commits(self, chunk, terms: int) -> None:
        """The recorded pacer commits (heapMarked, goal) the stacks + globals come from."""
        out = np.empty((3, terms + 1), np.int64)  # one may be the last chunk's
        nc = pacer.recorded_commits(chunk.kind, chunk.size, chunk.start, self.cm_st, out[0],
                                    out[1], out[2])
        for i, k in enumerate(("event", "marked", "goal")):
            self.commits[k].append(out[i, :nc])

    def _before_first_term(self, chunk, allocs, snapf, terms) -> None:
        """Fresh span allocations and allocations before the first mark termination (mcaches
        not yet flushed): which snapshot spans each P's mcache held (_cache_snapshot_spans)."""
        kind = chunk.kind
        end = chunk.n if terms.shape[0] == 0 else int(terms[0])
        if terms.shape[0]:
            self.first_term = chunk.start + end
        w = np.arange(chunk.n) < end
        m = w & ~snapf & (kind == fmt.SPAN_ALLOC) & (chunk.aux > 0)
        self.fresh["event"].append(np.flatnonzero(m) + chunk.start)
        self.fresh["p"].append(chunk.p[m].astype(np.int64))
        self.fresh["spc"].append(chunk.aux[m].copy())
        m = w & ~snapf & allocs & (chunk.aux > 0)
        self.early["event"].append(np.flatnonzero(m) + chunk.start)
        self.early["slot"].append(chunk.aux[m].copy())
        self.early["noscan"].append((chunk.flags[m] & fmt.FLAG_NOSCAN) != 0)

    def _first_heap_live(self, chunk) -> None:
        """Whether a GC cycle came before the trace, from its first reading of heapLive.
        Until a mark termination resets it to the marked bytes, heapLive grows by each span's
        whole pages as an mcache takes it fresh or a large object gets it (mcache.refill
        counts a span's free slots as if used, allocLarge its pages) and shrinks only at a
        flush, by a span's free slots (releaseAll): so a heap never swept reads exactly its
        heap spans' bytes, where a swept one reads its marked bytes and what came after.
        A span freed before that reading (only a sweep frees one) says a cycle came. Asked
        only of a trace whose header lists the snapshot spans the Ps' first allocations went
        into (snapshot_mcaches, even empty: the Go importer's since session 42): without it,
        which P holds which span is not known, and a span given to the wrong P opens a fresh
        span where the runtime's P had one (the shipped Go 1.27 HTTP recording: in use at
        its first mark start +4.1% for +0.5%)."""
        k = chunk.kind
        live = np.flatnonzero(k == fmt.HEAP_LIVE)
        end = int(live[0]) if live.shape[0] else chunk.n
        spans = (k[:end] == fmt.SPAN_ALLOC) & (chunk.aux[:end] >= 0)
        self.heap_pages += int(chunk.size[:end][spans].sum())
        self.span_freed |= bool((k[:end] == fmt.SPAN_FREE).any())
        if live.shape[0]:
            self.before_any_gc = (not self.span_freed
                                  and self.heap_pages * S.PAGE_SIZE == int(chunk.size[end]))

    def _snapshot(self, chunk, allocs, snapf) -> None:
        """The snapshot's heap spans and placed objects."""
        # ids, pages and classes out of range are corrupt: left out here (validation rejects
        # such events; the snapshot kernels index arrays with them)
        m = snapf & (chunk.kind == fmt.SPAN_ALLOC) & (chunk.aux >= 0) & (chunk.size > 0) \
            & (chunk.size <= limits.MAX_HEAP_BYTES // S.PAGE_SIZE)
        self.spans["id"].append(chunk.id[m].copy())
        self.spans["pages"].append(chunk.size[m].copy())
        self.spans["spc"].append(chunk.aux[m].copy())
        m = snapf & allocs & (chunk.aux > 0) & (chunk.id >= 0) \
            & (chunk.id < chunk.start + chunk.n + validate.ID_SLACK)
        self.objs["event"].append(np.flatnonzero(m) + chunk.start)
        for k, col in (("id", chunk.id), ("size", chunk.size), ("aux", chunk.aux)):
            self.objs[k].append(col[m].copy())

    def _span_rows(self, chunk, snapf) -> None:
        """The span_alloc rows the header's span_pages names, in order: the snapshot's (id,
        pages, class) and the first FIRST_SPAN_ALLOCS others (P, pages)."""
        m = chunk.kind == fmt.SPAN_ALLOC
        snap = m & snapf
        self.snap_rows.append(np.stack([chunk.id[snap], chunk.size[snap], chunk.aux[snap]]))
        other = np.flatnonzero(m & ~snapf)[:FIRST_SPAN_ALLOCS - self.n_first]
        self.first_rows.append(np.stack([chunk.p[other], chunk.size[other]]))
        self.n_first += other.shape[0]

    def _deaths(self, chunk) -> None:
        """Sweep-observed frees turned into deaths with look-ahead (_plan_chunk)."""
        n = chunk.n
        d = np.empty(n, np.int64)
        out = self.deaths.room(n)
        nm, nd = _plan_chunk(chunk.kind, chunk.ts, chunk.id, chunk.flags, chunk.site,
                             chunk.start, self.st, self.by_id.covered(), *out, d, self.cnt)
        self.deaths.n += nm
        self.dead.append(d[:nd].copy())

    def finish(self, header) -> Plan | None:
        p = Plan()
        p.ids_top = self.by_id.top
        p.mark_term_at_end = (self.term_ends and self.markers > 0
                              and self.gc_last != fmt.GC_MARK_TERM)
        # where the model's mark terminations take effect (replay: in recorded mode, at the
        # gc_end rows when mark_term_at_end); the pacer mode's own cycles need neither
        p.last_mark_term = self.last_end if p.mark_term_at_end else self.last_term
        ts = self.end_ts if p.mark_term_at_end else self.term_ts
        if ts:
            p.mark_term_ts = np.concatenate(ts)
        if self.commits["event"]:
            self._finish_commits(p, header)
        if self.tracer:
            p.tracer_event = np.concatenate(self.tracer)
        if self.sweep and self.markers > 0:
            self._finish_deaths(p)
        p.counts = {"frees_moved_before_mark_start": int(self.cnt[C_MOVED]) if p.lookahead else 0,
                    "frees_in_place": int(self.cnt[C_IN_PLACE]) if p.lookahead else 0}
        if self.placed and self.spans["id"]:
            self._finish_snapshot(p)
        if self.nterm:
            late = self.term_mask[:self.nterm] != 0
            p.late_term_at = self.term_at[:self.nterm][late]
            p.late_term_mask = self.term_mask[:self.nterm][late]
            p.flush_at, p.flush_p = self.fl_at, self.fl_p
            p.counts["late_mcache_flushes"] = int(sum(bin(int(m)).count("1")
                                                     for m in p.late_term_mask))
        if not p.lookahead and not p.rebuilds_snapshot:
            return None
        return p

    def _finish_commits(self, p: Plan, header) -> None:
        p.recorded_gogc = pacer.recorded_gogc(int(self.cm_st[3]), header.source or {})
        x = pacer.nonheap_scan(np.concatenate(self.commits["marked"]),
                               np.concatenate(self.commits["goal"]), p.recorded_gogc[0])
        ok = x >= 0
        p.commit_event, p.commit_nonheap = np.concatenate(self.commits["event"])[ok], x[ok]

    def _finish_deaths(self, p: Plan) -> None:
        """The deaths in the order they are due, and the survivors."""
        p.lookahead = True
        cols = self.deaths.written()
        p.death_at, p.death_id, p.death_mid, p.death_lo = cols[D_AT], cols[D_ID], cols[D_MID], \
            cols[D_LO]
        span = cols[D_ALLOC:D_SITE + 1] if cols.shape[0] == N_D else None
        # usually in order already (a stable sort would then copy five arrays for nothing)
        if np.any(p.death_at[1:] < p.death_at[:-1]):
            order = np.argsort(p.death_at, kind="stable")
            p.death_at, p.death_id = p.death_at[order], p.death_id[order]
            p.death_mid, p.death_lo = p.death_mid[order], p.death_lo[order]
            span = span[:, order] if span is not None else None
        p.death_span = span
        if span is not None:
            p.survivors = _survivors(self.st, self.by_id.covered())
            # the survivors' last mark start alive (st[4]) and the last whose sweep the
            # trace reports deaths of, maybe in part (st[2]): what the tail's deaths rest on
            p.tail_window = (int(self.st[4]), int(self.st[2]))

    def _finish_snapshot(self, p: Plan) -> None:
        """The snapshot's spans and objects, which of them died before tracing started, and
        the early window's allocations."""
        sp = {k: np.concatenate(v) for k, v in self.spans.items()}
        _attach_objects(p, sp["id"], sp["pages"], sp["spc"],
                        {k: np.concatenate(v) for k, v in self.objs.items()})
        if p.obj_id.shape[0] and self.dead:
            d = np.concatenate(self.dead)
            p.dead_ids = d[np.isin(d, p.obj_id)]
        p.counts["snapshot_objects_dead"] = int(p.dead_ids.shape[0])
        p.mcache0 = self.mcache0
        p.before_any_gc = bool(self.before_any_gc)
        if self.pages is not None and self.snap_rows:
            got = _placement(self.pages, np.concatenate(self.snap_rows, axis=1),
                             np.concatenate(self.first_rows, axis=1), p.span_id)
            if got is not None:
                p.place_span, p.place_manual, p.place_pcache = got
        if self.fresh["event"]:
            p.fresh_event, p.fresh_p, p.fresh_spc = (np.concatenate(self.fresh[k])
                                                     for k in ("event", "p", "spc"))
            p.early_event, p.early_slot, p.early_noscan = (
                np.concatenate(self.early[k]) for k in ("event", "slot", "noscan"))


class _ById:
    """_plan_chunk's per-id table (one row per object id, BY_* columns), sized as _Deaths is
    for the ids the trace can hold (its event count and the validator's slack), its rows set to
    "none allocated" only as the ids allocated reach them (`cover`): pages past the largest id
    are never touched. (Doubled from 64 K rows, it touched twice its final size and copied it:
    the planning pass of traces/go-json-decoder faulted 2,600-2,900 pages with it, 700-1,500
    without.) `covered()`: the rows _plan_chunk reads; a free of an id past them is of an
    object never allocated."""

    def __init__(self, events: int | None):
        cap = events + validate.ID_SLACK \
            if events is not None and 0 < events <= MAX_PRESIZED_DEATHS else 0
        try:
            self.rows = np.empty((max(cap, SMALL_DEATHS), N_BY), np.int64)
        except MemoryError:
            self.rows = np.empty((SMALL_DEATHS, N_BY), np.int64)
        self.top = 0  # 1 + the largest id allocated so far (within the validator's bound)

    def cover(self, top: int) -> None:
        """Rows up to `top` set, the new ones to none allocated."""
        if top <= self.top:
            return
        if top > self.rows.shape[0]:
            grown = np.empty((max(top, 2 * self.rows.shape[0]), N_BY), np.int64)
            grown[:self.top] = self.rows[:self.top]
            self.rows = grown
        self.rows[self.top:top] = (-1, 0, 0, 0)  # BY_EVENT, BY_TIME, BY_SNAP, BY_SITE
        self.top = top

    def covered(self) -> np.ndarray:
        return self.rows[:self.top]


class _Deaths:
    """The moved deaths, written by _plan_chunk straight into one set of columns (row D_*)
    sized for the header's event count: a chunk of n events adds at most n deaths, and pages
    never written are never touched. (Columns per chunk joined at the end touched about 1 GB
    more on an 11 M-event recording, ~0.6 s of page faults on the test VM.) Without a count,
    past MAX_PRESIZED_DEATHS, or where the address space is not to be had (a header may claim
    more events than its file holds), they start small and double as needed. Without
    `spans`, only D_AT..D_LO are kept: _plan_chunk writes the other four into one chunk's
    scratch, reused (on the 11.2 M-event recording, 5.5 M deaths: 131 MB fewer first-touched
    pages)."""

    def __init__(self, events: int | None, spans: bool = True):
        cap = events if events is not None and 0 < events <= MAX_PRESIZED_DEATHS else 0
        rows = N_D if spans else D_LO + 1
        try:
            self.cols = np.empty((rows, max(cap, SMALL_DEATHS)), np.int64)
        except MemoryError:
            self.cols = np.empty((rows, SMALL_DEATHS), np.int64)
        self.scratch = np.empty((N_D - rows, 0), np.int64)
        self.n = 0

    def room(self, k: int) -> list[np.ndarray]:
        """_plan_chunk's output columns with room for k more deaths after the n written."""
        rows = self.cols.shape[0]
        if self.n + k > self.cols.shape[1]:
            grown = np.empty((rows, max(self.n + k, 2 * self.cols.shape[1])), np.int64)
            grown[:, :self.n] = self.cols[:, :self.n]
            self.cols = grown
        if rows < N_D and self.scratch.shape[1] < k:
            self.scratch = np.empty((N_D - rows, k), np.int64)
        return [self.cols[c, self.n:self.n + k] for c in range(rows)] + \
            [self.scratch[c, :k] for c in range(N_D - rows)]

    def written(self) -> np.ndarray:
        return self.cols[:, :self.n]


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
