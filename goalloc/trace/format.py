"""Trace format v1: the constants every reader, writer and importer shares.

The full specification, with the reasons behind each choice, is docs/trace-format.md. A trace
is a msgpack stream: one header map, then chunk maps whose columns are msgpack `bin` values
holding little-endian arrays, so a reader turns them into numpy arrays without per-event work.
"""

from __future__ import annotations

import numpy as np

FORMAT_NAME = "goalloc-trace"
FORMAT_VERSION = (1, 2)  # (major, minor): a newer major is refused, a newer minor is read.
# 1.1 added the optional `site` column and the header's `sites` table (#17); a file without
# them is written as 1.0, so it reads the same in goalloc releases that know only 1.0.
# 1.2 added the zstd-shuffle codec (#14); a file using it also lists it under `required`.
PLAIN_VERSION = (1, 0)
SITES_VERSION = (1, 1)
SHUFFLE_VERSION = (1, 2)

# Event kinds (column `kind`). Numbers are part of the format: never renumber.
ALLOC = 1  # id, size, flags (NOSCAN, SIZE_ESTIMATED, SNAPSHOT), aux = recorded slot size or 0
FREE = 2  # id
GC_START = 3  # id = GC cycle number, aux = GC_TRIGGER_*; marking begins (Go's GCBegin)
GC_MARK_TERM = 4  # id = GC cycle number; mark termination stop begins
GC_END = 5  # id = GC cycle number; mark termination done, sweeping begins (Go's GCEnd)
STW_BEGIN = 6  # aux = stop-the-world reason (STW_REASONS index)
STW_END = 7
SPAN_ALLOC = 8  # recorded fact: id = span id, size = pages, aux = span class or -1 (not heap)
SPAN_FREE = 9  # recorded fact: id = span id
HEAP_LIVE = 10  # recorded sample: size = heapLive bytes
HEAP_GOAL = 11  # recorded sample: size = heap goal bytes
STACK_ALLOC = 12  # recorded fact: id = stack id, size = bytes
STACK_FREE = 13  # recorded fact: id = stack id
# recorded sample of a runtime/metrics value (issue #20): id = sample group (the values read
# together, numbered from 0 through the trace), aux = METRIC_NAMES index, size = the value
METRIC = 14
MAX_KIND = 14

KIND_NAMES = {
    ALLOC: "alloc",
    FREE: "free",
    GC_START: "gc_start",
    GC_MARK_TERM: "gc_mark_term",
    GC_END: "gc_end",
    STW_BEGIN: "stw_begin",
    STW_END: "stw_end",
    SPAN_ALLOC: "span_alloc",
    SPAN_FREE: "span_free",
    HEAP_LIVE: "heap_live",
    HEAP_GOAL: "heap_goal",
    STACK_ALLOC: "stack_alloc",
    STACK_FREE: "stack_free",
    METRIC: "metric",
}
KIND_BY_NAME = {v: k for k, v in KIND_NAMES.items()}

# metric aux: which runtime/metrics value (names exactly as runtime/metrics spells them; the
# format only adds to the end). All are uint64 byte or count values.
METRIC_NAMES = (
    "/memory/classes/heap/objects:bytes",
    "/memory/classes/heap/unused:bytes",
    "/memory/classes/heap/free:bytes",
    "/memory/classes/heap/released:bytes",
    "/memory/classes/heap/stacks:bytes",
    "/memory/classes/total:bytes",
    "/gc/heap/goal:bytes",
    "/gc/cycles/total:gc-cycles",
    "/gc/gomemlimit:bytes",
)
METRIC_INDEX = {name: k for k, name in enumerate(METRIC_NAMES)}
METRIC_HEAP_CLASSES = 4  # METRIC_NAMES[:4] are the heap's memory classes
METRIC_TOTAL = 5  # /memory/classes/total:bytes
# The category of the trace.Log records a Go program writes its metric samples under
# (docs/importers.md, "Metric samples"): a JSON object of runtime/metrics name -> number.
METRICS_LOG_CATEGORY = "goalloc.metrics"

# Flags (column `flags`, a bit set).
# gc_start aux: what started the cycle (runtime/mgc.go gcTrigger kinds), when the source says.
GC_TRIGGER_UNKNOWN = 0
GC_TRIGGER_HEAP = 1  # gcTriggerHeap: heapLive reached the pacer's trigger
GC_TRIGGER_TIME = 2  # gcTriggerTime: periodic (forcegcperiod, 2 min without a cycle)
GC_TRIGGER_FORCED = 3  # gcTriggerCycle: the program called runtime.GC (or debug.FreeOSMemory)
GC_TRIGGER_NAMES = ("unknown", "heap", "time", "forced")

FLAG_NOSCAN = 1  # alloc: the object holds no pointers
FLAG_SIZE_ESTIMATED = 2  # alloc: `size` is an estimate of the request (e.g. from the type size)
FLAG_SNAPSHOT = 4  # alloc / span_alloc / stack_alloc: existed when recording started
# alloc: the runtime's own object, there only because the program was traced (the execution
# tracer's CPU-sample buffers, runtime/tracecpu.go traceInitReadCPU)
FLAG_TRACER = 8
FLAG_NAMES = {FLAG_NOSCAN: "noscan", FLAG_SIZE_ESTIMATED: "estimated", FLAG_SNAPSHOT: "snapshot",
              FLAG_TRACER: "tracer"}
FLAG_BY_NAME = {v: k for k, v in FLAG_NAMES.items()}
KNOWN_FLAGS = FLAG_NOSCAN | FLAG_SIZE_ESTIMATED | FLAG_SNAPSHOT | FLAG_TRACER

