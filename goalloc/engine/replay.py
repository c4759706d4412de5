"""The replay driver (Python): streams a trace chunk by chunk, validates each chunk with the
trace validator's kernel, runs ONE replay kernel call per chunk (growing the engine's arrays
and resuming when the kernel reports a capacity status), then builds the Report. No per-event
Python work.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import goalloc.trace
from goalloc import releases
from goalloc.engine import (
    arrays,
    attribution,
    locks,
    mark,
    mbitmap,
    mcache,
    mstats,
    passes,
    pauses,
    readout,
    scavenge,
    sweep,
    whatif,
)
from goalloc.engine import state as S
from goalloc.engine.config import DEFAULT_SCAN_RATE, NEWEST_GO_VERSION, Config
from goalloc.engine.gc import GC_BACKGROUND_UTILIZATION
from goalloc.engine.kernel import (
    MANUAL_ALLOC,
    force_gc,
    init,
    replay_chunk,
    sample_end,
)
from goalloc.engine.readout import build_report
from goalloc.engine.report import Report
from goalloc.errors import TraceError
from goalloc.sizeclasses import get_table, profile
from goalloc.trace import format as fmt
from goalloc.trace import validate


def modelled_release(config: Config, header) -> tuple[str, str, bool, str]:
    """(release key, where it came from, Green Tea layout on, why) for a replay: --go-version
    when given, else the trace's release (the importer's inference or `goalloc record`'s
    `go version`, header source.go_version), else the newest. The trace's layout evidence
    (objects past Green Tea's slots) counts only when the trace's own release is modelled."""
    src = header.source or {}
    traced = header.go_version
    if config.go_version:
        key, how = releases.resolve(config.go_version).key, "flag"
    elif traced:
        key = releases.resolve(traced).key
        how = "trace: " + str(src.get("go_version_source") or "named in the trace header")
    else:
        key, how = NEWEST_GO_VERSION, "default (the trace names no release)"
    own = traced is not None and releases.resolve(traced).key == key
    beyond = int(src.get("beyond_inline_marks") or 0) if own else 0
    on, why = releases.green_tea(releases.RELEASES[key], config.goexperiment, beyond)
    return key, how, on, why


def packed_span_scan(config: Config, header, green_tea: bool, types) -> tuple[bool, str]:
    """(on, why): whether the model counts scan work as Green Tea's packed span scan does
    (engine/mark.py heap_scan_work; heapScan then grows by pointer prefixes, engine/mbitmap.py).
    The recording CPU decides it (internal/runtime/gc/scan HasFastScanSpanPacked) and the trace
    does not carry it: --packed-span-scan, else what `goalloc record` noted, else off."""
    if not green_tea:
        return False, "no Green Tea span layout"
    if types is None:  # mbitmap.site_types of the trace
        return False, "the trace gives no Go types (pointer prefixes)"
    if config.packed_span_scan is not None:
        return config.packed_span_scan, "flag"
    noted = (header.source or {}).get("packed_span_scan")
    if isinstance(noted, bool):
        return noted, "trace: the recording CPU's features (goalloc record)"
    return False, "default: the trace does not say which CPU ran the program"


def heap_base_padding(header, release_key: str) -> int:
    """Pages of the randomized heap base's padding (Go 1.26+, runtime/mheap.go grow and
    mpagealloc.go markRandomPaddingPages: a random 0-511 pages at the start of the first
    chunk, allocated and scavenged for good). A Go trace numbers spans by page from that
    chunk's base (trace.minPageHeapAddr), so the lowest span it shows sits right after the
    padding: the importer's `lowest_span_page`. 0 when the modelled release has no padding,
    when the trace's own release has none (its lowest page says nothing of it), or when the
    trace does not tell (another recorder): the runtime draws it at random, and the model
    does not guess (docs/model.md)."""
    if not releases.RELEASES[release_key].randomized_heap_base:
        return 0
    return trace_heap_padding(header)


def trace_heap_padding(header) -> int:
    """The padding pages of the recorded heap's base (heap_base_padding, whatever release is
    modelled): where the trace's page offsets of spans begin counting from the first span."""
    traced = header.go_version
    if traced is None or not releases.resolve(traced).randomized_heap_base:
        return 0
    low = (header.source or {}).get("lowest_span_page")
    if not isinstance(low, int) or low <= 0:
        return 0
    return min(low, S.CHUNK_PAGES - 1)  # the first span may be gone: at most 511 pages


