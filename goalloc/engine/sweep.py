"""Sweeping (runtime/mgcsweep.go, mheap.go, mcentral.go; Go 1.19-1.26, 1.22/1.23 source read):
sweeping one span (mspan.sweep: the mark bits become the alloc bits, unmarked slots are freed,
freeindex restarts at 0, an empty span or an unmarked large span goes back to the heap unless
the caller preserves it), and every sweeper the runtime has besides cacheSpan's on-demand one:

- sweepone: the next unswept span by sweep.centralIndex (span class ascending, full before
  partial, as sweepClass orders them); a freed span's pages become reclaim credit.
- proportional sweep (deductSweepCredit) before a refill and a large allocation, paced by
  sweepPagesPerByte set at commit (gcPaceSweeper: in-use pages / (trigger - heapLive - 1 MiB),
  basis heapLive and pagesSwept then).
- mheap.reclaim before every span allocation while sweeping is unfinished: scan the heap by
  512-page chunks in address order for in-use unswept spans with no marked object and sweep
  (free) them until npages are freed; surplus goes to reclaim credit.
- the background sweeper (bgsweep), driven by trace time: one span per P_BGSWEEP_NS of trace
  time from mark termination on (docs/model.md states the rate model); or, replaying a recorded
  Go trace with its own GC cycles, paced by the recording (paced): the runtime reports every
  object its sweepers free when they free it, so the model's sweepers are kept at least as far
  as the runtime's had got, in objects freed since mark termination, and finish once nothing
  dead is left unswept; where the recording names the span a sweeper swept (a run of frees
  on one P, then a SpanFree or another span's frees) the model sweeps that span then
  (follow, follow_swept), and a refill takes the span its own cacheSpan swept
  (mcentral.recorded_choice).
- sweep termination finishes everything (gc.finish_sweep).

The mutators' sweeping takes their time (mutator_stall, pacer mode): cacheSpan, proportional
sweep, mheap.reclaim and gcStart's sweepone loop (gc.mark_start: the cycle begins only once
the heap is swept) run on the allocating goroutine, which meanwhile runs none of its own code.
A Go recording times its mutators' sweep loops (the header's source.sweep, the importer's
GCSweepBegin..End ranges): that time per page swept is the model's cost, and the recording's
own total, spread over its trace, is already in the trace's clock; so only the model's
mutators' sweeping beyond it goes on the clock, over the Ps the recording's mutators kept
busy. The background sweeper runs on its own goroutine and costs the mutators nothing here.
Below the live heap, where every cycle begins as the last ends, a Go 1.27 LRU loop spent 38%
of its wall time in gcStart's sweep (docs/model.md 2f).

Span sweepgen (relative to mheap sweepgen sg): sg-2 unswept, sg swept, sg+1 cached stale,
sg+3 swept and cached.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import gcbits, mheap, mspan, spanset
from goalloc.engine.locks import LK_RECLAIM, acquire, foreground
from goalloc.engine.locks import background as lk_background
from goalloc.engine.state import (
    CHUNK_PAGES,
    CS_ALLOC_BYTES,
    CS_ALLOC_SLOTS,
    INF,
    P_BGSWEEP_NS,
    P_BUSY_PS_PPM,
    P_REC_SWEEP_PPM,
    P_SWEEP_PS_PER_PAGE,
    PAGE_SIZE,
    S_BG_SWEEPING,
    S_BGSWEEP_T,
    S_FREE_BYTES,
    S_FREE_BYTES_BASE,
    S_FREES,
    S_FREES_BASE,
    S_HEAP_LIVE,
    S_LIVE_SLOT_BYTES,
    S_LK_TS,
    S_MAPPED_CHUNKS,
    S_MUTATOR_SWEPT_PAGES,
    S_NOW,
    S_OBJ_BYTES,
    S_PAGES_INUSE,
    S_PAGES_SWEPT,
    S_PAGES_SWEPT_BASIS,
    S_PROP_DIST_PAGES,
    S_PROP_HEAP_DIST,
    S_PROP_ON,
    S_RECLAIM_CREDIT,
    S_RECLAIM_INDEX,
    S_SG,
    S_SPANS_SWEPT,
    S_STALL,
    S_SWEEP_CLASS,
    S_SWEEP_DONE_TS,
    S_SWEEP_LIVE_BASIS,
    S_SWEEP_STALL,
    S_SWEEP_TRACE_T,
    S_SWEPT_BG,
    S_SWEPT_PROP,
    S_SWEPT_RECLAIM,
    S_TS0,
    S_UNSWEPT,
    SP_ALLOCCOUNT,
    SP_BASE,
    SP_ELEMSIZE,
    SP_FREEINDEX,
    SP_INUSE,
    SP_LIVE,
    SP_NELEMS,
    SP_NPAGES,
    SP_SPC,
    SP_SWEEPGEN,
    SP_WHERE,
)
from goalloc.jit import U0, njit, popcount64

RECORDED_SWEEP_KEYS = ("ranges", "ns", "swept_bytes", "reclaimed_bytes", "unopened", "span_ns")


def recorded(source: dict | None, procs: int) -> dict | None:
    """A Go recording's allocation-path sweeping as its trace timed it (the header's
    source.sweep: the GCSweepBegin..GCSweepEnd ranges of cacheSpan's, deductSweepCredit's and
    mheap.reclaim's loops, trace/importers/gomark.py), with `share`, its time over GOMAXPROCS x
    the trace's span. The model's sweepers add no time to its clock (docs/model.md, "GC CPU:
    the marks' work, and the sweep the clock leaves out"), so this is the recording's fact,
    not the model's. None when the header has none, or figures no trace can have."""
    sw = (source or {}).get("sweep")
    if not isinstance(sw, dict) or procs <= 0 or not all(
            type(sw.get(k)) is int and 0 <= sw[k] < 1 << 62 for k in RECORDED_SWEEP_KEYS):
        return None
    if sw["span_ns"] <= 0 or sw["ns"] > procs * sw["span_ns"]:
        return None
    out = {k: sw[k] for k in RECORDED_SWEEP_KEYS}
    out["share"] = round(sw["ns"] / (procs * sw["span_ns"]), 6)
    return out


MAX_SWEEP_NS_PER_PAGE = 1e6  # mutator_cost: 1 ms a page, ~1,000x the recordings' figures


def mutator_cost(recorded_sweep: dict | None, source: dict | None,
                 procs: int) -> tuple[int, int, int] | None:
    """mutator_stall's parameters from a Go recording (`recorded`'s figures and the header's
    source.scheduling busy share): (P_SWEEP_PS_PER_PAGE, P_REC_SWEEP_PPM, P_BUSY_PS_PPM), the
    recording's mutator sweep time per page swept, that time over one CPU's trace span, and
    the Ps its mutators kept busy (at least one: a sweeping goroutine holds up itself). None
    when the recording swept nothing it timed or says nothing of it."""
    if not recorded_sweep or recorded_sweep["swept_bytes"] <= 0 or recorded_sweep["ns"] <= 0:
        return None
    busy = ((source or {}).get("scheduling") or {}).get("busy_share")
    if not isinstance(busy, (int, float)) or isinstance(busy, bool) or not 0.0 < busy <= 1.0:
        busy = 1.0  # not said: every P
    per_page = recorded_sweep["ns"] * PAGE_SIZE / recorded_sweep["swept_bytes"]
    if per_page > MAX_SWEEP_NS_PER_PAGE:
        return None  # no sweeper takes that long a page: not a real recording's figures
    return (max(1, round(per_page * 1000)),
            round(recorded_sweep["ns"] / recorded_sweep["span_ns"] * 1e6),
            round(max(busy * procs, 1.0) * 1e6))


@njit(cache=True)
def needs_sweep(s, sid):
    sg = s.sc[S_SG]
    g = s.sp[sid, SP_SWEEPGEN]
    return g == sg - 2 or g == sg + 1


@njit(cache=True)
def sweep_span(s, sid, preserve):
    """Sweep span sid; return True if its pages went back to the heap."""
    sp = s.sp
    sc = s.sc
    if sc[S_BG_SWEEPING] == 0:
        sc[S_MUTATOR_SWEPT_PAGES] += sp[sid, SP_NPAGES]
    nel = sp[sid, SP_NELEMS]
    words = (nel + 63) >> 6
    cnt = 0
    for w in range(words):
        m = s.mbits[sid, w]
        cnt += popcount64(m)
        s.abits[sid, w] = m
        s.mbits[sid, w] = U0
    spc = sp[sid, SP_SPC]
    elemsize = sp[sid, SP_ELEMSIZE]
    freed = sp[sid, SP_ALLOCCOUNT] - cnt
    gcbits.new_mark_bits(sc, nel)  # the mark bits became the alloc bits: fresh mark bits
    sp[sid, SP_ALLOCCOUNT] = cnt
    sp[sid, SP_FREEINDEX] = 0
    s.acache[sid] = ~s.abits[sid, 0]
    sp[sid, SP_SWEEPGEN] = sc[S_SG]
    if freed != 0:
        mspan.cs_touch(s, spc)
        s.cs[spc, CS_ALLOC_SLOTS] -= freed
        s.cs[spc, CS_ALLOC_BYTES] -= freed * elemsize
        sc[S_OBJ_BYTES] -= freed * elemsize
        sc[S_FREES] += freed
        sc[S_FREE_BYTES] += freed * elemsize
    sc[S_SPANS_SWEPT] += 1
    sc[S_PAGES_SWEPT] += sp[sid, SP_NPAGES]
    if cnt == 0 and (not preserve or (spc >> 1) == 0):
        mheap.free_span(s, sid)
        return True
    return False


@njit(cache=True)
def place_swept(s, spc, sid):
    """A swept span with objects goes to partial swept if it has a free slot, else full swept."""
    idx = spanset.swept_idx(s)
    full = s.sp[sid, SP_ALLOCCOUNT] == s.sp[sid, SP_NELEMS]
    spanset.push(s, spanset.set_id(spc, full, idx), sid)


@njit(cache=True)
def sweep_and_place(s, spc, sid):
    """mspan.sweep(false): sweep, then free the span or put it in its swept set. True if freed."""
    if sweep_span(s, sid, False):
        return True
    place_swept(s, spc, sid)
    return False


@njit(cache=True)
def sweepone(s):
    """runtime.sweepone: sweep the next unswept span. Returns the pages it freed (0 if the span
    kept objects), or -1 when no unswept span is left."""
    sc = s.sc
    un = 1 - spanset.swept_idx(s)
    k = sc[S_SWEEP_CLASS]
    end = 2 * s.mc.shape[1]
    while k < end:
        spc = k >> 1
        sid = spanset.pop(s, spanset.set_id(spc, (k & 1) == 0, un))
        if sid >= 0:
            sc[S_SWEEP_CLASS] = k
            npages = s.sp[sid, SP_NPAGES]
            if sweep_and_place(s, spc, sid):
                sc[S_RECLAIM_CREDIT] += npages
                return npages
            return 0
        k += 1
    sc[S_SWEEP_CLASS] = end
    return -1


@njit(cache=True)
def deduct_sweep_credit(s, span_bytes, caller_pages):
    """deductSweepCredit: sweep until pagesSwept - basis >= sweepPagesPerByte * (heapLive -
    heapLiveBasis + span_bytes) - caller_pages."""
    sc = s.sc
    if sc[S_PROP_ON] == 0:
        return
    live = sc[S_HEAP_LIVE]
    new_live = span_bytes
    if sc[S_SWEEP_LIVE_BASIS] < live:
        new_live += live - sc[S_SWEEP_LIVE_BASIS]
    ppb = np.float64(sc[S_PROP_DIST_PAGES]) / np.float64(sc[S_PROP_HEAP_DIST])
    target = np.int64(ppb * np.float64(new_live)) - caller_pages
    while target > sc[S_PAGES_SWEPT] - sc[S_PAGES_SWEPT_BASIS]:
        if sweepone(s) < 0:
            sc[S_PROP_ON] = 0
            break
        sc[S_SWEPT_PROP] += 1


@njit(cache=True)
def pace(s, trigger):
    """gcPaceSweeper (at commit)."""
    sc = s.sc
    if sc[S_UNSWEPT] == 0:
        sc[S_PROP_ON] = 0
        return
    heap_dist = trigger - sc[S_HEAP_LIVE] - (1 << 20)
    if heap_dist < PAGE_SIZE:
        heap_dist = PAGE_SIZE
    dist_pages = sc[S_PAGES_INUSE] - sc[S_PAGES_SWEPT]
    if dist_pages <= 0:
        sc[S_PROP_ON] = 0
    else:
        sc[S_PROP_ON] = 1
        sc[S_PROP_DIST_PAGES] = dist_pages
        sc[S_PROP_HEAP_DIST] = heap_dist
        sc[S_SWEEP_LIVE_BASIS] = sc[S_HEAP_LIVE]
        sc[S_PAGES_SWEPT_BASIS] = sc[S_PAGES_SWEPT]


@njit(cache=True)
def _unmarked(s, sid):
    words = (s.sp[sid, SP_NELEMS] + 63) >> 6
    for w in range(words):
        if s.mbits[sid, w] != U0:
            return False
    return True


@njit(cache=True)
def _reclaim_chunk(s, idx, n):
    """mheap.reclaimChunk: sweep the in-use unswept spans with no marks that start in pages
    [idx, idx+n); return the pages freed."""
    sp = s.sp
    sg2 = s.sc[S_SG] - 2
    end = idx + n
    mapped = s.sc[S_MAPPED_CHUNKS] * CHUNK_PAGES
    if end > mapped:
        end = mapped
    freed = 0
    p = idx
    while p < end:
        sid = s.pg_span[p]
        if sid < 0:
            p += 1
            continue
        base = sp[sid, SP_BASE]
        npages = sp[sid, SP_NPAGES]
        if base == p and sp[sid, SP_SWEEPGEN] == sg2 and _unmarked(s, sid):
            spanset.unlink(s, sid)
            s.sc[S_SWEPT_RECLAIM] += 1
            if sweep_span(s, sid, False):
                freed += npages
            else:  # cannot happen (no marks), kept for safety
                place_swept(s, sp[sid, SP_SPC], sid)
            acquire(s, LK_RECLAIM)  # re-locked after sweeping the span
        p = base + npages
    return freed


@njit(cache=True)
def reclaim(s, npage):
    """mheap.reclaim: before allocating npage pages while sweeping is unfinished, free at
    least npage pages of unmarked spans (reclaim credit first)."""
    sc = s.sc
    if sc[S_RECLAIM_INDEX] >= INF or sc[S_UNSWEPT] == 0:
        return
    locked = False
    while npage > 0:
        credit = sc[S_RECLAIM_CREDIT]
        if credit > 0:
            take = credit if credit < npage else npage
            sc[S_RECLAIM_CREDIT] = credit - take
            npage -= take
            continue
        idx = sc[S_RECLAIM_INDEX]
        sc[S_RECLAIM_INDEX] = idx + CHUNK_PAGES
        if idx >= sc[S_MAPPED_CHUNKS] * CHUNK_PAGES:
            sc[S_RECLAIM_INDEX] = INF
            break
        if not locked:
            acquire(s, LK_RECLAIM)
            locked = True
        nfound = _reclaim_chunk(s, idx, CHUNK_PAGES)
        if nfound <= npage:
            npage -= nfound
        else:
            sc[S_RECLAIM_CREDIT] += nfound - npage
            npage = 0


@njit(cache=True)
def heap_alloc(s, npages, spc, p, elemsize, nelems, sweepgen):
    """mheap.alloc: reclaim first while sweeping is unfinished, then allocSpan."""
    if s.sc[S_UNSWEPT] > 0:
        reclaim(s, npages)
    return mheap.alloc_span(s, npages, spc, p, elemsize, nelems, sweepgen)


@njit(cache=True)
def background(s, now):
    """bgsweep up to trace time now: one span per P_BGSWEEP_NS since it last ran."""
    sc = s.sc
    per = s.prm[P_BGSWEEP_NS]
    if sc[S_UNSWEPT] == 0 or per <= 0:
        sc[S_BGSWEEP_T] = now
        return
    k = (now - sc[S_BGSWEEP_T]) // per
    if k <= 0:
        return
    done = 0
    t0 = sc[S_BGSWEEP_T]
    prev = lk_background(s, t0)
    sc[S_BG_SWEEPING] = 1
    while done < k:
        sc[S_LK_TS] = t0 + (done + 1) * per + 1  # this span's time on the sweeper's clock
        if sweepone(s) < 0:
            break
        done += 1
    sc[S_BG_SWEEPING] = 0
    foreground(s, prev)
    sc[S_SWEPT_BG] += done
    if sc[S_UNSWEPT] == 0:
        sc[S_SWEEP_DONE_TS] = sc[S_BGSWEEP_T] + done * per  # when the sweeper got there
        sc[S_BGSWEEP_T] = now
    else:
        sc[S_BGSWEEP_T] += k * per


@njit(cache=True)
def follow(s, sid):
    """The recording freed a heap span (SpanFree) right after frees on the same P, the last
    of which the model has dead in span sid: a sweeper that frees spans (bgsweep's sweepone,
    reclaim, or a proportional sweep; cacheSpan keeps what it sweeps) swept it by now, so the
    model sweeps sid now if it is empty in the model too (else the layouts differ there and
    it is not the span the runtime freed) and still unswept in an mcentral set. paced's
    count alone would meet those frees in sweepone's order, span class 0 (every large
    object) first, and free memory the runtime still counted as objects."""
    sp = s.sp
    if (sp[sid, SP_INUSE] == 1 and sp[sid, SP_WHERE] >= 0 and needs_sweep(s, sid)
            and sp[sid, SP_LIVE] == 0):
        _sweep_followed(s, sid)


@njit(cache=True)
def follow_swept(s, sid, frees):
    """The recording's frees on one P moved on past span sid's objects: the sweeper there
    swept sid (and kept it: no SpanFree came). The model sweeps sid now if it is still
    unswept in an mcentral set, keeps an object (an empty one the runtime would have
    freed: the layouts differ there) and those `frees` in a row are all its dead objects
    (else the same objects lie in other spans in the model: sweeping each would sweep more
    than the runtime did)."""
    sp = s.sp
    if (sp[sid, SP_INUSE] == 1 and sp[sid, SP_WHERE] >= 0 and needs_sweep(s, sid)
            and sp[sid, SP_LIVE] > 0 and sp[sid, SP_ALLOCCOUNT] - sp[sid, SP_LIVE] == frees):
        _sweep_followed(s, sid)


@njit(cache=True)
def _sweep_followed(s, sid):
    """The background sweeper sweeps span sid (unswept, in an mcentral set) now, as the
    recording shows the runtime's sweeper doing: freed, or placed in its swept set."""
    sc = s.sc
    sp = s.sp
    now = sc[S_NOW]
    prev = lk_background(s, now)
    spanset.unlink(s, sid)
    sc[S_LK_TS] = now + 1
    npages = sp[sid, SP_NPAGES]
    if sweep_and_place(s, sp[sid, SP_SPC], sid):
        sc[S_RECLAIM_CREDIT] += npages  # as sweepone credits mheap.reclaim
    foreground(s, prev)
    sc[S_SWEPT_BG] += 1  # (spanset.unlink notes when the last unswept span went)


@njit(cache=True)
def paced(s, target, target_bytes):
    """bgsweep as the recording paces it: sweep (sweepone order) until the model's sweepers have
    freed `target` objects or `target_bytes` of slots since mark termination, whichever comes
    first, or nothing is left unswept. The bytes: sweepone takes span class 0 (every large
    object) first, so where the runtime's sweepers had freed 28 small objects (7 KiB) the
    count alone freed 28 large ones (1.8 MiB the runtime still counted as objects). The caller
    passes the frees the trace reported before its last event that was not a free, so a
    span the runtime's cacheSpan swept just before an allocation is left for the model's own
    cacheSpan at that allocation rather than taken by the background sweeper first. Once no
    unswept span holds a dead object (the model's object bytes equal its live slot bytes) the
    rest frees nothing: it is swept at once, as bgsweep would finish, so sweeping ends and the
    scavenger is readied."""
    sc = s.sc
    if sc[S_UNSWEPT] == 0:
        return
    now = sc[S_NOW]
    prev = lk_background(s, now)
    sc[S_BG_SWEEPING] = 1
    done = 0
    while (sc[S_FREES] - sc[S_FREES_BASE] < target
           and sc[S_FREE_BYTES] - sc[S_FREE_BYTES_BASE] < target_bytes):
        sc[S_LK_TS] = now + 1
        if sweepone(s) < 0:
            break
        done += 1
    if sc[S_OBJ_BYTES] == sc[S_LIVE_SLOT_BYTES]:
        # nothing dead is left unswept: the rest frees nothing, bgsweep finishes it
        sc[S_LK_TS] = now + 1
        while sweepone(s) >= 0:
            done += 1
    sc[S_BG_SWEEPING] = 0
    foreground(s, prev)
    sc[S_SWEPT_BG] += done
    if sc[S_UNSWEPT] == 0:
        sc[S_SWEEP_DONE_TS] = now


@njit(cache=True, inline="always")
def mutator_stall(s, trace_ts):
    """The model's mutators' sweep time beyond what the trace's clock already holds goes on
    the clock (the module's comment): their pages swept x the recording's time per page, less
    the recording's own mutators' sweep time up to trace time trace_ts (its total spread
    evenly over the trace), over the Ps its mutators kept busy; what that asks for beyond the
    stall already taken is added to S_STALL (every later event comes that much later).
    Returns the ns added (0 without the recording's figures, P_SWEEP_PS_PER_PAGE 0)."""
    sc = s.sc
    per_page = s.prm[P_SWEEP_PS_PER_PAGE]
    if per_page <= 0:
        return 0
    if trace_ts > sc[S_SWEEP_TRACE_T]:
        sc[S_SWEEP_TRACE_T] = trace_ts
    # in float64: pages x ps and trace ns x ppm pass int64 on long traces
    model = np.float64(sc[S_MUTATOR_SWEPT_PAGES]) * np.float64(per_page) * 1e-3
    recorded = np.float64(sc[S_SWEEP_TRACE_T] - sc[S_TS0]) * np.float64(
        s.prm[P_REC_SWEEP_PPM]) * 1e-6
    want = np.int64((model - recorded) * 1e6 / np.float64(s.prm[P_BUSY_PS_PPM]))
    if want <= sc[S_SWEEP_STALL]:
        return 0
    add = want - sc[S_SWEEP_STALL]
    sc[S_SWEEP_STALL] = want
    sc[S_STALL] += add
    return add
