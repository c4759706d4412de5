"""The replay kernel: one numba call per trace chunk applies every event to the engine state
(mallocgc for allocs, deaths for frees, pacer trigger tests after refills and large
allocations, or the trace's GC markers in recorded mode). Trace time (the largest ts so far)
drives the mark's end, periodic GC, the background sweeper and scavenger (gc.timed), and the
timeline is sampled every P_SAMPLE_EVERY events, both independent of chunking. Before an event that could outgrow
an array it returns (status, index) so the Python driver grows the arrays and resumes there.
"""

from __future__ import annotations

from goalloc.engine import (
    gc,
    mark,
    mcache,
    mheap,
    mspan,
    mstats,
    pacer,
    pagealloc,
    scavenge,
    sweep,
)
from goalloc.engine.state import (
    CYK_FORCED,
    CYK_HEAP,
    CYK_RECORDED,
    MAX_OBJS,
    NEED_CHUNKS,
    NEED_CYC,
    NEED_LK,
    NEED_NONE,
    NEED_OBJS,
    NEED_SPANS,
    NEED_TB,
    NEED_TL,
    OB_SIZE,
    OB_SLOT,
    OB_SPAN,
    OB_TB,
    P_FAST_PATHS,
    P_MARK_STRETCH_PPM,
    P_MARK_TERM_AT_END,
    P_NPROCS,
    P_REC_MARK_TAKES_PPM,
    P_RECORDED,
    P_SAMPLE_EVERY,
    P_SMALL_MAX,
    P_SWEEP_FREES,
    P_SWEEP_PACED,
    P_SWEEP_PS_PER_PAGE,
    P_TINY_SIZE,
    P_TINY_SPC,
    PAGE_SIZE,
    PP_FLUSH_PENDING,
    PP_FREES_IN_SPAN,
    PP_LAST_FREE_SPAN,
    PP_TINY,
    S_ALLOC_SCAN,
    S_CUR_P,
    S_CYCLES,
    S_DEATH_NEXT,
    S_EVENT,
    S_FREES,
    S_FREES_BASE,
    S_HEAP_LIVE,
    S_INIT,
    S_LIVE_SLOT_BYTES,
    S_LK_N,
    S_MAPPED_CHUNKS,
    S_MARK_BY_GOAL,
    S_MARK_TERM_PENDING,
    S_MARK_TERM_PENDING_TS,
    S_METRIC_GROUP,
    S_METRIC_HEAP,
    S_NEXT_SAMPLE,
    S_NEXT_TIMED,
    S_NOW,
    S_OBJ_BYTES,
    S_PAGES_FREE,
    S_PAGES_INUSE,
    S_PAGES_RELEASED,
    S_PEAK_H,
    S_PEAK_H_L,
    S_PEAK_ID,
    S_PEAK_L,
    S_PEAK_L_H,
    S_PHASE,
    S_PK_DEAD,
    S_PK_EVENT,
    S_PK_FREE,
    S_PK_FREESLOT,
    S_PK_INUSE,
    S_PK_OBJ,
    S_PK_RELEASED,
    S_PK_ROUND,
    S_PK_TAIL,
    S_PK_UNUSED,
    S_REC_FREE_BYTES,
    S_REC_FREES,
    S_REC_MARKING,
    S_REC_SETTLED,
    S_REC_SETTLED_BYTES,
    S_REQ_LIVE,
    S_SPAN_HW,
    S_SPAN_NFREE,
    S_SPANS_INUSE,
    S_STALL,
    S_TAIL_BYTES,
    S_TB_HW,
    S_TB_NFREE,
    S_TL_N,
    S_TS,
    S_UNSWEPT,
    SP_ALLOCCOUNT,
    SP_ELEMSIZE,
    SP_INUSE,
    SP_LIVE,
    SP_SPC,
    TLK_END,
    TLK_METRIC,
    TLK_SAMPLE,
)
from goalloc.jit import kernel, njit, prefetch
from goalloc.trace.format import (
    ALLOC,
    FLAG_NOSCAN,
    FLAG_SNAPSHOT,
    FREE,
    GC_END,
    GC_MARK_TERM,
    GC_START,
    HEAP_LIVE,
    METRIC,
    SPAN_ALLOC,
    SPAN_FREE,
    STACK_ALLOC,
    STACK_FREE,
)

