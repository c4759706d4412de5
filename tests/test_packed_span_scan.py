"""Green Tea's packed span scan and heapScan's pointer prefixes (#15): engine/mbitmap.py,
engine/mark.py heap_scan_work, trace/importers/gocpu.py.

Expected numbers come from the runtime's rules, worked by hand: writeHeapBitsSmall's scanSize
((n - 1) x typ.Size_ + typ.PtrBytes), heapSetTypeSmallHeader's span.elemsize, scanSpan's
objsMarked x elemsize when at least nelems/8 of a span's objects are marked, and the Green
Tea span's nelems ((8192 - 128 inline mark bytes - 8192/64 heap bits) / elemsize).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from goalloc.engine import mbitmap
from goalloc.engine import state as S
from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt
from goalloc.trace.header import Sites
from goalloc.trace.importers.gocpu import PACKED_SCAN_FLAGS, packed_span_scan_from

# site 1: the what-if builder's record (264 B, pointers in its first 72); site 2: a 16-byte
# struct with one pointer first; site 3: a 1 KiB type with one pointer (header object)
SITES = Sites("go-type", names=["main.rec", "main.pair", "main.big"], size=[264, 16, 1024],
              ptr_bytes=[72, 8, 8])


def _trace(tmp_path, events, sites=SITES):
    events = [dict(e, ts=i) for i, e in enumerate(events)]
    cols = {k: np.array([e.get(k, 0) for e in events], np.int64)
            for k in ("kind", "ts", "p", "id", "size", "flags", "aux", "site")}
    path = tmp_path / "t.msgpack"
    with Writer(path, Header(gomaxprocs=1, sites=sites, source={"go_version": "1.27"}),
                force=True) as w:
        w.write(**cols)
    return path


def _allocs(n, size, site, first_id=0):
    return [dict(kind=fmt.ALLOC, id=first_id + i, size=size, site=site) for i in range(n)]


def _engine(tmp_path, events, **cfg):
    out = []
    replay(_trace(tmp_path, events), Config(gc_mode="recorded", **cfg), engine_out=out)
    return out[0]


def test_cpu_features_decide_the_packed_scan():
    flags = "flags\t\t: fpu sse2 " + " ".join(sorted(PACKED_SCAN_FLAGS)) + " avx2\n"
    assert packed_span_scan_from("x86_64", "processor : 0\n" + flags)
    assert not packed_span_scan_from("x86_64", flags.replace(" gfni", ""))
    assert not packed_span_scan_from("x86_64", flags.replace("avx512_bitalg", ""))
    assert not packed_span_scan_from("aarch64", flags)  # scan_generic: never packed
    assert not packed_span_scan_from("x86_64", "processor : 0\n")


def test_scan_sizes_follow_writeheapbitssmall():
    types = mbitmap.site_types(SITES)
    kind = np.array([fmt.ALLOC] * 6 + [fmt.FREE], np.int64)
    size = np.array([264, 48, 16, 1024, 264, 300, 264], np.int64)
    site = np.array([1, 2, 2, 3, 0, 1, 1], np.int64)
    got = mbitmap.scan_sizes(kind, size, site, types)
    # 264: one record, 72; 48: three pairs, 2 x 16 + 8; 16: one pair, 8; 1 KiB: has a malloc
    # header, its slot (-1); no type (-1); 300 is not a multiple of 264: one element, 72;
    # a free is no allocation (-1)
    assert got.tolist() == [72, 40, 8, -1, -1, 72, -1]
    assert mbitmap.scan_sizes(kind, size, site, None).tolist() == [-1] * 7


def test_heapscan_grows_by_pointer_prefix_under_the_packed_scan(tmp_path):
    events = _allocs(10, 264, 1) + _allocs(4, 48, 2, 10) + _allocs(2, 1024, 3, 20)
    on = _engine(tmp_path, events, packed_span_scan=True)
    off = _engine(tmp_path, events, packed_span_scan=False)
    # on: 10 x 72 + 4 x 40, and the 1 KiB objects their slot: 1024 + an 8-byte malloc header
    # takes the 1152-byte class (heapSetTypeSmallHeader returns span.elemsize)
    assert int(on.arrays.sc[S.S_HEAP_SCAN]) == 720 + 160 + 2 * 1152
    # off: every pointerful object adds its slot: the 288-, 48- and 1152-byte classes
    assert int(off.arrays.sc[S.S_HEAP_SCAN]) == 10 * 288 + 4 * 48 + 2 * 1152
    assert on.packed_span_scan and not off.packed_span_scan


def test_without_green_tea_there_is_no_packed_scan(tmp_path):
    eng = _engine(tmp_path, _allocs(3, 264, 1), packed_span_scan=True, go_version="1.23")
    assert not eng.packed_span_scan
    assert int(eng.arrays.sc[S.S_HEAP_SCAN]) == 3 * 288


def _work_at_mark_start(tmp_path, n, **cfg):
    eng = _engine(tmp_path, _allocs(n, 264, 1) + [dict(kind=fmt.GC_START, id=1)], **cfg)
    return eng, int(eng.arrays.sc[S.S_CYCLE_HEAP_SCAN])


def test_dense_span_counts_whole_slots_sparse_span_prefixes(tmp_path):
    nelems = (8192 - 128 - 8192 // 64) // 288  # a Green Tea span of 288-byte slots: 27
    eng, _ = _work_at_mark_start(tmp_path, 1, packed_span_scan=True)
    sids = np.flatnonzero(eng.arrays.sp[:, S.SP_INUSE] == 1)
    assert eng.arrays.sp[sids[0], S.SP_NELEMS] == nelems
    dense = nelems // 8  # scanSpan: objsMarked < nelems/8 is scanned object by object
    _, work = _work_at_mark_start(tmp_path, dense, packed_span_scan=True)
    assert work == dense * 288  # objsMarked x elemsize
    _, work = _work_at_mark_start(tmp_path, dense - 1, packed_span_scan=True)
    assert work == (dense - 1) * 72  # each object's pointer prefix
    _, work = _work_at_mark_start(tmp_path, dense - 1, packed_span_scan=False)
    assert work == (dense - 1) * 288  # one unit with heapScan: slots


def test_a_pacer_replay_says_when_the_trace_does_not_tell(tmp_path):
    path = _trace(tmp_path, _allocs(50, 264, 1))
    told = "packed span scan"
    unknown = replay(path, Config(gc_mode="pacer"))
    assert unknown.packed_span_scan_source.startswith("default")
    assert [w for w in unknown.warnings if told in w]
    flagged = replay(path, Config(gc_mode="pacer", packed_span_scan=False))
    assert flagged.packed_span_scan_source == "flag"
    assert not [w for w in flagged.warnings if told in w]
    recorded = replay(path, Config(gc_mode="recorded"))
    assert not [w for w in recorded.warnings if told in w]  # no what-if: no pacer assists


def test_goalloc_records_note_fixes_the_default(tmp_path):
    path = tmp_path / "noted.msgpack"
    events = _allocs(3, 264, 1)
    cols = {k: np.array([e.get(k, 0) for e in events], np.int64)
            for k in ("kind", "id", "size", "site")}
    with Writer(path, Header(gomaxprocs=1, sites=SITES, source={
            "go_version": "1.27", "packed_span_scan": True}), force=True) as w:
        w.write(**cols)
    r = replay(path, Config(gc_mode="pacer"))
    assert r.packed_span_scan and r.packed_span_scan_source.startswith("trace")


def test_the_importer_notes_the_recording_cpu_when_told(tmp_path):
    from goalloc.trace import open as open_trace
    from goalloc.trace.importers.gotrace import import_gotrace

    src = Path(__file__).parent / "data" / "gotrace-tiny.trace"
    for told in (True, False, None):
        out = tmp_path / f"{told}.msgpack"
        import_gotrace(src, out, packed_span_scan=told)
        with open_trace(out) as r:
            assert r.header.source.get("packed_span_scan") is told


def test_a_trace_without_go_types_has_nothing_to_count(tmp_path):
    path = _trace(tmp_path, _allocs(20, 264, 0), sites=None)
    r = replay(path, Config(gc_mode="pacer", packed_span_scan=True))
    assert not r.packed_span_scan  # no pointer prefixes: heapScan and work stay in slots
    assert not [w for w in r.warnings if "packed span scan" in w]


def test_fast_paths_on_and_off_agree_under_the_packed_scan(tmp_path):
    rng = np.random.default_rng(7)
    events = []
    for i in range(60_000):
        site = int(rng.integers(0, 3))
        size = {0: 24, 1: 264, 2: 48}[site]
        events.append(dict(kind=fmt.ALLOC, id=i, size=size, site=site,
                           flags=fmt.FLAG_NOSCAN if site == 0 else 0))
        if i >= 8000 and rng.random() < 0.95:
            events.append(dict(kind=fmt.FREE, id=i - 8000))
    path = _trace(tmp_path, events)
    cfg = Config(gc_mode="pacer", gogc=25, packed_span_scan=True)
    outs = []
    for fast in (True, False):
        out = []
        replay(path, cfg, engine_out=out, fast_paths=fast)
        outs.append(out[0].arrays)
    assert outs[0].sc[S.S_CYCLES] > 3  # the pacer ran cycles
    assert np.array_equal(outs[0].sc, outs[1].sc)
    assert np.array_equal(outs[0].cyc, outs[1].cyc)


def test_a_pacer_replay_says_when_the_header_lacks_the_scheduling(tmp_path):
    """A Go recording (frees at sweep) on 1 P, packed scan on, whose header has no
    source.scheduling (imported before the importer read it): the marks past maxScanWork
    cannot wait for a scheduler pass, and the replay says so; with the figure, on 4 Ps (a
    dedicated worker), with the wait given by hand or without the packed scan it does not."""
    told = "goroutines' scheduling"
    ev = _allocs(50, 264, 1)
    ev = [dict(e, ts=i) for i, e in enumerate(ev)]
    cols = {k: np.array([e.get(k, 0) for e in ev], np.int64)
            for k in ("kind", "ts", "p", "id", "size", "flags", "aux", "site")}

    def trace(name, **source):
        path = tmp_path / name
        with Writer(path, Header(gomaxprocs=1, sites=SITES, frees="sweep",
                                 source={"go_version": "1.27", **source}), force=True) as w:
            w.write(**cols)
        return path

    old = trace("old.msgpack")
    assert [w for w in replay(old, Config(gc_mode="pacer", packed_span_scan=True)).warnings
            if told in w]
    for cfg in (Config(gc_mode="pacer", packed_span_scan=True, procs=4),
                Config(gc_mode="pacer", packed_span_scan=True, mark_end_wait_ns=10**6),
                Config(gc_mode="pacer", packed_span_scan=False),
                Config(gc_mode="recorded", packed_span_scan=True)):
        assert not [w for w in replay(old, cfg).warnings if told in w], cfg
    new = trace("new.msgpack", scheduling={"runs": 3, "running_ns": 30, "residual_ns": 10})
    assert not [w for w in replay(new, Config(gc_mode="pacer", packed_span_scan=True)).warnings
                if told in w]
