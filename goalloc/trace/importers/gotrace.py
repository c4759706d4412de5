"""Importer for Go execution traces recorded with GODEBUG=traceallocfree=1 (Go 1.23+; wire
format of Go 1.22-1.25, gotrace_wire.py).

The file is read one generation at a time (Go flushes generations in order, about one a
second): its batches are decoded by numba kernels, the Ms' event streams are merged by time
with a stable sort that puts frees before everything else at equal times, and one more kernel
turns the merged events into goalloc events, carrying the heap state (spans, live objects,
each M's P) from one generation to the next. Memory is bounded by one generation.

Mapping (docs/importers.md has the reasons):
- objects are keyed by slot base (span base + k * slot size): pointerful objects > 512 B are
  allocated 8 B after the slot base (malloc header) but freed at the slot base. Each live heap
  span has an array of object ids indexed by slot (the runtime allocates and sweeps a span's
  slots in address order, so lookups walk memory sequentially); an object whose span is freed
  or overlapped while it is still live (its free comes late) moves to a small hash map keyed
  by its slot base, which is also looked up when a slot's array entry is empty;
- an alloc of a slot that is still live means the sweep free of the earlier object was
  stamped later than the reuse (a sweeping M's clock runs ahead when it writes many events a
  tick); the importer frees the earlier object right there (p = -1) and drops its late free;
- requested sizes are estimated from the type: the largest multiple of the type size that
  fits the slot (one object, or a slice grown to its size class), else the slot size;
- a span allocated again while live lost its SpanFree: a span_free is emitted first.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from goalloc import limits, releases
from goalloc.errors import TraceError
from goalloc.jit import kernel
from goalloc.sizeclasses import get_table, profile
from goalloc.trace import format as fmt
from goalloc.trace.addrmap import EMPTY, TOMB, AddrMap, map_get, map_insert, map_remove
from goalloc.trace.header import Header
from goalloc.trace.importers import gotrace_wire as w
from goalloc.trace.importers.gometrics import MetricLog
from goalloc.trace.sites import SiteTable
from goalloc.trace.writer import Writer

READ_BLOCK = 4 << 20
WRITE_SLICE = 1 << 18  # events converted per write queued (4 zstd chunks)
MALLOC_HEADER = 8
MIN_SIZE_FOR_HEADER = 512  # runtime minSizeForMallocHeader (amd64)
MAX_TYPE_ID = 1 << 24
TINY_BLOCK = 16  # maxTinySize: the tiny allocator's blocks are slots of the 16 B noscan class
TAG_P = 1 << 16  # otag = mcache epoch * TAG_P + P + 1
# runtime/cpuprof.go profBufWordCount (1 << 17 uint64) and profBufTagCount (1 << 14 pointers),
# the same 1.23-1.27: the buffers' slots (large objects, whole pages)
TRACER_DATA = (1 << 17) * 8
TRACER_TAGS = (1 << 14) * 8
TRACER_TYPES = (b"uint64", b"unsafe.Pointer")

# Functions whose frame on a GCBegin stack means the program forced the cycle: runtime.GC
# (debug.FreeOSMemory calls it too, as does the testing package before each benchmark run).
GC_FORCED_FUNCS = frozenset({"runtime.GC", "runtime/debug.FreeOSMemory"})

# Function names only 1.24+ (mallocgc's split paths) and 1.27 (size-specialised malloc, an
# experiment in 1.26) have, as they appear in a generation's string table.
_SPLIT_MALLOC_BYTES = re.compile(rb"runtime\.mallocgc(?:Tiny|Small|Large)")
_GENERATED_MALLOC_BYTES = re.compile(rb"runtime\.mallocgc\w*(?:SC\d|SlowPath)")

_SPLIT_MALLOC_RE = re.compile(r"runtime\.mallocgc((?:Tiny|Small|Large)\w*)$")
LATE_NOSCAN, LATE_SCAN, LATE_ANY = 1, 2, 3

RECORD_HINT = ("record with `GODEBUG=traceallocfree=1 go test -trace=out.trace ...` "
               "(Go 1.23 or newer)")

# Main-kernel status codes.
DONE = 0
GROW_OBJECTS = 1
GROW_OWED = 2
GROW_SPANS = 3
GROW_STACKS = 4
GROW_POOL = 5  # the slot-id pool of the span arrays
GROW_SPILL = 6  # the hash map of objects whose span array is gone

# Counters (`cnt`).
C_SLOT_REUSED = 0  # alloc of a live slot: earlier object freed at the reuse (its free came late)
C_LATE_FREES = 1  # the late frees dropped for those
C_UNKNOWN_FREES = 2  # HeapObjectFree of a slot with no live object
C_NO_SPAN = 3  # object in no known heap span: skipped
C_UNKNOWN_TYPES = 4  # type id missing from the generation's type table: slot size used
C_LOST_SPAN_FREES = 5
C_UNKNOWN_SPAN_FREES = 6
C_LOST_STACK_FREES = 7
C_UNKNOWN_STACK_FREES = 8
C_MISPLACED = 9  # object address not at its slot base (or base + 8 with a malloc header)
C_DOUBLE_REUSE = 10  # a slot reused twice before its late free arrived
C_NO_P = 11  # object events that ran on no P (sweep frees; a fact, mapped with p = -1)
C_TINY_IN_BLOCK = 12  # [1.24+] traced tiny requests placed in a live 16 B block
C_TINY_NO_BLOCK = 13  # a tiny request inside a block the trace never allocated
C_BEYOND_INLINE_MARKS = 14  # objects in slots Green Tea's span layout does not have
C_TRACER_BUFFERS = 15  # the execution tracer's own buffers in the snapshot (FLAG_TRACER)
C_TRACER_BYTES = 16
N_COUNTERS = 17


@kernel
def _convert(start, order, typ, key, mm, a1, a2, a3,
             mp, pagemap, span_np, span_kc, class_size, gt_objs, t_size, t_ptr, t_site,
             tracer_types, reasons,
             span_slot0, span_ns, span_rcap, pool, pctr, fl_head, xkeys, xvals, xctr,
             ofree, octr, otag, epoch, flush_reason, wkeys, wvals, wfree, wctr,
             skeys, svals, sfree, sctr, kkeys, kvals, kfree, kctr,
             t0, ashift, pshift, lastp, gcseq, cnt,
             k_out, ts_out, p_out, id_out, size_out, flags_out, aux_out, site_out, n_out):
    """Turn generation events order[start:] (the merge order) into goalloc events, appended to the *_out
    arrays from n_out. Returns (status, index, events out): status DONE, or GROW_* with the
    index to resume at once the named map has grown.

    Object ids: span_slot0[s] is the offset in `pool` of span s's slot ids (-1: no array),
    span_ns[s] its slot count and span_rcap[s] the region's capacity; freed regions are kept on
    a free list per size class (fl_head; pool[r] = next region, pool[r+1] = its capacity);
    pctr[0] is the pool's bump pointer. xkeys/xvals/xctr ([0] live, [1] used) is the spill
    hash map (xctr[2]: the room it needs on GROW_SPILL). ofree/octr ([0] live objects, [2] free-id stack depth, [3] next fresh id) hand
    out ids exactly as AddrMap does (the id of a reused slot is taken before the old one is
    given back), so ids do not depend on where an object is kept.

    otag[id] is the mcache epoch and P an object was allocated in (epoch[0] counts the mcache
    flushes: mark terminations and ReadMemStats stops), which tells a tiny request in the
    P's current block from a new block in a slot whose sweep free comes late."""
    n = order.shape[0]
    o = n_out
    for i in range(start, n):
        j = order[i]
        ev = typ[j]
        m = mm[j]
        p = mp[m]
        ts = key[j] - t0
        if ts < 0:
            ts = 0
        if p >= 0:
            if ts < lastp[p]:
                ts = lastp[p]
            lastp[p] = ts
        if ev == w.EV_HEAP_OBJECT_ALLOC or ev == w.EV_HEAP_OBJECT:
            if octr[2] + 1 > ofree.shape[0] or octr[3] + 1 > otag.shape[0]:
                return GROW_OBJECTS, i, o
            if (xctr[1] + 1) * 2 > xkeys.shape[0]:
                xctr[2] = 1
                return GROW_SPILL, i, o
            if (wctr[1] + 1) * 2 > wkeys.shape[0] or wctr[2] + 1 > wfree.shape[0]:
                return GROW_OWED, i, o
            off = a1[j] << ashift
            page = off >> pshift
            base = pagemap[page] if 0 <= page < pagemap.shape[0] else np.int64(-1)
            kc = span_kc[base] if base >= 0 else np.int64(1)
            sc = kc >> 2
            if kc & 1 or sc >= class_size.shape[0]:
                cnt[C_NO_SPAN] += 1
                continue
            noscan = (kc >> 1) & 1
            base_off = base << pshift
            slot = span_np[base] << pshift if sc == 0 else class_size[sc]
            if slot <= 0:
                cnt[C_NO_SPAN] += 1
                continue
            sidx = (off - base_off) // slot
            slot_off = base_off + sidx * slot
            usable = slot
            if noscan == 0 and sc != 0 and slot > MIN_SIZE_FOR_HEADER:
                usable = slot - MALLOC_HEADER
            r0 = span_slot0[base]
            if r0 >= 0 and sidx >= span_ns[base]:
                r0 = -1
            if sc != 0 and sidx >= gt_objs[sc * 2 + noscan]:
                cnt[C_BEYOND_INLINE_MARKS] += 1  # this runtime's spans have no inline marks
            tag = epoch[0] * TAG_P + p + 1
            if ev == w.EV_HEAP_OBJECT_ALLOC and noscan and slot == TINY_BLOCK:
                # [1.24+] mallocgcTiny traces a request that fits the P's current 16 B block
                # at its address inside the block (1.23 returned before the trace hook). The
                # block is the slot's object, allocated at the slot base and freed whole by
                # the sweep: the request is counted, not replayed as an object of its own.
                # Ids are addresses / 8, so a request at offset 1..7 has the block's id: it is
                # in the block when the block is live and was allocated on this P since its
                # mcache was last flushed (a live block from before the flush is a block whose
                # sweep free comes late, and this is a new block in its slot).
                cur = _slot_object(pool, r0, sidx, xkeys, xvals, xctr, slot_off >> ashift)
                if off != slot_off or (cur >= 0 and otag[cur] == tag):
                    if cur >= 0:
                        cnt[C_TINY_IN_BLOCK] += 1
                        continue
                    cnt[C_TINY_NO_BLOCK] += 1  # block never seen: replayed as the block
            # HeapObjectAlloc names the object (after any malloc header); the snapshot's
            # HeapObject names the slot (runtime traceSnapshotMemory: base + i*elemsize).
            elif off - slot_off != (slot - usable if ev == w.EV_HEAP_OBJECT_ALLOC else 0):
                cnt[C_MISPLACED] += 1
            tid = a2[j]
            size = usable
            if tid > 0:
                if tid < t_size.shape[0] and t_size[tid] >= 0:
                    tsz = t_size[tid]
                    if 0 < tsz <= usable:
                        size = (usable // tsz) * tsz
                else:
                    cnt[C_UNKNOWN_TYPES] += 1
            k = slot_off >> ashift
            old = np.int64(-1)
            if r0 >= 0:
                old = pool[r0 + sidx]
            if old < 0 and xctr[0] > 0:
                old = _spill_take(xkeys, xvals, xctr, k)
            # ids as AddrMap hands them out: take the new one, then give back the old one
            if octr[2] > 0:
                octr[2] -= 1
                oid = ofree[octr[2]]
            else:
                oid = octr[3]
                octr[3] += 1
            otag[oid] = tag
            if old >= 0:
                ofree[octr[2]] = old
                octr[2] += 1
            else:
                octr[0] += 1
            if r0 >= 0:
                pool[r0 + sidx] = oid
            else:
                _spill_put(xkeys, xvals, xctr, k, oid)
            if old >= 0:
                cnt[C_SLOT_REUSED] += 1
                _, dup = map_insert(wkeys, wvals, wfree, wctr, k)
                if dup >= 0:
                    cnt[C_DOUBLE_REUSE] += 1
                k_out[o] = fmt.FREE
                ts_out[o] = ts
                p_out[o] = -1
                id_out[o] = old
                size_out[o] = 0
                flags_out[o] = 0
                aux_out[o] = 0
                o += 1
            if p < 0:
                cnt[C_NO_P] += 1
            fl = fmt.FLAG_SIZE_ESTIMATED
            if noscan:
                fl |= fmt.FLAG_NOSCAN
            aux = slot
            if ev == w.EV_HEAP_OBJECT:
                fl |= fmt.FLAG_SNAPSHOT
                # runtime.StartTrace's CPU-sample buffers (tracecpu.go traceInitReadCPU: two
                # profBufs of 1 MiB of uint64 and 128 KiB of unsafe.Pointer, made just before
                # the snapshot): live for the whole trace, absent from an untraced run. The
                # pointer buffers carry their type; the noscan ones do not (large noscan spans
                # keep no type) and are told after the generation (_tracer_data_buffers).
                if sc == 0 and tid > 0 and tid == tracer_types[1] and slot == TRACER_TAGS:
                    fl |= fmt.FLAG_TRACER
                    cnt[C_TRACER_BUFFERS] += 1
                    cnt[C_TRACER_BYTES] += slot
                # placement (header snapshot: "placed"): the span's goalloc id and the slot
                did = map_get(skeys, svals, base)
                aux = ((did + 1) << fmt.PLACEMENT_SHIFT) | sidx if did >= 0 else 0
            k_out[o] = fmt.ALLOC
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = oid
            size_out[o] = size
            flags_out[o] = fl
            aux_out[o] = aux
            # the type as a trace-wide attribution site (#17); the buffer is zeroed elsewhere
            if 0 < tid < t_site.shape[0]:
                site_out[o] = t_site[tid]
            o += 1
        elif ev == w.EV_HEAP_OBJECT_FREE:
            k = a1[j]
            if wctr[2] + 1 > wfree.shape[0]:
                return GROW_OWED, i, o
            if wctr[0] > 0 and map_remove(wkeys, wvals, wfree, wctr, k) >= 0:
                cnt[C_LATE_FREES] += 1
                continue
            if octr[2] + 1 > ofree.shape[0]:
                return GROW_OBJECTS, i, o
            # the id in the slot array of the span, if k is one of its slot bases
            oid = np.int64(-1)
            off = k << ashift
            page = off >> pshift
            base = pagemap[page] if 0 <= page < pagemap.shape[0] else np.int64(-1)
            if base >= 0 and span_slot0[base] >= 0:
                sc = span_kc[base] >> 2
                slot = span_np[base] << pshift if sc == 0 else class_size[sc]
                rel = off - (base << pshift)
                sidx = rel // slot
                if sidx * slot == rel and sidx < span_ns[base]:
                    oid = pool[span_slot0[base] + sidx]
                    pool[span_slot0[base] + sidx] = -1
            if oid < 0 and xctr[0] > 0:
                oid = _spill_take(xkeys, xvals, xctr, k)
            if oid < 0:
                cnt[C_UNKNOWN_FREES] += 1
                continue
            ofree[octr[2]] = oid
            octr[2] += 1
            octr[0] -= 1
            if p < 0:
                cnt[C_NO_P] += 1
            k_out[o] = fmt.FREE
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = oid
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_SPAN_ALLOC or ev == w.EV_SPAN:
            sid = a1[j]
            npages = a2[j]
            kc = a3[j]
            if (sctr[1] + 1) * 2 > skeys.shape[0] or sctr[2] + 1 > sfree.shape[0]:
                return GROW_SPANS, i, o
            # Arrays of the spans these pages belong to (and of a live span at sid) go to the
            # spill map: room for all their slots, and for the new span's region.
            spill = span_ns[sid] if span_slot0[sid] >= 0 else 0
            prev = np.int64(-1)
            for pg in range(sid, sid + npages):
                q = pagemap[pg]
                if q >= 0 and q != prev and q != sid and span_slot0[q] >= 0:
                    spill += span_ns[q]
                prev = q
            if (xctr[1] + spill + 1) * 2 > xkeys.shape[0]:
                xctr[2] = spill + 1
                return GROW_SPILL, i, o
            sc = kc >> 2
            nslots = np.int64(0)
            if kc & 1 == 0 and sc < class_size.shape[0]:
                sz = npages << pshift if sc == 0 else class_size[sc]
                if sz > 0:
                    nslots = (npages << pshift) // sz
            if pctr[0] + nslots + 2 > pool.shape[0]:
                return GROW_POOL, i, o
            did, old = map_insert(skeys, svals, sfree, sctr, sid)
            _detach(sid, span_np, span_kc, span_slot0, span_ns, span_rcap, pool, fl_head,
                    xkeys, xvals, xctr, class_size, pshift, ashift)
            for pg in range(sid, sid + npages):
                q = pagemap[pg]
                if q >= 0 and q != sid:
                    _detach(q, span_np, span_kc, span_slot0, span_ns, span_rcap, pool, fl_head,
                            xkeys, xvals, xctr, class_size, pshift, ashift)
            if old >= 0:
                cnt[C_LOST_SPAN_FREES] += 1
                _unmap_span(pagemap, span_np, sid)
                k_out[o] = fmt.SPAN_FREE
                ts_out[o] = ts
                p_out[o] = p
                id_out[o] = old
                size_out[o] = 0
                flags_out[o] = 0
                aux_out[o] = 0
                o += 1
            for pg in range(sid, sid + npages):
                pagemap[pg] = sid
            span_np[sid] = npages
            span_kc[sid] = kc
            if nslots > 0:
                _attach(sid, nslots, sc, span_slot0, span_ns, span_rcap, pool, pctr, fl_head)
            k_out[o] = fmt.SPAN_ALLOC
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = did
            size_out[o] = npages
            flags_out[o] = fmt.FLAG_SNAPSHOT if ev == w.EV_SPAN else 0
            aux_out[o] = -1 if kc & 1 else kc >> 1
            o += 1
        elif ev == w.EV_SPAN_FREE:
            sid = a1[j]
            if sid < 0 or sid >= span_ns.shape[0]:  # no span was ever there
                cnt[C_UNKNOWN_SPAN_FREES] += 1
                continue
            if sctr[2] + 1 > sfree.shape[0]:
                return GROW_SPANS, i, o
            if (xctr[1] + span_ns[sid] + 1) * 2 > xkeys.shape[0]:
                xctr[2] = span_ns[sid] + 1
                return GROW_SPILL, i, o
            did = map_remove(skeys, svals, sfree, sctr, sid)
            if did < 0:
                cnt[C_UNKNOWN_SPAN_FREES] += 1
                continue
            _detach(sid, span_np, span_kc, span_slot0, span_ns, span_rcap, pool, fl_head,
                    xkeys, xvals, xctr, class_size, pshift, ashift)
            _unmap_span(pagemap, span_np, sid)
            k_out[o] = fmt.SPAN_FREE
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = did
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_GOROUTINE_STACK_ALLOC or ev == w.EV_GOROUTINE_STACK:
            if (kctr[1] + 1) * 2 > kkeys.shape[0] or kctr[2] + 1 > kfree.shape[0]:
                return GROW_STACKS, i, o
            did, old = map_insert(kkeys, kvals, kfree, kctr, a1[j])
            if old >= 0:
                cnt[C_LOST_STACK_FREES] += 1
                k_out[o] = fmt.STACK_FREE
                ts_out[o] = ts
                p_out[o] = p
                id_out[o] = old
                size_out[o] = 0
                flags_out[o] = 0
                aux_out[o] = 0
                o += 1
            sorder = a2[j]
            k_out[o] = fmt.STACK_ALLOC
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = did
            # runtime traceCompressStackSize: order = bits.Len64(size), size a power of two
            size_out[o] = np.int64(1) << (sorder - 1) if 1 <= sorder <= 41 else 0
            flags_out[o] = fmt.FLAG_SNAPSHOT if ev == w.EV_GOROUTINE_STACK else 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_GOROUTINE_STACK_FREE:
            if kctr[2] + 1 > kfree.shape[0]:
                return GROW_STACKS, i, o
            did = map_remove(kkeys, kvals, kfree, kctr, a1[j])
            if did < 0:
                cnt[C_UNKNOWN_STACK_FREES] += 1
                continue
            k_out[o] = fmt.STACK_FREE
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = did
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_PROC_START:
            mp[m] = a1[j]
        elif ev == w.EV_PROC_STOP:
            mp[m] = -1
        elif ev == w.EV_PROC_STEAL:
            victim = a3[j]
            if victim == m:
                mp[m] = -1
            elif victim >= 0 and mp[victim] == a1[j]:
                mp[victim] = -1
        elif ev == w.EV_PROC_STATUS:
            if a2[j] == w.PROC_RUNNING or a2[j] == w.PROC_SYSCALL:
                mp[m] = a1[j]
        elif ev == w.EV_GC_BEGIN or ev == w.EV_GC_END:
            if ev == w.EV_GC_BEGIN:
                gcseq[0] = a1[j]
            else:
                epoch[0] += 1  # mark termination flushed every mcache (releaseAll)
            k_out[o] = fmt.GC_START if ev == w.EV_GC_BEGIN else fmt.GC_END
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = a1[j]
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_STW_BEGIN or ev == w.EV_STW_END:
            reason = 0
            if ev == w.EV_STW_BEGIN:
                sidx = a1[j]
                reason = reasons[sidx] if 0 <= sidx < reasons.shape[0] else 0
                if flush_reason[reason]:
                    epoch[0] += 1  # readmemstats_m: flushallmcaches
            k_out[o] = fmt.STW_BEGIN if ev == w.EV_STW_BEGIN else fmt.STW_END
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = 0
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = reason
            o += 1
            if reason == fmt.STW_GC_MARK_TERM:
                k_out[o] = fmt.GC_MARK_TERM
                ts_out[o] = ts
                p_out[o] = p
                id_out[o] = gcseq[0]
                size_out[o] = 0
                flags_out[o] = 0
                aux_out[o] = 0
                o += 1
        elif ev == w.EV_HEAP_ALLOC or ev == w.EV_HEAP_GOAL:
            k_out[o] = fmt.HEAP_LIVE if ev == w.EV_HEAP_ALLOC else fmt.HEAP_GOAL
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = 0
            size_out[o] = a1[j]
            flags_out[o] = 0
            aux_out[o] = 0
            o += 1
        elif ev == w.EV_USER_LOG:
            # trace.Log: a placeholder (message and category string ids) that gometrics
            # turns into metric samples or drops once the strings are read
            k_out[o] = fmt.METRIC
            ts_out[o] = ts
            p_out[o] = p
            id_out[o] = a3[j]
            size_out[o] = 0
            flags_out[o] = 0
            aux_out[o] = a2[j]
            o += 1
    return DONE, n, o


# -- object ids: per-span slot arrays, a spill map, an id stack ---------------------------------
# The per-event paths are written out in _convert: a helper taking arrays, even one numba
# inlines, costs 40-100 ns a call here (array reference counting), ten times the lookup itself.


@kernel(inline="always")
def _hash(key, mask):
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h >> np.uint64(20)) & np.uint64(mask))


