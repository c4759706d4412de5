"""Limits on values read from files, in one place (issue #18).

Every number a file gives that sizes an array or reaches a numba kernel is checked against one
of these before use, so a hostile or damaged file gets a one-line error instead of a crash or a
runaway allocation. Each limit says why it is where it is: what the Go runtime allows, or what
the rest of goalloc can handle within bounded memory (the contract: peak RSS under 1 GB on any
input that is not itself that large). The trace format's own limits (chunk size, ids, sizes)
are in goalloc.trace.format.
"""

from __future__ import annotations

# -- JSON (reports given to compare, JSON size-class tables, JSON Lines traces) ---------------

# goalloc's own documents nest at most 6 deep (grid -> runs -> metrics -> value -> histogram
# -> buckets); 64 leaves room for unknown extensions while keeping every recursive reader far
# from Python's recursion limit (1000).
MAX_JSON_DEPTH = 64
# A replay report is ~120 KB; a grid of 500 runs ~60 MB. json.load holds ~10x the text as
# Python objects, so 64 MiB keeps a report within the memory bound.
MAX_JSON_FILE_BYTES = 64 << 20
# A JSON Lines event is under 200 bytes; the header line holds the recorder's `source` map.
MAX_JSONL_LINE_BYTES = 1 << 20

# -- text importers (mtrace, heaptrack) ---------------------------------------------------------

# mtrace lines are under 200 bytes; heaptrack's longest are demangled C++ symbol names (a few
# KB). A line is held whole while it is parsed, so this bounds the carry buffer.
MAX_TEXT_LINE_BYTES = 16 << 20
# Compressed input is fed to zstd this many bytes at a time: zstd's best ratio is about
# 32768:1 (an RLE block of 128 KiB from 4 bytes), so one call yields at most ~32 MiB.
ZSTD_FEED_BYTES = 1 << 10

# -- size-class tables (custom TOML / JSON files) -----------------------------------------------

# Go's classes end at _MaxSmallSize = 32 KiB. The lookup arrays hold one entry per 8 bytes up
# to the largest class (size_to_class8), so 1 MiB keeps them at 1 MiB of memory.
MAX_CLASS_SIZE = 1 << 20
# Go has 67 classes (68 with class 0); every per-class array and report row scales with this.
MAX_CLASSES = 4096
# The runtime's page is 8 KiB (_PageShift 13); a table may model others up to 1 MiB.
MAX_PAGE_SIZE = 1 << 20
# A small-object span in Go is at most 10 pages; one palloc chunk (512 pages, 4 MiB) is the
# most the page allocator model hands out at once for a span class.
MAX_CLASS_PAGES = 512
# The engine's span bitmaps (alloc, mark, live) are 1024 bits wide (engine/state.py MAX_OBJS):
# Go's densest span is 8 KiB of 8 B objects = 1024 objects.
MAX_SPAN_OBJECTS = 1024

# -- Go execution traces -------------------------------------------------------------------------

# The Go importer maps heap pages (counted from the trace's lowest heap address) to spans with
# six int64 tables indexed by page (trace/importers/gotrace.py _State: page -> span, and each
# span's pages, class, slots): 48 bytes per page. 2^23 pages (64 GiB above the lowest heap
# page at Go's 8 KiB pages) cost 384 MiB, within the 1 GB bound with the rest of an import.
# The runtime's own heap on linux/amd64 grows up from one arena hint, so a span this far up
# means a heap of tens of GiB; a small file that claims one is corrupt (the fuzzer's
# 2-byte mutation of a 9 KB trace reached page 261,799,793 and 12 GB of RSS).
MAX_GO_HEAP_PAGES = 1 << 23
# A span event's type-and-class argument: runtime traceSpanTypeAndClass writes
# spanclass << 1 for an in-use heap span (spanclass is a uint8: size class << 1 | noscan) and
# 1 otherwise, so every value the runtime writes is below 512; the importer indexes its class
# tables with it.
GO_SPAN_CLASS_END = 1 << 9

# -- the engine's heap --------------------------------------------------------------------------

# The page allocator model keeps ~9 bytes per 8 KiB page (the page -> span map and the alloc /
# scavenged bitmaps), so 256 GiB of modelled heap costs ~300 MB. A trace that needs more (the
# format allows 1 TiB objects) is refused instead of exhausting memory; the Go runtime's own
# bound is the 48-bit address space.
MAX_HEAP_BYTES = 256 << 30
