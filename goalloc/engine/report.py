"""The replay report: per-cycle records, memory classes as runtime/metrics defines them (end and
at the peak of held memory), fragmentation splits, per size class figures and counters. Plain
Python data (no numba); `metrics()` gives runtime/metrics and /goalloc/... names."""

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

    def metrics(self) -> dict[str, int | float | None]:
        m: dict[str, int | float | None] = {
            "/memory/classes/heap/objects:bytes": self.end.objects,
            "/memory/classes/heap/unused:bytes": self.end.unused,
            "/memory/classes/heap/free:bytes": self.end.free,
            "/memory/classes/heap/released:bytes": self.end.released,
            "/gc/cycles/total:gc-cycles": len([c for c in self.cycles if c.end_event is not None]),
            "/gc/heap/goal:bytes": self.heap_goal,
            "/gc/heap/allocs:objects": self.mallocs - self.tiny_allocs,  # tiny excluded
            "/gc/heap/allocs:bytes": self.alloc_bytes,
            "/gc/heap/frees:objects": self.frees,
            "/gc/heap/live:bytes": self.heap_marked,
            "/gc/heap/tiny/allocs:objects": self.tiny_allocs,
            "/goalloc/frag/rounding:bytes": self.end_frag.rounding,
            "/goalloc/frag/tail:bytes": self.end_frag.tail,
            "/goalloc/frag/free-slots:bytes": self.end_frag.free_slots,
            "/goalloc/frag/dead-unswept:bytes": self.end_frag.dead_unswept,
            "/goalloc/heap/spans:count": self.spans_in_use,
        }
        for c in self.classes:
            key = f"/goalloc/sizeclass/{c.size_class}{'' if not c.noscan else '-noscan'}/spans:count"
            m[key] = c.spans
        return m

    def to_dict(self) -> dict:
        return asdict(self)