@kernel
def _spill_put(keys, vals, ctr, key, val):
    """Insert `key` (known absent) with `val`; the caller guarantees room."""
    mask = keys.shape[0] - 1
    j = _hash(key, mask)
    tomb = np.int64(-1)
    while keys[j] != EMPTY:
        if keys[j] == TOMB and tomb < 0:
            tomb = j
        j = (j + 1) & mask
    if tomb >= 0:
        j = tomb
    else:
        ctr[1] += 1
    keys[j] = key
    vals[j] = val
    ctr[0] += 1


@kernel
def _slot_object(pool, r0, sidx, xkeys, xvals, xctr, key):
    """The id of the live object in a slot (index sidx of the span whose id region is r0, or
    the spill map's `key` when r0 < 0 or the region's entry is empty), else -1. Leaves both
    unchanged (the caller has checked the spill map has room for one insert)."""
    if r0 >= 0 and pool[r0 + sidx] >= 0:
        return pool[r0 + sidx]
    if xctr[0] == 0:
        return np.int64(-1)
    v = _spill_take(xkeys, xvals, xctr, key)
    if v >= 0:
        _spill_put(xkeys, xvals, xctr, key, v)
    return v


@kernel
def _spill_take(keys, vals, ctr, key):
    """Remove `key`; its value, or -1."""
    mask = keys.shape[0] - 1
    j = _hash(key, mask)
    while keys[j] != EMPTY:
        if keys[j] == key:
            keys[j] = TOMB
            ctr[0] -= 1
            return vals[j]
        j = (j + 1) & mask
    return np.int64(-1)


