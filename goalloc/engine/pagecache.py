"""pageCache (runtime/mpagecache.go; Go 1.14+, same in 1.19-1.26): a per-P 64-page window of
free pages taken whole from the page allocator (which then sees them as allocated), used for
spans of fewer than 16 pages without the heap lock. Refill takes the 64-page aligned block
holding the first free page at/after the search hint. The scavenged bits stay in the page
allocator's bitmap (the runtime copies them into the cache; the accounting is the same).
"""

from __future__ import annotations

import numpy as np

from goalloc.engine.locks import LK_PCACHE_REFILL, acquire
from goalloc.engine.pagealloc import first_free_page, update_summary
from goalloc.engine.state import CHUNK_PAGES, PP_PC_BASE, S_HINT_CHUNK, S_MAPPED_CHUNKS
from goalloc.jit import ALL, U0, U1, ctz64, njit


@njit(cache=True)
def refill(s, p):
    """pageAlloc.allocToCache: give P p the free pages of one aligned 64-page block."""
    acquire(s, LK_PCACHE_REFILL)  # allocSpan locks the heap around allocToCache
    page = first_free_page(s)
    if page < 0:
        s.pp[p, PP_PC_BASE] = -1
        s.pcache[p] = U0
        return False
    _take_block(s, p, page & ~np.int64(63))
    return True


@njit(cache=True)
def seed(s, p, block):
    """P p's page cache as a trace shows it at its start: the free pages of the 64-page block
    at page `block` (engine/snapshot.py: where its first small span came from). False, and
    nothing taken, when the P has cached pages already or the block is not mapped or has no
    free page."""
    if s.pcache[p] != U0 or block < 0 or block % 64 != 0 \
            or block >= s.sc[S_MAPPED_CHUNKS] * CHUNK_PAGES:
        return False
    if ~s.palloc[block // CHUNK_PAGES, (block % CHUNK_PAGES) >> 6] == U0:
        return False
    _take_block(s, p, block)
    return True


@njit(cache=True, inline="always")
def _take_block(s, p, base):
    """allocToCache's take: the free pages of the aligned block at `base` become P p's cache
    (allocated to the page allocator); the search hint moves past full chunks."""
    c = base // CHUNK_PAGES
    w = (base % CHUNK_PAGES) >> 6
    s.pcache[p] = ~s.palloc[c, w]
    s.pp[p, PP_PC_BASE] = base
    s.palloc[c, w] = ALL
    update_summary(s, c)
    h = s.sc[S_HINT_CHUNK]
    n = s.sc[S_MAPPED_CHUNKS]
    while h < n and s.psum[h, 1] == 0:
        h += 1
    s.sc[S_HINT_CHUNK] = h


@njit(cache=True)
def alloc(s, p, npages):
    """pageCache.alloc: first page of npages free cached pages, or -1 (the caller falls back
    to the page allocator and keeps the cache)."""
    if s.pcache[p] == U0:
        if not refill(s, p):
            return -1
    cache = s.pcache[p]
    base = s.pp[p, PP_PC_BASE]
    if npages == 1:
        bit = ctz64(cache)
        s.pcache[p] = cache & ~(U1 << np.uint64(bit))
        return base + bit
    m = (U1 << np.uint64(npages)) - U1
    for i in range(0, 64 - npages + 1):
        mi = m << np.uint64(i)
        if cache & mi == mi:
            s.pcache[p] = cache & ~mi
            return base + i
    return -1
