"""Reading a finished replay's arrays into a `Report` (engine/report.py): what runtime/metrics,
gctrace and MemStats would show at the end of the trace (ReadMemStats, mstats.go), at the peak
of held memory, per GC cycle (gctrace's line, mgc.go gcMarkTermination) and per size class
(/gc/heap/... and the span classes of mcentral), plus the lock, pause and GC CPU models' figures.

Plain Python over the engine's arrays once per replay (no per-event work); each part of the
report is one function below, in the order the Report lists them.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import contention, pauses
from goalloc.engine import state as S
from goalloc.engine.kernel import current_goal
from goalloc.engine.report import (
    ClassStats,
    Cycle,
    Fragmentation,
    MemoryClasses,
    Report,
    TimelineSample,
)

_CYCLE_KINDS = ("heap", "periodic", "forced", "recorded")
_SAMPLE_KINDS = ("sample", "mark-start", "mark-term", "end", "metric")


def _positive_int(v) -> int | None:
    """A header fact that should be a count: None unless it is an int >= 1."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else None


def build_report(eng, path: str, header, events: int) -> Report:
    """The Report of a replay whose events have all run (`Engine.finish` called)."""
    cfg = eng.config
    r = Report(
        trace=path, go_version=eng.version, go_version_source=eng.version_source,
        green_tea=eng.green_tea, green_tea_source=eng.green_tea_why,
        packed_span_scan=eng.packed_span_scan, packed_span_scan_source=eng.packed_span_scan_why,
        table=eng.table.name, gogc=cfg.gogc,
        memlimit=cfg.memlimit, procs=eng.procs, gc_mode=cfg.gc_mode, free_semantics=header.frees,
        sizes=header.sizes, events=events,
        tracer_buffer_bytes=int((header.source or {}).get("tracer_buffer_bytes") or 0),
        recorded_procs=header.gomaxprocs or None,
        recording_cpus=_positive_int((header.source or {}).get("cpus")),
        tracer_buffers_dropped=cfg.drops_tracer_buffers(),
        heap_base_padding_pages=eng.heap_pad_pages,
        pre_trace_heap_live=int(eng.arrays.sc[S.S_PRE_TRACE_LIVE]),
    )
    requested = header.sizes == "requested"
    r.cycles = cycles(eng)
    _memory_classes(r, eng.arrays.sc, requested)
    r.classes = class_stats(eng, requested)
    rank_fragmentation(r.classes)
    _counters(r, eng)
    r.timeline = timeline(eng.arrays)
    _sweep_and_scavenge(r, eng)
    contention.attach(r, eng)  # heap lock and span-set counts, modelled contention (#6)
    pauses.attach(r, eng, header)  # recorded and modelled STW pauses, MMU (#6)
    r.gc_cpu = gc_cpu(eng, r)
    r.mark_start_inuse = [t.objects + t.unused for t in r.timeline if t.kind == "mark-start"]
    plan = getattr(eng, "plan", None)
    r.recorded_replay = plan.summary() if plan is not None else None
    return r