@kernel
def _spill_rehash(okeys, ovals, keys, vals):
    mask = keys.shape[0] - 1
    for i in range(okeys.shape[0]):
        k = okeys[i]
        if k >= 0:
            j = _hash(k, mask)
            while keys[j] != EMPTY:
                j = (j + 1) & mask
            keys[j] = k
            vals[j] = ovals[i]


@kernel
def _attach(sid, nslots, sc, span_slot0, span_ns, span_rcap, pool, pctr, fl_head):
    """Give span sid an empty region of nslots ids (a freed one of its class if big enough;
    the caller guarantees room in the pool for a new one)."""
    r = fl_head[sc]
    if r >= 0 and pool[r + 1] >= nslots:
        fl_head[sc] = pool[r]
        cap = pool[r + 1]
    else:
        r = pctr[0]
        cap = max(nslots, np.int64(2))
        pctr[0] += cap
    for k in range(nslots):
        pool[r + k] = -1
    span_slot0[sid] = r
    span_ns[sid] = nslots
    span_rcap[sid] = cap


@kernel
def _detach(sid, span_np, span_kc, span_slot0, span_ns, span_rcap, pool, fl_head,
            xkeys, xvals, xctr, class_size, pshift, ashift):
    """Span sid loses its array: live ids move to the spill map, the region to the free list.
    The caller guarantees room in the spill map."""
    r = span_slot0[sid]
    if r < 0:
        return
    sc = span_kc[sid] >> 2
    slot = span_np[sid] << pshift if sc == 0 else class_size[sc]
    base_off = sid << pshift
    for k in range(span_ns[sid]):
        oid = pool[r + k]
        if oid >= 0:
            _spill_put(xkeys, xvals, xctr, (base_off + k * slot) >> ashift, oid)
    pool[r] = fl_head[sc]
    pool[r + 1] = span_rcap[sid]
    fl_head[sc] = r
    span_slot0[sid] = -1


@kernel
def _unmap_span(pagemap, span_np, sid):
    npages = span_np[sid]
    for pg in range(sid, sid + npages):
        if pagemap[pg] == sid:
            pagemap[pg] = -1


# -- driver ----------------------------------------------------------------------------------


class _Batch:
    __slots__ = ("gen", "exp", "is_exp", "m", "time", "data", "off", "data_off")

    def __init__(self, gen, exp, is_exp, m, time, data, off, data_off):
        self.gen, self.exp, self.is_exp, self.m, self.time = gen, exp, is_exp, m, time
        self.data, self.off, self.data_off = data, off, data_off


