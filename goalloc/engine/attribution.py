"""Attribution (#17): whose memory the replay holds, per site (the Go type an object was
allocated with, or a C call site: the trace's `site` column and `sites` table).

Follows no runtime structure of its own: the runtime keeps no per-type accounting (heap
profiles sample call stacks). It reads the engine's own records, so its figures add up to the
replay's totals exactly:

- at the end of the trace, from the engine's object, tiny-block and span records (ob, tb, sp;
  engine/state.py): live objects and bytes, live slot bytes (rounding = slot - requested),
  and per in-use span the site holding most of its live slots, which is charged the span's
  bytes (held), its free slots, and, when the span's live slots are all of that site, the
  span as kept (freeing those objects would free the span) and, when they fill at most
  STRANDED_FILL of its slots, as stranded (golang/go #21695: a span kept alive by a few
  long-lived objects of one type);
- during the replay, a mirror of the engine's live set by id, stepped per chunk after the
  engine with the same events and look-ahead deaths (engine/snapshot.py), gives the bytes
  allocated per site and the live objects and bytes per site at the event of peak held
  memory (the engine's S_PK_EVENT). The mirror's end state is checked against the engine's
  records; a mismatch withdraws the peak figures (Attribution.peak_consistent);
- span figures at the peak (replay(..., peak_spans=True)): a second replay of the same trace
  and config stops after the peak event, and the end-of-trace reading above, taken there,
  gives each site's held, free-slot, kept and stranded spans and slot bytes at the peak
  (add_peak_spans; withheld unless that replay's held memory is the peak's and its live
  bytes per site are the mirror's). It costs a replay up to the peak, so it is asked for
  separately.

Only when asked (replay(..., attribute=True)): the replay kernel is not touched, so a replay
without it does no attribution work at all.
"""

from __future__ import annotations

import numpy as np

from goalloc.engine import state as S
from goalloc.jit import kernel
from goalloc.trace import format as fmt

STRANDED_FILL = 0.25  # a span whose live slots fill at most this share of it is sparse

# per-site counter columns (arrays [sites + 2, N_A]); row 0: no site recorded, rows 1..n: the
# table, row n + 1: NOBODY (slots and spans holding no live object: empty current tiny
# blocks, spans of dead unswept objects)
A_LIVE_OBJS = 0
A_LIVE_BYTES = 1  # requested bytes of live objects
A_SLOT_BYTES = 2  # slot bytes of the live slots charged to the site (tiny block: its first
# live sub-object's site)
A_HELD = 3  # bytes of in-use spans whose live slots are mostly the site's
A_SPANS = 4  # ... those spans
A_FREE_SLOT_BYTES = 5  # free (or dead, unswept) slot bytes in those spans
A_KEPT_SPANS = 6  # spans whose live slots are all the site's
A_KEPT_BYTES = 7
A_STRANDED_SPANS = 8  # kept spans at most STRANDED_FILL full
A_STRANDED_BYTES = 9
A_STRANDED_OBJS = 10  # live slots in stranded spans
A_ALLOC_OBJS = 11  # objects allocated (mirror)
A_ALLOC_BYTES = 12  # requested bytes allocated (mirror)
A_PEAK_OBJS = 13  # live at the peak of held memory (mirror)
A_PEAK_BYTES = 14
N_A = 15

# report keys at the peak (replay(..., peak_spans=True)) and the column each reads there
PEAK_SPAN_KEYS = (
    ("peak_held_bytes", A_HELD),
    ("peak_spans", A_SPANS),
    ("peak_free_slot_bytes", A_FREE_SLOT_BYTES),
    ("peak_kept_bytes", A_KEPT_BYTES),
    ("peak_stranded_spans", A_STRANDED_SPANS),
    ("peak_stranded_bytes", A_STRANDED_BYTES),
    ("peak_slot_bytes", A_SLOT_BYTES),
)


def held_now(eng) -> int:
    """Held memory (in-use and free pages) of the engine's current state, as the kernel's
    peak reading counts it."""
    sc = eng.arrays.sc
    return int((sc[S.S_PAGES_INUSE] + sc[S.S_PAGES_FREE]) * S.PAGE_SIZE)


# mirror scalars
M_PEAK_EVENT = 0  # event whose state the peak columns hold, -1 none
N_M = 2


