"""size -> class inside numba kernels: the runtime's two-array lookup (sizeclasses.go
size_to_class8 / size_to_class128 with the <=1016 / >1016 split; Go 1.19-1.26).

This module imports numba (via goalloc.jit): import it only from kernel code.
"""

from __future__ import annotations

from goalloc.jit import njit


@njit(cache=True, inline="always")
def size_to_class(n, class8, class128):
    """Smallest class with size >= n, for 0 <= n <= the table's max small size.

    The split point is the 8-byte array's reach (1024 for Go, whose 1017..1024 land on
    class128[0] as in the runtime's unsigned arithmetic); tables that build a long class8
    array use the same code. The malloc header must already be added to n."""
    split = (class8.shape[0] - 1) * 8
    # both lookups with clamped indices, then a select: no early return, so the kernels' inline
    # steps that call this stay straight-line (no reference counting in the event loop)
    c8 = class8[min((n + 7) >> 3, class8.shape[0] - 1)]
    c128 = class128[max((n - split + 127) >> 7, 0)]
    return c8 if n <= split - 8 else c128


@njit(cache=True, inline="always")
def malloc_size(size, noscan, header, threshold, header_size):
    """mallocgc [1.22+]: a pointerful object above the header threshold (512 B) carries a
    malloc header (8 B) in its slot, so the class lookup sees size + header. `header`: the
    version profile has malloc headers."""
    return size + header_size * ((header & (not noscan)) & (size > threshold))


@njit(cache=True)
def tiny_offset(off, size):
    """mallocgc's tiny allocator: where in the current 16 B block an object of `size` bytes
    goes, given the block's offset so far (aligned to 8, 4 or 2 by the size's low bits)."""
    if size & 7 == 0:
        return (off + 7) & ~7
    if size & 3 == 0:
        return (off + 3) & ~3
    if size & 1 == 0:
        return (off + 1) & ~1
    return off
