"""gcBits arenas (runtime/mheap.go newMarkBits, newAllocBits, nextMarkBitArenaEpoch; Go 1.12+,
the same in 1.19-1.27): every span's mark and alloc bitmaps live in 64 KiB arenas the runtime
allocates off-heap (/memory/classes/metadata/other) and never returns.

- newMarkBits(nelems) takes ceil(nelems/64) * 8 bytes from the head arena of the `next` list,
  or from a fresh arena when the head has too little room left (the rest of the old one is
  not used again this epoch). initSpan takes two (mark and alloc bits), a sweep one (the mark
  bits become the alloc bits).
- nextMarkBitArenaEpoch at every sweep termination (finishsweep_m): the `previous` arenas go
  to the free list, `current` becomes `previous`, `next` becomes `current`, `next` starts empty.
- A fresh arena comes off the free list before it is mapped, so the memory the runtime holds
  is the high water of next + current + previous.

Only what /memory/classes/metadata/other counts is modelled (engine/mstats.py): which bits a
span points at is the engine's own business (mspan.py's abits/mbits rows).
"""

from __future__ import annotations

from goalloc.engine.state import (
    S_GCB_CUR,
    S_GCB_HEAD_USED,
    S_GCB_HW,
    S_GCB_NEXT,
    S_GCB_PREV,
)
from goalloc.jit import njit

CHUNK_BYTES = 64 << 10  # gcBitsChunkBytes
HEADER_BYTES = 16  # gcBitsHeader: free index, next pointer (linux/amd64)
ARENA_BITS = CHUNK_BYTES - HEADER_BYTES


@njit(cache=True, inline="always")
def new_mark_bits(sc, nelems):
    """newMarkBits: bitmap bytes for a span of nelems objects from the `next` list."""
    need = ((nelems + 63) // 64) * 8
    if sc[S_GCB_NEXT] > 0 and sc[S_GCB_HEAD_USED] + need <= ARENA_BITS:
        sc[S_GCB_HEAD_USED] += need
        return
    sc[S_GCB_NEXT] += 1  # newArenaMayUnlock: off the free list, else mapped
    sc[S_GCB_HEAD_USED] = need
    held = sc[S_GCB_NEXT] + sc[S_GCB_CUR] + sc[S_GCB_PREV]
    if held > sc[S_GCB_HW]:
        sc[S_GCB_HW] = held


@njit(cache=True)
def next_epoch(sc):
    """nextMarkBitArenaEpoch."""
    sc[S_GCB_PREV] = sc[S_GCB_CUR]
    sc[S_GCB_CUR] = sc[S_GCB_NEXT]
    sc[S_GCB_NEXT] = 0
    sc[S_GCB_HEAD_USED] = 0


@njit(cache=True)
def bytes_mapped(sc):
    """The arenas the runtime has mapped: the high water of those held."""
    return sc[S_GCB_HW] * CHUNK_BYTES