def _tiny_spc(table, tiny_size: int) -> int:
    sizes = np.asarray(table.class_size)
    c = int(np.flatnonzero(sizes[1:] >= tiny_size)[0]) + 1
    return c << 1 | 1


_NO_DEATHS = (np.zeros(0, np.int64), np.zeros(0, np.int64))


class Engine:
    """Engine state for one replay: arrays plus the parameters they were built from."""

    def __init__(self, header, config: Config, *, fast_paths: bool = True):
        """`fast_paths=False` sends every event down the kernel's general path (mcache.malloc,
        gc.free_object): the same results, slower; tests compare the two."""
        self.config = config
        self.version, self.version_source, self.green_tea, self.green_tea_why = \
            modelled_release(config, header)
        self.table = get_table(config.table)
        self.profile = profile(self.table, self.version, self.green_tea)
        # per site, the Go type's size and pointer bytes: what heapScan grows by (mbitmap)
        types = mbitmap.site_types(header.sites)
        self.packed_span_scan, self.packed_span_scan_why = packed_span_scan(
            config, header, self.green_tea, types)
        self.site_types = types if self.packed_span_scan else None
        self.procs = int(config.procs or header.gomaxprocs)
        prof = self.profile
        prm = np.zeros(S.N_PRM, np.int64)
        prm[S.P_SMALL_MAX] = prof.small_max
        prm[S.P_TINY_SIZE] = prof.tiny_size
        prm[S.P_MALLOC_HEADER] = 1 if prof.malloc_header else 0
        prm[S.P_HEADER_SIZE] = prof.header_size
        prm[S.P_HEADER_THRESHOLD] = prof.header_threshold
        prm[S.P_GOGC] = -1 if config.gogc is None else config.gogc
        prm[S.P_MEMLIMIT] = -1 if config.memlimit is None else config.memlimit
        prm[S.P_NPROCS] = self.procs
        prm[S.P_RECORDED] = 1 if config.gc_mode == "recorded" else 0
        prm[S.P_SWEEP_FREES] = 1 if header.frees == "sweep" else 0
        prm[S.P_GOVERSION] = releases.RELEASES[self.version].code
        prm[S.P_CONS_MARK_PPM] = round(config.cons_mark * 1_000_000)
        prm[S.P_FIXED_CONS_MARK] = 1 if config.fixed_cons_mark else 0
        self.scan_rate = DEFAULT_SCAN_RATE if config.scan_rate is None else config.scan_rate
        prm[S.P_MARK_NS_PER_MB] = (round((1 << 20) * 1e9 / self.scan_rate)
                                   if self.scan_rate > 0 else -1)
        prm[S.P_BGSWEEP_NS] = round(1e9 / config.bg_sweep_rate) if config.bg_sweep_rate > 0 else 0
        if config.gc_mode == "recorded" and header.frees == "sweep":
            # the recording says how far the runtime's sweepers got: follow it (sweep.paced)
            prm[S.P_SWEEP_PACED] = 1
            prm[S.P_BGSWEEP_NS] = 0
        prm[S.P_SCAV_PAGE_PS] = round(config.scavenge_page_ns * 1000)
        prm[S.P_SCAV_CALL_PS] = round(config.scavenge_call_ns * 1000)
        prm[S.P_PERIODIC_NS] = config.periodic_gc_ns
        # without a dedicated mark worker, a mark whose work the workers finish ends at a P's
        # next scheduler pass (engine/mark.py); recorded mode follows the trace's marks
        self.sched_wait_ns = (mark.mark_end_wait_ns(config, header.source, self.procs)
                              if config.gc_mode == "pacer" else 0)
        prm[S.P_SCHED_WAIT_NS] = self.sched_wait_ns
        total = header.events
        prm[S.P_SAMPLE_EVERY] = (max(1, -(-int(total) // config.timeline_samples))
                                 if total else 65536)
        prm[S.P_STACK] = config.stack_bytes
        prm[S.P_GLOBALS] = config.globals_bytes
        traced = int((header.source or {}).get("tracer_buffer_bytes") or 0) > 0
        prm[S.P_NONHEAP_FIXED] = mstats.nonheap_fixed(
            releases.RELEASES[self.version].eager_profiling_buckets,
            traced and not config.drops_tracer_buffers())
        prm[S.P_NUM_CLASSES] = self.table.num_classes
        self.heap_pad_pages = heap_base_padding(header, self.version)
        # the snapshot's spans go where the recording had them, shifted by the modelled
        # padding against the recording's (snapshot.Plan.build)
        self.place_shift = self.heap_pad_pages - trace_heap_padding(header)
        prm[S.P_HEAP_PAD_PAGES] = self.heap_pad_pages
        prm[S.P_TINY_SPC] = _tiny_spc(self.table, prof.tiny_size)
        prm[S.P_PACKED_SPAN_SCAN] = 1 if self.packed_span_scan else 0
        prm[S.P_NO_PCACHE] = 1 if config.no_pagecache else 0
        # what the recording's assists and idle mark workers took (endCycle's cons/mark)
        self.mark_cpu = mark.RecordedMarkCpu.of(header.source, int(header.gomaxprocs))
        self.recorded_sweep = sweep.recorded(header.source, int(header.gomaxprocs))
        if self.mark_cpu is not None:
            prm[S.P_PARK_RATE_PPM] = self.mark_cpu.park_rate_ppm()  # mark.park
        self.sweep_cost = (sweep.mutator_cost(self.recorded_sweep, header.source,
                                             int(header.gomaxprocs))
                           if config.gc_mode == "pacer" and config.sweep_clock else None)
        if self.sweep_cost is not None:  # sweep.mutator_stall
            prm[S.P_SWEEP_PS_PER_PAGE], prm[S.P_REC_SWEEP_PPM], prm[S.P_BUSY_PS_PPM] = \
                self.sweep_cost
        if self.mark_cpu is not None and config.gc_mode == "pacer" and config.mutator_clock:
            prm[S.P_REC_MARK_TAKES_PPM], prm[S.P_MARK_STRETCH_PPM] = \
                self.mark_cpu.mutator_clock_ppm()
        prm[S.P_FAST_PATHS] = 1 if fast_paths else 0
        speeds = config.mark_speeds if config.gc_mode == "pacer" else None
        if config.mark_speed_seed and speeds:
            prm[S.P_MARK_SPEED_SEED] = config.mark_speed_seed
            prm[S.P_MARK_SPEEDS] = len(speeds)
        self.lock_log: list[np.ndarray] = []  # drained heap-lock log rows (ts, P, op)
        self.stw = pauses.StwCollector()
        self.arrays = arrays.EngineArrays(prm, self.table, prof.objs_scan, prof.objs_noscan,
                                          self.procs)
        self.arrays.fs[S.F_MARK_SPEED] = 1.0  # every mark at the measured rate (mark.draw_speed)
        if prm[S.P_MARK_SPEEDS]:
            self.arrays.fs[S.F_MARK_SPEEDS:S.F_MARK_SPEEDS + len(speeds)] = speeds
        init(self.arrays.state)
        self._recorded_marks(header, config)
        # stacks + globals for the GOGC goal: the stand-ins until the recording's own come
        # (Plan.run_chunk hands them to the kernel at each recorded mark termination)
        self.arrays.sc[S.S_NONHEAP_SCAN] = config.stack_bytes + config.globals_bytes
        self.attribution = None  # attribution.Attribution when the replay attributes (#17)

    def _recorded_marks(self, header, config) -> None:
        """The assist and idle shares endCycle's cons/mark takes (gc._end_cycle): the
        recording's per mark (mark.recorded_mark_began; the first one's until its gc_start),
        or with Config.per_mark_shares off or no per-mark rows the pooled ones (0 without
        the recording's mark CPU)."""
        if self.mark_cpu is None:
            return
        sc = self.arrays.sc
        sc[S.S_REC_ASSIST_PPM] = round(self.mark_cpu.assist_share * 1e6)
        sc[S.S_REC_IDLE_PPM] = round(self.mark_cpu.idle_share * 1e6)
        rows = (mark.RecordedMarkCpu.marks_of(header.source, int(header.gomaxprocs))
                if config.per_mark_shares else None)
        if rows is not None:
            self.arrays.set_recorded_marks(rows)
            sc[S.S_REC_ASSIST_PPM], sc[S.S_REC_IDLE_PPM] = int(rows[0, 1]), int(rows[0, 2])

    def run_chunk(self, chunk, deaths: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Replay one chunk; `deaths`: (event index, object id) of look-ahead deaths to apply
        before those events (engine/snapshot.py), in event order."""
        a = self.arrays
        chunk = passes.read_only(chunk)
        death_at, death_id = _NO_DEATHS if deaths is None else deaths
        obj, stack, manual = arrays.largest_ids(chunk.kind, chunk.id, fmt.ALLOC,
                                                fmt.STACK_ALLOC, MANUAL_ALLOC)
        if obj != arrays.NO_ID:
            a.grow(S.NEED_OBJS, int(obj) + 1)
        if stack != arrays.NO_ID:
            a.grow(S.NEED_STACKS, int(stack) + 1)
        if manual != arrays.NO_ID:
            # span ids are dense (the importer's); a larger one is skipped by the kernel
            a.grow(S.NEED_MSPANS, min(int(manual) + 1, chunk.start + chunk.n + validate.ID_SLACK))
        a.sc[S.S_DEATH_NEXT] = 0
        if chunk.start == 0 and len(chunk.ts):
            # the trace's clock starts here: GC CPU time is counted over [first event, end]
            a.sc[S.S_TS0] = int(chunk.ts[0])
            a.sc[S.S_LIM_LAST] = int(chunk.ts[0])
        peak_id = int(a.sc[S.S_PEAK_ID])
        scan = mbitmap.scan_sizes(chunk.kind, chunk.size, chunk.site, self.site_types)
        i = 0
        while True:
            status, i = replay_chunk(a.state, chunk.kind, chunk.ts, chunk.p, chunk.id,
                                     chunk.size, chunk.flags, scan, chunk.start, i, death_at,
                                     death_id)
            self.drain_locks()
            if status == S.NEED_NONE:
                if self.attribution is not None:
                    self.attribution.step(self, chunk, (death_at, death_id), peak_id)
                return
            if status == S.NEED_LK:
                need = int(locks.reserve(a.state)) + 1
                if a.lk.shape[0] >= need:
                    continue
                a.grow(status, need)
                continue
            a.grow(status)

    def drain_locks(self) -> None:
        """Move the kernel's heap-lock log rows to Python (the log array is reused)."""
        a = self.arrays
        n = int(a.sc[S.S_LK_N])
        if n:
            self.lock_log.append(a.lk[:n].copy())
            a.sc[S.S_LK_N] = 0

    def _room_for_locks(self) -> None:
        """Drain the heap-lock log and make room for what a kernel called outside replay_chunk
        logs (replay_chunk asks for it itself: NEED_LK)."""
        a = self.arrays
        self.drain_locks()
        need = int(locks.reserve(a.state)) + 1
        if a.lk.shape[0] < need:
            a.grow(S.NEED_LK, need)

    def late_flush(self, p: int) -> None:
        """P p's mcache flush that its mark termination left for later (mcache.late_flush)."""
        if not 0 <= p < self.arrays.pp.shape[0]:
            return
        self._room_for_locks()
        mcache.late_flush(self.arrays.state, p)
        self.drain_locks()

    def force_gc(self, event: int = -1, ts: int = 0) -> None:
        a = self.arrays
        if a.cyc.shape[0] - a.sc[S.S_CYCLES] < 2:
            a.grow(S.NEED_CYC)
        if a.tl.shape[0] - a.sc[S.S_TL_N] < 4:
            a.grow(S.NEED_TL)
        self._room_for_locks()
        force_gc(a.state, event, ts)
        self.drain_locks()

    def finish(self, events: int) -> None:
        """The timeline's end sample (call once, after the last event)."""
        a = self.arrays
        if a.tl.shape[0] - a.sc[S.S_TL_N] < 4:
            a.grow(S.NEED_TL)
        sample_end(a.state, events)
        self.drain_locks()


def replay(path: str | os.PathLike, config: Config | None = None, *, progress=None,
           engine_out: list | None = None, fast_paths: bool = True,
           death_range: bool = False, attribute: bool = False,
           peak_spans: bool = False, plans: passes.Passes | None = None,
           mark_speed_samples: int = 0) -> Report:
    """Replay a trace; raise TraceError (one line) when it fails validation. `fast_paths`:
    see Engine. `death_range`: in pacer mode on a trace whose deaths are only known to an
    interval, replay twice more (deaths earliest, latest) and fill report.death_range
    (engine/whatif.py). `attribute`: per-site figures in Report.attribution
    (engine/attribution.py), of the central replay; `peak_spans` (with it): also its span
    figures at the peak of held memory, from one more replay that stops there. `plans`: a
    passes.Passes of this trace shared with other replays of it (a grid's), else its own.
    `mark_speed_samples` k: in pacer mode with the rate measured from the recording, k more
    replays with each mark at one recorded mark's speed, their figures' mean and range in
    report.mark_speed_range (engine/whatif.py speed_range)."""
    config = config or Config()
    config.check()
    if plans is None:
        plans = passes.Passes(path)
    elif os.fspath(plans.path) != os.fspath(path):
        raise ValueError(f"plans of {plans.path} handed to a replay of {path}")
    try:
        r = _replay(path, config, plans, progress, engine_out, fast_paths, attribute)
        if attribute and peak_spans and r.attribution["peak_event"] >= 0:
            _peak_spans(path, config, plans, fast_paths, r)
        bounds = whatif.bound_configs(config, r) if (
            death_range and whatif.applies(r, config)) else []
        speeds = whatif.speed_configs(config, r, mark_speed_samples) if (
            mark_speed_samples > 0 and whatif.speed_applies(r, config)) else []
        if bounds or speeds:
            # the death-time bounds and the mark-speed samples are independent replays: two
            # at a time (the kernels release the GIL; each has its own engine, plan copy and
            # reader)
            with ThreadPoolExecutor(2, thread_name_prefix="goalloc-whatif") as pool:
                others = list(pool.map(
                    lambda c: _replay(path, c, plans, None, None, fast_paths), bounds + speeds))
            if bounds:
                r.death_range = whatif.death_range(r, others[:len(bounds)])
            if speeds:
                r.mark_speed_range = whatif.speed_range(others[len(bounds):])
        return r
    except arrays.ModelLimitError as e:
        raise TraceError(path, str(e)) from None


def _mark_term_times(path) -> np.ndarray:
    """The trace times of a trace's gc_mark_terms, read apart (a trace the planning pass
    does not plan; a Go recording's plan keeps them)."""
    out = []
    with goalloc.trace.open(path) as reader:
        for chunk in reader:
            out.append(chunk.ts[chunk.kind == fmt.GC_MARK_TERM])
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _peak_spans(path, config: Config, plans, fast_paths, r: Report) -> None:
    """Span figures per site at the peak (engine/attribution.add_peak_spans): the same replay
    (the scan rate the first one used) stopped after the peak event."""
    cfg = dataclasses.replace(config, scan_rate=r.scan_rate["bytes_per_s"])
    eng = _replay(path, cfg, plans, None, None, fast_paths, True,
                  stop_after=r.attribution["peak_event"])
    eng.attribution.add_peak_spans(r.attribution, eng, r.peak_held,
                                   r.peak.objects + r.peak.unused)


def _replay(path, config: Config, plans: passes.Passes, progress, engine_out, fast_paths,
            attribute: bool = False, stop_after: int | None = None,
            engine_only: bool = False) -> Report | Engine:
    scan_rate_source = "config" if config.scan_rate is not None else "default"
    if config.gc_mode == "pacer" and config.scan_rate is None:
        rate, speeds = _measured_marks(path, config, fast_paths, plans)
        if rate is not None:
            config = dataclasses.replace(config, scan_rate=rate, mark_speeds=speeds)
            scan_rate_source = "trace"
    with goalloc.trace.open(path) as reader:
        header = reader.header
        eng = Engine(header, config, fast_paths=fast_paths)
        if attribute:
            eng.attribution = attribution.Attribution(header)
        # recorded Go traces: snapshot rebuilt in place, sweep frees as deaths with look-ahead
        # (recorded GC mode places no death inside its interval: no rule's points needed)
        eng.plan = plans.get(header, config.death_time if config.timed_deaths() else "late",
                             tail=config.places_tail())
        run_chunk = eng.run_chunk
        if eng.plan is not None:
            # pacer mode: a death lies somewhere in its interval (between the mark starts
            # around the cycle that swept it); Config.death_time says where
            eng.plan.timed_deaths = config.timed_deaths()
            eng.plan.death_rule = config.death_time
            eng.plan.tail_placed = config.places_tail()
            eng.plan.drop_tracer = config.drops_tracer_buffers()
            # the recording's late mcache flushes belong to its own mark terminations and Ps
            eng.plan.late_flushes = (config.gc_mode == "recorded"
                                     and eng.procs == header.gomaxprocs)
            if config.gc_mode == "recorded" and eng.plan.mark_term_at_end:
                # the runtime's mark termination runs once the world has stopped, where
                # the trace has its GCEnd; the other Ps' events from the stop's request up
                # to there are still the mark phase's (kernel: GC_MARK_TERM)
                eng.arrays.prm[S.P_MARK_TERM_AT_END] = 1
            # the recording's stacks + globals, unless the config gives stand-ins
            eng.plan.nonheap_from_trace = config.stack_bytes == 0 and config.globals_bytes == 0
            if eng.plan.nonheap_from_trace and eng.plan.commit_nonheap.shape[0]:
                # the roots are there from the start: until the recording's first gc_start
                # hands over its cycle's value (a model cycle starts a few events before it,
                # at the same trigger), the first value stands (globals do not change)
                eng.arrays.sc[S.S_NONHEAP_SCAN] = int(eng.plan.commit_nonheap[0])
            eng.plan.build(eng)
            run_chunk = functools.partial(eng.plan.run_chunk, eng)
        if config.gc_mode == "recorded" and config.scavenger_timing != "model":
            # the background scavenger works in the recording's runs, paced by where they
            # show the runtime done against a goal no mark termination moved meanwhile
            runs = scavenge.recorded_runs(header.source, lambda: (
                _mark_term_times(path) if eng.plan is None else eng.plan.mark_term_ts))
            if runs is not None:
                eng.arrays.set_scavenger_runs(runs)
        if eng.attribution is not None:
            eng.attribution.start(eng)
        sweep_frees = header.frees == "sweep"
        forced = config.gc_mode == "pacer" and config.replay_forced_gcs
        events = 0
        last_gc = prev_gc = -1  # event index of the trace's last recorded gc_start, the one before
        last_forced = False  # the last one was a runtime.GC()
        chunks, vs = plans.chunks(reader, sweep_frees)
        for chunk, bad in chunks:
            if bad >= 0:
                raise validate.anomaly_error(reader.path, chunk, bad, vs)
            f = passes.facts(chunk, forced)
            eng.stw.add(chunk, int(f[passes.FACT_TS_MIN]), int(f[passes.FACT_TS_MAX]),
                        bool(f[passes.FACT_STW_EVENTS]))
            if f[passes.FACT_LAST_GC_START] >= 0:
                prev_gc = (chunk.start + int(f[passes.FACT_PREV_GC_START])
                           if f[passes.FACT_PREV_GC_START] >= 0 else last_gc)
                last_gc = chunk.start + int(f[passes.FACT_LAST_GC_START])
                last_forced = bool(f[passes.FACT_LAST_GC_FORCED])
            chunk = passes.engine_kinds(chunk, forced, int(f[passes.FACT_REWRITES]))
            if stop_after is not None and chunk.start + chunk.n > stop_after + 1:
                run_chunk(passes.head(chunk, stop_after + 1 - chunk.start))
                if plans.validating_kept():  # validated to the end, for the later passes
                    for rest, bad in chunks:
                        if bad >= 0:
                            raise validate.anomaly_error(reader.path, rest, bad, vs)
                return eng  # the state right after event `stop_after`
            run_chunk(chunk)
            events += chunk.n
            if progress is not None:
                progress(chunk.n)
        if stop_after is not None:
            return eng
        eng.finish(events)
        if engine_only:  # the finished engine, without the report's read-outs
            return eng
        if engine_out is not None:
            engine_out.append(eng)
        report = build_report(eng, str(reader.path), header, events)
        scheduling_known = "scheduling" in (header.source or {})
        report.scan_rate = {"bytes_per_s": eng.scan_rate, "source": scan_rate_source,
                            "mark_end_wait_ns": eng.sched_wait_ns,
                            "mark_end_wait_source": (
                                "config" if config.mark_end_wait_ns is not None else
                                "trace" if scheduling_known else "none")}
        if config.mark_speeds and config.gc_mode == "pacer":
            report.scan_rate["mark_speeds"] = list(config.mark_speeds)
        if eng.mark_cpu is not None:  # the pacer's cons/mark and the marks' GC CPU take it
            report.mark_cpu = eng.mark_cpu.to_dict()
        report.recorded_sweep = eng.recorded_sweep
        report.nonheap_scan = _nonheap_scan(eng, config)
        report.estimated_sizes = int(vs.st[validate.S_ESTIMATED])
        if sweep_frees:
            report.deaths_known_until_event = whatif.deaths_known_until(prev_gc, last_gc,
                                                                        last_forced)
        report.warnings = whatif.warnings(report, config, whatif.tail(last_gc, events),
                                          scheduling_known, events=events)
        if eng.attribution is not None:
            report.attribution = eng.attribution.report(eng, report)
        return report


def _nonheap_scan(eng: Engine, config: Config) -> dict | None:
    """Report.nonheap_scan: where the goal's stacks + globals came from."""
    plan = eng.plan
    if plan is not None and plan.nonheap_from_trace and plan.commit_nonheap.shape[0]:
        x = plan.commit_nonheap
        gogc, how = plan.recorded_gogc
        return {"source": "trace", "bytes": [int(v) for v in x], "mean_bytes": int(x.mean()),
                "recorded_gogc": gogc, "recorded_gogc_source": how}
    standin = config.stack_bytes + config.globals_bytes
    if standin:
        return {"source": "config", "bytes": [standin], "mean_bytes": standin}
    return None


def measured_scan_rate(path, config: Config, *, fast_paths: bool = True,
                       plans: passes.Passes | None = None) -> float | None:
    """The mark cost model's scan rate as the recording shows it (_measured_marks)."""
    return _measured_marks(path, config, fast_paths, plans)[0]


def _measured_marks(path, config: Config, fast_paths: bool,
                    plans: passes.Passes | None) -> tuple[float | None, tuple | None]:
    """The mark cost model's scan rate as the recording shows it, for pacer-mode replays of a
    recorded Go trace (frees "sweep", GC markers): a recorded-mode replay gives the model's scan
    work at each recorded mark start, the trace each mark's duration (gc_start to mark
    termination); pooled over the cycles, scan work / (duration * 25% of GOMAXPROCS), the
    background mark workers' share the model's mark durations use. The machine that ran the
    program set its marking speed; a fixed guess would move the pacer's runway (consMark
    grows with the allocation during a longer mark). With it, each recorded mark's own speed
    over that rate (_scan_rate_of), which Config.mark_speed_seed draws from. (None, None) when
    the trace has no recorded cycles."""
    with goalloc.trace.open(path) as reader:
        header = reader.header
    if header.frees != "sweep":
        return None, None
    # the recorded marks ran on the recorded GOMAXPROCS and settings, whatever the replay
    # models: the what-if knobs stay out of the pass, so a grid over them measures it once
    cfg = dataclasses.replace(config, gc_mode="recorded", procs=None, gogc=100, memlimit=None,
                              scan_rate=DEFAULT_SCAN_RATE, mark_speeds=None, mark_speed_seed=0)
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size,
           repr(cfg), fast_paths)
    with _SCAN_RATES_LOCK:
        if key in _SCAN_RATES:
            return _SCAN_RATES[key]
    plans = plans or passes.Passes(path)
    plan = plans.get(header, config.death_time if config.timed_deaths() else "late",
                     tail=config.places_tail())
    if plan is not None and config.timed_deaths():
        # the pacer replay's timed deaths, meanwhile
        plan.order_ahead(config.death_time, tail=config.places_tail())
    # the rate needs the recorded cycles' scan work (at their starts) and ends: the events
    # after the last mark termination change neither
    last = plan.last_mark_term if plan is not None and plan.last_mark_term >= 0 else None
    rec = _replay(path, cfg, plans, None, None, fast_paths, stop_after=last, engine_only=True)
    # the recorded marks whose work passed maxScanWork waited for a scheduler pass
    # (mark.past_max_work), as the pacer replay's do
    measured = _scan_rate_of(rec, mark.mark_end_wait_ns(config, header.source, rec.procs))
    with _SCAN_RATES_LOCK:
        while len(_SCAN_RATES) >= _SCAN_RATES_KEPT:
            del _SCAN_RATES[next(iter(_SCAN_RATES))]  # the oldest
        _SCAN_RATES[key] = measured
    return measured


# measured_scan_rate's results in this process, by trace file (path, inode, times, size: the
# writers replace a file, so a rewritten one is a new inode) and the pass's config: a grid's
# configurations and repeated replays of one trace share one recorded-mode pass
_SCAN_RATES: dict = {}
_SCAN_RATES_KEPT = 64
_SCAN_RATES_LOCK = threading.Lock()


def _scan_rate_of(rec: Engine, wait_ns: int = 0) -> tuple[float | None, tuple | None]:
    """_measured_marks's pooled rate over a recorded-mode replay's cycles, and each mark's own
    rate over it (at most MARK_SPEEDS: evenly spaced quantiles of them when there are more).
    Without a dedicated worker a recorded mark whose work had passed maxScanWork by its end
    (assists stopped: Cycle.past_max_scan_work) waited for a P's scheduler pass to end (wait_ns,
    mark.sched_wait_ns), which the pacer replay adds to such a mark's workers' time itself:
    those marks' durations count less the wait, and at least half of it (a short mark was
    likely ended by an assist that ran out of work, with no wait); the others end when their
    work is done (an assist sees it) and count whole."""
    marks = []  # (scan work, CPU ns at the workers' 25%) of each mark
    for c in readout.cycles(rec):
        if c.end_ts is not None and c.end_ts > c.start_ts:
            dur = c.end_ts - c.start_ts
            if c.past_max_scan_work:
                dur = max(dur - wait_ns, dur / 2)
            marks.append((c.scan_work, dur * GC_BACKGROUND_UTILIZATION * rec.procs))
    work = sum(w for w, _ in marks)
    cpu_ns = sum(t for _, t in marks)
    if work <= 0 or cpu_ns <= 0:
        return None, None
    rate = float(f"{work * 1e9 / cpu_ns:.6g}")  # 6 digits, as the report shows it
    return rate, mark_speeds([w * 1e9 / t / rate for w, t in marks if w > 0])


def mark_speeds(speeds: list[float]) -> tuple | None:
    """Config.mark_speeds from the recorded marks' speeds over the pooled rate: sorted, at most
    MARK_SPEEDS of them (the quantiles at (i + 1/2) / MARK_SPEEDS when there are more), each
    kept within 1/100-100x and to 6 digits (a mark of no measurable length says nothing)."""
    if not speeds:
        return None
    v = sorted(speeds)
    if len(v) > S.MARK_SPEEDS:
        v = [v[int((i + 0.5) * len(v) / S.MARK_SPEEDS)] for i in range(S.MARK_SPEEDS)]
    return tuple(float(f"{min(max(x, 0.01), 100.0):.6g}") for x in v)