def cycles(eng) -> list[Cycle]:
    """One record per GC cycle begun (gctrace's line); a cycle still marking at the end of the
    trace has its figures so far and no end."""
    a = eng.arrays
    sc = a.sc
    out = []
    ncyc = int(sc[S.S_CYCLES]) + (1 if sc[S.S_PHASE] == 1 else 0)
    for n in range(ncyc):
        c = a.cyc[n]
        done = n < sc[S.S_CYCLES]
        workers, assists = mark_cpu(
            eng, int(c[S.CY_BG_NS] if done else a.fs[S.F_BG_NS] - c[S.CY_BG_NS]),
            float(c[S.CY_SCAN_WORK]) if done else float(a.fs[S.F_MARK_DONE]),
            int((c[S.CY_END_TS] if done else sc[S.S_NOW]) - c[S.CY_START_TS]))
        out.append(Cycle(
            n=n + 1, start_event=int(c[S.CY_START_EVENT]), start_ts=int(c[S.CY_START_TS]),
            heap_at_trigger=int(c[S.CY_HEAP_AT_TRIGGER]),
            trigger=None if c[S.CY_TRIGGER] < 0 else int(c[S.CY_TRIGGER]),
            goal=int(c[S.CY_GOAL]), marked=int(c[S.CY_MARKED]) if done else int(sc[S.S_MARKED_NOW]),
            heap_at_end=int(c[S.CY_HEAP_AT_END]) if done else None,
            end_event=int(c[S.CY_END_EVENT]) if done else None,
            end_ts=int(c[S.CY_END_TS]) if done else None,
            limit_bound=bool(c[S.CY_LIMIT_BOUND]),
            kind=_CYCLE_KINDS[int(c[S.CY_KIND])], scan_work=int(c[S.CY_SCAN_WORK]),
            cons_mark=int(c[S.CY_CONS_MARK_PPM]) / 1e6 if done else float(a.fs[S.F_CONS_MARK]),
            mark_ended_by_goal=bool(c[S.CY_BY_GOAL]) if done else False,
            mark_end_wait_ns=int(c[S.CY_SCHED_WAIT]) if done else 0,
            past_max_scan_work=bool(c[S.CY_PAST_MAX_WORK]) if done else False,
            mark_cpu_ns=workers, assist_cpu_ns=assists,
            limiter_enabled=bool(c[S.CY_LIMITED]) if done else (
                int(sc[S.S_LIM_LAST_ENABLED_CYCLE]) == n + 1),
            stall_at_start_ns=int(c[S.CY_STALL_AT_START]),
            skew_at_start_ns=int(c[S.CY_SKEW_AT_START]),
            goal_at_end=int(c[S.CY_GOAL_AT_END]) if done and c[S.CY_GOAL_AT_END] >= 0 else None,
        ))
    return out


def _memory_classes(r: Report, sc, requested: bool) -> None:
    """The /memory/classes/heap/* split and its fragmentation parts, at the end and at the peak
    of held memory."""
    ps = S.PAGE_SIZE
    inuse = int(sc[S.S_PAGES_INUSE]) * ps
    obj = int(sc[S.S_OBJ_BYTES])
    r.end = MemoryClasses(objects=obj, unused=inuse - obj, free=int(sc[S.S_PAGES_FREE]) * ps,
                          released=int(sc[S.S_PAGES_RELEASED]) * ps)
    r.end_frag = Fragmentation(
        rounding=int(sc[S.S_LIVE_SLOT_BYTES] - sc[S.S_REQ_LIVE]) if requested else None,
        tail=int(sc[S.S_TAIL_BYTES]), free_slots=inuse - obj - int(sc[S.S_TAIL_BYTES]),
        dead_unswept=obj - int(sc[S.S_LIVE_SLOT_BYTES]), free_pages=r.end.free,
        released_pages=r.end.released,
    )
    r.peak = MemoryClasses(objects=int(sc[S.S_PK_OBJ]), unused=int(sc[S.S_PK_UNUSED]),
                           free=int(sc[S.S_PK_FREE]), released=int(sc[S.S_PK_RELEASED]))
    r.peak_event = int(sc[S.S_PK_EVENT]) if sc[S.S_PEAK_H] > 0 else -1
    r.peak_frag = Fragmentation(
        rounding=int(sc[S.S_PK_ROUND]) if requested else None, tail=int(sc[S.S_PK_TAIL]),
        free_slots=int(sc[S.S_PK_FREESLOT]), dead_unswept=int(sc[S.S_PK_DEAD]),
        free_pages=r.peak.free, released_pages=r.peak.released,
    )


