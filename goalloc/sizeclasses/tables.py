"""Size-class tables as data: the runtime's class_to_size / class_to_allocnpages and the
size_to_class8 / size_to_class128 lookup arrays (runtime/sizeclasses.go, Go 1.19-1.26),
plus the built-in alternatives (`jemalloc`, `pow2`, generator variants like `go-waste6.25`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from goalloc.errors import GoallocError
from goalloc.sizeclasses.generator import (
    LARGE_SIZE_DIV,
    SMALL_SIZE_DIV,
    SMALL_SIZE_MAX,
    GeneratorParams,
    make_classes,
)

PAGE_SIZE = 8192  # runtime pageSize (_PageShift 13)


@dataclass(frozen=True, eq=False)
class SizeClassTable:
    """One size-class table. Arrays are read-only and include class 0 (size 0, pages 0)."""

    name: str
    page_size: int
    max_small_size: int  # the largest class size: larger requests are large objects
    class_size: np.ndarray  # int64[num_classes]
    class_pages: np.ndarray  # int64[num_classes]
    size_to_class8: np.ndarray  # int64: smallest class with size >= 8*i
    size_to_class128: np.ndarray  # int64: smallest class with size >= split + 128*j
    description: str = ""

    @property
    def num_classes(self) -> int:
        """Entries counting class 0, like the runtime's _NumSizeClasses (68 for Go)."""
        return len(self.class_size)

    @property
    def class_span(self) -> np.ndarray:
        return self.class_pages * self.page_size

    @property
    def class_objs(self) -> np.ndarray:
        """Objects per span with no in-span metadata (the generated file's `objects`)."""
        return objs_per_span(self.class_span, self.class_size, 0)

    @property
    def class_tail(self) -> np.ndarray:
        return self.class_span - self.class_objs * self.class_size

    @property
    def class_align(self) -> np.ndarray:
        """Largest power of two dividing the size, capped at the page size (0 for class 0)."""
        s = self.class_size
        return np.where(s > 0, np.minimum(s & -s, self.page_size), 0)

    def max_waste(self, objs: np.ndarray | None = None) -> np.ndarray:
        """Worst-case waste fraction per class: ((size - prev - 1)*objs + tail) / span."""
        return max_waste(self.class_size, self.class_span, self.class_objs if objs is None else objs)

    def size_to_class(self, n):
        """Smallest class with size >= n (vectorised, pure numpy); n must be <= max_small_size."""
        n = np.asarray(n, dtype=np.int64)
        split = (len(self.size_to_class8) - 1) * SMALL_SIZE_DIV
        small = n <= split - SMALL_SIZE_DIV
        i8 = np.where(small, (n + SMALL_SIZE_DIV - 1) >> 3, 0)
        i128 = np.where(small, 0, (n - split + LARGE_SIZE_DIV - 1) >> 7)
        return np.where(small, self.size_to_class8[i8], self.size_to_class128[i128])

    def slot_size(self, n):
        """Slot bytes serving a request of n bytes: its class size, or whole pages if large."""
        n = np.asarray(n, dtype=np.int64)
        small = n <= self.max_small_size
        cls = self.size_to_class(np.where(small, n, 0))
        pages = -(-n // self.page_size)
        return np.where(small, self.class_size[cls], pages * self.page_size)


def objs_per_span(span: np.ndarray, size: np.ndarray, reserve) -> np.ndarray:
    """(span - reserve) // size per class, 0 for class 0."""
    safe = np.where(size > 0, size, 1)
    return np.where(size > 0, (span - reserve) // safe, 0).astype(np.int64)


def max_waste(size: np.ndarray, span: np.ndarray, objs: np.ndarray) -> np.ndarray:
    prev = np.concatenate(([0], size[:-1]))
    tail = span - objs * size
    out = np.zeros(len(size), dtype=np.float64)
    nz = size > 0
    out[nz] = ((size[nz] - prev[nz] - 1) * objs[nz] + tail[nz]) / span[nz]
    return out


def build_lookup(class_size: np.ndarray, max_small_size: int) -> tuple[np.ndarray, np.ndarray]:
    """size_to_class8 / size_to_class128 for any table.

    Go's split (129 entries at 8 B steps up to 1024, then 128 B steps) is exact only when every
    class above 1024 is a multiple of 128, as the generator guarantees. For other tables the
    8 B array covers the whole range and the 128 B array holds the single top entry, so the
    same two-array lookup still gives the smallest class with size >= n.
    """
    go_split = (
        max_small_size > SMALL_SIZE_MAX
        and max_small_size % LARGE_SIZE_DIV == 0
        and all(int(s) % LARGE_SIZE_DIV == 0 for s in class_size if s > SMALL_SIZE_MAX)
    )
    split = SMALL_SIZE_MAX if go_split else max_small_size
    n8 = split // SMALL_SIZE_DIV + 1
    c8 = np.searchsorted(class_size, np.arange(n8, dtype=np.int64) * SMALL_SIZE_DIV, "left")
    n128 = (max_small_size - split) // LARGE_SIZE_DIV + 1
    c128 = np.searchsorted(
        class_size, split + np.arange(n128, dtype=np.int64) * LARGE_SIZE_DIV, "left"
    )
    return c8.astype(np.int64), c128.astype(np.int64)


def make_table(
    name: str, classes, page_size: int = PAGE_SIZE, description: str = ""
) -> SizeClassTable:
    """A table from (size, pages) pairs; class 0 is added if absent. Inputs must be valid
    (custom.py checks user files with located messages)."""
    classes = [tuple(map(int, c)) for c in classes]
    if not classes or classes[0] != (0, 0):
        classes = [(0, 0), *classes]
    size = np.array([c[0] for c in classes], dtype=np.int64)
    pages = np.array([c[1] for c in classes], dtype=np.int64)
    max_small = int(size[-1])
    c8, c128 = build_lookup(size, max_small)
    for a in (size, pages, c8, c128):
        a.setflags(write=False)
    return SizeClassTable(name, page_size, max_small, size, pages, c8, c128, description)


# -- built-in tables ------------------------------------------------------------------------


def _go() -> SizeClassTable:
    return make_table(
        "go", make_classes(), description="Go runtime size classes (mksizeclasses, Go 1.19-1.26)"
    )


def _jemalloc() -> SizeClassTable:
    """jemalloc's small-bin spacing (8, then 16-B quantum to 128, then 4 classes per doubling)
    up to 32 KiB, each slab the least common multiple of size and page (no tail), as
    jemalloc's sc.c slab_size() picks it."""
    sizes = [8, *range(16, 129, 16)]
    base = 128
    while base < 32768:
        sizes += [base + k * base // 4 for k in range(1, 5)]
        base *= 2
    classes = [(s, np.lcm(s, PAGE_SIZE) // PAGE_SIZE) for s in sizes]
    return make_table(
        "jemalloc", classes,
        description="jemalloc-style: 4 classes per doubling, slabs = lcm(size, page)",
    )


def _pow2() -> SizeClassTable:
    classes = [(1 << k, max(1, (1 << k) // PAGE_SIZE)) for k in range(3, 16)]
    return make_table("pow2", classes, description="power-of-two classes 8 B .. 32 KiB")


_WASTE_RE = re.compile(r"^go-waste(\d+(?:\.\d+)?)$")


def _go_waste(pct: str) -> SizeClassTable:
    bound = Fraction(pct) / 100
    if not 0 < bound < 1:
        raise GoallocError(f"table go-waste{pct}: the tail-waste bound must be in (0, 100) %")
    params = GeneratorParams(tail_waste=bound, expect_classes=None)
    return make_table(
        f"go-waste{pct}", make_classes(params),
        description=f"Go's generator with a {pct}% span tail-waste bound (Go: 12.5%)",
    )


BUILTIN = {
    "go": "Go runtime size classes (mksizeclasses, Go 1.19-1.26)",
    "jemalloc": "jemalloc-style: 4 classes per doubling, slabs = lcm(size, page)",
    "pow2": "power-of-two classes 8 B .. 32 KiB",
    "go-waste6.25": "Go's generator with a 6.25% tail-waste bound (any go-waste<P> works)",
}


@lru_cache(maxsize=32)
def builtin(name: str) -> SizeClassTable | None:
    """A built-in table by name, or None if `name` is not one."""
    if name == "go":
        return _go()
    if name == "jemalloc":
        return _jemalloc()
    if name == "pow2":
        return _pow2()
    m = _WASTE_RE.match(name)
    if m:
        return _go_waste(m.group(1))
    return None
