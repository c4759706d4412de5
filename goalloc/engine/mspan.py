"""mspan (runtime/mheap.go, mbitmap.go; Go 1.19-1.26): a span record with its allocBits as
uint64 words, freeindex, the 64-bit allocCache (inverted alloc bits from freeindex's word)
searched with count-trailing-zeros exactly as nextFreeIndex does, allocCount, sweepgen and
span class. nelems comes from the version profile (1.22 heap-bits / 1.26 inline-mark reserves).
Records are recycled through a free list, as the runtime's mspan structs are (fixalloc).
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import gcbits
from goalloc.engine.state import (
    CS_ALLOC_BYTES,
    CS_ALLOC_SLOTS,
    CS_H0,
    CS_LIVE_SLOT_BYTES,
    CS_LIVE_SLOTS,
    CS_MALLOCS,
    CS_REQ_LIVE,
    CS_SCAN_ALLOCATED,
    N_SP,
    PAGE_SIZE,
    S_ALLOC_BYTES,
    S_ALLOC_SCAN,
    S_HEAP_SCAN,
    S_LIVE_SLOT_BYTES,
    S_MALLOCS,
    S_MARKED_NOW,
    S_OBJ_BYTES,
    S_PEAK_ID,
    S_PHASE,
    S_REQ_LIVE,
    S_SG,
    S_SPAN_FREE,
    S_SPAN_HW,
    S_SPAN_NFREE,
    SP_ALLOCCOUNT,
    SP_BASE,
    SP_ELEMSIZE,
    SP_FREEINDEX,
    SP_INUSE,
    SP_LIVE,
    SP_NELEMS,
    SP_NEXT,
    SP_NPAGES,
    SP_PREV,
    SP_REQ,
    SP_SPC,
    SP_SWEEPGEN,
    SP_WHERE,
    SPAN_WORDS,
    WHERE_NONE,
)
from goalloc.jit import ALL, U0, U1, ctz64, njit


@njit(cache=True, inline="always")
def class_changed(cs_snap, peak_id, spc):
    """The copy-on-write test of cs_touch: True (and the class marked current) when a
    held-memory peak was recorded since class spc's stats last changed, so the caller must copy
    its row to pk_cs before changing it."""
    changed = cs_snap[spc] != peak_id
    cs_snap[spc] = peak_id
    return changed


@njit(cache=True, inline="always")
def keep_peak_row(cs, cs_snap, pk_cs, peak_id, spc):
    """cs_touch on arrays the caller loaded. Inside gc.dying_object it costs the replay kernel
    no reference counting (benchmarks/bench_nrt.py: the hand copy's counts); called straight
    from the kernel's alloc fast paths it does (+5 sites), so those keep the two lines by hand."""
    if class_changed(cs_snap, peak_id, spc):
        for f in range(cs.shape[1]):
            pk_cs[spc, f] = cs[spc, f]


@njit(cache=True)
def cs_touch(s, spc):
    """Before changing class spc's stats: if a held-memory peak was recorded since the class
    last changed, its stats at that peak are the current ones; copy them (copy-on-write
    snapshot, so a new peak costs O(1) however many classes there are)."""
    keep_peak_row(s.cs, s.cs_snap, s.pk_cs, s.sc[S_PEAK_ID], spc)


@njit(cache=True, inline="always")
def bucket(live, nelems):
    """Slot-utilisation bucket: floor(10 * live / nelems), 1.0 in the top bucket."""
    return min(live * 10 // nelems, 9)


@njit(cache=True)
def free_records(s):
    """Span records available without growing the arrays."""
    return s.sc[S_SPAN_NFREE] + s.sp.shape[0] - s.sc[S_SPAN_HW]


@njit(cache=True)
def new_record(s):
    sc = s.sc
    sid = sc[S_SPAN_FREE]
    if sid >= 0:
        sc[S_SPAN_FREE] = s.sp[sid, SP_NEXT]
        sc[S_SPAN_NFREE] -= 1
    else:
        sid = sc[S_SPAN_HW]
        sc[S_SPAN_HW] += 1
    return sid


@njit(cache=True)
def free_record(s, sid):
    sp = s.sp
    for f in range(N_SP):
        sp[sid, f] = 0
    sp[sid, SP_WHERE] = WHERE_NONE
    sp[sid, SP_NEXT] = s.sc[S_SPAN_FREE]
    s.sc[S_SPAN_FREE] = sid
    s.sc[S_SPAN_NFREE] += 1


@njit(cache=True)
def init_span(s, sid, base, npages, spc, elemsize, nelems, sweepgen):
    """mheap.initSpan: fresh span, all slots free, freeindex 0, allocCache all ones."""
    sp = s.sp
    sp[sid, SP_BASE] = base
    sp[sid, SP_NPAGES] = npages
    sp[sid, SP_SPC] = spc
    sp[sid, SP_ELEMSIZE] = elemsize
    sp[sid, SP_NELEMS] = nelems
    sp[sid, SP_FREEINDEX] = 0
    sp[sid, SP_ALLOCCOUNT] = 0
    sp[sid, SP_SWEEPGEN] = sweepgen
    sp[sid, SP_INUSE] = 1
    sp[sid, SP_NEXT] = -1
    sp[sid, SP_WHERE] = WHERE_NONE
    sp[sid, SP_REQ] = 0
    sp[sid, SP_PREV] = -1
    sp[sid, SP_LIVE] = 0
    for w in range(SPAN_WORDS):
        s.abits[sid, w] = U0
        s.mbits[sid, w] = U0
        s.lbits[sid, w] = U0
    s.acache[sid] = ALL
    gcbits.new_mark_bits(s.sc, nelems)  # gcmarkBits
    gcbits.new_mark_bits(s.sc, nelems)  # allocBits (newAllocBits)


@njit(cache=True)
def span_bytes(s, sid):
    return s.sp[sid, SP_NPAGES] * PAGE_SIZE


@njit(cache=True, inline="always")
def alloc_cache_word(abits, sid, word):
    """mspan.refillAllocCache's value: the inverted alloc bits of one 64-slot word (none past
    the bitmap)."""
    return ~abits[sid, word] if word < SPAN_WORDS else U0


@njit(cache=True)
def refill_alloc_cache(s, sid, word):
    s.acache[sid] = alloc_cache_word(s.abits, sid, word)


@njit(cache=True, inline="always")
def alloc_cache_slot(sp, acache, sid):
    """nextFreeIndex's common case: the free slot the allocCache names, or -1 when the span is
    full or the cache word is used up (then next_free_index scans on)."""
    fi = sp[sid, SP_FREEINDEX]
    nel = sp[sid, SP_NELEMS]
    bit = ctz64(acache[sid])
    slot = fi + bit
    return slot if fi != nel and bit < 64 and slot < nel else -1


@njit(cache=True, inline="always")
def take_slot(sp, acache, abits, sid, slot):
    """nextFreeIndex's tail: shift allocCache past slot, advance freeindex, and load the next
    word's cache at a 64-slot boundary."""
    bit = slot - sp[sid, SP_FREEINDEX]
    # bit+1 may be 64: a shift by 64 is undefined, do it in two steps.
    shifted = (acache[sid] >> np.uint64(bit)) >> U1
    fi = slot + 1
    # selects by mask, not an `if` (a conditional expression is one too, in numba's IR): the
    # kernel inlines the step without reference counting. Past the last slot there is no
    # next word (fi == nelems): the read of a clamped word is then discarded.
    boundary = ((fi & 63) == 0) & (fi != sp[sid, SP_NELEMS])
    b = np.int64(boundary)  # off a boundary the read goes to row 0's word 0, a line in cache
    nxt = ~abits[sid * b, min(fi >> 6, SPAN_WORDS - 1) * b]
    m = U0 - np.uint64(boundary)  # all ones at a word boundary
    acache[sid] = (nxt & m) | (shifted & ~m)
    sp[sid, SP_FREEINDEX] = fi


@njit(cache=True)
def _scan_words(s, sid):
    """nextFreeIndex past a used-up allocCache word: the next free slot (freeindex left at
    its word), or nelems when the span is full (freeindex = nelems)."""
    sp = s.sp
    fi = sp[sid, SP_FREEINDEX]
    nel = sp[sid, SP_NELEMS]
    if fi == nel:
        return nel
    bit = ctz64(s.acache[sid])
    while bit == 64:
        fi = (fi + 64) & ~np.int64(63)
        if fi >= nel:
            sp[sid, SP_FREEINDEX] = nel
            return nel
        refill_alloc_cache(s, sid, fi >> 6)
        bit = ctz64(s.acache[sid])
    sp[sid, SP_FREEINDEX] = fi
    if fi + bit >= nel:
        sp[sid, SP_FREEINDEX] = nel
        return nel
    return fi + bit


@njit(cache=True)
def next_free_index(s, sid):
    """mspan.nextFreeIndex: the lowest free slot at/after freeindex, or nelems when full.
    Advances freeindex and shifts allocCache past the returned slot."""
    slot = alloc_cache_slot(s.sp, s.acache, sid)
    if slot < 0:
        slot = _scan_words(s, sid)
        if slot == s.sp[sid, SP_NELEMS]:
            return slot
    take_slot(s.sp, s.acache, s.abits, sid, slot)
    return slot


@njit(cache=True)
def set_bit(bits, sid, i):
    bits[sid, i >> 6] |= U1 << np.uint64(i & 63)


@njit(cache=True)
def clear_bit(bits, sid, i):
    bits[sid, i >> 6] &= ~(U1 << np.uint64(i & 63))


@njit(cache=True)
def test_bit(bits, sid, i):
    return (bits[sid, i >> 6] >> np.uint64(i & 63)) & U1 != U0


@njit(cache=True, inline="always")
def slot_live_step(sp, cs, lbits, mbits, sc, sid, slot, req):
    """A new object (or tiny block) occupies slot: live bit, per-class and global counters,
    allocate-black while marking. The caller touched the class (cs_touch / keep_peak_row)."""
    spc = sp[sid, SP_SPC]
    es = sp[sid, SP_ELEMSIZE]
    lbits[sid, slot >> 6] |= U1 << np.uint64(slot & 63)
    live = sp[sid, SP_LIVE]
    nel = sp[sid, SP_NELEMS]
    cs[spc, CS_H0 + bucket(live, nel)] -= 1
    cs[spc, CS_H0 + bucket(live + 1, nel)] += 1
    sp[sid, SP_LIVE] = live + 1
    cs[spc, CS_ALLOC_SLOTS] += 1
    cs[spc, CS_ALLOC_BYTES] += es
    cs[spc, CS_LIVE_SLOTS] += 1
    cs[spc, CS_LIVE_SLOT_BYTES] += es
    cs[spc, CS_REQ_LIVE] += req
    cs[spc, CS_MALLOCS] += 1
    sc[S_OBJ_BYTES] += es
    sc[S_LIVE_SLOT_BYTES] += es
    sc[S_REQ_LIVE] += req
    sc[S_MALLOCS] += 1
    sc[S_ALLOC_BYTES] += es
    # allocate black while marking (branch-free, so the step stays straight-line)
    black = sc[S_PHASE] == 1
    # outside a mark the (no-op) store goes to row 0's word 0, a line in cache, not to this
    # span's mark bits: a select, so the step stays straight-line
    bl = np.int64(black)
    mbits[sid * bl, (slot >> 6) * bl] |= np.uint64(black) << np.uint64(slot & 63)
    sc[S_MARKED_NOW] += es * black
    # heapScan grows with pointerful allocation outside a mark (gcControllerState.update), by
    # the object's scanAlloc: its pointer prefix where the kernel knows it (engine/mbitmap.py,
    # S_ALLOC_SCAN), else its slot
    pointerful = spc & 1 == 0
    grew = sc[S_ALLOC_SCAN] + (es - sc[S_ALLOC_SCAN]) * (sc[S_ALLOC_SCAN] < 0)
    cs[spc, CS_SCAN_ALLOCATED] += grew * pointerful
    sc[S_HEAP_SCAN] += grew * ((sc[S_PHASE] == 0) & pointerful)


@njit(cache=True)
def slot_live(s, sid, slot, req):
    cs_touch(s, s.sp[sid, SP_SPC])
    slot_live_step(s.sp, s.cs, s.lbits, s.mbits, s.sc, sid, slot, req)


@njit(cache=True, inline="always")
def slot_dead_step(sp, cs, lbits, mbits, sc, sid, slot, sweep_frees):
    """The object (or whole tiny block) in slot died: it will not be marked at the next mark
    start. Under sweep-observed frees it was already dead at the last mark start, so an
    unswept span loses its mark too (see docs/model.md). The caller touched the class."""
    spc = sp[sid, SP_SPC]
    es = sp[sid, SP_ELEMSIZE]
    lbits[sid, slot >> 6] &= ~(U1 << np.uint64(slot & 63))
    live = sp[sid, SP_LIVE]
    nel = sp[sid, SP_NELEMS]
    cs[spc, CS_H0 + bucket(live, nel)] -= 1
    cs[spc, CS_H0 + bucket(live - 1, nel)] += 1
    sp[sid, SP_LIVE] = live - 1
    cs[spc, CS_LIVE_SLOTS] -= 1
    cs[spc, CS_LIVE_SLOT_BYTES] -= es
    sc[S_LIVE_SLOT_BYTES] -= es
    unmark = sweep_frees & (sp[sid, SP_SWEEPGEN] == sc[S_SG] - 2)
    mbits[sid, slot >> 6] &= ~(np.uint64(unmark) << np.uint64(slot & 63))


@njit(cache=True)
def slot_dead(s, sid, slot, sweep_frees):
    cs_touch(s, s.sp[sid, SP_SPC])
    slot_dead_step(s.sp, s.cs, s.lbits, s.mbits, s.sc, sid, slot, sweep_frees)