def class_stats(eng, requested: bool) -> list[ClassStats]:
    """Per span class (size class x scan/noscan; class 0 = large spans) at the end and at the
    peak, for the classes the replay used."""
    a = eng.arrays
    sc = a.sc
    cs = a.cs
    ps = S.PAGE_SIZE
    # per-class stats at the peak: copy-on-write rows, current where the class has not changed
    # since the last peak
    pk = np.where((a.cs_snap == sc[S.S_PEAK_ID])[:, None], a.pk_cs, cs).tolist()
    prof = eng.profile
    out = []
    # rows as lists of Python ints: numpy's per-element reads were a third of a small
    # trace's report time
    for spc, row in enumerate(cs.tolist()):
        if row[S.CS_MALLOCS] == 0 and row[S.CS_SPANS] == 0:
            continue
        pkr = pk[spc]
        c = spc >> 1
        size = int(eng.table.class_size[c]) if c else 0
        nelems = 1 if c == 0 else int((prof.objs_noscan if spc & 1 else prof.objs_scan)[c])
        alloc_bytes = row[S.CS_ALLOC_BYTES]
        held = row[S.CS_PAGES] * ps
        live = row[S.CS_REQ_LIVE] if requested else row[S.CS_LIVE_SLOT_BYTES]
        if not requested and c == 0:
            live = row[S.CS_LIVE_SLOT_BYTES]
        spans = row[S.CS_SPANS]
        pk_spans = pkr[S.CS_SPANS]
        out.append(ClassStats(
            size_class=c, noscan=bool(spc & 1), slot_size=size, spans=spans,
            pages=row[S.CS_PAGES], allocated_slots=row[S.CS_ALLOC_SLOTS],
            live_slots=row[S.CS_LIVE_SLOTS], live_requested=row[S.CS_REQ_LIVE],
            mallocs=row[S.CS_MALLOCS], tail=row[S.CS_TAIL],
            free_slots=held - alloc_bytes - row[S.CS_TAIL],
            util_mean=(row[S.CS_LIVE_SLOTS] / (spans * nelems)) if spans else None,
            util_hist=row[S.CS_H0:S.CS_H0 + S.N_HIST],
            spans_at_peak=pk_spans,
            util_mean_at_peak=(pkr[S.CS_LIVE_SLOTS] / (pk_spans * nelems)
                               if pk_spans else None),
            util_hist_at_peak=pkr[S.CS_H0:S.CS_H0 + S.N_HIST],
            frag_bytes=held - live,
        ))
    return out


def rank_fragmentation(classes: list[ClassStats]) -> None:
    """Rank the classes by fragmentation bytes (most first; ties by class, scan before noscan)
    and give each its share of the total."""
    total_frag = sum(c.frag_bytes for c in classes)
    order = sorted(range(len(classes)),
                   key=lambda i: (-classes[i].frag_bytes, classes[i].size_class,
                                  classes[i].noscan))
    for rank, i in enumerate(order, 1):
        cl = classes[i]
        cl.frag_rank = rank
        cl.frag_share = cl.frag_bytes / total_frag if total_frag > 0 else None