# Engine-internal event kind (never in a trace file): the driver turns a gc_start whose trace
# says the program forced it (aux GC_TRIGGER_FORCED: runtime.GC) into this in pacer mode when
# Config.replay_forced_gcs; the kernel runs a forced cycle there.
FORCED_GC = 64
# Engine-internal event kind: the driver turns a stw_begin whose reason is one of
# goalloc.trace.format.FLUSH_STW_REASONS (runtime/mstats.go readmemstats_m calls
# flushallmcaches) into this; the kernel releases every P's mcache there.
FLUSH_MCACHES = 65
# Engine-internal event kind: the driver turns a span_alloc of a manual span (aux -1: a stack
# or GC work buffer span) into this; the kernel places its pages (mheap.alloc_manual). Every
# other span_alloc and every span_free frees the manual span at its id, if there is one.
MANUAL_ALLOC = 66



# Software prefetch of what the frees ahead will touch (no effect on results): a free's object
# record, then its span's row, bitmap words and tiny block record, are cache misses on a heap of
# millions of objects, each load waiting on the one before. PREFETCH_FAR events (or deaths)
# ahead the record is asked for; PREFETCH_NEAR ahead, when it has arrived, what it points to.
PREFETCH_FAR = 16
PREFETCH_NEAR = 6


@njit(cache=True, inline="always")
def _prefetch_free(ob, sp, lbits, mbits, tb, far, near):
    """Prefetch object `far`'s record and, from object `near`'s record, its span row, its
    slot's live and mark bitmap words and its tiny block record. Any id (an allocation's, a
    stray one) is clamped into the tables: straight-line, so the loop stays free of
    reference counting."""
    prefetch(ob, min(max(far, 0), ob.shape[0] - 1), 0)
    q = min(max(near, 0), ob.shape[0] - 1)
    sid = min(max(ob[q, OB_SPAN], 0), sp.shape[0] - 1)
    word = min(max(ob[q, OB_SLOT], 0), MAX_OBJS - 1) >> 6
    prefetch(sp, sid, SP_SPC)
    prefetch(sp, sid, SP_LIVE)
    prefetch(lbits, sid, word)
    prefetch(mbits, sid, word)
    prefetch(tb, min(max(ob[q, OB_TB], 0), tb.shape[0] - 1), 0)


@kernel
def _init(s):
    if s.sc[S_INIT] == 0:
        pacer.commit(s, False)
        s.sc[S_INIT] = 1


def init(s):
    _init(s)


@kernel
def _event_p(pv, nprocs):
    """The P an event runs on: events on no P (-1) use P 0; Ps beyond GOMAXPROCS wrap."""
    q = int(pv)
    if q < 0:
        return 0
    if q >= nprocs:
        return q % nprocs
    return q


@kernel
def _peaks(sc, event):
    inuse = sc[S_PAGES_INUSE] * PAGE_SIZE
    h = inuse + sc[S_PAGES_FREE] * PAGE_SIZE
    live = sc[S_REQ_LIVE]
    if live > sc[S_PEAK_L]:
        sc[S_PEAK_L] = live
        sc[S_PEAK_L_H] = h
    if h > sc[S_PEAK_H]:
        sc[S_PEAK_H] = h
        sc[S_PEAK_ID] += 1
        sc[S_PEAK_H_L] = live
        obj = sc[S_OBJ_BYTES]
        sc[S_PK_OBJ] = obj
        sc[S_PK_UNUSED] = inuse - obj
        sc[S_PK_FREE] = sc[S_PAGES_FREE] * PAGE_SIZE
        sc[S_PK_RELEASED] = sc[S_PAGES_RELEASED] * PAGE_SIZE
        sc[S_PK_ROUND] = sc[S_LIVE_SLOT_BYTES] - live
        sc[S_PK_TAIL] = sc[S_TAIL_BYTES]
        sc[S_PK_FREESLOT] = inuse - obj - sc[S_TAIL_BYTES]
        sc[S_PK_DEAD] = obj - sc[S_LIVE_SLOT_BYTES]
        sc[S_PK_INUSE] = inuse
        sc[S_PK_EVENT] = event
    elif h == sc[S_PEAK_H] and live > sc[S_PEAK_H_L]:
        sc[S_PEAK_H_L] = live  # J&W L at peak H: the largest L while H is at its maximum


