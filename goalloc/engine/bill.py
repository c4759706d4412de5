"""The `goalloc classes --trace` fragmentation bill: a numba kernel streams a trace's alloc/free
columns once and prices every table at the trace's peak live set (rounding, malloc headers per
the Go 1.22+ rule, span tails, tiny blocks as mallocgc's tiny allocator packs them, Go 1.19-1.26).
A quick static estimate: no GC, no per-P spans; the full replay (goalloc replay) has those.
Not a runtime twin: it lives in engine/ because it reads traces (sizeclasses sits below them).
"""

from __future__ import annotations

import numpy as np

from goalloc.jit import kernel
from goalloc.sizeclasses.lookup import size_to_class, tiny_offset
from goalloc.sizeclasses.profiles import ClassProfile, profile
from goalloc.sizeclasses.tables import SizeClassTable
from goalloc.trace import format as fmt

SCHEMA = 1

# Indices into the kernel's int64 scalar array.
S_BLOCKS_HWM = 0  # block ids handed out so far (dead blocks are recycled)
S_FREE_TOP = 1  # depth of the free block-id stack
S_LIVE_BLOCKS = 2  # tiny blocks with live sub-objects
S_LIVE_REQ = 3  # live requested bytes, tiny included: L(t)
S_PEAK_REQ = 4
S_AT_PEAK = 5  # 1 while the live set is at its maximum: snapshot before the next free
S_PEAK_EVENT = 6
S_TINY_LIVE_REQ = 7
S_TINY_ALLOCS = 8
S_TINY_ALLOC_REQ = 9
S_TINY_BLOCKS_ALLOC = 10
S_ALLOCS = 11
S_FREES = 12
S_UNMATCHED = 13  # frees of ids not live
S_REALLOCS = 14  # allocs of ids already live (the old object is freed first)
S_PEAK_BLOCKS = 15
S_PEAK_TINY_REQ = 16
S_LIVE_OBJS = 17
S_PEAK_OBJS = 18
N_SCALARS = 19

TINY_BLOCK = 16  # maxTinySize: the tiny allocator's block


@kernel
def live_set_chunk(first_event, kind, p, ids, size, flags, live, tiny_of, refs, owner, free_ids,
                   cur_block, cur_off, sc, al, fr, snap):
    """Table-independent pass over one chunk: the live set by id, the tiny allocator, the
    peak of live requested bytes. For the per-table pass it writes al[i] / fr[i] (the
    allocated / freed non-tiny object as 2*size + noscan + 1, else 0) and snap[i] = 1 where
    the live set leaves a new peak (take the snapshot before event i).
    live[id] = 2*size + noscan while live, else -1. Arrays are pre-sized by the driver."""
    for i in range(kind.shape[0]):
        al[i] = 0
        fr[i] = 0
        snap[i] = 0
        kd = kind[i]
        if kd != 1 and kd != 2:  # ALLOC, FREE; other events do not change the live set
            continue
        oid = ids[i]
        if oid < 0 or oid >= live.shape[0]:
            if kd == 2:
                sc[S_UNMATCHED] += 1
            continue
        if live[oid] >= 0:  # a free, or an alloc reusing a live id: the old object dies
            if kd == 1:
                sc[S_REALLOCS] += 1
            else:
                sc[S_FREES] += 1
            if sc[S_AT_PEAK] == 1:
                snap[i] = 1
                sc[S_AT_PEAK] = 0
                sc[S_PEAK_BLOCKS] = sc[S_LIVE_BLOCKS]
                sc[S_PEAK_TINY_REQ] = sc[S_TINY_LIVE_REQ]
                sc[S_PEAK_OBJS] = sc[S_LIVE_OBJS]
            enc = live[oid]
            osz = enc >> 1
            live[oid] = -1
            sc[S_LIVE_REQ] -= osz
            sc[S_LIVE_OBJS] -= 1
            if osz > 0 and enc & 1 == 1 and osz < TINY_BLOCK:
                b = tiny_of[oid]
                refs[b] -= 1
                sc[S_TINY_LIVE_REQ] -= osz
                if refs[b] == 0:
                    sc[S_LIVE_BLOCKS] -= 1
                    if cur_block[owner[b]] != b:  # dead and not a P's current block: reuse
                        free_ids[sc[S_FREE_TOP]] = b
                        sc[S_FREE_TOP] += 1
            elif osz > 0:
                fr[i] = enc + 1
        elif kd == 2:
            sc[S_UNMATCHED] += 1
            continue
        if kd == 2:
            continue

        sz = size[i]
        enc = 2 * sz + (flags[i] & 1)
        sc[S_ALLOCS] += 1
        live[oid] = enc
        sc[S_LIVE_REQ] += sz
        sc[S_LIVE_OBJS] += 1
        if sz > 0 and enc & 1 == 1 and sz < TINY_BLOCK:
            _tiny_alloc(oid, sz, p[i] + 1, tiny_of, refs, owner, free_ids, cur_block, cur_off, sc)
        elif sz > 0:
            al[i] = enc + 1
        if sc[S_LIVE_REQ] > sc[S_PEAK_REQ]:
            sc[S_PEAK_REQ] = sc[S_LIVE_REQ]
            sc[S_PEAK_EVENT] = first_event + i
            sc[S_AT_PEAK] = 1