@kernel
def _mirror_chunk(kind, ids, size, site, start, death_at, death_id, peak_event, m_site, m_size,
                  acc, nobody):
    """Step the mirror over one chunk: deaths (look-ahead, engine/snapshot.py) before the event
    they name, allocs (an alloc of a live id frees the old object first, as the replay kernel
    does with sweep-observed frees), frees; at `peak_event` copy the live columns to the
    peak's. An event of kind 0 is an alloc the snapshot plan placed before the replay (or left
    out): a placed object, live under site 0 since the mirror started, takes its site here."""
    nd = death_at.shape[0]
    d = 0
    n_ob = m_site.shape[0]
    for i in range(kind.shape[0]):
        ev = start + i
        while d < nd and death_at[d] <= ev:
            o = death_id[d]
            if o < n_ob and m_site[o] >= 0:
                _kill(o, m_site, m_size, acc)
            d += 1
        k = kind[i]
        o = ids[i]
        if k == fmt.ALLOC:
            if o < 0 or o >= n_ob:
                continue
            if m_site[o] >= 0:
                _kill(o, m_site, m_size, acc)
            st = _site_row(site[i], nobody)
            m_site[o] = st
            m_size[o] = size[i]
            acc[st, A_LIVE_OBJS] += 1
            acc[st, A_LIVE_BYTES] += size[i]
            acc[st, A_ALLOC_OBJS] += 1
            acc[st, A_ALLOC_BYTES] += size[i]
        elif k == fmt.FREE:
            if 0 <= o < n_ob and m_site[o] >= 0:
                _kill(o, m_site, m_size, acc)
        elif k == 0 and 0 <= o < n_ob and m_site[o] == 0 and site[i] != 0:
            st = _site_row(site[i], nobody)
            for c in (A_LIVE_OBJS, A_ALLOC_OBJS):
                acc[0, c] -= 1
                acc[st, c] += 1
            for c in (A_LIVE_BYTES, A_ALLOC_BYTES):
                acc[0, c] -= m_size[o]
                acc[st, c] += m_size[o]
            m_site[o] = st
        if ev == peak_event:
            for r in range(acc.shape[0]):
                acc[r, A_PEAK_OBJS] = acc[r, A_LIVE_OBJS]
                acc[r, A_PEAK_BYTES] = acc[r, A_LIVE_BYTES]


@kernel
def _site_row(s, nobody):
    """The counter row of a site column value: sites outside the table count as none."""
    return s if 0 < s < nobody else 0


@kernel
def _kill(o, m_site, m_size, acc):
    st = m_site[o]
    acc[st, A_LIVE_OBJS] -= 1
    acc[st, A_LIVE_BYTES] -= m_size[o]
    m_site[o] = -1


@kernel
def _mirror_start(ob, m_site, m_size, acc):
    """Objects the engine holds before the first event (placed snapshot): live, site 0."""
    for o in range(ob.shape[0]):
        if ob[o, S.OB_SPAN] != -1:
            m_site[o] = 0
            m_size[o] = ob[o, S.OB_SIZE]
            acc[0, A_LIVE_OBJS] += 1
            acc[0, A_LIVE_BYTES] += ob[o, S.OB_SIZE]
            acc[0, A_ALLOC_OBJS] += 1
            acc[0, A_ALLOC_BYTES] += ob[o, S.OB_SIZE]


@kernel
def _end_objects(ob, sp, m_site, acc, block_site, slot_sid, slot_site):
    """Live objects at the end from the engine's records: per-site live objects, bytes and
    slot bytes; every live slot as (span, site) in slot_sid/slot_site (returns their count).
    A tiny block's slot goes to its first live sub-object's site (block_site)."""
    nl = 0
    for o in range(ob.shape[0]):
        sid = ob[o, S.OB_SPAN]
        if sid == -1:
            continue
        st = m_site[o] if m_site[o] >= 0 else 0
        acc[st, A_LIVE_OBJS] += 1
        acc[st, A_LIVE_BYTES] += ob[o, S.OB_SIZE]
        if sid < 0:  # zero-size object (zerobase): no slot
            continue
        b = ob[o, S.OB_TB]
        if b >= 0:
            if block_site[b] >= 0:
                continue
            block_site[b] = st
        acc[st, A_SLOT_BYTES] += sp[sid, S.SP_ELEMSIZE]
        slot_sid[nl] = sid
        slot_site[nl] = st
        nl += 1
    return nl


