"""The replay report: per-cycle records, memory classes as runtime/metrics defines them (end and
at the peak of held memory), fragmentation splits, per size class figures and counters. Plain
Python data (no numba); goalloc/report/metrics.py gives the figures their runtime/metrics and
/goalloc/... names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Cycle:
    n: int  # 1-based, as gctrace numbers cycles
    start_event: int
    start_ts: int
    heap_at_trigger: int  # heapLive at mark start
    trigger: int | None  # the pacer's trigger (None for recorded cycles)
    goal: int
    marked: int
    heap_at_end: int | None  # heapLive at mark termination (None: still marking at the end)
    end_event: int | None
    end_ts: int | None
    limit_bound: bool  # the goal came from GOMEMLIMIT
    kind: str = "heap"  # what started it: heap (trigger), periodic (2 min), forced, recorded
    scan_work: int = 0  # modelled scan work: pointerful bytes marked at mark start + roots
    cons_mark: float = 0.0  # the pacer's consMark after this cycle's endCycle
    mark_ended_by_goal: bool = False  # pacer mode: heapLive reached the goal before the scan
    # work was done (assists finished it), rather than the mark's modelled duration passing
    # mark assist and background workers' CPU time in this cycle: at a Go recording's shares
    # of the mark's length (engine/readout.py mark_cpu), else 0 (the model's assists park) and
    # the model's workers' 25% of GOMAXPROCS over the mark
    assist_cpu_ns: int = 0
    mark_cpu_ns: int = 0
    limiter_enabled: bool = False  # the GC CPU limiter was on at some point since the last cycle
    # ns the model's clock ran ahead of the trace's at mark start (mutators parked in assists,
    # engine/mark.py park): start_ts less it is the start in the trace's own time
    stall_at_start_ns: int = 0
    # ns the model's clock ran ahead of the trace's + stall_at_start_ns at mark start: its own
    # marks' slower mutators less the recorded marks' (engine/mark.py mutator_clock; may be
    # negative): start_ts less both is the start in the trace's own time
    skew_at_start_ns: int = 0
    # heapGoal() when the mark ended (endCycle's lastHeapGoal, what gctrace prints as "MB
    # goal"); differs from `goal` when a memory limit sets it (None: still marking, or no
    # goal at all: GOGC=off without a limit)
    goal_at_end: int | None = None
    # pacer mode without a dedicated mark worker: ns this mark's end waited, after its workers
    # finished its work, for a P's scheduler pass (engine/mark.py past_max_work; 0: none)
    mark_end_wait_ns: int = 0
    # at mark termination the cycle's scan work had passed maxScanWork (the scannable heap and
    # roots: the most revise expects), so assists had stopped and only a worker could see the
    # end (engine/mark.py past_max_work)
    past_max_scan_work: bool = False


@dataclass
class TimelineSample:
    """One point of the memory-class timeline (bytes; ts in the trace's ns)."""

    kind: str  # sample (evenly spaced), mark-start, mark-term, end, metric (at a recorded
    # runtime/metrics sample: trace kind `metric`, issue #20)
    ts: int
    event: int  # index of the next event to be applied (end: number of events)
    objects: int
    unused: int
    free: int
    released: int
    heap_live: int
    live_requested: int


@dataclass
class MemoryClasses:
    """/memory/classes/heap/{objects,unused,free,released}:bytes and their sum."""

    objects: int
    unused: int
    free: int
    released: int

    @property
    def total(self) -> int:
        return self.objects + self.unused + self.free + self.released


@dataclass
class Fragmentation:
    """in use = live requested + rounding + dead unswept + free slots + tail; idle = free +
    released pages. rounding is None when the trace records slot sizes, not requests."""

    rounding: int | None  # slot - requested of live objects (incl. malloc headers)
    tail: int  # span bytes no slot can use (tail waste + in-span reserves)
    free_slots: int  # free slots in in-use spans
    dead_unswept: int  # slots of dead objects not yet swept
    free_pages: int
    released_pages: int


@dataclass
class ClassStats:
    size_class: int
    noscan: bool
    slot_size: int  # 0 for large spans (their slot is the span)
    spans: int
    pages: int
    allocated_slots: int
    live_slots: int
    live_requested: int
    mallocs: int
    tail: int
    free_slots: int  # bytes
    # slot utilisation = live slots / slots per span, over in-use spans: mean and 10 buckets
    # ([0, .1), [.1, .2), ... [.9, 1]) at the end and at the peak of held memory
    util_mean: float | None = None
    util_hist: list[int] = field(default_factory=list)
    spans_at_peak: int = 0
    util_mean_at_peak: float | None = None
    util_hist_at_peak: list[int] = field(default_factory=list)
    # fragmentation held by the class at the end: in-use bytes - live requested bytes (live
    # slot bytes when the trace records no requested sizes); share of all classes' total and
    # rank (1 = worst)
    frag_bytes: int = 0
    frag_share: float | None = None
    frag_rank: int = 0

    @property
    def bytes_held(self) -> int:
        return self.pages * 8192


@dataclass
class Report:
    trace: str
    go_version: str
    table: str
    gogc: int | None
    memlimit: int | None
    procs: int
    gc_mode: str
    free_semantics: str  # header frees: death or sweep
    sizes: str
    events: int
    go_version_source: str = ""  # "flag", "trace: <how the release was told>", "default ..."
    green_tea: bool = False  # span layout with Green Tea's inline mark bits
    green_tea_source: str = ""
    # Green Tea's packed span scan followed (engine/mark.py heap_scan_work), and how known
    packed_span_scan: bool = False
    packed_span_scan_source: str = ""
    tracer_buffer_bytes: int = 0  # the execution tracer's own buffers in the trace (importer)
    recorded_procs: int | None = None  # the recording's GOMAXPROCS (header), None: not known
    recording_cpus: int | None = None  # the CPUs the recorded program could run on (header)
    heap_base_padding_pages: int = 0  # [1.26+] the randomized heap base's, from the trace
    # the runtime's heapLive before the first GC less the model's own there (its readings in the
    # trace: spans cached before tracing began; engine/pacer.py recorded_heap_live)
    pre_trace_heap_live: int = 0
    tracer_buffers_dropped: bool = False  # left out of this replay (Config.tracer_buffers)
    cycles: list[Cycle] = field(default_factory=list)
    end: MemoryClasses | None = None
    peak: MemoryClasses | None = None  # at the maximum of held memory (in use + free pages)
    peak_event: int = -1
    end_frag: Fragmentation | None = None
    peak_frag: Fragmentation | None = None
    classes: list[ClassStats] = field(default_factory=list)
    spans_in_use: int = 0
    heap_live: int = 0
    heap_marked: int = 0
    heap_goal: int | None = None
    mallocs: int = 0  # objects allocated, tiny sub-objects included
    tiny_allocs: int = 0
    frees: int = 0  # slots freed by sweeping
    deaths: int = 0  # frees in the trace
    alloc_bytes: int = 0
    live_requested: int = 0
    peak_live: int = 0  # J&W L at its peak ...
    held_at_peak_live: int = 0  # ... and H there
    peak_held: int = 0
    live_at_peak_held: int = 0
    mapped_bytes: int = 0
    reserved_bytes: int = 0
    # Johnstone & Wilson: H = in-use + free pages (held), L = live requested bytes
    jw_h_over_l_at_peak_live: float | None = None
    jw_h_over_l_at_peak_held: float | None = None
    jw_max_h_over_max_l: float | None = None
    timeline: list[TimelineSample] = field(default_factory=list)
    spans_swept_background: int = 0
    spans_swept_proportional: int = 0
    spans_reclaimed: int = 0  # swept (and freed) by mheap.reclaim
    released_background_bytes: int = 0  # by the background scavenger (cumulative)
    released_eager_bytes: int = 0  # synchronously in allocSpan (growth, memory limit)
    # the scavenger's modelled work (issue #20): ns of background work (bursts of madvise,
    # scavenge.backgroundTime), of allocSpan's synchronous scavenging (assistTime), bursts,
    # controller resets, and the cost model used (ns per 4 KiB page, per madvise call)
    scavenge: dict | None = None
    periodic_cycles: int = 0
    cons_mark: float = 0.0  # the pacer's consMark at the end
    freed_bytes: int = 0  # slot bytes freed by sweeping (alloc_bytes - freed_bytes = objects)
    # issue #6: heap-lock and span-set counts with modelled contention (goalloc/engine/contention.py)
    # and recorded/modelled STW pauses with MMU (goalloc/engine/pauses.py); docs/json.md
    locks: dict | None = None
    pauses: dict | None = None
    # in-use heap span bytes at every mark start, after sweep termination (one per cycle, in
    # cycle order; what `goalloc replay --validate` compares with the recorded runtime)
    mark_start_inuse: list[int] = field(default_factory=list)
    # recorded Go traces (engine/snapshot.py): snapshot spans and objects rebuilt, frees moved
    # before their cycle's mark start (look-ahead), ...; None for other traces
    recorded_replay: dict | None = None
    # the mark cost model's scan rate (B/s per CPU) and where it came from: "config", "trace"
    # (measured from a recorded Go trace's cycles, pacer mode) or "default"
    scan_rate: dict | None = None
    # the recording's assist and idle mark time as shares of GOMAXPROCS while marking, which
    # the pacer's cons/mark counts (engine/mark.py RecordedMarkCpu); None: not used
    mark_cpu: dict | None = None
    # a Go recording's allocation-path sweeping as its trace timed it (engine/sweep.py
    # recorded: ranges, ns, swept and reclaimed bytes, share of GOMAXPROCS x the trace); None:
    # the header has none
    recorded_sweep: dict | None = None
    # stacks + globals the GOGC goal adds to heapMarked (lastStackScan + globalsScan): from a
    # recorded Go trace's commits (pacer.nonheap_scan) - bytes at each, mean, the recording's
    # GOGC and how it is known - or the Config's stand-ins; None: neither
    nonheap_scan: dict | None = None
    # allocations whose requested size the importer estimated (trace flag `estimated`: a Go
    # execution trace records no request, so it is worked out from the type or the slot);
    # rounding waste and live requested bytes rest on them (goalloc/report/caveats.py)
    estimated_sizes: int = 0
    # GC CPU time by runtime/metrics class and the GC CPU limiter's state (engine/readout.py
    # gc_cpu; docs/json.md)
    gc_cpu: dict | None = None
    # pacer mode on a recorded Go trace: each what-if figure's central value and the [low,
    # high] that the earliest and latest admissible deaths give (engine/whatif.py); None when
    # not computed or the trace leaves no such room
    death_range: dict | None = None
    # pacer mode, replay(mark_speed_samples=k): each what-if figure's mean, low and high over k
    # replays whose marks each ran at one recorded mark's speed, and "samples": k
    # (engine/whatif.py speed_range); None when not run
    mark_speed_range: dict | None = None
    # one line each where a knob takes the model where the trace cannot say much
    # (engine/whatif.py warnings)
    warnings: list[str] = field(default_factory=list)
    # a trace whose frees are sweeps: the event index up to which it reports every death
    # (engine/whatif.py deaths_known_until; the what-if peak in-use stops there); None: to
    # the end (explicit frees), or not even one cycle's sweep seen whole
    deaths_known_until_event: int | None = None
    # per-site figures (engine/attribution.py), only when the replay was asked to attribute
    attribution: dict | None = None

    def classes_by_fragmentation(self) -> list[ClassStats]:
        """The classes, worst for fragmentation first (frag_rank order)."""
        return sorted(self.classes, key=lambda c: c.frag_rank)

    def to_dict(self) -> dict:
        return asdict(self)