# Columns of a table's per-class accumulator acc[class, col]; peak[class, :A_PEAK] is the
# live part (cols 0..4) copied at the peak.
A_SCAN, A_NOSCAN, A_REQ, A_HDR, A_SLOT = 0, 1, 2, 3, 4
A_PEAK = 5
A_CNT, A_AREQ, A_AHDR, A_ASLOT = 5, 6, 7, 8
N_ACC = 9


@kernel
def table_chunk(al, fr, snap, class8, class128, class_size, small_max, header, page, acc, peak):
    """Per-table pass over one chunk (see live_set_chunk): price every alloc and free under
    one table and version profile (`header`: Go 1.22+ 8 B header above 512 B, pointerful)."""
    for i in range(al.shape[0]):
        if snap[i] == 1:
            for c in range(acc.shape[0]):
                for j in range(A_PEAK):
                    peak[c, j] = acc[c, j]
        if fr[i] != 0:
            _account(fr[i] - 1, -1, class8, class128, class_size, small_max, header, page, acc)
        if al[i] != 0:
            _account(al[i] - 1, 1, class8, class128, class_size, small_max, header, page, acc)


@kernel
def _account(enc, sign, class8, class128, class_size, small_max, header, page, acc):
    """Add (sign 1) or remove (sign -1) one object, encoded 2*size + noscan."""
    sz = enc >> 1
    ns = enc & 1
    hdr = 0
    if sz > small_max:
        c = 0
        slot = (sz + page - 1) // page * page
    else:
        if header and ns == 0 and sz > 512:
            hdr = 8
        c = size_to_class(sz + hdr, class8, class128)
        slot = class_size[c]
    acc[c, ns] += sign
    acc[c, A_REQ] += sign * sz
    acc[c, A_HDR] += sign * hdr
    acc[c, A_SLOT] += sign * slot
    if sign > 0:
        acc[c, A_CNT] += 1
        acc[c, A_AREQ] += sz
        acc[c, A_AHDR] += hdr
        acc[c, A_ASLOT] += slot


@kernel
def _tiny_alloc(oid, sz, pi, tiny_of, refs, owner, free_ids, cur_block, cur_off, sc):
    """mallocgc's tiny path for one P: align the offset, fit in the current 16 B block or
    start a new one, which becomes current if it leaves more room than the old one."""
    sc[S_TINY_ALLOCS] += 1
    sc[S_TINY_ALLOC_REQ] += sz
    sc[S_TINY_LIVE_REQ] += sz
    off = tiny_offset(cur_off[pi], sz)
    b = cur_block[pi]
    if b >= 0 and off + sz <= TINY_BLOCK:
        if refs[b] == 0:
            sc[S_LIVE_BLOCKS] += 1  # a dead current block gets a sub-object again
        refs[b] += 1
        cur_off[pi] = off + sz
        tiny_of[oid] = b
        return
    if sc[S_FREE_TOP] > 0:
        sc[S_FREE_TOP] -= 1
        nb = free_ids[sc[S_FREE_TOP]]
    else:
        nb = sc[S_BLOCKS_HWM]
        sc[S_BLOCKS_HWM] += 1
    refs[nb] = 1
    owner[nb] = pi
    sc[S_LIVE_BLOCKS] += 1
    sc[S_TINY_BLOCKS_ALLOC] += 1
    tiny_of[oid] = nb
    if b < 0 or sz < cur_off[pi]:
        if b >= 0 and refs[b] == 0:  # the old block stops being current with nothing live
            free_ids[sc[S_FREE_TOP]] = b
            sc[S_FREE_TOP] += 1
        cur_block[pi] = nb
        cur_off[pi] = sz


# -- driver ---------------------------------------------------------------------------------


def _grow(a: np.ndarray, n: int, fill: int) -> np.ndarray:
    if n <= len(a):
        return a
    out = np.full(max(n, 2 * len(a)), fill, dtype=a.dtype)
    out[: len(a)] = a
    return out