@kernel
def _end_spans(sp, n_sp, slot_sid, slot_site, acc, nobody, fill):
    """Per in-use span (slots sorted by span, then site): the site with most live slots
    (ties: the lower row) is charged the span. Live slots the objects do not account for
    (tiny blocks whose sub-objects all died, still a P's current block) go to `nobody`."""
    nl = slot_sid.shape[0]
    j = 0
    for sid in range(n_sp):
        if sp[sid, S.SP_INUSE] != 1:
            continue
        while j < nl and slot_sid[j] < sid:
            j += 1
        j0 = j
        best, best_n, sites = nobody, 0, 0
        while j < nl and slot_sid[j] == sid:
            r = j
            while j < nl and slot_sid[j] == sid and slot_site[j] == slot_site[r]:
                j += 1
            sites += 1
            if j - r > best_n:
                best, best_n = slot_site[r], j - r
        counted = j - j0
        es = sp[sid, S.SP_ELEMSIZE]
        live = sp[sid, S.SP_LIVE]
        nel = sp[sid, S.SP_NELEMS]
        if live > counted:
            acc[nobody, A_SLOT_BYTES] += (live - counted) * es
            sites += 1
            if live - counted > best_n:
                best = nobody
        held = sp[sid, S.SP_NPAGES] * S.PAGE_SIZE
        acc[best, A_HELD] += held
        acc[best, A_SPANS] += 1
        acc[best, A_FREE_SLOT_BYTES] += (nel - live) * es
        if sites == 1 and best != nobody:
            acc[best, A_KEPT_SPANS] += 1
            acc[best, A_KEPT_BYTES] += held
            if nel > 1 and live <= fill * nel:
                acc[best, A_STRANDED_SPANS] += 1
                acc[best, A_STRANDED_BYTES] += held
                acc[best, A_STRANDED_OBJS] += live


