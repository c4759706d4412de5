"""The engine's arrays: Python owns the dense numpy arrays that hold every runtime structure
the model keeps (engine/state.py lays out their rows and slots), and bundles them in one numba
structref, the `s` every kernel takes. The kernels never allocate: when one runs out of room it
returns a NEED_* status, `EngineArrays.grow` enlarges that table (doubling it, within
goalloc.limits) and the structref is rebuilt before the driver resumes at the same event.
"""

from __future__ import annotations

import numpy as np

from goalloc import limits
from goalloc.engine import state as S
from goalloc.errors import GoallocError

# goalloc.jit must come before numba: it points NUMBA_CACHE_DIR at the source-hash directory,
# which numba reads once, at import (otherwise caches land in __pycache__, keyed per file, and
# a caller's cache keeps a stale copy of an edited callee in another module).
from goalloc.jit import JIT_DISABLED, kernel

# isort: split
from numba import types
from numba.experimental import structref

# C-contiguous (every array is built by np.zeros/np.full/np.empty here): numba then indexes a row by
# its length, not by strides loaded from the array struct at each access
_I64 = types.int64[::1]
_I64_2 = types.int64[:, ::1]
_U64 = types.uint64[::1]
_U64_2 = types.uint64[:, ::1]

FIELDS = (
    ("prm", _I64),
    ("class_size", _I64),
    ("class_pages", _I64),
    ("objs_scan", _I64),
    ("objs_noscan", _I64),
    ("class8", _I64),
    ("class128", _I64),
    ("sc", _I64),
    ("sp", _I64_2),
    ("abits", _U64_2),
    ("mbits", _U64_2),
    ("lbits", _U64_2),
    ("acache", _U64),
    ("ob", _I64_2),
    ("tb", _I64_2),
    ("pp", _I64_2),
    ("pcache", _U64),
    ("mc", _I64_2),
    ("lh", _I64_2),
    ("palloc", _U64_2),
    ("pscav", _U64_2),
    ("psum", _I64_2),
    ("pg_span", _I64),
    ("cs", _I64_2),
    ("cyc", _I64_2),
    ("fs", types.float64[::1]),
    ("tl", _I64_2),
    ("ck", _I64_2),
    ("pk_cs", _I64_2),
    ("cs_snap", _I64),
    ("lk", _I64_2),  # heap-lock acquisition log rows (ts, P, op): engine/locks.py
    ("stk", _I64),  # goroutine stack bytes by dense stack id (engine/mstats.py)
    ("msp", _I64_2),  # manual spans by the trace's span id: base page (-1 none), pages
    # the recorded background scavenger's runs (start ns, running ns, running ns until the
    # runtime was done or -1; 3 x runs, none: 3 x 0): recorded GC mode works in them
    # (engine/scavenge.py recorded_runs)
    ("scr", _I64_2),
    # the recording's marks by GC seq (seq, assist ppm, idle ppm of GOMAXPROCS while marking;
    # n x 3, none: 0 x 3): each model mark's cons/mark takes the one in effect (engine/mark.py)
    ("rmk", _I64_2),
)
FIELD_NAMES = tuple(name for name, _ in FIELDS)


@structref.register
class EngineStateType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class EngineState(structref.StructRefProxy):
    """Opaque handle on the engine state inside numba (read arrays from EngineArrays)."""


structref.define_boxing(EngineStateType, EngineState)
state_type = EngineStateType(list(FIELDS))


@kernel
def _make_state(prm, class_size, class_pages, objs_scan, objs_noscan, class8, class128, sc, sp,
                abits, mbits, lbits, acache, ob, tb, pp, pcache, mc, lh, palloc, pscav, psum,
                pg_span, cs, cyc, fs, tl, ck, pk_cs, cs_snap, lk, stk, msp, scr, rmk):
    s = structref.new(state_type)
    s.prm = prm
    s.class_size = class_size
    s.class_pages = class_pages
    s.objs_scan = objs_scan
    s.objs_noscan = objs_noscan
    s.class8 = class8
    s.class128 = class128
    s.sc = sc
    s.sp = sp
    s.abits = abits
    s.mbits = mbits
    s.lbits = lbits
    s.acache = acache
    s.ob = ob
    s.tb = tb
    s.pp = pp
    s.pcache = pcache
    s.mc = mc
    s.lh = lh
    s.palloc = palloc
    s.pscav = pscav
    s.psum = psum
    s.pg_span = pg_span
    s.cs = cs
    s.cyc = cyc
    s.fs = fs
    s.tl = tl
    s.ck = ck
    s.pk_cs = pk_cs
    s.cs_snap = cs_snap
    s.lk = lk
    s.stk = stk
    s.msp = msp
    s.scr = scr
    s.rmk = rmk
    return s


if JIT_DISABLED:  # NUMBA_DISABLE_JIT=1 (the benchmark's pure-Python baseline): a plain object

    def _make_state(*arrays):  # noqa: F811
        from types import SimpleNamespace

        return SimpleNamespace(**dict(zip(FIELD_NAMES, arrays, strict=True)))