def _read_header(f, path) -> int:
    head = f.read(w.HEADER_LEN)
    match = w.HEADER_RE.fullmatch(head)
    if match is None:
        if head.startswith(b"go 1.") and b" trace" in head:
            raise TraceError(path, f"unrecognised Go trace header {head!r}", 0)
        raise TraceError(path, "not a Go execution trace (no `go 1.N trace` header)", 0)
    version = int(match.group(1))
    if version not in w.SUPPORTED_VERSIONS:
        if version > max(w.SUPPORTED_VERSIONS):
            raise TraceError(path, f"go 1.{version} trace format is newer than goalloc knows: "
                                   f"it reads the formats of Go 1.22 to 1.{w.NEWEST_RELEASE}", 0)
        if version < min(w.SUPPORTED_VERSIONS):
            raise TraceError(path, f"go 1.{version} trace is in the execution trace format "
                                   "before Go 1.22 (no alloc/free events), which goalloc does "
                                   f"not read: record with Go 1.23 to 1.{w.NEWEST_RELEASE}", 0)
        raise TraceError(path, f"go 1.{version} trace is not a format Go writes (goalloc reads "
                               f"those of Go 1.22 to 1.{w.NEWEST_RELEASE})", 0)
    return version


def _read_batches(f, path, version: int):
    """Yield the file's batches (after the header) in file order. From 1.26 the lone
    EvEndOfGeneration byte after each generation is checked and stepped over (the batches'
    generation numbers already say where a generation ends)."""
    buf = bytearray()
    pos = 0
    base = w.HEADER_LEN  # file offset of buf[0]
    eof = False

    def fill(need):
        nonlocal eof
        while not eof and len(buf) - pos < need:
            data = f.read(max(READ_BLOCK, need))
            if not data:
                eof = True
            buf.extend(data)
        return len(buf) - pos >= need

    while True:
        fill(48)
        if pos >= len(buf):
            return
        off = base + pos
        kind = buf[pos]
        if kind == w.EV_END_OF_GENERATION and version >= 26:
            pos += 1
            continue
        if kind not in (w.EV_EVENT_BATCH, w.EV_EXPERIMENTAL_BATCH):
            raise TraceError(path, f"corrupt trace: expected a batch (byte 1 or 49), found {kind}",
                             off)
        i = pos + 1
        is_exp = kind == w.EV_EXPERIMENTAL_BATCH
        exp = 0
        if is_exp:
            if i >= len(buf):
                raise TraceError(path, "truncated: the file ends inside a batch header", off)
            exp = buf[i]
            i += 1
        vals = []
        for what in ("generation", "M", "time", "size"):
            v, i = w.uvarint(buf, i, len(buf))
            if i == -1:
                raise TraceError(path, "truncated: the file ends inside a batch header", off)
            if i == -2:
                raise TraceError(path, f"corrupt trace: bad varint for the batch {what}", off)
            vals.append(v)
        gen, m, time, size = vals
        if size > w.MAX_BATCH_SIZE:
            raise TraceError(path, f"corrupt trace: batch size {size} is over the maximum "
                                   f"{w.MAX_BATCH_SIZE}", off)
        if gen == 0:
            raise TraceError(path, "corrupt trace: batch of generation 0", off)
        if not fill(i - pos + size):
            have = len(buf) - i
            raise TraceError(path, f"truncated: batch declares {size} data bytes, the file "
                                   f"ends after {have}", off)
        yield _Batch(gen, exp, is_exp, m, time, bytes(buf[i:i + size]), off, base + i)
        pos = i + size
        if pos > READ_BLOCK:
            del buf[:pos]
            base += pos
            pos = 0


def _parse_freq(b: _Batch, version: int, path) -> int | None:
    """The frequency of a frequency batch (< 1.25: a lone EvFrequency) or sync batch (1.25:
    EvSync, then EvFrequency and EvClockSnapshot events)."""
    data = b.data
    i = 0
    freq = None
    while i < len(data):
        ev = data[i]
        i += 1
        if ev == w.EV_FREQUENCY:
            freq, i = w.uvarint(data, i, len(data))
        elif ev == w.EV_SYNC and version >= 25 and i == 1:
            continue
        elif ev == w.EV_CLOCK_SNAPSHOT and version >= 25:
            for _ in range(4):
                _, i = w.uvarint(data, i, len(data))
                if i < 0:
                    break
        else:
            raise TraceError(path, f"corrupt trace: unexpected event {ev} in a sync batch",
                             b.off)
        if i < 0:
            raise TraceError(path, "corrupt trace: bad frequency batch", b.off)
        if version < 25:
            break
    if freq is not None and freq <= 0:
        raise TraceError(path, "corrupt trace: clock frequency 0", b.off)
    return freq


class _State:
    """Everything carried from one generation to the next."""

    def __init__(self):
        self.m_index: dict[int, int] = {}
        self.mp = np.full(16, -1, np.int64)  # P held by each M (by M index), -1 none
        self.lastkey = np.full(16, -(1 << 62), np.int64)
        self.lastp = np.zeros(8, np.int64)
        self.pagemap = np.full(1 << 12, -1, np.int64)
        self.span_np = np.zeros(1 << 12, np.int64)
        self.span_kc = np.ones(1 << 12, np.int64)
        self.span_slot0 = np.full(1 << 12, -1, np.int64)  # region of each span's slot ids
        self.span_ns = np.zeros(1 << 12, np.int64)
        self.span_rcap = np.zeros(1 << 12, np.int64)
        self.slot_ids = np.full(1 << 16, -1, np.int64)
        self.pctr = np.zeros(1, np.int64)
        self.fl_head = None  # per size class, set once the size-class table is known
        self.xkeys = np.full(1 << 10, EMPTY, np.int64)  # spill map: slot base -> object id
        self.xvals = np.zeros(1 << 10, np.int64)
        self.xctr = np.zeros(3, np.int64)  # live, used (live + tombstones), room wanted
        self.dec = None  # decode buffers (decode_buffers)
        self.out = [None, None]  # output columns (out_buffers)
        self.ofree = np.zeros(1024, np.int64)  # object ids: free-id stack and counters
        self.otag = np.zeros(1024, np.int64)  # per object id: mcache epoch and P at alloc
        self.epoch = np.zeros(1, np.int64)  # mcache flushes seen so far
        self.octr = np.zeros(4, np.int64)
        self.owed = AddrMap(10)
        self.spans = AddrMap(12)
        self.stacks = AddrMap(10)
        self.gcseq = np.zeros(1, np.int64)
        self.cnt = np.zeros(N_COUNTERS, np.int64)
        self.tcount = np.zeros(256, np.int64)
        self.info = None  # (min_heap_addr, page_size, min_heap_align, fixed_stack)
        self.freq = None
        self.t0 = None
        self.gens = 0
        self.trigger_allocs_moved = 0  # [1.24+] triggering allocations put before GCBegin
        self.large_allocs_moved = 0  # large objects traced after delayed zeroing, put at their span
        self.split_malloc_frames = False  # release evidence from the first generation
        self.cur_g = np.full(16, -1, np.int64)  # goroutine running on each M (by M index)
        self.generated_malloc_frames = False
        self.release = self.release_how = None
        self.writer = None
        self.pending = [None, None]  # last write queued from each out buffer set
        self.pool = None
        self.gomaxprocs = 1
        self.sites = SiteTable("go-type")  # attribution table over all generations (#17)
        self.metrics = MetricLog()  # trace.Log metric samples (#20)

    def m_idx(self, m: int) -> int:
        idx = self.m_index.get(m)
        if idx is None:
            idx = self.m_index[m] = len(self.m_index)
            if idx >= self.mp.shape[0]:
                self.mp = _grow(self.mp, 2 * idx, -1)
                self.lastkey = _grow(self.lastkey, 2 * idx, -(1 << 62))
        return idx

    def ensure_pages(self, n: int) -> None:
        if n > self.pagemap.shape[0]:
            size = max(n, 2 * self.pagemap.shape[0])
            self.pagemap = _grow(self.pagemap, size, -1)
            self.span_np = _grow(self.span_np, size, 0)
            self.span_kc = _grow(self.span_kc, size, 1)
            self.span_slot0 = _grow(self.span_slot0, size, -1)
            self.span_ns = _grow(self.span_ns, size, 0)
            self.span_rcap = _grow(self.span_rcap, size, 0)

    def decode_buffers(self, cap: int) -> tuple:
        """typ, key, m, a1, a2, a3 of at least `cap` events, reused from one generation to the
        next (fresh arrays each time cost a page fault per 4 KiB)."""
        if self.dec is None or self.dec[0].shape[0] < cap:
            self.dec = (np.empty(cap, np.uint8),) + tuple(np.empty(cap, np.int64)
                                                         for _ in range(5))
        return self.dec

    def out_buffers(self, cap: int) -> dict:
        """The goalloc columns of a generation: two sets used in turn, as the worker thread
        may still be writing the previous generation's."""
        k = self.gens & 1
        cols = self.out[k]
        if cols is None or cols["kind"].shape[0] < cap:
            cols = self.out[k] = {name: np.empty(cap, dt) for name, dt in fmt.COLUMNS.items()}
        return cols

    def grow_pool(self, need: int) -> None:
        self.slot_ids = _grow(self.slot_ids, max(2 * self.slot_ids.shape[0], int(self.pctr[0]) + need), -1)

    def grow_spill(self, incoming: int) -> None:
        """Rehash into a table at most half full after `incoming` more entries."""
        cap = self.xkeys.shape[0]
        while (int(self.xctr[0]) + incoming) * 2 > cap:
            cap *= 2
        keys = np.full(cap, EMPTY, np.int64)
        vals = np.zeros(cap, np.int64)
        _spill_rehash(self.xkeys, self.xvals, keys, vals)
        self.xkeys, self.xvals = keys, vals
        self.xctr[1] = self.xctr[0]

    def grow_ids(self) -> None:
        self.ofree = _grow(self.ofree, 2 * self.ofree.shape[0], 0)
        self.otag = _grow(self.otag, 2 * self.otag.shape[0], 0)


