"""pageAlloc (runtime/mpagealloc.go, mpallocbits.go; Go 1.14+, same in 1.19-1.26): a bitmap of
allocated pages and one of scavenged (released) pages per 4 MiB chunk (512 pages), with a
per-chunk summary (free run at the start, longest free run, free run at the end) so a
lowest-address first-fit search visits chunks, not pages. The runtime stacks these summaries
into a 5-level radix tree; the model keeps only the chunk level plus a search hint below which
every chunk is full (see docs/model.md). mheap.grow maps 4 MiB steps inside 64 MiB arenas.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import scavenge
from goalloc.engine.state import (
    ARENA_PAGES,
    CHUNK_PAGES,
    CHUNK_WORDS,
    P_HEAP_PAD_PAGES,
    S_GROWS,
    S_HINT_CHUNK,
    S_MAPPED_CHUNKS,
    S_PAGES_RELEASED,
    S_RESERVED_PAGES,
)
from goalloc.jit import ALL, U0, U1, ctz64, njit, popcount64


@njit(cache=True)
def next_free(bits, c, i):
    """First free (0) page at/after chunk-relative page i in chunk c, or CHUNK_PAGES."""
    while i < CHUNK_PAGES:
        w = i >> 6
        m = ~bits[c, w] & (ALL << np.uint64(i & 63))
        if m != U0:
            return (w << 6) + ctz64(m)
        i = (w + 1) << 6
    return CHUNK_PAGES


@njit(cache=True)
def next_used(bits, c, i):
    """First allocated (1) page at/after chunk-relative page i in chunk c, or CHUNK_PAGES."""
    while i < CHUNK_PAGES:
        w = i >> 6
        m = bits[c, w] & (ALL << np.uint64(i & 63))
        if m != U0:
            return (w << 6) + ctz64(m)
        i = (w + 1) << 6
    return CHUNK_PAGES


@njit(cache=True)
def update_summary(s, c):
    """Recompute chunk c's pallocSum (start, max, end)."""
    bits = s.palloc
    start = 0
    mx = 0
    end = 0
    i = 0
    while i < CHUNK_PAGES:
        f = next_free(bits, c, i)
        if f >= CHUNK_PAGES:
            break
        u = next_used(bits, c, f)
        n = u - f
        if f == 0:
            start = n
        if n > mx:
            mx = n
        if u == CHUNK_PAGES:
            end = n
        i = u
    s.psum[c, 0] = start
    s.psum[c, 1] = mx
    s.psum[c, 2] = end


@njit(cache=True)
def find_in_chunk(s, c, npages):
    """Chunk-relative start of the lowest free run of npages in chunk c, or -1."""
    bits = s.palloc
    i = 0
    while i < CHUNK_PAGES:
        f = next_free(bits, c, i)
        if f >= CHUNK_PAGES:
            return -1
        u = next_used(bits, c, f)
        if u - f >= npages:
            return f
        i = u
    return -1


@njit(cache=True)
def find(s, npages):
    """pageAlloc.find: the lowest page index starting npages free pages, or -1."""
    psum = s.psum
    nchunks = s.sc[S_MAPPED_CHUNKS]
    run_start = -1
    run_len = 0
    for c in range(s.sc[S_HINT_CHUNK], nchunks):
        st = psum[c, 0]
        if run_len > 0 and run_len + st >= npages:
            return run_start
        if st == CHUNK_PAGES:
            if run_len == 0:
                run_start = c * CHUNK_PAGES
            run_len += CHUNK_PAGES
            if run_len >= npages:
                return run_start
            continue
        if psum[c, 1] >= npages:
            return c * CHUNK_PAGES + find_in_chunk(s, c, npages)
        run_len = psum[c, 2]
        run_start = (c + 1) * CHUNK_PAGES - run_len
    return -1


@njit(cache=True)
def first_free_page(s):
    """The lowest free page at/after the search hint, or -1 (allocToCache's search)."""
    for c in range(s.sc[S_HINT_CHUNK], s.sc[S_MAPPED_CHUNKS]):
        if s.psum[c, 1] > 0:
            return c * CHUNK_PAGES + next_free(s.palloc, c, 0)
    return -1


@njit(cache=True)
def _advance_hint(s):
    c = s.sc[S_HINT_CHUNK]
    n = s.sc[S_MAPPED_CHUNKS]
    while c < n and s.psum[c, 1] == 0:
        c += 1
    s.sc[S_HINT_CHUNK] = c


@njit(cache=True, inline="always")
def _word_mask(p, end):
    """Chunk, bitmap word and bit mask of the pages from p to the end of p's 64-page word (or
    to `end`), and how many pages that is: the step of every walk over a page range."""
    c = p // CHUNK_PAGES
    w = (p % CHUNK_PAGES) >> 6
    lo = p & 63
    n = min(64 - lo, end - p)
    if n == 64:
        m = ALL
    else:
        m = ((U1 << np.uint64(n)) - U1) << np.uint64(lo)
    return c, w, m, n


