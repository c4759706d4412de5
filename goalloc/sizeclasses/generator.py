"""A reimplementation of the runtime's size-class generator, mksizeclasses.go (Go 1.19-1.26).

`make_classes(GeneratorParams())` reproduces Go's 68-entry table exactly (design doc §1.3); other
parameters (tail-waste bound, alignment steps, page and max small size) give variant tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

LARGE_SIZE_DIV = 128  # largeSizeDiv: class sizes above smallSizeMax keep this alignment
SMALL_SIZE_MAX = 1024  # smallSizeMax: where size_to_class8 hands over to size_to_class128
SMALL_SIZE_DIV = 8  # smallSizeDiv


@dataclass(frozen=True)
class GeneratorParams:
    """Inputs of mksizeclasses. Defaults are Go's.

    `align_steps` lists (power-of-two size, alignment) in ascending size: when the size loop
    reaches a power of two >= that size, the step to the next size becomes `alignment`, where
    alignment 0 means size // `classes_per_doubling` (Go: size/8 between 128 and 2048).
    """

    page_size: int = 8192
    max_small_size: int = 32768
    tail_waste: Fraction = Fraction(1, 8)  # span % size <= span * tail_waste
    min_align: int = 8  # minHeapAlign
    align_steps: tuple[tuple[int, int], ...] = ((32, 16), (128, 0), (2048, 256))
    classes_per_doubling: int = 8
    expect_classes: int | None = 68  # Go panics if the count changes; None = no check


def _is_pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _next_align(size: int, align: int, p: GeneratorParams) -> int:
    """The alignment bump mksizeclasses applies when `size` is a power of two."""
    for threshold, step in reversed(p.align_steps):
        if size >= threshold:
            return step if step else size // p.classes_per_doubling
    return align


def span_bytes_for(size: int, page_size: int, tail_waste: Fraction) -> int:
    """Smallest whole-page span whose tail (span % size) is within the waste bound."""
    span = page_size
    while (span % size) * tail_waste.denominator > span * tail_waste.numerator:
        span += page_size
    return span


def make_classes(p: GeneratorParams | None = None) -> list[tuple[int, int]]:
    """(size, pages) per class, class 0 = (0, 0) included, exactly as mksizeclasses builds it."""
    p = p or GeneratorParams()
    classes: list[list[int]] = [[0, 0]]  # class 0 is a dummy entry (large objects)
    align = p.min_align
    size = align
    while size <= p.max_small_size:
        if _is_pow2(size):
            align = _next_align(size, align, p)
            if not _is_pow2(align):
                raise ValueError(f"incorrect alignment {align} at size {size}")
        span = span_bytes_for(size, p.page_size, p.tail_waste)
        npages = span // p.page_size
        # Same pages and same object count as the previous class: one class will do, and the
        # larger size wastes less on the requests between the two.
        prev = classes[-1]
        if len(classes) > 1 and npages == prev[1] and span // size == span // prev[0]:
            prev[0] = size
        else:
            classes.append([size, npages])
        size += align

    # Post-pass: widen slots while the object count per span stays the same (e.g. 8448 ->
    # 9472 in 7 pages), keeping largeSizeDiv alignment so size_to_class128 still works.
    for c in classes[1:]:
        psize = c[1] * p.page_size
        new_size = (psize // (psize // c[0])) & ~(LARGE_SIZE_DIV - 1)
        if new_size > c[0]:
            c[0] = new_size

    if p.expect_classes is not None and len(classes) != p.expect_classes:
        raise ValueError(f"generator made {len(classes)} classes, expected {p.expect_classes}")
    return [(s, n) for s, n in classes]