# NEED_* of the tables indexed by a trace's dense ids -> (array, fill of new rows)
_INDEXED = {S.NEED_STACKS: ("stk", 0), S.NEED_MSPANS: ("msp", -1), S.NEED_OBJS: ("ob", -1)}


@kernel
def _copy_then_fill(dst, src, fill):
    """dst[:len(src)] = src, the rest = fill, without the GIL: a grown table's first touch of
    its new pages (megabytes, page faults) then runs beside the other threads of a grid."""
    n = src.shape[0]
    for i in range(n):
        dst[i] = src[i]
    for i in range(n, dst.shape[0]):
        dst[i] = fill


NO_ID = np.iinfo(np.int64).min  # largest_ids: no event of that kind


@kernel
def largest_ids(kind, ids, k0, k1, k2):
    """The largest id of the events of kind k0, of k1 and of k2 (NO_ID where there is none):
    the rows the tables indexed by a trace's dense ids need for a chunk, in one pass. Three
    running maxima over selects, no branch and no store in the loop: LLVM vectorises it (7x
    the speed of a loop that stored into out[kind's slot], 5% of the replay kernel's time)."""
    m0 = m1 = m2 = NO_ID
    for i in range(kind.shape[0]):
        k = kind[i]
        v = ids[i]
        m0 = max(m0, v if k == k0 else NO_ID)
        m1 = max(m1, v if k == k1 else NO_ID)
        m2 = max(m2, v if k == k2 else NO_ID)
    out = np.empty(3, np.int64)
    out[0] = m0
    out[1] = m1
    out[2] = m2
    return out


def _grow_rows(a: np.ndarray, rows: int, fill=0) -> np.ndarray:
    """a with `rows` rows: its rows, then rows of `fill`."""
    if JIT_DISABLED:
        b = np.full((rows,) + a.shape[1:], fill, a.dtype)
        b[: a.shape[0]] = a
        return b
    b = np.empty((rows,) + a.shape[1:], a.dtype)
    # every table is C-contiguous with 8-byte cells: one compiled copy, over their int64 bits
    bits = np.array(fill, a.dtype).view(np.int64)[()]
    _copy_then_fill(b.reshape(-1).view(np.int64), a.reshape(-1).view(np.int64), bits)
    return b


class ModelLimitError(GoallocError):
    """The trace needs more than the model can hold within bounded memory (goalloc.limits);
    the replay names the trace."""