@njit(cache=True)
def _set_range(s, base, npages, alloc):
    """Set (alloc) or clear the allocated bits of pages [base, base+npages); fix summaries."""
    bits = s.palloc
    p = base
    end = base + npages
    while p < end:
        c, w, m, n = _word_mask(p, end)
        if alloc:
            bits[c, w] |= m
        else:
            bits[c, w] &= ~m
        p += n
        if p == end or p % CHUNK_PAGES == 0:
            update_summary(s, c)


@njit(cache=True)
def mark_alloc(s, base, npages):
    _set_range(s, base, npages, True)
    _advance_hint(s)


@njit(cache=True)
def mark_free(s, base, npages):
    _set_range(s, base, npages, False)
    scavenge.on_free(s, (base + npages - 1) // CHUNK_PAGES)
    c = base // CHUNK_PAGES
    if c < s.sc[S_HINT_CHUNK]:
        s.sc[S_HINT_CHUNK] = c


@njit(cache=True)
def take_scavenged(s, base, npages):
    """Clear the scavenged bits of [base, base+npages) (sysUsed); return how many were set."""
    scav = s.pscav
    p = base
    end = base + npages
    total = 0
    while p < end:
        c, w, m, n = _word_mask(p, end)
        total += popcount64(scav[c, w] & m)
        scav[c, w] &= ~m
        p += n
    return total


@njit(cache=True)
def chunks_needed(npages):
    """Chunks a grow for npages may add (the driver must have room before the event)."""
    return (npages + CHUNK_PAGES - 1) // CHUNK_PAGES


@njit(cache=True)
def grow(s, npages):
    """mheap.grow: map roundup(npages, 512 pages) more heap at the end of the mapped heap,
    reserving 64 MiB arenas as needed (contiguously). New pages are free and released.
    Returns the pages grown."""
    sc = s.sc
    first = sc[S_MAPPED_CHUNKS]
    pad = s.prm[P_HEAP_PAD_PAGES] if first == 0 else 0
    nchunks = chunks_needed(npages + pad)
    for c in range(first, first + nchunks):
        for w in range(CHUNK_WORDS):
            s.palloc[c, w] = U0
            s.pscav[c, w] = ALL
        s.psum[c, 0] = CHUNK_PAGES
        s.psum[c, 1] = CHUNK_PAGES
        s.psum[c, 2] = CHUNK_PAGES
    sc[S_MAPPED_CHUNKS] = first + nchunks
    mapped = (first + nchunks) * CHUNK_PAGES
    if mapped > sc[S_RESERVED_PAGES]:
        sc[S_RESERVED_PAGES] = (mapped + ARENA_PAGES - 1) // ARENA_PAGES * ARENA_PAGES
    sc[S_PAGES_RELEASED] += nchunks * CHUNK_PAGES
    sc[S_GROWS] += 1
    if sc[S_HINT_CHUNK] > first:
        sc[S_HINT_CHUNK] = first
    for c in range(first, first + nchunks):
        s.ck[c, 0] = 0
    if pad > 0:
        mark_random_padding_pages(s, pad)
    return nchunks * CHUNK_PAGES


@njit(cache=True)
def grow_to(s, end):
    """mheap.grow until pages [0, end) are mapped: the heap as far as a trace shows the
    runtime had it at its start (engine/snapshot.py). Returns the pages grown."""
    mapped = s.sc[S_MAPPED_CHUNKS] * CHUNK_PAGES
    if end <= mapped:
        return 0
    pad = s.prm[P_HEAP_PAD_PAGES] if mapped == 0 else 0
    return grow(s, max(end - mapped - pad, 1))


@njit(cache=True)
def range_free(s, base, npages):
    """Whether pages [base, base+npages) are mapped and free."""
    end = base + npages
    if base < 0 or npages <= 0 or end > s.sc[S_MAPPED_CHUNKS] * CHUNK_PAGES:
        return False
    p = base
    while p < end:
        c, w, m, n = _word_mask(p, end)
        if s.palloc[c, w] & m != U0:
            return False
        p += n
    return True


@njit(cache=True)
def mark_random_padding_pages(s, npages):
    """pageAlloc.markRandomPaddingPages [1.26+]: the first grow of a randomized heap base
    marks the first chunk's first npages (fewer than 512: a random page offset into the
    chunk) allocated and scavenged. They are never a span, never scavenged again, and stay in
    heapReleased for the life of the process (sysMap counted the whole growth as released);
    the first span is placed after them."""
    _set_range(s, 0, npages, True)
    _advance_hint(s)