class Attribution:
    """Per-site counters of one replay (Engine.attribution when replay(attribute=True))."""

    def __init__(self, header):
        self.sites = header.sites
        self.n = len(self.sites.names) if self.sites is not None else 0
        self.nobody = self.n + 1
        self.acc = np.zeros((self.n + 2, N_A), np.int64)
        self.m_site = np.full(1024, -1, np.int32)
        self.m_size = np.zeros(1024, np.int64)
        self.peak_id = 0
        self.peak_event = -1
        self.peak_consistent = None  # set by finish(): the mirror agreed with the engine

    def start(self, eng) -> None:
        """Before the first event (after the snapshot plan placed the objects it places)."""
        ob = eng.arrays.ob
        self._grow(ob.shape[0])
        _mirror_start(ob, self.m_site, self.m_size, self.acc)

    def step(self, eng, chunk, deaths, peak_id_before: int) -> None:
        """After the engine ran `chunk` (with look-ahead `deaths`)."""
        a = eng.arrays
        self._grow(a.ob.shape[0])
        peak = -1
        if a.sc[S.S_PEAK_ID] != peak_id_before:
            peak = self.peak_event = int(a.sc[S.S_PK_EVENT])
        death_at, death_id = deaths
        _mirror_chunk(chunk.kind, chunk.id, chunk.size, chunk.site, chunk.start, death_at,
                      death_id, peak, self.m_site, self.m_size, self.acc, self.nobody)

    def _grow(self, n: int) -> None:
        if n > self.m_site.shape[0]:
            self.m_site = np.concatenate([self.m_site, np.full(n - self.m_site.shape[0], -1,
                                                               np.int32)])
            self.m_size = np.concatenate([self.m_size, np.zeros(n - self.m_size.shape[0],
                                                                np.int64)])

    def finish(self, eng) -> np.ndarray:
        """The per-site table at the end: end columns from the engine's records, alloc and
        peak columns from the mirror. Returns acc (rows: 0 none, 1..n sites, n+1 nobody)."""
        a = eng.arrays
        self._grow(a.ob.shape[0])
        mirror = self.acc[:, [A_LIVE_OBJS, A_LIVE_BYTES]].copy()
        acc = np.zeros_like(self.acc)
        for c in (A_ALLOC_OBJS, A_ALLOC_BYTES, A_PEAK_OBJS, A_PEAK_BYTES):
            acc[:, c] = self.acc[:, c]
        n_ob = a.ob.shape[0]
        cap = int((a.ob[:, S.OB_SPAN] >= 0).sum())
        slot_sid = np.empty(cap, np.int64)
        slot_site = np.empty(cap, np.int64)
        block_site = np.full(a.tb.shape[0], -1, np.int64)
        nl = _end_objects(a.ob, a.sp, self.m_site[:n_ob], acc, block_site, slot_sid,
                          slot_site)
        order = np.lexsort((slot_site[:nl], slot_sid[:nl]))
        _end_spans(a.sp, int(a.sc[S.S_SPAN_HW]), np.ascontiguousarray(slot_sid[:nl][order]),
                   np.ascontiguousarray(slot_site[:nl][order]), acc, self.nobody,
                   STRANDED_FILL)
        self.peak_consistent = bool(np.array_equal(mirror, acc[:, [A_LIVE_OBJS,
                                                                   A_LIVE_BYTES]]))
        self.table = acc
        return acc

    def report(self, eng, r) -> dict:
        """Plain data for Report.attribution: one row per site with anything to show (held
        first), the rows' sums, and the replay's own totals they add up to."""
        acc = self.finish(eng)
        rows = [self._row(k, acc[k]) for k in range(acc.shape[0]) if acc[k].any()]
        rows.sort(key=lambda x: (-x["held_bytes"], -x["live_bytes"], x["name"]))
        # the row's figures, from an empty row when no site has any (sums are then 0)
        keys = [k for k in self._row(0, np.zeros(N_A, np.int64))
                if k not in ("site", "name", "type_size", "ptr_bytes")]
        sums = {k: sum(x[k] for x in rows) if all(x[k] is not None for x in rows) else None
                for k in keys}
        inuse = r.end.objects + r.end.unused
        return {
            "kind": self.sites.kind if self.sites is not None else None,
            "sites_in_table": self.n,
            "at": "end of the trace (live, slots, spans); peak of held memory (peak_*)",
            "peak_event": self.peak_event,
            "peak_consistent": self.peak_consistent,
            "stranded_fill": STRANDED_FILL,
            "rows": rows,
            "sums": sums,
            "totals": {"live_bytes": r.live_requested, "live_slot_bytes": r.live_requested
                       + (r.end_frag.rounding or 0), "held_bytes": inuse,
                       "rounding_bytes": r.end_frag.rounding},
        }

    def _label(self, k: int) -> str:
        if k == 0:
            return "(no site recorded)"
        return self.sites.names[k - 1] if k <= self.n else "(no live object)"

    def _row(self, k: int, c: np.ndarray) -> dict:
        """Row k of the table as report data."""
        named = 0 < k <= self.n
        return {
            "site": k if named else None,
            "name": self._label(k),
            "type_size": self.sites.size[k - 1] if named else None,
            "ptr_bytes": self.sites.ptr_bytes[k - 1] if named else None,
            "live_objects": int(c[A_LIVE_OBJS]),
            "live_bytes": int(c[A_LIVE_BYTES]),
            "slot_bytes": int(c[A_SLOT_BYTES]),
            "rounding_bytes": int(c[A_SLOT_BYTES] - c[A_LIVE_BYTES]),
            "held_bytes": int(c[A_HELD]),
            "spans": int(c[A_SPANS]),
            "free_slot_bytes": int(c[A_FREE_SLOT_BYTES]),
            "kept_spans": int(c[A_KEPT_SPANS]),
            "kept_bytes": int(c[A_KEPT_BYTES]),
            "stranded_spans": int(c[A_STRANDED_SPANS]),
            "stranded_bytes": int(c[A_STRANDED_BYTES]),
            "stranded_objects": int(c[A_STRANDED_OBJS]),
            "alloc_objects": int(c[A_ALLOC_OBJS]),
            "alloc_bytes": int(c[A_ALLOC_BYTES]),
            "peak_live_objects": int(c[A_PEAK_OBJS]) if self.peak_consistent else None,
            "peak_live_bytes": int(c[A_PEAK_BYTES]) if self.peak_consistent else None,
        }

    def add_peak_spans(self, attr: dict, eng, peak_held: int, peak_inuse: int) -> None:
        """Called on the Attribution of a replay stopped right after the peak event (`eng`):
        fill the PEAK_SPAN_KEYS of the full replay's report data `attr` from this state. A
        site with nothing at the end but spans at the peak gets a row (its end figures 0).
        Withheld (None, `peak_spans_consistent` false) unless this replay holds the peak's
        memory and its live bytes per site equal the full replay's mirror at the peak."""
        at_peak = self.finish(eng)
        row_of = {r["site"] if r["site"] is not None else
                  (0 if r["name"] == self._label(0) else self.nobody): r for r in attr["rows"]}
        for k in range(at_peak.shape[0]):
            if k not in row_of and at_peak[k].any():
                row_of[k] = self._row(k, np.zeros(N_A, np.int64))
                row_of[k]["peak_live_objects"] = row_of[k]["peak_live_bytes"] = 0
                attr["rows"].append(row_of[k])
        ok = held_now(eng) == peak_held and all(
            (row_of[k]["peak_live_bytes"] if k in row_of else 0) == at_peak[k, A_LIVE_BYTES]
            for k in range(at_peak.shape[0]))
        attr["peak_spans_consistent"] = ok
        for k, r in row_of.items():
            for key, col in PEAK_SPAN_KEYS:
                r[key] = int(at_peak[k, col]) if ok else None
        for key, _ in PEAK_SPAN_KEYS:
            attr["sums"][key] = sum(r[key] for r in attr["rows"]) if ok else None
        attr["totals"]["peak_held_bytes"] = peak_inuse