class _State:
    """Everything the kernels mutate: the live set and tiny blocks, and per table its
    accumulators acc[class, N_ACC] and the peak snapshot peak[class, A_PEAK]."""

    def __init__(self, tables: list[SizeClassTable], profs: list[ClassProfile]):
        self.tables, self.profs = tables, profs
        self.acc = [np.zeros((t.num_classes, N_ACC), dtype=np.int64) for t in tables]
        self.peak = [np.zeros((t.num_classes, A_PEAK), dtype=np.int64) for t in tables]
        self.live = np.full(1 << 12, -1, dtype=np.int64)
        self.tiny_of = np.zeros(1 << 12, dtype=np.int64)
        self.refs = np.zeros(1 << 10, dtype=np.int64)
        self.owner = np.zeros(1 << 10, dtype=np.int64)
        self.free_ids = np.zeros(1 << 10, dtype=np.int64)
        self.cur_block = np.full((1 << 15) + 1, -1, dtype=np.int64)  # P ids are int16; +1 for -1
        self.cur_off = np.zeros((1 << 15) + 1, dtype=np.int64)
        self.sc = np.zeros(N_SCALARS, dtype=np.int64)
        self.al = np.zeros(0, dtype=np.int64)
        self.fr = np.zeros(0, dtype=np.int64)
        self.snap = np.zeros(0, dtype=np.uint8)

    def reserve(self, chunk) -> None:
        """Grow id, block and per-event arrays so the chunk cannot overflow them."""
        allocs = chunk.kind == fmt.ALLOC
        if allocs.any():
            top = int(chunk.id[allocs].max()) + 1
            self.live = _grow(self.live, top, -1)
            self.tiny_of = _grow(self.tiny_of, top, 0)
        need = int(self.sc[S_BLOCKS_HWM]) + chunk.n
        self.refs = _grow(self.refs, need, 0)
        self.owner = _grow(self.owner, need, 0)
        self.free_ids = _grow(self.free_ids, need, 0)
        if len(self.al) < chunk.n:
            self.al = np.zeros(chunk.n, dtype=np.int64)
            self.fr = np.zeros(chunk.n, dtype=np.int64)
            self.snap = np.zeros(chunk.n, dtype=np.uint8)

    def apply(self, chunk) -> None:
        self.reserve(chunk)
        n = chunk.n
        p = chunk.p if chunk.p.min(initial=0) >= -1 else np.maximum(chunk.p, -1)
        al, fr, snap = self.al[:n], self.fr[:n], self.snap[:n]
        live_set_chunk(
            chunk.start, chunk.kind, p, chunk.id, chunk.size, chunk.flags, self.live,
            self.tiny_of, self.refs, self.owner, self.free_ids, self.cur_block, self.cur_off,
            self.sc, al, fr, snap,
        )
        for t, prof, acc, peak in zip(self.tables, self.profs, self.acc, self.peak, strict=True):
            table_chunk(al, fr, snap, t.size_to_class8, t.size_to_class128, t.class_size,
                        prof.small_max, prof.malloc_header, t.page_size, acc, peak)

    def finish(self) -> None:
        """The trace ended at its peak: the final state is the peak state."""
        sc = self.sc
        if sc[S_AT_PEAK]:
            for acc, peak in zip(self.acc, self.peak, strict=True):
                peak[:, :] = acc[:, :A_PEAK]
            sc[S_PEAK_BLOCKS] = sc[S_LIVE_BLOCKS]
            sc[S_PEAK_TINY_REQ] = sc[S_TINY_LIVE_REQ]
            sc[S_PEAK_OBJS] = sc[S_LIVE_OBJS]
            sc[S_AT_PEAK] = 0