def _pool_need(npages: int, kc: int, page_size: int, class_size, path, off) -> int:
    """Slot ids the span event needs in the pool, as _convert counts them (#18: a large span
    needs one, not a slot per 8 bytes; a size-class span of more pages than any table's is
    corrupt, and would need npages * 1024)."""
    sc = kc >> 2
    if kc & 1 or sc >= class_size.shape[0]:
        return 2
    if sc > 0 and npages > limits.MAX_CLASS_PAGES:
        raise TraceError(path, f"corrupt trace: a {npages}-page span of size class {sc}", off)
    size = npages * page_size if sc == 0 else int(class_size[sc])
    return (npages * page_size // size if size > 0 else 0) + 2


def _grow(a: np.ndarray, n: int, fill) -> np.ndarray:
    out = np.full(max(n, a.shape[0]), fill, a.dtype)
    out[: a.shape[0]] = a
    return out


def _locate(idx: int, bstart: np.ndarray, data_off: list[int]) -> int:
    b = int(np.searchsorted(bstart, idx, side="right")) - 1
    return data_off[b] + idx - int(bstart[b])


def _table_entries(batches: list[_Batch], decode, what: str, path):
    """Yield (batch, ids, byte offsets, counts) of each string or stack batch, decoded by
    `decode` (gotrace_wire.decode_strings or decode_stacks: at most one entry per 3 bytes)."""
    for b in batches:
        sd = np.frombuffer(b.data, np.uint8)
        cap = len(b.data) // 3 + 1
        ids, offs, cnt = (np.empty(cap, np.int64) for _ in range(3))
        status, k, at = decode(sd, 0, len(sd), ids, offs, cnt, 0)
        if status != w.OK:
            raise TraceError(path, f"corrupt trace: bad {what} table entry", b.data_off + at)
        yield b, ids[:k], offs[:k], cnt[:k]


def _type_name(data: bytes, at: int) -> str:
    """The name whose length varint starts at data[at] (a types batch entry)."""
    n, shift = 0, 0
    while at < len(data):
        b = data[at]
        at += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    return data[at:at + n].decode("utf-8", "replace")


def _strings(strings: list[_Batch], wanted: np.ndarray, path) -> dict[int, str]:
    """The strings of this generation's string batches whose ids are in `wanted`."""
    table = {}
    for b, ids, offs, lns in _table_entries(strings, w.decode_strings, "string", path):
        for j in np.flatnonzero(np.isin(ids, wanted)):
            table[int(ids[j])] = b.data[offs[j]:offs[j] + lns[j]].decode("utf-8", "replace")
    return table


def _stack_funcs(stacks: list[_Batch], wanted: set[int], path) -> dict[int, list[int]]:
    """Stack id -> the function-name string ids of its frames (innermost first), for the
    stacks of this generation's stack batches whose ids are in `wanted`."""
    out: dict[int, list[int]] = {}
    if not wanted:
        return out
    want = np.array(sorted(wanted), np.int64)
    for b, ids, offs, nfr in _table_entries(stacks, w.decode_stacks, "stack", path):
        for j in np.flatnonzero(np.isin(ids, want)).tolist():
            i, fr = int(offs[j]), []
            for _ in range(int(nfr[j])):
                vals = []
                for _ in range(4):  # pc, func string id, file string id, line
                    v, i = w.uvarint(b.data, i, len(b.data))
                    vals.append(v)
                fr.append(vals[1])
            out[int(ids[j])] = fr
    return out


def _gc_trigger(funcs: list[str]) -> int:
    """gc_start aux from the function names of the GCBegin stack (runtime/mgc.go gcTrigger
    kinds: gcTriggerCycle is runtime.GC, gcTriggerTime forcegchelper, gcTriggerHeap mallocgc
    and user arenas)."""
    names = set(funcs)
    if names & GC_FORCED_FUNCS:
        return fmt.GC_TRIGGER_FORCED
    if "runtime.forcegchelper" in names:
        return fmt.GC_TRIGGER_TIME
    # 1.24+ splits mallocgc (mallocgcSmallNoscan, ...; 1.27's generated mallocgc*SC<n>): the
    # heap test may run in a frame below mallocgc, or with no mallocgc frame at all.
    if any(f.startswith("runtime.mallocgc") for f in names) or \
            "runtime.newUserArenaChunk" in names:
        return fmt.GC_TRIGGER_HEAP
    return fmt.GC_TRIGGER_UNKNOWN


def _late_alloc_kind(funcs: list[str]) -> int:
    """Whether the allocation that started a cycle is traced after its GCBegin, and of which
    kind: [1.24+] the size-specialised malloc paths (mallocgcTiny, mallocgcSmallNoscan,
    mallocgcSmallScanNoHeader, mallocgcSmallScanHeader, mallocgcLarge; 1.27's generated
    mallocgc*SC<n> and *SlowPath) run gcStart before mallocgc's postMallocgcDebug traces the
    object, where 1.23's mallocgc traced it first. LATE_NOSCAN / LATE_SCAN / LATE_ANY (large
    objects: either), or 0 when the stack shows no such path (1.23, or not a heap trigger)."""
    for f in funcs:
        m = _SPLIT_MALLOC_RE.match(f)
        if m:
            kind = m.group(1)
            if kind.startswith(("Tiny", "SmallNoscan", "SmallNoScan")):  # 1.27: TinySC, ...
                return LATE_NOSCAN
            if kind.startswith("SmallScan"):
                return LATE_SCAN
            return LATE_ANY
    return 0


def _trigger_allocs_first(order, typ, key, mm, a1, a2, a3, t_ptr, gcb, gc_funcs, st,
                          per_page, start_blocks=()):
    """The merge order with each cycle's triggering allocation moved to just before its
    GCBegin, where the runtime allocated it ([1.24+]: see _late_alloc_kind). It is the first
    HeapObjectAlloc after the GCBegin by the goroutine that began the cycle (which may resume
    on another M: gcStart stops the world, and the goroutine can be preempted before its
    allocation is traced) whose type matches the malloc path on the GCBegin stack (scan or
    noscan) - for a large object, the one at the base of the large span the goroutine allocated
    before the GCBegin - and traced after the cycle's sweep-termination stop ends (gcStart
    allocates mark workers, their channel and stacks before that stop). It takes the GCBegin's
    time. Goroutines that blocked in gcStart while another began the cycle (start_blocks: a
    GoBlock whose stack holds gcStart) allocated too before they checked the trigger: their
    next allocation of their stack's kind moves likewise, when the cycle began after their
    previous allocation. Counted in st.trigger_allocs_moved."""
    late = [(int(j), kind) for j in gcb
            if (kind := _late_alloc_kind(gc_funcs.get(int(a1[j]), []))) != 0]
    if not late:
        return order
    status = np.flatnonzero((typ == w.EV_GO_STATUS) | (typ == w.EV_GO_STATUS_STACK))
    m_of = np.array([st.m_idx(int(m) & 0xFFFF_FFFF_FFFF_FFFF) for m in a2[status]], np.int64)
    if st.cur_g.shape[0] < len(st.m_index):
        st.cur_g = _grow(st.cur_g, len(st.m_index), -1)
    g_of = _running_g(order, typ, mm, a1, a3, status, m_of, st.cur_g)
    pos = np.empty(order.shape[0], np.float64)
    pos[order] = np.arange(order.shape[0], dtype=np.float64)
    allocs = np.flatnonzero(typ == w.EV_HEAP_OBJECT_ALLOC)
    tid = a2[allocs]
    known = (tid > 0) & (tid < t_ptr.shape[0])
    scan = np.zeros(allocs.shape[0], np.bool_)
    scan[known] = t_ptr[tid[known]] > 0
    stw_end = np.flatnonzero(typ == w.EV_STW_END)
    stw_end_pos = np.sort(pos[stw_end])
    spans = np.flatnonzero(typ == w.EV_SPAN_ALLOC)
    large = spans[(a3[spans] & 1 == 0) & (a3[spans] >> 2 == 0)]  # heap spans of class 0
    moved = 0
    for j, kind in late:
        if g_of[j] < 0:
            continue
        k = np.searchsorted(stw_end_pos, pos[j])
        after = stw_end_pos[k] if k < stw_end_pos.shape[0] else pos[j]
        cand = (g_of[allocs] == g_of[j]) & (pos[allocs] > after)
        if kind == LATE_SCAN:
            cand &= scan
        elif kind == LATE_NOSCAN:
            cand &= ~scan
        else:  # large: the object at the base of the goroutine's last large span
            mine = large[(g_of[large] == g_of[j]) & (pos[large] < pos[j])]
            if not mine.size:
                continue
            base = a1[mine[np.argmax(pos[mine])]] * per_page
            cand &= a1[allocs] == base
        if not cand.any():
            continue
        sel = allocs[cand]
        first = sel[np.argmin(pos[sel])]
        pos[first] = pos[j] - 0.5
        key[first] = key[j]
        moved += 1
    late_pos = np.sort(np.array([pos[j] for j, _ in late]))
    late_at = {pos[j]: j for j, _ in late}
    for b, kind in start_blocks:
        g = g_of[b]
        if g < 0:
            continue
        mine = (g_of[allocs] == g)
        if kind == LATE_SCAN:
            mine &= scan
        elif kind == LATE_NOSCAN:
            mine &= ~scan
        nxt = allocs[mine & (pos[allocs] > pos[b])]
        if not nxt.size:
            continue
        a = nxt[np.argmin(pos[nxt])]
        k = np.searchsorted(late_pos, pos[a]) - 1  # the last such cycle begun before it
        if k < 0:
            continue
        j = late_at[late_pos[k]]
        prev = allocs[(g_of[allocs] == g) & (pos[allocs] < pos[b])]
        if prev.size and pos[prev].max() > pos[j]:
            continue  # the cycle began before the goroutine's previous allocation
        pos[a] = pos[j] - 0.25
        key[a] = key[j]
        moved += 1
    st.trigger_allocs_moved += moved
    return np.argsort(pos, kind="stable") if moved else order


def _large_allocs_at_their_span(order, typ, key, mm, a1, a3, st, per_page):
    """The merge order with each large object's HeapObjectAlloc moved to just after the
    SpanAlloc of its span, where the runtime allocated it. mallocgc zeroes a large object
    after allocLarge with preemption enabled (memclrNoHeapPointersChunked, "delayed zeroing",
    malloc.go of every release since 1.17, golang/go #47302) and traces the object only after
    that, so a goroutine preempted while zeroing leaves its span in use (and heapLive counted)
    for milliseconds before the object appears: a GC cycle that begins in between marks a heap
    that holds the span. The object's alloc is the next event at its span's base (a large span
    holds one object); both must be in this generation. It takes the SpanAlloc's time and M
    (so its P). Counted in st.large_allocs_moved."""
    spans = np.flatnonzero(typ == w.EV_SPAN_ALLOC)
    spans = spans[(a3[spans] & 1 == 0) & (a3[spans] >> 2 == 0)]  # heap spans of class 0
    if not spans.size:
        return order
    allocs = np.flatnonzero(typ == w.EV_HEAP_OBJECT_ALLOC)
    frees = np.flatnonzero(typ == w.EV_SPAN_FREE)  # a span freed in between breaks the pair
    pos = np.empty(order.shape[0], np.float64)
    pos[order] = np.arange(order.shape[0], dtype=np.float64)
    ev = np.concatenate((spans, allocs, frees))
    base = np.concatenate((a1[spans] * per_page, a1[allocs], a1[frees] * per_page))
    by = np.lexsort((pos[ev], base))  # by base, then in merge order
    ev, base = ev[by], base[by]
    # an alloc right after (in its base's events) a large SpanAlloc at the same base
    hit = np.flatnonzero((base[1:] == base[:-1]) & (typ[ev[:-1]] == w.EV_SPAN_ALLOC)
                         & (typ[ev[1:]] == w.EV_HEAP_OBJECT_ALLOC))
    span_ev, alloc_ev = ev[hit], ev[hit + 1]
    late = pos[alloc_ev] > pos[span_ev] + 1  # not already next to it
    if not late.any():
        return order
    span_ev, alloc_ev = span_ev[late], alloc_ev[late]
    pos[alloc_ev] = pos[span_ev] + 0.5
    key[alloc_ev] = key[span_ev]
    mm[alloc_ev] = mm[span_ev]
    st.large_allocs_moved += int(alloc_ev.shape[0])
    return np.argsort(pos, kind="stable")


@kernel
def _running_g(order, typ, mm, a1, a3, status, m_of, cur):
    """The goroutine running on each event's M when it happened (-1: none known), following
    GoStart / GoSwitch (the M runs g), GoStatus at a generation's start (g runs on M m_of) and
    GoStop / GoBlock / GoDestroy (it no longer does). `cur` (by M index) carries across
    generations."""
    g_of = np.full(typ.shape[0], -1, np.int64)
    sm = np.full(typ.shape[0], -1, np.int64)
    for k in range(status.shape[0]):
        sm[status[k]] = m_of[k]
    for i in range(order.shape[0]):
        j = order[i]
        t = typ[j]
        m = mm[j]
        if t == w.EV_GO_START or t == w.EV_GO_SWITCH or t == w.EV_GO_SWITCH_DESTROY:
            cur[m] = a1[j]
        elif t == w.EV_GO_STATUS or t == w.EV_GO_STATUS_STACK:
            if (a3[j] == w.GO_RUNNING or a3[j] == w.GO_SYSCALL) and 0 <= sm[j] < cur.shape[0]:
                cur[sm[j]] = a1[j]
        g_of[j] = cur[m]
        if t == w.EV_GO_STOP or t == w.EV_GO_BLOCK or t == w.EV_GO_DESTROY:
            cur[m] = -1
    return g_of


def _generation(batches: list[_Batch], st: _State, version: int, path, header_for, codec,
                force, out, class_size, gt_objs) -> None:
    gen_off = batches[0].off
    events, strings, types, stacks = [], [], [], []
    for b in batches:
        if not b.data:
            continue
        first = b.data[0]
        if b.is_exp:
            if b.exp != w.EXPERIMENT_ALLOC_FREE:
                continue  # an experiment this importer does not know: nothing it needs
            if first == w.EXP_INFO_BATCH:
                vals, i = [], 1
                for _ in range(4):
                    v, i = w.uvarint(b.data, i, len(b.data))
                    if i < 0:
                        raise TraceError(path, "corrupt trace: bad alloc/free info batch", b.off)
                    vals.append(v)
                if vals[1] <= 0 or vals[2] <= 0 or vals[1] % vals[2] or \
                        vals[1] & (vals[1] - 1) or vals[2] & (vals[2] - 1) or \
                        not 8 <= vals[1] <= limits.MAX_PAGE_SIZE:  # #18: Go's page is 8 KiB
                    raise TraceError(path, f"corrupt trace: alloc/free info {vals}", b.off)
                st.info = tuple(vals)
            elif first == w.EXP_TYPES_BATCH:
                types.append(b)
            else:
                raise TraceError(path, f"corrupt trace: unknown alloc/free batch kind {first}",
                                 b.off)
        elif first == w.EV_STRINGS:
            strings.append(b)
        elif first == w.EV_STACKS:
            stacks.append(b)
        elif first == w.EV_CPU_SAMPLES:
            pass
        elif (first == w.EV_FREQUENCY and version < 25) or (first == w.EV_SYNC and version >= 25):
            freq = _parse_freq(b, version, path)
            if freq is not None and st.freq is None:
                st.freq = freq
        else:
            events.append(b)
    st.gens += 1
    if st.info is None:
        if version == 22:
            raise TraceError(path, "a Go 1.22 trace has no alloc/free events: " + RECORD_HINT)
        raise TraceError(path, "recorded without GODEBUG=traceallocfree=1 (no alloc/free "
                               "info in the first generation): " + RECORD_HINT)
    if st.freq is None:
        raise TraceError(path, "corrupt trace: no clock frequency in the first generation",
                         gen_off)
    _min_heap, page_size, align, _fixed_stack = st.info
    pshift, ashift = page_size.bit_length() - 1, align.bit_length() - 1  # powers of two

    # Event batches: one buffer, decoded twice (count, then write).
    data = np.frombuffer(b"".join(b.data for b in events), np.uint8)
    lens = np.array([len(b.data) for b in events], np.int64)
    bend = np.cumsum(lens)
    bstart = bend - lens
    bm = np.array([st.m_idx(b.m) for b in events], np.int64)
    btime = np.array([b.time for b in events], np.uint64).astype(np.int64)
    data_off = [b.data_off for b in events]
    nargs = w.nargs_table(version)
    nspt = 1e9 / st.freq
    kept = w.kept_table()
    tcount = np.zeros(256, np.int64)
    # One pass into buffers kept across generations (an event takes at least two bytes, and
    # pages of the buffers that are never written are never touched).
    typ, key, mm, a1, a2, a3 = st.decode_buffers(len(data) // 2 + 1)
    status, n, at, detail = w.decode_events(data, bstart, bend, bm, btime, nspt, nargs, kept,
                                            st.lastkey, True, typ, key, mm, a1, a2, a3, tcount)
    if status != w.OK:
        off = _locate(int(at), bstart, data_off)
        if status == w.ERR_UNKNOWN_EVENT:
            raise TraceError(path, f"corrupt trace: unknown event type {detail} (not in the "
                                   f"Go 1.{version} trace spec)", off)
        name = w.EVENT_NAMES.get(int(detail), str(detail))
        what = "ends inside" if status == w.ERR_TRUNCATED_EVENT else "has a bad varint in"
        raise TraceError(path, f"corrupt trace: batch {what} a {name} event", off)
    st.tcount += tcount
    typ, key, mm, a1, a2, a3 = (a[:n] for a in (typ, key, mm, a1, a2, a3))
    del data

    # Why each cycle started (gc_start aux): the stack of the goroutine that ran gcStart, which
    # the runtime records with GCBegin (traceLocker.GCStart): runtime.GC for a forced cycle
    # (runtime.GC, debug.FreeOSMemory, the testing package), runtime.forcegchelper for the
    # periodic one, mallocgc for a heap trigger.
    gcb = np.flatnonzero(typ == w.EV_GC_BEGIN)
    gc_stack = {int(a1[j]): int(a2[j]) for j in gcb}  # GC seq -> stack id (0: none)
    # [1.24+] goroutines that blocked in gcStart while another began the cycle: their stacks
    blocks = np.flatnonzero(typ == w.EV_GO_BLOCK) if gcb.size else np.zeros(0, np.int64)
    block_sids = set(np.unique(a2[blocks]).tolist()) - {0}
    frames = _stack_funcs(stacks, {sid for sid in gc_stack.values() if sid > 0} | block_sids,
                          path)

    # Strings: only the STW kinds and the function names of those stacks are needed.
    reasons = np.zeros(1, np.int64)
    stw = typ == w.EV_STW_BEGIN
    wanted = np.unique(a1[stw]) if stw.any() else np.zeros(0, np.int64)
    wanted = wanted[(wanted >= 0) & (wanted < 1 << 24)]
    fids = np.array(sorted({f for fr in frames.values() for f in fr}), np.int64)
    # function names of the block stacks are wanted too (gcStart, the malloc path), and the
    # categories and messages of trace.Log records (metric samples, gometrics)
    ulog = typ == w.EV_USER_LOG
    fids = np.union1d(fids, np.union1d(a2[ulog], a3[ulog])) if ulog.any() else fids
    table = _strings(strings, np.union1d(wanted, fids), path) if wanted.size or fids.size \
        else {}
    if wanted.size:
        reasons = np.zeros(int(wanted.max()) + 1, np.int64)
        index = {r: k for k, r in enumerate(fmt.STW_REASONS)}
        for sid in wanted.tolist():
            if sid in table:
                reasons[sid] = index.get(table[sid], 0)
    gc_funcs = {seq: [table.get(f, "") for f in frames.get(sid, ())]
                for seq, sid in gc_stack.items()}
    gc_trigger = {seq: _gc_trigger(funcs) for seq, funcs in gc_funcs.items()}
    start_blocks = []  # (GoBlock event, its malloc path) of goroutines blocked in gcStart
    for sid in block_sids:
        funcs = [table.get(f, "") for f in frames.get(sid, ())]
        if "runtime.gcStart" in funcs and (kind := _late_alloc_kind(funcs)):
            start_blocks += [(int(b), kind) for b in blocks[a2[blocks] == sid]]

    # Types of this generation (ids are per generation).
    t_size = np.full(1, -1, np.int64)
    t_ptr = np.zeros(1, np.int64)
    t_site = np.zeros(1, np.int32)  # type id -> trace-wide attribution site (#17)
    tracer_types = np.full(2, -1, np.int64)  # ids of uint64 and unsafe.Pointer (see _convert)
    for b in types:
        td = np.frombuffer(b.data, np.uint8)
        cap = len(b.data) // 5 + 1
        ids, sizes, ptrs, name_at = (np.empty(cap, np.int64) for _ in range(4))
        status, k, at = w.decode_types(td, 0, len(td), ids, sizes, ptrs, name_at, 0)
        if status != w.OK:
            raise TraceError(path, "corrupt trace: bad type table entry", b.data_off + at)
        ids = ids[:k]
        if k and (ids.min() < 0 or ids.max() >= MAX_TYPE_ID):
            raise TraceError(path, "corrupt trace: type id out of range", b.data_off)
        if k and ids.max() >= t_size.shape[0]:
            t_size = _grow(t_size, int(ids.max()) + 1, -1)
            t_ptr = _grow(t_ptr, int(ids.max()) + 1, 0)
        t_size[ids] = sizes[:k]
        t_ptr[ids] = ptrs[:k]
        t_site = _grow(t_site, t_size.shape[0], 0)
        for j in range(k):  # per type, not per event: a generation names a few thousand
            t_site[ids[j]] = st.sites.site(_type_name(b.data, int(name_at[j])), int(sizes[j]),
                                           int(ptrs[j]))
        for j in np.flatnonzero(sizes[:k] == 8):
            name = b.data[name_at[j] + 1:name_at[j] + 1 + b.data[name_at[j]]]
            if name in TRACER_TYPES:
                tracer_types[TRACER_TYPES.index(name)] = ids[j]

    # ProcSteal names the M it stole from by id: turn it into an M index.
    steal = np.flatnonzero(typ == w.EV_PROC_STEAL)
    for j in steal:
        a3[j] = st.m_idx(int(a3[j]) & 0xFFFF_FFFF_FFFF_FFFF)
    procs = (typ == w.EV_PROC_START) | (typ == w.EV_PROC_STATUS) | (typ == w.EV_PROC_STEAL)
    if procs.any():
        pmax = int(a1[procs].max())
        if a1[procs].min() < 0 or pmax >= 1 << 15:
            raise TraceError(path, "corrupt trace: P id out of range", gen_off)
        if pmax >= st.lastp.shape[0]:
            st.lastp = _grow(st.lastp, pmax + 1, 0)
    else:
        pmax = -1

    # Pages the spans of this generation reach (objects outside them count as unmapped).
    sp = (typ == w.EV_SPAN) | (typ == w.EV_SPAN_ALLOC)
    need = 0
    if sp.any():
        # _convert indexes the page tables with the span's id and the class table with its
        # class: a span of no pages would sit past the tables sized by id + pages, and a class
        # the runtime cannot write (traceSpanTypeAndClass: spanclass << 1, or 1; spanclass
        # is a uint8) would index outside the class table (a negative one wraps around)
        if a1[sp].min() < 0 or a2[sp].min() < 1:
            raise TraceError(path, "corrupt trace: a span with a negative id or no pages",
                             gen_off)
        kc = a3[sp]
        if kc.min() < 0 or kc.max() >= limits.GO_SPAN_CLASS_END:
            bad = int(kc[(kc < 0) | (kc >= limits.GO_SPAN_CLASS_END)][0])
            raise TraceError(path, f"corrupt trace: span type and class {bad} (the runtime "
                             f"writes 0..{limits.GO_SPAN_CLASS_END - 1})", gen_off)
        # as uint64: two int64 values up to 2^63 - 1 add up without wrapping to negative
        need = int((a1[sp].astype(np.uint64) + a2[sp].astype(np.uint64)).max())
    if need > limits.MAX_GO_HEAP_PAGES:
        raise TraceError(path, f"corrupt trace (or a heap beyond the importer's limit): a span "
                         f"reaches page {need} above the lowest heap page, more than "
                         f"{limits.MAX_GO_HEAP_PAGES}", gen_off)
    st.ensure_pages(need)

    # Merge the Ms by time; at equal times frees go first.
    frees = (typ == w.EV_HEAP_OBJECT_FREE) | (typ == w.EV_SPAN_FREE) | \
        (typ == w.EV_GOROUTINE_STACK_FREE)
    if n:
        kmin = int(key.min())
        if st.t0 is None:  # the first event written is at 0 (P changes are not written)
            shown = (typ > w.EV_PROC_STATUS) & ~np.isin(typ, w.GO_EVENTS)
            st.t0 = int(key[shown].min()) if shown.any() else kmin
        order = np.argsort((key - kmin) * 2 + (~frees), kind="stable")
        order = _trigger_allocs_first(order, typ, key, mm, a1, a2, a3, t_ptr, gcb, gc_funcs,
                                      st, page_size // align, start_blocks)
        order = _large_allocs_at_their_span(order, typ, key, mm, a1, a3, st,
                                            page_size // align)
    else:
        order = np.zeros(0, np.int64)
        if st.t0 is None:
            st.t0 = 0

    if st.writer is None:
        procs_change = a1[typ == w.EV_PROCS_CHANGE]
        st.gomaxprocs = int(min(max(1, pmax + 1, int(procs_change.max()) if procs_change.size
                                    else 1), 1 << 15))
        joined = b"".join(b.data for b in strings)
        st.split_malloc_frames = _SPLIT_MALLOC_BYTES.search(joined) is not None
        st.generated_malloc_frames = _GENERATED_MALLOC_BYTES.search(joined) is not None

    # Convert in slices of WRITE_SLICE events and queue each slice's output for writing (and
    # zstd compression) on the worker thread, so compression runs alongside the conversion of
    # the same generation, not only of the next one: the last generation's write, which
    # nothing follows, is then one slice long. The Writer cuts chunks by event count, so the
    # file does not depend on the slicing.
    k = st.gens & 1
    _wait_write(st, k)  # writes queued two generations ago still read buffer set k
    cols = st.out_buffers(2 * n + 1)
    cols["site"].fill(0)  # _convert writes the site of allocs only
    start, o, written, stop = 0, 0, 0, 0
    maps = {GROW_OWED: st.owed, GROW_SPANS: st.spans, GROW_STACKS: st.stacks}
    if st.fl_head is None:
        st.fl_head = np.full(class_size.shape[0], -1, np.int64)
    while stop < n:
        stop = min(n, stop + WRITE_SLICE)
        part = order[:stop]
        while True:
            ow, sp_, sk = st.owed, st.spans, st.stacks
            status, start, o = _convert(
                start, part, typ, key, mm, a1, a2, a3, st.mp, st.pagemap, st.span_np,
                st.span_kc, class_size, gt_objs, t_size, t_ptr, t_site, tracer_types, reasons,
                st.span_slot0, st.span_ns, st.span_rcap, st.slot_ids, st.pctr, st.fl_head,
                st.xkeys, st.xvals, st.xctr, st.ofree, st.octr, st.otag, st.epoch,
                fmt.FLUSH_REASON,
                ow.keys, ow.vals, ow.free_ids, ow.ctr,
                sp_.keys, sp_.vals, sp_.free_ids, sp_.ctr, sk.keys, sk.vals, sk.free_ids, sk.ctr,
                st.t0, ashift, pshift, st.lastp, st.gcseq, st.cnt,
                cols["kind"], cols["ts"], cols["p"], cols["id"], cols["size"], cols["flags"],
                cols["aux"], cols["site"], o)
            if status == DONE:
                break
            if status == GROW_OBJECTS:
                st.grow_ids()
                continue
            if status == GROW_POOL:
                st.grow_pool(_pool_need(int(a2[order[start]]), int(a3[order[start]]),
                                        int(page_size), class_size, path, gen_off))
                continue
            if status == GROW_SPILL:
                st.grow_spill(max(1024, int(st.xctr[0]), int(st.xctr[2])))
                continue
            amap = maps[status]
            amap.grow(max(1024, int(amap.ctr[0]), int(amap.ctr[2])))
        if gc_trigger:
            gs = written + np.flatnonzero(cols["kind"][written:o] == fmt.GC_START)
            for j in gs.tolist():
                cols["aux"][j] = gc_trigger.get(int(cols["id"][j]), fmt.GC_TRIGGER_UNKNOWN)
        if st.writer is None and stop < n:
            continue  # the first generation is written once it is all converted (below)
        if st.writer is None:
            _tracer_data_buffers(cols, o, st.cnt)
            # The header names the release, which the first generation's own evidence (tiny
            # requests in blocks, slots past Green Tea's layout) tells.
            st.writer = Writer(out, header_for(st), codec=codec, force=force)
            st.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gotrace-write")
        # The worker runs queued writes in order (the kernels and zstd release the GIL).
        part = st.metrics.expand({name: col[written:o] for name, col in cols.items()}, table)
        st.pending[k] = st.pool.submit(st.writer.write, **part)
        written = o
    if st.writer is None:  # a first generation with no events
        st.writer = Writer(out, header_for(st), codec=codec, force=force)
        st.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gotrace-write")


def _tracer_data_buffers(cols, n: int, cnt) -> None:
    """Flag the tracer's two 1 MiB noscan CPU-sample buffers among the first generation's
    snapshot objects: the noscan 1 MiB snapshot objects, when there are exactly as many as
    pointer buffers were found (else a program's own buffers of that size could be among them,
    and none is flagged)."""
    k, f, size = cols["kind"][:n], cols["flags"][:n], cols["size"][:n]
    want = fmt.FLAG_SNAPSHOT | fmt.FLAG_NOSCAN
    cand = np.flatnonzero((k == fmt.ALLOC) & ((f & want) == want)
                          & ((f & fmt.FLAG_TRACER) == 0) & (size == TRACER_DATA))
    if cand.shape[0] and cand.shape[0] == cnt[C_TRACER_BUFFERS]:
        f[cand] |= fmt.FLAG_TRACER
        cnt[C_TRACER_BUFFERS] += cand.shape[0]
        cnt[C_TRACER_BYTES] += cand.shape[0] * TRACER_DATA


def _wait_write(st: _State, k: int | None = None) -> None:
    """Wait for the writes queued from output buffer set k (both sets when None)."""
    for j in (0, 1) if k is None else (k,):
        pending, st.pending[j] = st.pending[j], None
        if pending is not None:
            pending.result()


def _release_of(st: _State, version: int, exact: str | None) -> tuple[str, str]:
    """The release that wrote the trace, and how that is known (from the first slice)."""
    if exact:
        return exact, "go version (goalloc record)"
    return releases.infer_release(releases.Evidence(
        trace_format=version, tiny_in_block=int(st.cnt[C_TINY_IN_BLOCK]),
        split_malloc_frames=st.split_malloc_frames,
        generated_malloc_frames=st.generated_malloc_frames,
        beyond_inline_marks=int(st.cnt[C_BEYOND_INLINE_MARKS])))


def import_gotrace(src: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
                   codec: str = "zstd", progress=None, go_version: str | None = None) -> dict:
    """Convert a Go execution trace (GODEBUG=traceallocfree=1) to a goalloc trace; returns the
    counts of what could not be mapped (and a few facts about the trace). `go_version` is the
    exact release that recorded it when known (`goalloc record` runs `go version`); otherwise
    the release is inferred from the trace (goalloc.releases.infer_release)."""
    try:
        f = open(src, "rb")
    except OSError as e:
        raise TraceError(src, f"cannot open: {e.strerror}") from None
    table = get_table("go")
    class_size = np.ascontiguousarray(table.class_size, dtype=np.int64)
    # objects per span (by span class: class * 2 + noscan) under Green Tea's layout
    gt = profile(table, "1.26", green_tea=True)
    gt_objs = np.ascontiguousarray(np.stack([gt.objs_scan, gt.objs_noscan], 1).ravel(),
                                   dtype=np.int64)
    st = _State()
    with f:
        version = _read_header(f, src)

        def header_for(state: _State) -> Header:
            mh, ps, al, fs = state.info
            state.release, state.release_how = _release_of(state, version, go_version)
            return Header(
                producer="goalloc import gotrace", sizes="requested", frees="sweep",
                gomaxprocs=state.gomaxprocs,
                source={"recorder": "go execution trace (traceallocfree)",
                        "go_version": state.release, "go_version_source": state.release_how,
                        "trace_version": version,
                        "beyond_inline_marks": int(state.cnt[C_BEYOND_INLINE_MARKS]),
                        "tracer_buffer_bytes": int(state.cnt[C_TRACER_BYTES]),
                        "file": os.path.basename(src), "clock_hz": int(state.freq),
                        "min_heap_addr": hex(mh), "page_size": ps, "min_heap_align": al,
                        "fixed_stack": fs},
                extra={"snapshot": fmt.SNAPSHOT_PLACED})

        try:
            gen = None
            batches: list[_Batch] = []
            done_bytes = w.HEADER_LEN
            for b in _read_batches(f, src, version):
                if gen is None:
                    gen = b.gen
                if b.gen != gen:
                    if b.gen < gen:
                        raise TraceError(src, f"corrupt trace: generation {b.gen} after "
                                              f"generation {gen}", b.off)
                    _generation(batches, st, version, src, header_for, codec, force, out,
                                class_size, gt_objs)
                    if progress is not None:
                        progress(b.off - done_bytes)
                        done_bytes = b.off
                    batches = []
                    gen = b.gen
                batches.append(b)
            if not batches:
                raise TraceError(src, "the trace has no events: " + RECORD_HINT)
            _generation(batches, st, version, src, header_for, codec, force, out, class_size,
                        gt_objs)
            if progress is not None:
                progress(f.tell() - done_bytes)
            _wait_write(st)
            if len(st.sites):
                st.writer.header.sites = st.sites.sites
                st.writer.set_header(st.writer.header)
            st.writer.close()
        except BaseException:
            if st.writer is not None:
                try:
                    _wait_write(st)
                except BaseException:
                    pass
                st.writer.abort()
            raise
        finally:
            if st.pool is not None:
                st.pool.shutdown()
    tc = st.tcount
    c = st.cnt
    return {
        "events": int(st.writer.events),
        "generations": st.gens,
        "gomaxprocs": st.gomaxprocs,
        "trace_events": int(tc.sum()),
        "go_events": {w.EVENT_NAMES[k]: int(tc[k]) for k in w.KEPT if tc[k]},
        "live_at_end": int(st.octr[0]),
        "slot_reused_before_free": int(c[C_SLOT_REUSED]),
        "late_frees_dropped": int(c[C_LATE_FREES]),
        # reused live slots whose free never came: a runtime that frees without tracing it
        # (GOEXPERIMENT=runtimefreegc, 1.26+) - replayed as freed at the reuse
        "reused_slots_never_freed": int(st.owed.ctr[0]),
        "unknown_frees": int(c[C_UNKNOWN_FREES]),
        "objects_outside_spans": int(c[C_NO_SPAN]),
        "unknown_types": int(c[C_UNKNOWN_TYPES]),
        "lost_span_frees": int(c[C_LOST_SPAN_FREES]),
        "unknown_span_frees": int(c[C_UNKNOWN_SPAN_FREES]),
        "lost_stack_frees": int(c[C_LOST_STACK_FREES]),
        "unknown_stack_frees": int(c[C_UNKNOWN_STACK_FREES]),
        "misplaced_objects": int(c[C_MISPLACED]),
        "double_reuses": int(c[C_DOUBLE_REUSE]),
        "frees_without_p": int(c[C_NO_P]),
        "tiny_allocs_in_block": int(c[C_TINY_IN_BLOCK]),
        "trigger_allocs_moved": st.trigger_allocs_moved,
        "large_allocs_moved": st.large_allocs_moved,
        "beyond_inline_marks": int(c[C_BEYOND_INLINE_MARKS]),
        "tracer_buffers": int(c[C_TRACER_BUFFERS]),
        "tracer_buffer_bytes": int(c[C_TRACER_BYTES]),
        "go_version": st.release,
        "go_version_source": st.release_how,
        "tiny_allocs_without_block": int(c[C_TINY_NO_BLOCK]),
        "metric_samples": st.metrics.groups,
        "metric_records_unread": st.metrics.bad,
    }