class EngineArrays:
    """The engine's arrays, owned by Python, and the structref that bundles them."""

    def __init__(self, prm, table, objs_scan, objs_noscan, nprocs, *, spans=1024, objs=1 << 16,
                 chunks=16, tbs=1024, cycles=64, samples=512):
        nspc = 2 * int(table.num_classes)
        a = {}
        a["prm"] = np.asarray(prm, np.int64)
        a["class_size"] = np.ascontiguousarray(table.class_size, np.int64)
        a["class_pages"] = np.ascontiguousarray(table.class_pages, np.int64)
        a["objs_scan"] = np.ascontiguousarray(objs_scan, np.int64)
        a["objs_noscan"] = np.ascontiguousarray(objs_noscan, np.int64)
        a["class8"] = np.ascontiguousarray(table.size_to_class8, np.int64)
        a["class128"] = np.ascontiguousarray(table.size_to_class128, np.int64)
        sc = np.zeros(S.N_SC, np.int64)
        sc[S.S_SPAN_FREE] = -1
        sc[S.S_TB_FREE] = -1
        sc[S.S_TRIGGERED] = -1
        sc[S.S_SCAV_GOAL_GC] = S.INF
        sc[S.S_SCAV_GOAL_LIM] = S.INF
        sc[S.S_SCAV_BG_CUR] = -1
        sc[S.S_SCAV_FORCE_CUR] = -1
        sc[S.S_SCAV_HWM] = -1
        sc[S.S_METRIC_GROUP] = -1
        sc[S.S_NONHEAP_READY] = -1
        sc[S.S_ALLOC_SCAN] = -1
        sc[S.S_RECLAIM_INDEX] = S.INF
        a["sc"] = sc
        a["sp"] = np.zeros((spans, S.N_SP), np.int64)
        a["abits"] = np.zeros((spans, S.SPAN_WORDS), np.uint64)
        a["mbits"] = np.zeros((spans, S.SPAN_WORDS), np.uint64)
        a["lbits"] = np.zeros((spans, S.SPAN_WORDS), np.uint64)
        a["acache"] = np.zeros(spans, np.uint64)
        a["ob"] = np.full((objs, S.N_OB), -1, np.int64)
        a["tb"] = np.zeros((tbs, S.N_TB), np.int64)
        pp = np.zeros((nprocs, S.N_PP), np.int64)
        pp[:, S.PP_TINY] = -1
        pp[:, S.PP_PC_BASE] = -1
        pp[:, S.PP_LAST_FREE_SPAN] = -1
        a["pp"] = pp
        a["pcache"] = np.zeros(nprocs, np.uint64)
        a["mc"] = np.full((nprocs, nspc), -1, np.int64)
        lh = np.zeros((nspc * 4, S.N_LH), np.int64)
        lh[:, S.LH_HEAD] = -1
        lh[:, S.LH_TAIL] = -1
        a["lh"] = lh
        a["palloc"] = np.full((chunks, S.CHUNK_WORDS), ~np.uint64(0), np.uint64)
        a["pscav"] = np.zeros((chunks, S.CHUNK_WORDS), np.uint64)
        a["psum"] = np.zeros((chunks, 3), np.int64)
        a["pg_span"] = np.full(chunks * S.CHUNK_PAGES, -1, np.int64)
        a["cs"] = np.zeros((nspc, S.N_CS), np.int64)
        a["cyc"] = np.zeros((cycles, S.N_CY), np.int64)
        a["fs"] = np.zeros(S.N_FS, np.float64)
        a["fs"][S.F_LIM_CAP] = nprocs * 1e9  # the limiter's bucket (limiter.reset_capacity)
        a["tl"] = np.zeros((samples, S.N_TL), np.int64)
        a["ck"] = np.zeros((chunks, S.N_CK), np.int64)
        a["pk_cs"] = np.zeros((nspc, S.N_CS), np.int64)
        a["cs_snap"] = np.zeros(nspc, np.int64)
        a["lk"] = np.zeros((4096, 3), np.int64)
        a["stk"] = np.zeros(64, np.int64)
        a["msp"] = np.full((64, 2), -1, np.int64)
        a["scr"] = np.zeros((3, 0), np.int64)
        a["rmk"] = np.zeros((0, 3), np.int64)
        self.a = a
        self.state = self._bundle()

    def set_recorded_marks(self, rows: np.ndarray) -> None:
        """The recording's marks (n x 3: GC seq, assist ppm, idle ppm; by seq)."""
        self.a["rmk"] = np.ascontiguousarray(rows, np.int64)
        self.state = self._bundle()

    def set_scavenger_runs(self, runs: np.ndarray) -> None:
        """The recorded background scavenger's runs (3 x n by start: scavenge.recorded_runs)."""
        self.a["scr"] = np.ascontiguousarray(runs, np.int64)
        self.state = self._bundle()

    def _bundle(self):
        return _make_state(*(self.a[name] for name in FIELD_NAMES))

    def __getattr__(self, name):
        try:
            return self.__dict__["a"][name]
        except KeyError:
            raise AttributeError(name) from None

    # ---- growth (the kernel returned a NEED_* status) ---------------------------------------
    def grow(self, need: int, at_least: int = 0, *, exact: bool = False) -> None:
        """Room for what the kernel's NEED_* status asked for (at_least rows, where given).
        `exact`: a table indexed by dense ids grown to exactly at_least rows, not doubled to
        fit them (the caller knows every id the replay allocates)."""
        a = self.a
        if need == S.NEED_SPANS:
            rows = max(2 * a["sp"].shape[0], at_least)
            for name in ("sp", "abits", "mbits", "lbits", "acache"):
                a[name] = _grow_rows(a[name], rows)
        elif need == S.NEED_CHUNKS:
            rows = max(2 * a["palloc"].shape[0], at_least)
            limit = limits.MAX_HEAP_BYTES // (S.CHUNK_PAGES * S.PAGE_SIZE)
            if a["palloc"].shape[0] >= limit or at_least > limit:
                raise ModelLimitError(f"the modelled heap would exceed the model's limit of "
                                      f"{limits.MAX_HEAP_BYTES >> 30} GiB")
            rows = min(rows, limit)
            a["palloc"] = _grow_rows(a["palloc"], rows, ~np.uint64(0))
            a["pscav"] = _grow_rows(a["pscav"], rows)
            a["psum"] = _grow_rows(a["psum"], rows)
            a["pg_span"] = _grow_rows(a["pg_span"], rows * S.CHUNK_PAGES, -1)
            a["ck"] = _grow_rows(a["ck"], rows)
        elif need == S.NEED_TB:
            a["tb"] = _grow_rows(a["tb"], max(2 * a["tb"].shape[0], at_least))
        elif need == S.NEED_CYC:
            a["cyc"] = _grow_rows(a["cyc"], max(2 * a["cyc"].shape[0], at_least))
        elif need == S.NEED_LK:
            a["lk"] = np.zeros((max(2 * a["lk"].shape[0], at_least), 3), np.int64)
        elif need == S.NEED_TL:
            a["tl"] = _grow_rows(a["tl"], max(2 * a["tl"].shape[0], at_least))
        elif need in _INDEXED:  # tables indexed by a trace's dense id: doubled to fit it
            name, fill = _INDEXED[need]
            rows = a[name].shape[0]
            while rows < at_least and not exact:
                rows *= 2
            rows = max(rows, at_least)
            if rows == a[name].shape[0]:
                return
            a[name] = _grow_rows(a[name], rows, fill)
        else:
            raise ValueError(f"unknown capacity status {need}")
        self.state = self._bundle()