def run_bill(path, tables: list[SizeClassTable], go_version: str, advance=None) -> dict:
    """Stream the trace at `path` once and bill every table (the first is the baseline).
    `advance(n)` is called after each chunk of n events (progress bars)."""
    import goalloc.trace

    profs = [profile(t, go_version) for t in tables]
    st = _State(tables, profs)
    from goalloc.trace import validate

    reader = goalloc.trace.open(path)
    try:
        sizes = reader.header.sizes
        events = 0
        estimated = 0  # allocs whose requested size the importer estimated (one mask a chunk)
        for chunk in reader:
            validate.check_allocs(chunk, reader.path)  # the kernels index by id, price sizes
            st.apply(chunk)
            events += chunk.n
            estimated += int(np.count_nonzero((chunk.kind == fmt.ALLOC)
                                              & ((chunk.flags & fmt.FLAG_SIZE_ESTIMATED) != 0)))
            if advance is not None:
                advance(chunk.n)
    finally:
        reader.close()
    st.finish()
    sc = st.sc
    tiny = {
        "allocs": int(sc[S_TINY_ALLOCS]),
        "requested_bytes": int(sc[S_TINY_ALLOC_REQ]),
        "blocks_allocated": int(sc[S_TINY_BLOCKS_ALLOC]),
        "peak_blocks": int(sc[S_PEAK_BLOCKS]),
        "peak_requested_bytes": int(sc[S_PEAK_TINY_REQ]),
    }
    bills = [_table_bill(k, t, p, st, tiny) for k, (t, p) in enumerate(zip(tables, profs,
                                                                             strict=True))]
    base = bills[0]["total"]
    diffs = [
        {"table": b["name"], "baseline": bills[0]["name"],
         **{key: b["total"][key] - base[key] for key in _DIFF_KEYS}}
        for b in bills[1:]
    ]
    return {
        "schema": SCHEMA,
        "trace": str(path),
        "sizes": sizes,
        "go_version": profs[0].go_version,
        "events": events,
        "allocs": int(sc[S_ALLOCS]),
        "estimated_sizes": estimated,
        "frees": int(sc[S_FREES]),
        "unmatched_frees": int(sc[S_UNMATCHED]),
        "reused_live_ids": int(sc[S_REALLOCS]),
        "peak": {
            "event": int(sc[S_PEAK_EVENT]),
            "live_requested_bytes": int(sc[S_PEAK_REQ]),
            "live_objects": int(sc[S_PEAK_OBJS]),
        },
        "tiny": tiny,
        "tables": bills,
        "differences": diffs,
    }


_DIFF_KEYS = ("held_bytes", "internal_bytes", "rounding_bytes", "header_bytes", "tail_bytes",
              "partial_bytes", "spans", "alloc_rounding_bytes")


def _table_bill(k: int, t: SizeClassTable, p: ClassProfile, st: _State, tiny: dict) -> dict:
    """Per-class bill of table k at the peak live set, tiny blocks folded into the class
    serving 16 B (Go's class 2, span class 5)."""
    peak = st.peak[k].copy()
    acc = st.acc[k].copy()
    tc = int(t.size_to_class(TINY_BLOCK))
    ts = int(t.class_size[tc])
    peak[tc, A_NOSCAN] += tiny["peak_blocks"]
    peak[tc, A_REQ] += tiny["peak_requested_bytes"]
    peak[tc, A_SLOT] += tiny["peak_blocks"] * ts
    acc[tc, A_CNT] += tiny["blocks_allocated"]
    acc[tc, A_AREQ] += tiny["requested_bytes"]
    acc[tc, A_ASLOT] += tiny["blocks_allocated"] * ts

    size, span = t.class_size, t.class_span
    rows = []
    for c in range(t.num_classes):
        live = int(peak[c, A_SCAN] + peak[c, A_NOSCAN])
        if live == 0 and acc[c, A_CNT] == 0:
            continue
        row = {"class": c, "slot_bytes": int(size[c]), "live_slots": live,
               "requested_bytes": int(peak[c, A_REQ]), "header_bytes": int(peak[c, A_HDR]),
               "rounding_bytes": int(peak[c, A_SLOT] - peak[c, A_REQ] - peak[c, A_HDR]),
               "spans": 0, "span_bytes": 0, "tail_bytes": 0, "partial_bytes": 0}
        if c == 0:  # large objects: one span each, page rounding counted as rounding
            row["spans"] = live
            row["span_bytes"] = int(peak[c, A_SLOT])
        else:
            for col, objs in ((A_SCAN, int(p.objs_scan[c])), (A_NOSCAN, int(p.objs_noscan[c]))):
                n = int(peak[c, col])
                spans = -(-n // objs)
                row["spans"] += spans
                row["span_bytes"] += spans * int(span[c])
                row["tail_bytes"] += spans * (int(span[c]) - objs * int(size[c]))
                row["partial_bytes"] += (spans * objs - n) * int(size[c])
        row["alloc_slots"] = int(acc[c, A_CNT])
        row["alloc_requested_bytes"] = int(acc[c, A_AREQ])
        row["alloc_header_bytes"] = int(acc[c, A_AHDR])
        row["alloc_rounding_bytes"] = int(acc[c, A_ASLOT] - acc[c, A_AREQ] - acc[c, A_AHDR])
        rows.append(row)
    keys = ("live_slots", "requested_bytes", "header_bytes", "rounding_bytes", "spans",
            "span_bytes", "tail_bytes", "partial_bytes", "alloc_slots",
            "alloc_requested_bytes", "alloc_header_bytes", "alloc_rounding_bytes")
    total = {key: sum(r[key] for r in rows) for key in keys}
    total["held_bytes"] = total["span_bytes"]
    total["internal_bytes"] = total["held_bytes"] - total["requested_bytes"]
    return {"name": t.name, "go_version": p.go_version, "classes": rows, "total": total}