@kernel
def replay_chunk(s, kind, ts, p, ids, size, flags, scan, start, i0, death_at, death_id):
    """Replay events i0.. of one chunk (_replay_chunk). The Python entry: it holds the state
    and the chunk's arrays, counted, for the call; the loop runs in a function over the state
    compiled without reference counting (goalloc/jit.py), where each array read from the
    state or held across a call had cost numba's runtime calls per event."""
    return _replay_chunk(s, kind, ts, p, ids, size, flags, scan, start, i0, death_at, death_id)


@njit(cache=True)
def _replay_chunk(s, kind, ts, p, ids, size, flags, scan, start, i0, death_at, death_id):
    """Replay events i0.. of one chunk. Returns (status, index): NEED_NONE and n when done,
    else the capacity to grow and the event to resume at (not yet applied). death_at /
    death_id: look-ahead deaths (engine/snapshot.py), each applied just before the event whose
    index it names, in order (sc[S_DEATH_NEXT]: the next one; the driver zeroes it per chunk).
    scan: per allocation, the bytes heapScan grows by (engine/mbitmap.py), -1: its slot."""
    n = kind.shape[0]
    n_deaths = death_at.shape[0]
    sc = s.sc
    prm = s.prm
    nprocs = prm[P_NPROCS]
    recorded = prm[P_RECORDED] != 0
    sweep_frees = prm[P_SWEEP_FREES] != 0
    paced = prm[P_SWEEP_PACED] != 0
    fast_paths = prm[P_FAST_PATHS] != 0  # off: every event down the general path (a test guard)
    every = prm[P_SAMPLE_EVERY]
    takes_ppm = prm[P_REC_MARK_TAKES_PPM]
    stretch_ppm = prm[P_MARK_STRETCH_PPM]
    clock_ppm = takes_ppm != 0 or stretch_ppm != 0
    sweep_clock = prm[P_SWEEP_PS_PER_PAGE] > 0
    now = sc[S_NOW]
    # array sizes change only between calls (the driver grows them), so hoist them
    ob = s.ob
    n_ob = ob.shape[0]
    tl_cap = s.tl.shape[0] - 4
    cyc_cap = s.cyc.shape[0] - 2
    chunk_cap = s.palloc.shape[0] - 1
    lk_cap = s.lk.shape[0]
    # the hot arrays, loaded once: the fast paths below (small allocations from the cached
    # span, tiny allocations into the current block, frees) use only these locals, so no
    # array is held across a call there (numba's refcounting would otherwise cost a real
    # NRT call per access); everything else goes through the helpers as before
    sp = s.sp
    cs = s.cs
    cs_snap = s.cs_snap
    pk_cs = s.pk_cs
    lbits = s.lbits
    mbits = s.mbits
    abits = s.abits
    acache = s.acache
    mc = s.mc
    tb = s.tb
    pp = s.pp
    sp_cap = sp.shape[0]
    tb_cap = tb.shape[0]
    class8 = s.class8
    class128 = s.class128
    small_max = prm[P_SMALL_MAX]
    tiny_size = prm[P_TINY_SIZE]
    tspc = prm[P_TINY_SPC]
    # one exit (break) rather than a return per check: numba releases every array local at
    # each exit
    need = NEED_NONE
    at = n
    pend = -1  # a FREE event's object: freed at the top of the next turn, before its deaths
    i = i0 - 1
    while True:
        i += 1
        ev = start + i
        # the frees due before event i, through one copy of gc.free_object's inline steps on
        # the arrays loaded above: event i-1's FREE (nothing ran since it was dispatched),
        # then the look-ahead deaths named for event i (died before this mark start: a live
        # bit cleared, no mark bit touched; their spans' current sweep must keep them). A
        # helper holding these branches (tiny_block_death's call) would bring numba's
        # reference counting into the loop (benchmarks/bench_nrt.py: 34 -> 44 incref and
        # 58 -> 78 decref sites; docs/model.md, Performance)
        while True:
            if pend >= 0:
                o = pend
                pend = -1
                swept = sweep_frees
            elif i < n and sc[S_DEATH_NEXT] < n_deaths and death_at[sc[S_DEATH_NEXT]] <= ev:
                d = sc[S_DEATH_NEXT]
                o = death_id[d]
                sc[S_DEATH_NEXT] += 1
                _prefetch_free(ob, sp, lbits, mbits, tb,
                               death_id[min(d + PREFETCH_FAR, n_deaths - 1)],
                               death_id[min(d + PREFETCH_NEAR, n_deaths - 1)])
                if o >= n_ob:
                    continue
                swept = False
            else:
                break
            dsid = ob[o, OB_SPAN]
            if fast_paths and dsid >= 0:
                b, dslot = gc.dying_object(ob, sp, cs, cs_snap, pk_cs, sc, o, dsid, tspc)
                if b >= 0:  # a tiny block's slot is of class tspc: one touch covers both
                    dsid, dslot = gc.tiny_block_death(tb, sc, b)
                if dsid >= 0:
                    mspan.slot_dead_step(sp, cs, lbits, mbits, sc, dsid, dslot, swept)
            elif dsid != -1:
                gc.free_object(s, o, swept)
        if i >= n:
            break
        _prefetch_free(ob, sp, lbits, mbits, tb, ids[min(i + PREFETCH_FAR, n - 1)],
                       ids[min(i + PREFETCH_NEAR, n - 1)])
        k = kind[i]
        # room for what a GC boundary or a sample writes (cycle record, timeline rows)
        if sc[S_TL_N] > tl_cap:
            need = NEED_TL
            at = i
            break
        if sc[S_CYCLES] > cyc_cap:
            need = NEED_CYC
            at = i
            break
        # locks.reserve, on the local sc
        if lk_cap - sc[S_LK_N] < 2 * sc[S_SPANS_INUSE] + 2 * sc[S_MAPPED_CHUNKS] + 1024:
            need = NEED_LK
            at = i
            break
        if sweep_clock:  # the mutators' sweeping so far, on the clock (sweep.mutator_stall)
            sweep.mutator_stall(s, ts[i])
        if clock_ppm:  # the mutators' time while marking (mark.mutator_clock)
            t = mark.mutator_clock(sc, takes_ppm, stretch_ppm, ts[i])
        else:
            t = ts[i] + sc[S_STALL]  # the model's clock: later by the time mutators were parked
        if t > now:
            now = t
            sc[S_NOW] = t
        if ev >= sc[S_NEXT_SAMPLE]:
            gc.sample(s, TLK_SAMPLE, ev)
            sc[S_NEXT_SAMPLE] = (ev // every + 1) * every
        pi = _event_p(p[i], nprocs)
        sc[S_CUR_P] = pi  # the P this event's work (and heap locks) runs on
        if now >= sc[S_NEXT_TIMED]:
            sc[S_EVENT] = ev
            gc.timed(s)
        if paced:
            if k == FREE:
                sc[S_REC_FREES] += 1  # the runtime's sweepers freed one more object by now
                o = ids[i]
                # dead already (look-ahead): the span it died in. A sweeper reports a span's
                # frees in a row on its own P, then a SpanFree if it freed the span: a run
                # that moves on to another span names one the runtime swept and kept
                fsid = ob[o, OB_SLOT] if o < n_ob and ob[o, OB_SPAN] == -1 else -1
                if fsid >= 0 and s.sp[fsid, SP_INUSE] == 1:
                    sc[S_REC_FREE_BYTES] += s.sp[fsid, SP_ELEMSIZE]  # its slot's bytes
                elif o < n_ob:
                    sc[S_REC_FREE_BYTES] += ob[o, OB_SIZE]  # (its span gone: the request)
                if fsid >= 0 and fsid == pp[pi, PP_LAST_FREE_SPAN]:
                    pp[pi, PP_FREES_IN_SPAN] += 1
                else:
                    if pp[pi, PP_LAST_FREE_SPAN] >= 0:
                        sweep.follow_swept(s, pp[pi, PP_LAST_FREE_SPAN], pp[pi, PP_FREES_IN_SPAN])
                    pp[pi, PP_LAST_FREE_SPAN] = fsid
                    pp[pi, PP_FREES_IN_SPAN] = 1
            elif k != HEAP_LIVE:  # (a refill's heapLive update comes between its cacheSpan's
                # frees and the allocation: the runtime traces it there)
                if k == SPAN_FREE and pp[pi, PP_LAST_FREE_SPAN] >= 0:
                    sweep.follow(s, pp[pi, PP_LAST_FREE_SPAN])  # the span those frees emptied
                elif k != ALLOC and pp[pi, PP_LAST_FREE_SPAN] >= 0:
                    sweep.follow_swept(s, pp[pi, PP_LAST_FREE_SPAN], pp[pi, PP_FREES_IN_SPAN])
                if k != ALLOC:  # an allocation's refill may take that span (recorded_choice)
                    pp[pi, PP_LAST_FREE_SPAN] = -1
                # keep the model's sweepers up with the count of frees reported before the
                # previous event that was not a free (sweep.paced says why not up to the last
                # one), and finish sweeping once nothing dead is left unswept
                if (sc[S_FREES] - sc[S_FREES_BASE] < sc[S_REC_SETTLED]
                        or (sc[S_UNSWEPT] > 0 and sc[S_OBJ_BYTES] == sc[S_LIVE_SLOT_BYTES])):
                    sweep.paced(s, sc[S_REC_SETTLED], sc[S_REC_SETTLED_BYTES])
                sc[S_REC_SETTLED] = sc[S_REC_FREES]
                sc[S_REC_SETTLED_BYTES] = sc[S_REC_FREE_BYTES]
        # room for the chunks the heap may grow by (pagealloc.grow): at most an object's
        # pages plus one, or a manual span's pages
        grow_pages = 0
        if k == ALLOC:
            grow_pages = (size[i] + PAGE_SIZE - 1) // PAGE_SIZE + 1
        elif k == MANUAL_ALLOC:
            grow_pages = size[i]
        if grow_pages > 0 and chunk_cap - sc[S_MAPPED_CHUNKS] < pagealloc.chunks_needed(grow_pages):
            need = NEED_CHUNKS
            at = i
            break
        if k == ALLOC:
            oid = ids[i]
            sz = size[i]
            if oid >= n_ob:
                need = NEED_OBJS
                at = i
                break
            if sc[S_SPAN_NFREE] + sp_cap - sc[S_SPAN_HW] < 2:  # mspan.free_records
                need = NEED_SPANS
                at = i
                break
            if sc[S_TB_NFREE] + tb_cap - sc[S_TB_HW] < 2:  # mcache.tb_free_records
                need = NEED_TB
                at = i
                break
            sc[S_EVENT] = ev
            sc[S_TS] = t
            if pp[pi, PP_FLUSH_PENDING] != 0:  # acquirep flushed the P before it allocates
                mcache.late_flush(s, pi)
            sc[S_ALLOC_SCAN] = scan[i]
            noscan = (flags[i] & FLAG_NOSCAN) != 0
            fast = False
            if fast_paths and 0 < sz <= small_max and not (sweep_frees and ob[oid, OB_SPAN] != -1):
                # mcache.malloc without a refill, by the same inline steps on the arrays loaded
                # above (a call reading them through the state would cost an atomic
                # incref/decref per array); anything else takes mcache.malloc
                want = -1  # span class whose cached span gets the object (or a new tiny block)
                tiny = noscan and sz < tiny_size
                old = pp[pi, PP_TINY]
                if tiny:
                    off = mcache.tiny_fit(pp, pi, sz, tiny_size)
                    if off >= 0:  # into the P's current tiny block
                        # mspan.keep_peak_row by hand: called here (unlike inside
                        # gc.dying_object) it adds reference counting (bench_nrt.py: +5 sites)
                        if mspan.class_changed(cs_snap, sc[S_PEAK_ID], tspc):
                            for f in range(cs.shape[1]):
                                pk_cs[tspc, f] = cs[tspc, f]
                        mcache.tiny_combine(pp, tb, ob, sc, cs, pi, oid, sz, off, tspc)
                        fast = True
                    else:
                        want = tspc  # a new 16-byte block
                else:
                    want = mcache.small_class(sz, noscan, prm, class8, class128)
                sid = -1 if want < 0 else mc[pi, want]
                slot = -1 if sid < 0 else mspan.alloc_cache_slot(sp, acache, sid)
                if slot >= 0:  # mcache.nextFree from the cached span's allocCache
                    mspan.take_slot(sp, acache, abits, sid, slot)
                    sp[sid, SP_ALLOCCOUNT] += 1
                    spc = sp[sid, SP_SPC]
                    if mspan.class_changed(cs_snap, sc[S_PEAK_ID], spc):
                        for f in range(cs.shape[1]):
                            pk_cs[spc, f] = cs[spc, f]
                    mspan.slot_live_step(sp, cs, lbits, mbits, sc, sid, slot, sz)
                    blk = mcache.tb_new(sc, tb, sid, slot) if tiny else -1
                    mcache.set_obj(ob, oid, sid, slot, sz, blk)
                    if tiny and mcache.new_block_replaces(pp, pi, old, sz):
                        if old >= 0 and mcache.tb_release(tb, old):
                            mcache.tb_kill(s, old, sweep_frees)
                        mcache.set_tiny(pp, tb, pi, blk, sz)
                    fast = True
            if not fast:
                if sweep_frees and ob[oid, OB_SPAN] != -1:
                    gc.free_object(s, oid, sweep_frees)  # the id's earlier object was swept unobserved
                test = mcache.malloc(s, pi, oid, sz, noscan)
                if test and not recorded:
                    if sc[S_PHASE] == 0:
                        goal, trig, lb = pacer.goal_and_trigger(s)
                        if sc[S_HEAP_LIVE] >= trig:
                            gc.mark_start(s, ev, t, trig, goal, lb, CYK_HEAP)
                    elif mark.assist(s):  # the assist that finished the mark's work
                        sc[S_MARK_BY_GOAL] = 1
                        gc.mark_term(s, ev, sc[S_NOW], 0)
                    now = sc[S_NOW]  # an assist may have parked the mutators (mark.park)
            sc[S_ALLOC_SCAN] = -1
            pp[pi, PP_LAST_FREE_SPAN] = -1
            _peaks(sc, ev)
        elif k == FREE:
            if ids[i] < n_ob:
                pend = ids[i]  # freed at the top of the next turn (above)
        elif k == MANUAL_ALLOC:
            sc[S_EVENT] = ev
            sc[S_TS] = t
            # one alive when recording began was placed before the trace, like the snapshot's
            # heap spans (snapshot.Plan.build): not from a page cache the model just filled
            snap = (flags[i] & FLAG_SNAPSHOT) != 0
            if not (snap and 0 <= ids[i] < s.msp.shape[0] and s.msp[ids[i], 0] >= 0):
                # (a snapshot one placed where the recording had it is there already)
                mheap.alloc_manual(s, ids[i], size[i], -1 if snap else pi)
        elif k == SPAN_FREE or k == SPAN_ALLOC:
            sc[S_EVENT] = ev
            sc[S_TS] = t
            mheap.free_manual(s, ids[i])
        elif k == STACK_ALLOC or k == STACK_FREE:
            mstats.stack_event(sc, s.stk, k == STACK_ALLOC, ids[i], size[i])
        elif k == HEAP_LIVE:
            pacer.recorded_heap_live(sc, size[i], False)
        elif k == GC_START or k == GC_MARK_TERM:
            if k == GC_START:
                pacer.recorded_nonheap(sc, size[i])
                pacer.recorded_heap_live(sc, 0, True)
                mark.recorded_mark_began(s, ids[i])
            sc[S_REC_MARKING] = 1 if k == GC_START else 0  # mark.mutator_clock
            if recorded and k == GC_START and sc[S_PHASE] == 0:
                goal, trig, lb = pacer.goal_and_trigger(s)
                gc.mark_start(s, ev, t, -1, goal, lb, CYK_RECORDED)
            elif recorded and k == GC_MARK_TERM and sc[S_PHASE] == 1:
                if prm[P_MARK_TERM_AT_END] != 0:
                    # the row is the stop-the-world's request: Ps still running allocate
                    # black, sweep nothing, until the world stops (the gc_end row)
                    sc[S_MARK_TERM_PENDING] = 1 + size[i]
                    sc[S_MARK_TERM_PENDING_TS] = t
                else:
                    gc.mark_term(s, ev, t, size[i])  # size: Ps flushed late (snapshot.Plan)
        elif k == GC_END and sc[S_MARK_TERM_PENDING] != 0:
            sc[S_EVENT] = ev
            sc[S_TS] = t
            # the mark ended at the request (the cycle's end time: its length, the scan rate)
            gc.mark_term(s, ev, sc[S_MARK_TERM_PENDING_TS], sc[S_MARK_TERM_PENDING] - 1)
            sc[S_MARK_TERM_PENDING] = 0
        elif k == METRIC:
            # a runtime/metrics sample the program logged: the model's classes at the same
            # point, once per group of values read together (report/fidelity.py compares them)
            if ids[i] != sc[S_METRIC_GROUP]:
                sc[S_METRIC_GROUP] = ids[i]
                sc[S_METRIC_HEAP] = 0
                gc.sample(s, TLK_METRIC, ev)
            scavenge.on_metric(s, flags[i], size[i])  # the driver put the value's index there
        elif k == FLUSH_MCACHES:
            # flushallmcaches: every P's releaseAll (spans back to mcentral, tiny block dropped)
            for q in range(nprocs):
                mcache.release_all(s, q)
        elif k == FORCED_GC and not recorded:
            pacer.recorded_nonheap(sc, size[i])
            pacer.recorded_heap_live(sc, 0, True)
            mark.recorded_mark_began(s, ids[i])
            sc[S_REC_MARKING] = 1  # mark.mutator_clock: the recording marked from here
            # runtime.GC: wait for a cycle in progress to end, then a whole cycle; the caller
            # blocks until mark termination (idle Ps mark), so it ends at the same event
            sc[S_EVENT] = ev
            sc[S_TS] = t
            if sc[S_PHASE] == 1:
                gc.mark_term(s, ev, t, 0)
            goal, trig, lb = pacer.goal_and_trigger(s)
            gc.mark_start(s, ev, t, -1, goal, lb, CYK_FORCED)
            gc.mark_term(s, ev, sc[S_NOW], 0)  # (after gcStart's sweep: sweep.mutator_stall)
    return need, at


@kernel
def force_gc(s, event, ts):
    """A whole cycle now (runtime.GC-like): used at trace end by tests and reports."""
    if s.sc[S_PHASE] == 0:
        goal, trig, lb = pacer.goal_and_trigger(s)
        gc.mark_start(s, event, ts, -1, goal, lb, CYK_FORCED)
    gc.mark_term(s, event, max(ts, s.sc[S_NOW]), 0)


@kernel
def sample_end(s, event):
    """The timeline's last sample, after the last event (the caller made room)."""
    if s.prm[P_SWEEP_PACED] != 0:
        sweep.paced(s, s.sc[S_REC_FREES], s.sc[S_REC_FREE_BYTES])  # frees at the trace's end
    gc.sample(s, TLK_END, event)


@kernel
def current_goal(s):
    """The heap goal the pacer would use now (INF when GOGC=off and no limit)."""
    goal, trig, lb = pacer.goal_and_trigger(s)
    return goal