# Header `snapshot: "placed"`: every alloc flagged snapshot has its recorded placement in `aux`,
# (span id + 1) << PLACEMENT_SHIFT | slot index (the span is a span_alloc flagged snapshot; 0
# when the importer could not tell), instead of its slot size (docs/trace-format.md).
SNAPSHOT_PLACED = "placed"
PLACEMENT_SHIFT = 16
PLACEMENT_SLOT_MASK = (1 << PLACEMENT_SHIFT) - 1

# Stop-the-world reasons, in the order of the runtime's stwReason enum (Go 1.21+,
# src/runtime/proc.go), so an importer can copy Go's value. The format only adds to the end.
STW_REASONS = (
    "unknown",
    "GC mark termination",
    "GC sweep termination",
    "write heap dump",
    "goroutine profile",
    "goroutine profile cleanup",
    "all goroutines stack trace",
    "read mem stats",
    "AllThreadsSyscall",
    "GOMAXPROCS",
    "start trace",
    "stop trace",
    "CountPagesInUse (test)",
    "ReadMetricsSlow (test)",
    "ReadMemStatsSlow (test)",
    "PageCachePagesLeaked (test)",
    "ResetDebugLog (test)",
    "ForceGC (test)",
)
# Recorded stops that flush every P's mcache (runtime/mstats.go readmemstats_m ->
# flushallmcaches): the program called runtime.ReadMemStats or debug.WriteHeapDump.
FLUSH_STW_REASONS = ("read mem stats", "write heap dump", "ReadMemStatsSlow (test)")
FLUSH_REASON = np.zeros(len(STW_REASONS), np.bool_)  # by STW_REASONS index
FLUSH_REASON[[STW_REASONS.index(r) for r in FLUSH_STW_REASONS]] = True
STW_GC_MARK_TERM = 1
STW_GC_SWEEP_TERM = 2

# Columns: name -> numpy dtype (little-endian on disk) and the value used when a chunk omits
# the column. `kind`, `ts` and `id` are required in every chunk.
COLUMNS: dict[str, np.dtype] = {
    "kind": np.dtype("<u1"),
    "ts": np.dtype("<i8"),
    "p": np.dtype("<i2"),
    "id": np.dtype("<i8"),
    "size": np.dtype("<i8"),
    "flags": np.dtype("<u1"),
    "aux": np.dtype("<i8"),
    # 1.1 (#17): alloc's attribution site, an index into the header's `sites` table + 1 (0 =
    # none): the Go type (Go traces) or call site (C traces) it was allocated with
    "site": np.dtype("<i4"),
}
REQUIRED_COLUMNS = ("kind", "ts", "id")
NO_P = -1  # `p` of an event that ran on no P (e.g. a sweep free in a Go trace)

# Header values.
SIZES = ("requested", "slot")  # what `size` of an alloc means
FREES = ("death", "sweep")  # when a free is observed: at death, or when a Go sweeper reclaimed it
CLOCK = "ns"
CODECS = ("raw", "zstd", "zstd-shuffle")
# zstd-shuffle (1.2, #14): `ts` as differences, every column byte-shuffled, then zstd
# (goalloc/trace/shuffle.py, docs/trace-format.md).
SHUFFLE_CODEC = "zstd-shuffle"
DELTA_COLUMNS = ("ts",)

# Limits a reader enforces, so a hostile file cannot make it allocate gigabytes.
MAX_CHUNK_EVENTS = 1 << 20
MAX_HEADER_BYTES = 1 << 20
MAX_HEADER_LIST = 1 << 16  # entries of any list in the header (a reader takes no longer one)
MAX_ID = (1 << 40) - 1  # ids are dense array indices; far beyond this is corruption
MAX_SIZE = 1 << 40  # 1 TiB: a larger single allocation is treated as corrupt
DEFAULT_CHUNK_EVENTS = 1 << 16

# Header `sites` (1.1, #17): the attribution table the `site` column indexes (site k is entry
# k - 1; 0 = none). SITE_KINDS: what its names are.
SITE_KINDS = ("go-type", "call-site")
MAX_SITES = (1 << 16) - 1  # entries (a msgpack array in the header holds at most 65536)
MAX_SITE_NAME = 256  # characters per name; longer names are cut (the header stays < 1 MiB)
SITE_NAME_BUDGET = 768 << 10  # characters of all names together

# Feature names a header may list under "required": a reader that does not know one must
# refuse the file. 1.2 defines one: the zstd-shuffle codec, named by the files that use it.
KNOWN_REQUIRED_FEATURES: frozenset[str] = frozenset({SHUFFLE_CODEC})


def column_sum64(data) -> int:
    """The checksum of one column's (uncompressed) bytes: their little-endian uint64 words,
    the last one zero-padded, summed modulo 2**64. Any single bit flip changes it; it runs at
    memory speed (~20 GB/s), where zlib.crc32 (~2.4 GB/s) would halve the read rate."""
    mv = memoryview(data).cast("B")
    whole = len(mv) // 8 * 8
    total = int(np.frombuffer(mv, dtype="<u8", count=whole // 8).sum(dtype=np.uint64))
    if whole != len(mv):
        total += int.from_bytes(bytes(mv[whole:]), "little")
    return total & 0xFFFF_FFFF_FFFF_FFFF


def chunk_sum64(column_sums: list[int]) -> int:
    """Combine column checksums in file order: sum of sum_k * (2k + 1) modulo 2**64 (odd
    weights keep every single-column change visible and make column order matter)."""
    total = 0
    for k, s in enumerate(column_sums):
        total += s * (2 * k + 1)
    return total & 0xFFFF_FFFF_FFFF_FFFF