def _counters(r: Report, eng) -> None:
    """The heap's counters at the end (MemStats-like) and the peaks Johnstone & Wilson's
    fragmentation ratios are taken from."""
    a = eng.arrays
    sc = a.sc
    r.spans_in_use = int(sc[S.S_SPANS_INUSE])
    r.heap_live = int(sc[S.S_HEAP_LIVE])
    r.heap_marked = int(sc[S.S_HEAP_MARKED])
    goal = int(current_goal(a.state))
    r.heap_goal = None if goal >= S.INF else goal
    r.mallocs = int(sc[S.S_MALLOCS])
    r.tiny_allocs = int(sc[S.S_TINY_ALLOCS])
    r.frees = int(sc[S.S_FREES])
    r.deaths = int(sc[S.S_DEATHS])
    r.alloc_bytes = int(sc[S.S_ALLOC_BYTES])
    r.live_requested = int(sc[S.S_REQ_LIVE])
    r.peak_live = int(sc[S.S_PEAK_L])
    r.held_at_peak_live = int(sc[S.S_PEAK_L_H])
    r.peak_held = int(sc[S.S_PEAK_H])
    r.live_at_peak_held = int(sc[S.S_PEAK_H_L])
    r.mapped_bytes = int(sc[S.S_MAPPED_CHUNKS]) * S.CHUNK_PAGES * S.PAGE_SIZE
    r.reserved_bytes = int(sc[S.S_RESERVED_PAGES]) * S.PAGE_SIZE
    r.jw_h_over_l_at_peak_live = _ratio(r.held_at_peak_live, r.peak_live)
    r.jw_h_over_l_at_peak_held = _ratio(r.peak_held, r.live_at_peak_held)
    r.jw_max_h_over_max_l = _ratio(r.peak_held, r.peak_live)
    r.periodic_cycles = int(sc[S.S_PERIODIC])
    r.cons_mark = float(a.fs[S.F_CONS_MARK])
    r.freed_bytes = int(sc[S.S_FREE_BYTES])


def timeline(a) -> list[TimelineSample]:
    """The memory classes over time: periodic samples, each mark start and termination, the
    trace's own metric samples, the end."""
    return [
        TimelineSample(kind=_SAMPLE_KINDS[t[S.TL_KIND]], ts=t[S.TL_TS], event=t[S.TL_EVENT],
                       objects=t[S.TL_OBJ], unused=t[S.TL_UNUSED], free=t[S.TL_FREE],
                       released=t[S.TL_RELEASED], heap_live=t[S.TL_HEAP_LIVE],
                       live_requested=t[S.TL_REQ_LIVE])
        for t in a.tl[: int(a.sc[S.S_TL_N])].tolist()  # Python ints, read fast
    ]


def _sweep_and_scavenge(r: Report, eng) -> None:
    """Who swept the spans (mgcsweep.go: background, proportional, reclaim) and who released
    pages to the OS (mgcscavenge.go: the background scavenger, allocation-time scavenging)."""
    sc = eng.arrays.sc
    ps = S.PAGE_SIZE
    cfg = eng.config
    r.spans_swept_background = int(sc[S.S_SWEPT_BG])
    r.spans_swept_proportional = int(sc[S.S_SWEPT_PROP])
    r.spans_reclaimed = int(sc[S.S_SWEPT_RECLAIM])
    r.released_background_bytes = int(sc[S.S_RELEASED_BG]) * ps
    r.released_eager_bytes = int(sc[S.S_RELEASED_EAGER]) * ps
    r.scavenge = {"background_ns": int(sc[S.S_SCAV_BG_NS]),
                  "assist_ns": int(sc[S.S_SCAV_EAGER_NS]), "bursts": int(sc[S.S_SCAV_BURSTS]),
                  "controller_resets": int(sc[S.S_SCAV_RESETS]),
                  "page_ns": cfg.scavenge_page_ns, "call_ns": cfg.scavenge_call_ns,
                  # the recording's runs it worked in (scavenger_timing "recorded"), else 0,
                  # and how many of them were paced by where the runtime was done
                  "recorded_runs": int(eng.arrays.scr.shape[1]),
                  "paced_runs": int(np.count_nonzero(eng.arrays.scr[2] >= 0)),
                  "nonheap_bytes": (int(sc[S.S_NONHEAP_READY])
                                    if sc[S.S_NONHEAP_READY] >= 0 else None)}


def by_work(eng) -> bool:
    """Whether a mark's CPU is its scan work's (pacer mode, a Go recording's mark CPU figures
    and a scan rate: Config.mark_cpu_by_work) rather than its length's."""
    return (eng.mark_cpu is not None and eng.config.gc_mode == "pacer"
            and eng.config.mark_cpu_by_work and eng.arrays.prm[S.P_MARK_NS_PER_MB] > 0)


