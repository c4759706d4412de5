"""Replay configuration: the knobs Go users know (GOGC, GOMEMLIMIT, GOMAXPROCS), the modelled
Go version profile, the size-class table and the GC mode. No numba here."""

from __future__ import annotations

from dataclasses import dataclass

from goalloc import releases
from goalloc.engine.state import MARK_SPEEDS
from goalloc.errors import GoallocError

GC_MODES = ("pacer", "recorded")
DEATH_TIMES = ("cohorts", "mid", "lifetimes", "early", "late")
TAIL_DEATHS = ("kept", "placed")
SCAVENGER_TIMINGS = ("model", "recorded")
NEWEST_GO_VERSION = releases.NEWEST
GOEXPERIMENTS = ("greenteagc", "nogreenteagc")
DEFAULT_SCAN_RATE = 1e9  # B/s per CPU: ~1 ms per MB of pointerful heap per core


@dataclass
class Config:
    go_version: str | None = None  # a goalloc.releases profile; None: trace header, else newest
    # GOEXPERIMENT for the span layout: "greenteagc" / "nogreenteagc"; None: what the trace
    # shows (objects past Green Tea's slots), else the release's default
    goexperiment: str | None = None
    # Green Tea's packed span scan (AVX-512 on amd64, internal/runtime/gc/scan): a densely
    # marked span's objects count whole as scan work (engine/mark.py heap_scan_work). None:
    # what `goalloc record` noted of the recording CPU, else off (the trace does not say)
    packed_span_scan: bool | None = None
    # Pacer mode without a dedicated mark worker (GOMAXPROCS 1-3): ns a mark whose work passed
    # maxScanWork ends after its workers finish it, waiting for a P's scheduler pass
    # (engine/mark.py). None: the recording's (mark.sched_wait_ns of the header's
    # source.scheduling; 0 when it has none); 0: no wait
    mark_end_wait_ns: int | None = None
    # The execution tracer's own buffers (2.25 MiB live for the whole recording, absent from
    # the untraced program; the importer flags them): "keep" or "drop"; None drops them in
    # pacer mode (a what-if is about the program) and keeps them in recorded mode (the trace's
    # own cycles counted them). Comparing a replay with its recording (--validate) keeps them.
    tracer_buffers: str | None = None
    table: str = "go"  # size-class table name or file (goalloc.sizeclasses.get_table)
    gogc: int | None = 100  # None = GOGC=off
    memlimit: int | None = None  # GOMEMLIMIT bytes; None = unlimited
    procs: int | None = None  # GOMAXPROCS; None = the trace's
    gc_mode: str = "pacer"  # "pacer": the model starts cycles; "recorded": the trace's markers
    # Pacer runway = consMark * 3 * (lastHeapScan + stacks + globals). consMark is measured at
    # every mark termination from the mark cost model (the runtime starts it at 0); with
    # fixed_cons_mark=True it is cons_mark throughout (the first slice's model).
    cons_mark: float = 0.0
    fixed_cons_mark: bool = False
    stack_bytes: int = 0  # lastStackScan stand-in (feeds the GOGC goal and the runway)
    globals_bytes: int = 0  # globalsScan stand-in
    # Mark cost model (pacer mode): scan work / (scan_rate * 25% of GOMAXPROCS) of trace time.
    # Bytes of pointerful heap (plus stacks and globals) one CPU scans per second. None: measured
    # from the trace's recorded GC cycles when it has them (engine/replay.py
    # measured_scan_rate), else DEFAULT_SCAN_RATE.
    scan_rate: float | None = None
    # The runtime's marks differ in speed (scheduling, assists, idle Ps): with the rate measured
    # from a recording, each recorded mark's own speed over the pooled rate (engine/replay.py
    # _scan_rate_of; set with scan_rate, at most state.MARK_SPEEDS of them). mark_speed_seed 0:
    # every mark at the pooled rate; k >= 1: each mark at the speed of one recorded mark drawn
    # by k and the cycle number (mark.draw_speed), the k-th sample of the what-if figures'
    # spread over mark speeds (engine/whatif.py speed_range).
    mark_speeds: tuple | None = None
    mark_speed_seed: int = 0
    # Background sweeper: spans swept per second of trace time (one P, otherwise idle). Not used
    # replaying a trace with sweep frees (a Go execution trace) in recorded mode: the sweeper then
    # keeps pace with the recorded sweep (engine/sweep.py paced).
    bg_sweep_rate: float = 1e6
    # What releasing memory to the OS costs (madvise(MADV_DONTNEED) on Linux): ns per 4 KiB
    # physical page plus ns per call (one call per contiguous run). The background scavenger
    # times its work and sleeps to hold 1% of GOMAXPROCS CPUs, so these set how fast it
    # returns memory. Defaults: the Go runtime's own clock on the development machine
    # (Linux 6.18, x86-64, THP madvise): benchmarks/bench_scavcost.py, the background
    # scavenger's /cpu/classes/scavenge/background time per 64 KiB quantum released, median
    # 5168 ns over 25 rounds (Go 1.23 and 1.27, 64 KiB and 1 MiB objects; rounds 0.55-8.0
    # us), split as benchmarks/bench_madvise.py's 1.7 us per call + 217 ns per page (that
    # Python-side benchmark alone gave 310 ns per page: 6.7 us per quantum); measure yours
    # with them. Both 0: the runtime's own fallback estimate of 10 us per physical page (what
    # it assumes when its clock cannot time the work).
    scavenge_page_ns: float = 217.0
    scavenge_call_ns: float = 1700.0
    # When the background scavenger works: "recorded" (in the runs of the recording's own
    # scavenger goroutine, the header's source.scavenger from the Go importer; recorded GC
    # mode only) or "model" (its sleep controller's timing, as the runtime sets it:
    # engine/scavenge.py). None: the recording's runs when the replay follows its GC cycles
    # (recorded GC mode) and the trace has them, else the model's (docs/model.md, "Scavenger
    # over time", measures both)
    scavenger_timing: str | None = None
    periodic_gc_ns: int = 120 * 10**9  # forcegcperiod
    # Pacer mode: a cycle the trace says the program forced (gc_start aux GC_TRIGGER_FORCED:
    # runtime.GC, debug.FreeOSMemory, the testing package before each benchmark run) is a
    # program action, so it is replayed where the trace has it; the pacer starts the others.
    replay_forced_gcs: bool = True
    # Pacer mode, recorded Go traces: where in its admissible interval an object dies (the
    # trace only says between the mark starts around the cycle that swept it): "cohorts" (the
    # central answer: an interval's older objects die in allocation order over a width their
    # allocation span sets, objects that died in their first cycle at the conditional median
    # of the first cycle's lifetimes, those of unknown age at their interval's midpoint;
    # engine/lifetimes.py cohort_rule), "mid" (every death at its interval's midpoint, the
    # rule before), "lifetimes" (the conditional median under the trace's own lifetime estimate;
    # docs/model.md says why it is not the default), "early" or "late" (the ends of the
    # what-if range, engine/whatif.py)
    death_time: str = "cohorts"
    # Pacer mode, recorded Go traces: the objects the trace never saw freed (their deaths after
    # its last reported sweep are unknown): "kept" all live to the end, or "placed" where the
    # trace's first-cycle lifetimes put those that die young, the rest live
    # (engine/lifetimes.py tail_deaths; docs/model.md 2d, "The tail's deaths", says why it is
    # not the default: closer held out, not closer in the what-if answers yet)
    tail_deaths: str = "kept"
    # Pacer mode, Go recordings with mark CPU figures: the mutators run slower while marking,
    # at the recording's shares, where the recording marked and where the model marks
    # (engine/mark.py mutator_clock); False: the trace's clock as it is (the model before it)
    mutator_clock: bool = True
    # Pacer mode, Go recordings that time their mutators' sweep loops (source.sweep): the
    # model's mutators' sweeping beyond the recording's takes their time on the model's clock
    # (engine/sweep.py mutator_stall); False: sweeping takes no time (the model before it)
    sweep_clock: bool = True
    # Pacer mode, Go recordings with mark CPU figures: a mark's GC CPU is its scan work at the
    # recording's worker + assist CPU per unit of scan work (engine/readout.py
    # mark_cpu_by_work); False: its length at the recording's shares (the model before it)
    mark_cpu_by_work: bool = True
    # endCycle's cons/mark takes the assist and idle shares of the recording's mark in effect
    # (engine/mark.py recorded_mark_began, a Go recording's mark_cpu.marks); False: the
    # pooled shares for every mark (the model before 2026-12-06)
    per_mark_shares: bool = True
    timeline_samples: int = 200  # evenly spaced timeline samples (plus every GC boundary)
    # What-if (issue #6): no per-P page cache, so every span allocation takes the heap lock.
    no_pagecache: bool = False
    # Contention model (goalloc/engine/contention.py): heap-lock hold time per operation in ns,
    # overriding the documented defaults (keys: pcache-refill, alloc, grow, free, reclaim,
    # scavenge, mspan-cache).
    lock_hold_ns: dict | None = None
    # Modelled STW pauses (goalloc/engine/pauses.py): overrides of the cost model's ns figures
    # (sweep-term-fixed, mark-term-fixed, per-p); None: defaults, calibrated from the trace.
    pause_ns: dict | None = None

    def drops_tracer_buffers(self) -> bool:
        """Whether this replay leaves the tracer's own buffers out (see tracer_buffers)."""
        if self.tracer_buffers is None:
            return self.gc_mode == "pacer"
        return self.tracer_buffers == "drop"

    def timed_deaths(self) -> bool:
        """Whether a recorded Go trace's deaths are placed inside their intervals
        (death_time): pacer mode but for "late", which puts each just before the gc_start of
        the cycle that swept it, as recorded GC mode does."""
        return self.gc_mode == "pacer" and self.death_time != "late"

    def places_tail(self) -> bool:
        """Whether the objects a recorded Go trace never saw freed get deaths (tail_deaths
        "placed"): only where deaths are timed (timed_deaths)."""
        return self.timed_deaths() and self.tail_deaths == "placed"

    def check(self) -> None:
        if self.gc_mode not in GC_MODES:
            raise GoallocError(f"unknown GC mode {self.gc_mode!r} (expected pacer or recorded)")
        if self.scavenger_timing is not None and self.scavenger_timing not in SCAVENGER_TIMINGS:
            raise GoallocError(f"scavenger_timing must be one of {', '.join(SCAVENGER_TIMINGS)}, "
                               f"not {self.scavenger_timing!r}")
        if self.scavenger_timing == "recorded" and self.gc_mode != "recorded":
            raise GoallocError("the recording's scavenger timing needs its GC cycles too "
                               "(--gc recorded)")
        if self.death_time not in DEATH_TIMES:
            raise GoallocError(f"death_time must be one of {', '.join(DEATH_TIMES)}, "
                               f"not {self.death_time!r}")
        if self.tail_deaths not in TAIL_DEATHS:
            raise GoallocError(f"tail_deaths must be one of {', '.join(TAIL_DEATHS)}, "
                               f"not {self.tail_deaths!r}")
        if self.tracer_buffers not in (None, "keep", "drop"):
            raise GoallocError(f"tracer_buffers must be keep or drop, not {self.tracer_buffers!r}")
        if self.goexperiment is not None and self.goexperiment not in GOEXPERIMENTS:
            raise GoallocError(f"GOEXPERIMENT {self.goexperiment!r} is not one goalloc models "
                               f"(expected {' or '.join(GOEXPERIMENTS)})")
        if self.go_version is not None:
            releases.resolve(self.go_version)
        if self.gogc is not None and self.gogc < 0:
            raise GoallocError(f"GOGC must be >= 0 or off, not {self.gogc}")
        if self.memlimit is not None and self.memlimit <= 0:
            raise GoallocError(f"GOMEMLIMIT must be positive, not {self.memlimit}")
        if self.procs is not None and not 1 <= self.procs <= 1 << 15:
            raise GoallocError(f"GOMAXPROCS must be in 1..32768, not {self.procs}")
        if self.cons_mark < 0:
            raise GoallocError("cons_mark must be >= 0")
        for name in ("scan_rate", "bg_sweep_rate", "scavenge_page_ns", "scavenge_call_ns"):
            if (getattr(self, name) or 0) < 0:
                raise GoallocError(f"{name} must be >= 0")
        if self.mark_end_wait_ns is not None and not 0 <= self.mark_end_wait_ns < 1 << 40:
            raise GoallocError(f"the mark end's wait must be 0..2^40 ns, not "
                               f"{self.mark_end_wait_ns}")
        if self.timeline_samples < 1:
            raise GoallocError("timeline_samples must be >= 1")
        if not 0 <= self.mark_speed_seed < 1 << 31:
            raise GoallocError(f"mark_speed_seed must be 0..2^31, not {self.mark_speed_seed}")
        if self.mark_speeds is not None and not (
                0 < len(self.mark_speeds) <= MARK_SPEEDS
                and all(isinstance(f, float) and 1e-3 <= f <= 1e3 for f in self.mark_speeds)):
            raise GoallocError(f"mark_speeds must be 1..{MARK_SPEEDS} floats in 0.001..1000")


def ns_table(defaults: dict[str, int], overrides: dict | None, what: str,
             key: str) -> dict[str, int]:
    """A cost model's figures in force (ns): the defaults, then the overrides, each a known key
    and a non-negative number (`what`, `key`: how errors name the table and its keys)."""
    out = dict(defaults)
    for k, v in (overrides or {}).items():
        if k not in out:
            raise GoallocError(f"{what}: unknown {key} {k!r} "
                               f"(expected one of {', '.join(defaults)})")
        if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
            raise GoallocError(f"{what}: {k} must be a non-negative number of ns, not {v!r}")
        out[k] = int(round(v))
    return out
