"""Go version profiles of the small-object path: objects per span after in-span reserves
(mheap.go initSpan), the 8 B malloc header and the small-size limit (malloc.go mallocgc).
Releases and their facts are in goalloc/releases.py; the span layout is "1.19" (heap bitmap
outside spans, 1.19-1.21), "1.22" (heap bits in small pointerful spans, 1.22-1.25) or "1.26"
(plus Green Tea's inline mark bits: default from 1.26, an experiment in 1.25).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goalloc import releases
from goalloc.sizeclasses.tables import SizeClassTable, objs_per_span

PROFILES = releases.PROFILES
# A trace that names no release, and `classes` without a trace, model the newest one.
DEFAULT_GO_VERSION = releases.NEWEST

HEADER_SIZE = 8  # mallocHeaderSize [1.22]
HEADER_THRESHOLD = 512  # minSizeForMallocHeader = PtrSize*64; user size > 512 gets a header
HEAP_BITS_DIV = 64  # [1.22] pointerful spans of <= 512 B slots reserve span/64 for heap bits
INLINE_MARK_BITS = 128  # [1.26] spanInlineMarkBits for 16 <= slot <= 512, scan or noscan
TINY_SIZE = 16  # _TinySize / maxTinySize


def resolve_version(go_version: str) -> str:
    """Map a Go version ("1.23", "go1.24.3", ...) to its profile key, or raise GoallocError."""
    return releases.resolve(go_version).key


@dataclass(frozen=True, eq=False)
class ClassProfile:
    """Per-class facts of one table under one Go version profile."""

    go_version: str  # profile key: a release of goalloc.releases.PROFILES
    layout: str  # "1.19", "1.22" or "1.26" (Green Tea inline mark bits)
    table: SizeClassTable
    objs_scan: np.ndarray  # int64 per class: objects per pointerful span
    objs_noscan: np.ndarray  # int64 per class: objects per pointer-free span
    malloc_header: bool
    small_max: int  # largest user size served by a small class
    header_size: int = HEADER_SIZE
    header_threshold: int = HEADER_THRESHOLD
    tiny_size: int = TINY_SIZE

    def header_bytes(self, size: int, noscan: bool) -> int:
        """Malloc header bytes a request of `size` carries in its slot (0 or 8)."""
        if self.malloc_header and not noscan and self.header_threshold < size <= self.small_max:
            return self.header_size
        return 0

    def size_class(self, size: int, noscan: bool) -> tuple[int, int, int]:
        """(class, slot bytes, header bytes) for a request; class 0 and whole pages if large.
        The tiny allocator (noscan < 16 B) is the engine's business: here such a request
        simply maps to its class."""
        size = int(size)
        if size <= 0:
            return 0, 0, 0  # zero-size requests share one address (zerobase)
        if size > self.small_max:
            page = self.table.page_size
            return 0, -(-size // page) * page, 0  # large: no header, type kept in the span
        hdr = self.header_bytes(size, noscan)
        cls = int(self.table.size_to_class(size + hdr))
        return cls, int(self.table.class_size[cls]), hdr


def _reserves(table: SizeClassTable, key: str) -> tuple[np.ndarray, np.ndarray]:
    """In-span metadata bytes per class for (scan, noscan) spans under a span layout."""
    size, span = table.class_size, table.class_span
    zero = np.zeros(len(size), dtype=np.int64)
    if key == "1.19":  # heap bitmap lives per arena, outside spans
        return zero, zero
    small = (size > 0) & (size <= HEADER_THRESHOLD)
    scan = np.where(small, span // HEAP_BITS_DIV, 0)  # heapBitsInSpan
    if key == "1.22":
        return scan, zero
    # 1.26: Green Tea's 128 B block at the span end for 16..512 B slots, scan or noscan.
    # Go's spans of these sizes are one page; a custom multi-page span is assumed to carry
    # one block per span.
    inline = np.where(small & (size >= 16), INLINE_MARK_BITS, 0)
    return scan + inline, inline


def layout_of(go_version: str, green_tea: bool | None = None) -> str:
    """The span layout of a release, with Green Tea's inline mark bits on or off when
    `green_tea` is given (GOEXPERIMENT), else as the release has them by default."""
    rel = releases.resolve(go_version)
    if rel.layout == "1.19" or green_tea is None:
        return rel.layout
    return "1.26" if green_tea else "1.22"


def profile(table: SizeClassTable, go_version: str,
            green_tea: bool | None = None) -> ClassProfile:
    """The version profile of `table` for `go_version` (see resolve_version); `green_tea`
    overrides the release's default span layout (see layout_of)."""
    rel = releases.resolve(go_version)
    key = rel.key
    layout = layout_of(key, green_tea)
    res_scan, res_noscan = _reserves(table, layout)
    objs_scan = objs_per_span(table.class_span, table.class_size, res_scan)
    objs_noscan = objs_per_span(table.class_span, table.class_size, res_noscan)
    for a in (objs_scan, objs_noscan):
        a.setflags(write=False)
    header = rel.malloc_header
    # [1.22] maxSmallSize - mallocHeaderSize applies to every object, noscan included.
    small_max = table.max_small_size - (HEADER_SIZE if header else 0)
    return ClassProfile(key, layout, table, objs_scan, objs_noscan, header, small_max)