def mark_cpu(eng, workers_ns: int, scan_work: float, length_ns: int) -> tuple[int, int]:
    """(background workers', assists') CPU ns of a mark whose model workers ran `workers_ns`,
    which did scan_work over length_ns: by its work at a Go recording's CPU per unit of work
    in pacer mode (engine/mark.py RecordedMarkCpu.cpu_of_work), at the recording's own shares
    of the mark's length in recorded mode, where the marks are the recording's (cpu_of), else
    the model's workers' time and no assist time (its assists park and scan nothing)."""
    if eng.mark_cpu is None:
        return workers_ns, 0
    if by_work(eng):
        return eng.mark_cpu.cpu_of_work(scan_work, length_ns, eng.procs,
                                        float(eng.arrays.prm[S.P_MARK_NS_PER_MB]))
    return eng.mark_cpu.cpu_of(workers_ns)


def gc_cpu(eng, r: Report) -> dict:
    """GC CPU time as runtime/metrics counts it (/cpu/classes/gc/...), over GOMAXPROCS x the
    trace's span: background mark workers and mark assists (`mark_cpu`), stop-the-world pauses
    (every P stopped, engine/pauses.py), and the GC CPU limiter's state (engine/limiter.py)."""
    a = eng.arrays
    sc = a.sc
    span = max(int(sc[S.S_NOW]) - int(sc[S.S_TS0]), 0)
    gc_pauses = (r.pauses or {}).get("gc", {})
    pause = gc_pauses.get("all", {}).get("total_ns") or 0
    # as the runtime counts it: while the world is being stopped, only the Ps stopped
    # (engine/pauses.py)
    pause_cpu = int(gc_pauses.get("cpu_ns", pause * eng.procs))
    if by_work(eng):  # each mark's by its work (readout.cycles)
        bg = sum(c.mark_cpu_ns for c in r.cycles)
        assist = sum(c.assist_cpu_ns for c in r.cycles)
    else:  # every mark's workers' time at once (its length's shares: no work needed)
        bg, assist = mark_cpu(eng, int(a.fs[S.F_BG_NS]), 0.0, 0)
    # stop-the-world pauses take no trace time (the pause model), but the code that would have
    # run meanwhile did not: the program runs that much longer
    total = span * eng.procs + int(pause) * eng.procs
    gc = bg + assist + pause_cpu
    return {
        "total_cpu_ns": total, "mark_dedicated_ns": bg, "mark_assist_ns": assist,
        "pause_ns": pause_cpu, "gc_total_ns": gc,
        "fraction": gc / total if total else None,
        "span_ns": [int(sc[S.S_TS0]), int(sc[S.S_NOW])],
        # trace time added while mutators were parked in assists (engine/mark.py park)
        "mutator_parked_ns": int(a.fs[S.F_PARK_NS]),
        # the mutators' sweeping (engine/sweep.py mutator_stall): pages they swept, their time
        # at the recording's cost per page, the clock time it added beyond the recording's
        "mutator_sweep": {
            "pages": int(sc[S.S_MUTATOR_SWEPT_PAGES]),
            "ns_per_page": (eng.sweep_cost[0] / 1000 if eng.sweep_cost else None),
            "stall_ns": int(sc[S.S_SWEEP_STALL]),
        },
        "mark_cpu_by": "work" if by_work(eng) else "length",
        "limiter": {
            "last_enabled_cycle": int(sc[S.S_LIM_LAST_ENABLED_CYCLE]),
            "enabled_ns": int(a.fs[S.F_LIM_ENABLED_NS]),
            "overflow_ns": int(a.fs[S.F_LIM_OVERFLOW]),
            "cycles_limited": sum(1 for c in r.cycles if c.limiter_enabled),
        },
    }


def _ratio(h: int, low: int) -> float | None:
    return h / low if low > 0 else None
