"""Go execution trace importer (gotrace): a real recording checked against counts taken
independently (a plain-Python batch walker here, and Go's own parser via `go tool trace -d=1`
when Go is installed), hand-built traces for the mapping rules (ties, late frees, malloc
headers, lost span frees, stack sizes), corrupt, truncated and unsupported inputs, and an
end-to-end recording with the real toolchain."""

from __future__ import annotations

import collections
import contextlib
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import run_goalloc

import goalloc.trace as trace
from goalloc.errors import TraceError
from goalloc.sizeclasses import get_table
from goalloc.trace import format as fmt
from goalloc.trace.importers.gotoolchain import find_go
from goalloc.trace.importers.gotrace import import_gotrace

DATA = Path(__file__).parent / "data"
TINY = DATA / "gotrace-tiny.trace"
GO_SKIP = "Go 1.23 toolchain not installed: make test installs golang-1.23-go from bookworm-backports"


go_binary = find_go  # other test modules import it under this name


def go_env(go: str) -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(go).parent) + os.pathsep + env.get("PATH", "")
    env["GOTOOLCHAIN"] = "local"
    env.setdefault("HOME", "/tmp")
    return env


def read(path):
    with trace.open(path) as r:
        chunks = list(r)
        return r.header, {k: np.concatenate([getattr(c, k) for c in chunks]) for k in fmt.COLUMNS}


# -- an independent walker: plain Python, its own tables --------------------------------------

# Timed events' argument counts (dt included), from go122/event.go, written out again here.
ARGS = {9: 3, 10: 3, 11: 1, 12: 4, 13: 3, 14: 4, 15: 2, 16: 3, 17: 1, 18: 1, 19: 3, 20: 3,
        21: 4, 22: 3, 23: 1, 24: 1, 25: 4, 26: 3, 27: 1, 28: 2, 29: 3, 30: 2, 31: 2, 32: 2,
        33: 3, 34: 2, 35: 2, 36: 1, 37: 2, 38: 2, 39: 2, 40: 5, 41: 3, 42: 4, 43: 4, 44: 5,
        45: 3, 46: 3, 47: 4, 48: 5, 128: 4, 129: 4, 130: 2, 131: 3, 132: 3, 133: 2, 134: 3,
        135: 3, 136: 2}
NAMES = {128: "Span", 129: "SpanAlloc", 130: "SpanFree", 131: "HeapObject",
         132: "HeapObjectAlloc", 133: "HeapObjectFree", 134: "GoroutineStack",
         135: "GoroutineStackAlloc", 136: "GoroutineStackFree", 26: "STWBegin", 29: "GCBegin",
         30: "GCEnd"}


def uvarint(b, i):
    x = shift = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << shift
        if c < 0x80:
            return x, i
        shift += 7


def walk(path, events=True):
    """Batches (offset, kind, exp, gen, m, time, data, data offset) and the events of the event batches as
    (type, ticks, m, args) in file order (events=False: none read). Go 1.25's sync batches
    (EvSync first) hold no events; from 1.26 a lone EvEndOfGeneration byte (52) follows each
    generation."""
    raw = Path(path).read_bytes()
    i = 16
    batches, found = [], []
    while i < len(raw):
        off, kind = i, raw[i]
        i += 1
        if kind == 52:
            continue
        exp = 0
        if kind == 49:
            exp = raw[i]
            i += 1
        gen, i = uvarint(raw, i)
        m, i = uvarint(raw, i)
        t, i = uvarint(raw, i)
        size, i = uvarint(raw, i)
        data = raw[i:i + size]
        i += size
        batches.append((off, kind, exp, gen, m, t, data, i - size))
        if events and is_event_batch(kind, data):
            for ev, dt, args in batch_events(data):
                t += dt
                found.append((ev, t, m, args))
    return batches, found


def is_event_batch(kind: int, data: bytes) -> bool:
    """Not the stacks, strings, CPU samples, frequency or (1.25) sync batch, nor a types one."""
    return kind == 1 and bool(data) and data[0] not in (2, 4, 6, 8, 50)


def batch_events(data: bytes):
    """An event batch's events as (type, dt in ticks, the other arguments)."""
    j = 0
    while j < len(data):
        ev = data[j]
        j += 1
        args = []
        for _ in range(ARGS[ev]):
            v, j = uvarint(data, j)
            args.append(v)
        yield ev, args[0], args[1:]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("gotrace") / "tiny.msgpack"
    notes = import_gotrace(TINY, out)
    header, cols = read(out)
    return notes, header, cols


@pytest.fixture(scope="module")
def go_reading():
    """Go's own reading of the tiny trace (go tool trace -d=1), once for the tests that
    compare with it."""
    go = go_binary()
    if go is None:
        pytest.skip(GO_SKIP)
    return subprocess.run([go, "tool", "trace", "-d=1", str(TINY)], capture_output=True,
                          text=True, env=go_env(go), timeout=120).stdout


def test_output_does_not_depend_on_the_write_slices(tmp_path, monkeypatch):
    """Generations are converted and queued for writing in slices: cutting them much finer
    (so that map growths and zstd chunks straddle slices) gives the same file, and so do
    output slots too small for a slice (the converter stops when one may not hold the next
    event's rows and goes on in another), few of them queued, or many held before the
    output opens (the first generation's snapshot spans several)."""
    import goalloc.trace.importers.gotrace as gotrace

    import_gotrace(TINY, tmp_path / "whole.msgpack")
    whole = (tmp_path / "whole.msgpack").read_bytes()
    monkeypatch.setattr(gotrace, "WRITE_SLICE", 777)
    import_gotrace(TINY, tmp_path / "sliced.msgpack")
    assert (tmp_path / "sliced.msgpack").read_bytes() == whole
    monkeypatch.setattr(gotrace, "SLOT_ROWS", 500)
    monkeypatch.setattr(gotrace, "SLOTS_QUEUED", 2)
    import_gotrace(TINY, tmp_path / "slots.msgpack")
    assert (tmp_path / "slots.msgpack").read_bytes() == whole
    monkeypatch.setattr(gotrace, "WRITE_SLICE", 100)
    monkeypatch.setattr(gotrace, "SLOT_ROWS", 30)
    import_gotrace(TINY, tmp_path / "small.msgpack")
    assert (tmp_path / "small.msgpack").read_bytes() == whole


def test_output_does_not_depend_on_how_the_file_is_read(tmp_path, monkeypatch):
    """The generations' buffer (_Generations): reads of 97 bytes into a buffer that starts
    at 64 and must grow while a generation is read and be moved at each new one, and a
    pipe (no size, no position: "Illegal seek" until 2026-12-05), give the file one read of
    the whole trace gives."""
    import threading

    import goalloc.trace.importers.gotrace as gotrace

    import_gotrace(TINY, tmp_path / "whole.msgpack")
    whole = (tmp_path / "whole.msgpack").read_bytes()
    with monkeypatch.context() as m:
        m.setattr(gotrace, "READ_BLOCK", 97)
        m.setattr(gotrace, "MAX_FIRST_BUFFER", 64)
        import_gotrace(TINY, tmp_path / "small-reads.msgpack")
    assert (tmp_path / "small-reads.msgpack").read_bytes() == whole
    fifo = tmp_path / "pipe" / TINY.name  # the header names the file: the same name
    fifo.parent.mkdir()
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as f:
            f.write(TINY.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    import_gotrace(fifo, tmp_path / "piped.msgpack")
    writer.join()
    assert (tmp_path / "piped.msgpack").read_bytes() == whole


def test_output_does_not_depend_on_the_second_thread(tmp_path, monkeypatch):
    """A large generation is decoded by two threads (each writing its own columns) and its
    merge's sort runs on the second while the main thread reads the tables: forced on for
    the small test trace, the file is the one the single thread writes, and a damaged copy
    fails with the same line (or converts to the same file)."""
    import goalloc.trace.importers.gotrace as gotrace

    def outcome(src, name, threads: bool):
        with monkeypatch.context() as m:
            m.setattr(gotrace, "DECODE_SPLIT_BYTES", 0 if threads else 1 << 62)
            m.setattr(gotrace, "AHEAD_EVENTS", 0 if threads else 1 << 62)
            try:
                import_gotrace(src, tmp_path / name)
            except TraceError as e:
                return str(e)
        return (tmp_path / name).read_bytes()

    assert outcome(TINY, "one.msgpack", False) == outcome(TINY, "two.msgpack", True)
    data = bytearray(TINY.read_bytes())
    rng = np.random.default_rng(7)
    for k in range(6):
        damaged = bytearray(data)
        for at in rng.integers(len(data) // 4, len(data), 3):
            damaged[at] ^= 0xFF if k % 2 else 0x01  # (0x01: mostly a varint's value)
        src = tmp_path / f"damaged{k}.trace"
        src.write_bytes(bytes(damaged))
        assert outcome(src, f"d{k}-one.msgpack", False) == \
            outcome(src, f"d{k}-two.msgpack", True)


def test_header_and_counts_match_an_independent_walk(tiny):
    notes, header, c = tiny
    assert header.frees == "sweep" and header.sizes == "requested"
    assert header.source["recorder"] == "go execution trace (traceallocfree)"
    assert header.source["go_version"] == "1.23" and header.gomaxprocs == 2
    batches, events = walk(TINY)
    n = collections.Counter(NAMES.get(e[0], e[0]) for e in events)
    assert notes["generations"] == len({b[3] for b in batches}) == 2
    for name in ("Span", "SpanAlloc", "SpanFree", "HeapObject", "HeapObjectAlloc",
                 "HeapObjectFree", "GCBegin", "GCEnd", "STWBegin"):
        assert notes["go_events"][name] == n[name], name
    kinds = collections.Counter(c["kind"].tolist())
    snap = (c["flags"] & fmt.FLAG_SNAPSHOT) != 0
    assert kinds[fmt.ALLOC] == n["HeapObject"] + n["HeapObjectAlloc"]
    assert int(((c["kind"] == fmt.ALLOC) & snap).sum()) == n["HeapObject"]
    assert kinds[fmt.FREE] == n["HeapObjectFree"] - notes["late_frees_dropped"] \
        + notes["slot_reused_before_free"] - notes["unknown_frees"]
    assert kinds[fmt.SPAN_ALLOC] == n["Span"] + n["SpanAlloc"]
    assert kinds[fmt.SPAN_FREE] == n["SpanFree"] + notes["lost_span_frees"] \
        - notes["unknown_span_frees"]
    assert kinds[fmt.GC_START] == n["GCBegin"] == 3 and kinds[fmt.GC_END] == n["GCEnd"]
    assert kinds[fmt.STW_BEGIN] == n["STWBegin"] == kinds[fmt.STW_END]
    assert kinds[fmt.GC_MARK_TERM] == 3
    reasons = collections.Counter(c["aux"][c["kind"] == fmt.STW_BEGIN].tolist())
    assert reasons == {fmt.STW_GC_MARK_TERM: 3, fmt.STW_GC_SWEEP_TERM: 3, 10: 1}  # 10 start trace
    # gotrace-tiny.go calls runtime.GC() for every cycle: GCBegin's stack says so
    assert c["aux"][c["kind"] == fmt.GC_START].tolist() == [fmt.GC_TRIGGER_FORCED] * 3
    assert notes["unknown_frees"] == notes["objects_outside_spans"] == notes["unknown_types"] == 0
    assert notes["misplaced_objects"] == 0


def test_events_are_consistent(tiny):
    """Frees name live ids, ts never decreases on a P, slot sizes and flags follow the spans."""
    _, _, c = tiny
    live = set()
    last = collections.defaultdict(int)
    table = get_table("go")
    cs = set(table.class_size[1:].tolist())
    spans = {}  # live span id -> (pages, span class)
    placed = 0
    for k, ts, p, i, size, flags, aux in zip(*(c[x].tolist() for x in
                                               ("kind", "ts", "p", "id", "size", "flags", "aux")), strict=False):
        if p >= 0:
            assert ts >= last[p]
            last[p] = ts
        if k == fmt.SPAN_ALLOC:
            spans[i] = (size, aux)
        elif k == fmt.SPAN_FREE:
            del spans[i]
        elif k == fmt.ALLOC and flags & fmt.FLAG_SNAPSHOT:
            # header snapshot "placed": aux = (span id + 1) << 16 | slot, a snapshot heap span
            assert i not in live
            live.add(i)
            pages, spc = spans[(aux >> fmt.PLACEMENT_SHIFT) - 1]
            slot = pages * 8192 if spc >> 1 == 0 else int(table.class_size[spc >> 1])
            assert 0 < size <= slot
            assert (aux & fmt.PLACEMENT_SLOT_MASK) < pages * 8192 // slot
            placed += 1
        elif k == fmt.ALLOC:
            assert i not in live
            live.add(i)
            assert flags & fmt.FLAG_SIZE_ESTIMATED
            assert 0 < size <= aux and (aux in cs or aux % 8192 == 0)
        elif k == fmt.FREE:
            live.remove(i)
    assert placed > 0
    assert c["ts"].min() == 0
    assert set(c["p"].tolist()) <= {-1, 0, 1}


def test_malloc_header_objects_are_freed_by_their_slot_base(tiny):
    """640 B pointerful objects (slot 704) are allocated at slot base + 8 and freed at the slot
    base: the raw trace has both kinds of ids, and the import pairs them."""
    batches, events = walk(TINY)
    spans = {}
    header_allocs = header_frees = 0
    for ev, _, _, a in sorted(events, key=lambda e: e[1]):  # Ms merged by time
        if ev in (128, 129):
            for pg in range(a[0], a[0] + a[1]):
                spans[pg] = a
        elif ev in (132, 133):
            sid, npages, kc = spans[a[0] * 8 // 8192]
            if kc & 1 or kc >> 2 == 0 or (kc >> 1) & 1:
                continue
            slot = int(get_table("go").class_size[kc >> 2])
            if slot > 512:
                off = (a[0] * 8 - sid * 8192) % slot
                if ev == 132:
                    assert off == 8
                    header_allocs += 1
                else:
                    assert off == 0
                    header_frees += 1
    assert header_allocs > 500 and header_frees > 500
    _, _, c = tiny
    big = {}
    freed = 0
    for k, i, aux, fl in zip(c["kind"].tolist(), c["id"].tolist(), c["aux"].tolist(),
                             c["flags"].tolist(), strict=False):
        if k == fmt.ALLOC:
            big[i] = 512 < aux <= 32768 and not fl & fmt.FLAG_NOSCAN and not fl & fmt.FLAG_SNAPSHOT
        elif k == fmt.FREE and big.pop(i, False):
            freed += 1
    assert freed == header_frees


def test_requested_sizes_are_estimated_from_types(tiny):
    _, _, c = tiny
    a = c["kind"] == fmt.ALLOC
    sizes = collections.Counter(zip(c["aux"][a].tolist(), c["size"][a].tolist(), strict=False))
    assert sizes[(704, 640)] > 500  # &big{}: one 640 B object in a 704 B slot (8 B header)
    assert sizes[(48, 48)] > 500  # &node{}: 48 B
    assert sizes[(40960, 40960)] > 0  # make([]*node, 5000): 40000 B in 5 pages, grown to fill


def test_procs_and_times_match_go_tool_trace(tiny, go_reading):
    """Go's own parser (go tool trace -d=1) agrees on every alloc's and free's time and P."""
    out = go_reading
    pat = re.compile(r"^M=\S+ P=(-?\d+) G=\S+ Experimental Time=(\d+) Name=(HeapObjectAlloc|"
                     r"HeapObjectFree|SpanAlloc) ArgNames=\[[^]]*\] Args=\[(\d+) ?(\d*) ?(\d*)\]",
                     re.M)
    t0 = min(int(t) for t in re.findall(r" Time=(\d+) ", out))
    # A large object is allocated with its span: the runtime traces it only after zeroing it
    # preemptibly (mallocgc's delayed zeroing), so goalloc puts it at its SpanAlloc's time and
    # P (the last SpanAlloc of a large heap span, kindclass 0 or 2, at the object's address).
    found, large_span = [], {}
    for p, t, name, a, _npages, kc in pat.findall(out):
        if name == "SpanAlloc":
            if int(kc) in (0, 2):
                large_span[int(a) * 8192 // 8] = (p, t)
            continue
        if name == "HeapObjectAlloc" and int(a) in large_span:
            p, t = large_span.pop(int(a))
        found.append((p, t, name))
    theirs = collections.Counter((name, int(t) - t0, int(p)) for p, t, name in found)
    _, _, c = tiny
    # goalloc rebases on its first kept event, Go on its first event: align the first allocs.
    live = (c["flags"] & fmt.FLAG_SNAPSHOT) == 0
    first = min(int(t) for _, t, name in found if name == "HeapObjectAlloc") - t0
    shift = first - int(c["ts"][(c["kind"] == fmt.ALLOC) & live].min())
    ours = collections.Counter()
    for k, name in ((fmt.ALLOC, "HeapObjectAlloc"), (fmt.FREE, "HeapObjectFree")):
        sel = (c["kind"] == k) & live
        for t, p in zip(c["ts"][sel].tolist(), c["p"][sel].tolist(), strict=False):
            ours[(name, t + shift, p)] += 1
    assert sum(theirs.values()) == sum(ours.values()) > 20000
    # Same P for every event at the same time, up to the 1 ns steps both parsers add to keep
    # times increasing (Go's reader over all events, goalloc per M): compare each (kind, P)
    # group's sorted times.
    def groups(counter):
        g = collections.defaultdict(list)
        for (name, t, p), k in counter.items():
            g[(name, p)] += [t] * k
        return {key: np.sort(v) for key, v in g.items()}

    gt, go_ = groups(theirs), groups(ours)
    assert gt.keys() == go_.keys()
    for key in gt:
        assert len(gt[key]) == len(go_[key]), key
        assert np.abs(gt[key] - go_[key]).max() <= 1000, key
    exact = sum((theirs & ours).values()) / sum(theirs.values())
    assert exact > 0.95
    stw = re.findall(r'RangeBegin Time=\d+ Name="stop-the-world \(([^)]*)\)"', out)
    assert collections.Counter(stw) == {"GC mark termination": 3, "GC sweep termination": 3,
                                        "start trace": 1}


# -- hand-built traces -------------------------------------------------------------------------


def enc(*vals) -> bytes:
    out = bytearray()
    for v in vals:
        while True:
            b = v & 0x7F
            v >>= 7
            if v:
                out.append(b | 0x80)
            else:
                out.append(b)
                break
    return bytes(out)


def batch(gen, m, time, data: bytes, exp=None) -> bytes:
    head = bytes([1]) if exp is None else bytes([49, exp])
    return head + enc(gen, m, time, len(data)) + data


def ev(typ, dt, *args) -> bytes:
    return bytes([typ]) + enc(dt, *args)


MIN_HEAP = 0xC000000000
INFO = batch(1, (1 << 64) - 1, 0, b"\x01" + enc(MIN_HEAP, 8192, 8, 2048), exp=1)
FREQ = batch(1, 0, 0, b"\x08" + enc(15625000))


def types_batch(gen, *types):
    data = b"\x00"
    for tid, size, ptr, name in types:
        data += enc(tid, 0x400000 + tid, size, ptr, len(name)) + name.encode()
    return batch(gen, (1 << 64) - 1, 0, data, exp=1)


def hand(path, m1: bytes, m2: bytes = b"", *, version=23, extra=b"", gen2=b"", freq=FREQ):
    data = f"go 1.{version} trace".encode() + b"\0\0\0" + freq + INFO + types_batch(
        1, (1, 48, 48, "main.node"), (2, 640, 640, "main.big")) + batch(1, 1, 1000, m1)
    if m2:
        data += batch(1, 2, 1000, m2)
    data += extra + gen2
    Path(path).write_bytes(data)
    return path


# Size class 5 (48 B, pointerful) at page 0; size class 29 (704 B, pointerful) at page 8.
SPAN48 = ev(129, 1, 0, 1, (5 << 1) << 1)
SPAN704 = ev(129, 1, 8, 2, (29 << 1) << 1)


def test_snapshot_mcaches_as_go_reads_the_trace(tiny, go_reading):
    """The header's snapshot_mcaches: each P's first allocation of a small span class before
    the first mcache flush (the first GCEnd, or a ReadMemStats stop), when it went into a span
    of the trace-start snapshot, names that span (the k-th Span event is goalloc span k).
    Worked out here from Go's own reading of the trace (go tool trace -d=1: Span, SpanAlloc,
    SpanFree and HeapObjectAlloc events, their addresses and Ps)."""
    out = go_reading
    pat = re.compile(r"^M=\S+ P=(-?\d+) G=\S+ Experimental Time=\d+ Name=(Span|SpanAlloc|"
                     r"SpanFree|HeapObjectAlloc) ArgNames=\[[^]]*\] Args=\[(\d+) ?(\d*) ?(\d*)\]")
    flush = ['Name="stop-the-world (' + r + ')"' for r in fmt.FLUSH_STW_REASONS]
    owner = {}  # page (8 KiB units) -> (index of its snapshot Span event or -1, span class)
    first = {}  # (P, span class) -> that index, or -1 (not a snapshot span)
    spans = 0
    for line in out.splitlines():
        if ("RangeEnd" in line and 'Name="GC concurrent mark phase"' in line) or any(
                f in line and "RangeBegin" in line for f in flush):
            break  # the first mcache flush
        m = pat.match(line)
        if not m:
            continue
        p, name, a, b, c = m.groups()
        if name in ("Span", "SpanAlloc"):  # base page, pages, kindclass (spanclass << 1)
            for pg in range(int(a), int(a) + int(b)):
                owner[pg] = (spans if name == "Span" else -1, int(c) >> 1)
            spans += name == "Span"
        elif name == "SpanFree":
            owner.pop(int(a), None)
        else:  # an address in 8-byte units
            idx, spc = owner.get(int(a) >> 10, (-1, 0))
            if spc >= 2:
                first.setdefault((int(p), spc), idx)
    want = sorted([p, idx] for (p, _), idx in first.items() if idx >= 0)
    notes, header, c = tiny
    snap = (c["kind"] == fmt.SPAN_ALLOC) & ((c["flags"] & fmt.FLAG_SNAPSHOT) != 0)
    assert c["id"][snap].tolist() == list(range(spans))  # goalloc's ids in Span order
    assert len(want) >= 5
    assert header.extra.get("snapshot_mcaches") == want
    # the import summary lists them as read, not as something it could not map
    assert notes["snapshot_mcaches"] == len(want)
    from goalloc.cli.common import echo_import_summary

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        echo_import_summary("t.msgpack", notes)
    read_as = [ln for ln in buf.getvalue().splitlines() if ln.startswith("read as the runtime")]
    assert read_as and f"snapshot mcaches {len(want)}" in read_as[0]
    assert "snapshot" not in "".join(ln for ln in buf.getvalue().splitlines()
                                     if ln.startswith("not mapped"))


def test_scavenger_running_time_as_go_reads_the_trace(tiny, go_reading):
    """The header's `scavenger`: the goroutine whose parks run through runtime.bgscavenge and
    its running time (every Running interval summed), and each run (start, length), as Go's
    own reader (go tool trace -d=1) shows them; the runs' starts on the header's clock (the trace's, from its
    first event), so compared as offsets from the first."""
    out = go_reading.splitlines()
    gid = None
    for i, line in enumerate(out):
        if "runtime.bgscavenge" in line:
            for back in out[max(0, i - 8):i][::-1]:
                if m := re.search(r"StateTransition .*GoID=(\d+)", back):
                    gid = m.group(1)
                    break
            break
    assert gid is not None
    since, total, runs, each, returned = None, 0, 0, [], []
    for line in out:
        # (Running->Running: the status restated at a generation's start; the run goes on)
        if "StateTransition" in line and re.search(rf"GoID={gid}\b", line) \
                and "Running->Running" not in line:
            t = int(re.search(r"Time=(\d+)", line).group(1))
            if "->Running" in line:
                since = t
            elif "Running->" in line and since is not None:
                each.append((since, t - since))
                total, runs, since = total + t - since, runs + 1, None
                # a run that ends in the scavenger's sleep or park (scavengerState.sleep's
                # and park's wait reasons) is where run() returned
                reason = re.search(r'Reason="([^"]*)"', line).group(1)
                returned.append(int("Running->Waiting" in line
                                    and reason in ("sleep", "system goroutine wait")))
    notes, header, _ = tiny
    assert runs >= 2
    assert notes["scavenger"] == {"goroutine": int(gid), "running_ns": total, "runs": runs}
    scav = header.source["scavenger"]
    assert {k: scav[k] for k in notes["scavenger"]} == notes["scavenger"]
    got = list(zip(scav["run_start"], scav["run_ns"], strict=True))
    assert [(s - got[0][0], n) for s, n in got] == [(s - each[0][0], n) for s, n in each]
    assert scav["run_blocked"] == returned
    assert sum(returned) >= 1


def test_ties_put_frees_first_and_late_frees_are_dropped(tmp_path):
    # M1 on P0: span, alloc slot 0 (t=2); later realloc of slot 0 at t=10.
    # M2 on P1: frees slot 0 at t=10 too: the free must come first.
    m1 = ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1) + ev(132, 8, 0, 1)
    m2 = ev(13, 0, 1, 1) + ev(133, 10, 0)
    notes = import_gotrace(hand(tmp_path / "t.trace", m1, m2), tmp_path / "t.msgpack")
    _, c = read(tmp_path / "t.msgpack")
    obj = np.isin(c["kind"], [fmt.ALLOC, fmt.FREE])
    assert c["kind"][obj].tolist() == [fmt.ALLOC, fmt.FREE, fmt.ALLOC]
    assert c["p"][obj].tolist() == [0, 1, 0]
    assert notes["slot_reused_before_free"] == 0
    # Now the free is stamped after the reuse: the reuse frees the first object (p -1) and the
    # late free is dropped, so the second object stays live.
    m2 = ev(13, 0, 1, 1) + ev(133, 15, 0)
    notes = import_gotrace(hand(tmp_path / "u.trace", m1, m2), tmp_path / "u.msgpack")
    _, c = read(tmp_path / "u.msgpack")
    obj = np.isin(c["kind"], [fmt.ALLOC, fmt.FREE])
    assert c["kind"][obj].tolist() == [fmt.ALLOC, fmt.FREE, fmt.ALLOC]
    assert c["p"][obj].tolist() == [0, -1, 0]
    assert notes["slot_reused_before_free"] == notes["late_frees_dropped"] == 1
    assert notes["live_at_end"] == 1


def test_a_clock_with_a_fraction_of_a_ns_per_tick_reads_as_gos_reader_reads_it(tmp_path):
    """Where the runtime's trace clock is cputicks (osHasLowResClock), a tick is a fraction of
    ns: Go's reader turns the batch's base and each event's dt into ns on their own, each
    truncated (batchcursor.go: freq.mul(tsdiff) + lastTs). At 37.5 MHz a tick is 26.67 ns:
    six allocations one tick apart come out 26 ns apart, not 26, 27, 27, 26, 27."""
    freq = batch(1, 0, 0, b"\x08" + enc(37_500_000))
    m1 = ev(13, 0, 0, 1) + SPAN48 + b"".join(ev(132, 1, 6 * k, 1) for k in range(6))
    import_gotrace(hand(tmp_path / "f.trace", m1, freq=freq), tmp_path / "f.msgpack")
    _, c = read(tmp_path / "f.msgpack")
    assert np.diff(c["ts"][c["kind"] == fmt.ALLOC]).tolist() == [26] * 5


def test_malloc_header_sizes_and_spans(tmp_path):
    base = 8 * 8192 // 8  # object id of page 8
    m1 = (ev(13, 0, 0, 1) + SPAN704 + ev(132, 1, base + 1, 2)  # 640 B object at slot + 8
          + ev(132, 1, base + 88 + 1, 0)  # untyped, second slot + 8
          + ev(133, 1, base)  # freed at the slot base
          + ev(129, 1, 8, 2, (29 << 1) << 1)  # span 8 again: its SpanFree was lost
          + ev(135, 1, 100, 14) + ev(136, 1, 100) + ev(11, 1))  # 8 KiB stack; ProcStop
    m1 += ev(132, 1, base + 1, 2)  # after ProcStop: no P
    notes = import_gotrace(hand(tmp_path / "h.trace", m1), tmp_path / "h.msgpack")
    _, c = read(tmp_path / "h.msgpack")
    a = c["kind"] == fmt.ALLOC
    assert c["size"][a].tolist() == [640, 696, 640]
    assert c["aux"][a].tolist() == [704, 704, 704]
    assert c["p"][a].tolist() == [0, 0, -1]
    assert (c["flags"][a] & fmt.FLAG_NOSCAN).tolist() == [0, 0, 0]
    assert notes["lost_span_frees"] == 1
    sk = c["kind"] == fmt.SPAN_ALLOC
    assert c["size"][sk].tolist() == [2, 2] and c["aux"][sk].tolist() == [58, 58]
    assert c["kind"].tolist().count(fmt.SPAN_FREE) == 1
    st = c["kind"] == fmt.STACK_ALLOC
    assert c["size"][st].tolist() == [8192]
    assert notes["misplaced_objects"] == 0 and notes["unknown_frees"] == 0



# Objects whose span goes away while they are live (their free comes late): the importer keeps
# them by slot base outside the span's slot array. Expected (kind, id) sequences are those of
# the earlier importer that kept every object in one address hash map.
SPILL_CASES = {
    # span freed with a live object; its late free arrives after the SpanFree
    "span-freed": (ev(129, 1, 0, 1, (5 << 1) << 1) + ev(132, 1, 0, 1) + ev(132, 1, 6, 1)
                   + ev(133, 1, 6) + ev(130, 1, 0) + ev(133, 1, 0),
                   [(8, 0), (1, 0), (1, 1), (2, 1), (9, 0), (2, 0)], 0),
    # ... and a 24 B span allocated on its page before the late free arrives
    "span-reused": (SPAN48 + ev(132, 1, 0, 1) + ev(132, 1, 12, 1) + ev(130, 1, 0)
                    + ev(129, 1, 0, 1, (3 << 1) << 1) + ev(132, 1, 0, 1) + ev(132, 1, 4, 1)
                    + ev(133, 1, 12) + ev(133, 1, 0) + ev(133, 1, 4),
                    [(8, 0), (1, 0), (1, 1), (9, 0), (8, 0), (2, 0), (1, 2), (1, 0), (2, 1)], 2),
    # a span allocated over the second page of a live two-page span (no SpanFree)
    "span-overlap": (ev(129, 1, 0, 2, (5 << 1) << 1) + ev(132, 1, 1026, 1) + ev(132, 1, 0, 1)
                     + ev(129, 1, 1, 1, (5 << 1) << 1) + ev(132, 1, 1026, 1) + ev(133, 1, 1026)
                     + ev(132, 1, 6, 1) + ev(133, 1, 1026) + ev(133, 1, 0) + ev(133, 1, 6),
                     [(8, 0), (1, 0), (1, 1), (8, 1), (1, 2), (2, 0), (1, 0), (2, 1), (2, 0)], 1),
    # a lost SpanFree: the same base allocated again with another size class
    "lost-span-free": (SPAN48 + ev(132, 1, 6, 1) + ev(129, 1, 0, 1, (3 << 1) << 1)
                       + ev(132, 1, 6, 1) + ev(133, 1, 6) + ev(133, 1, 6),
                       [(8, 0), (1, 0), (9, 0), (8, 1), (2, 0), (1, 1), (2, 1)], 0),
}


@pytest.mark.parametrize("name", SPILL_CASES)
def test_objects_outliving_their_span(tmp_path, name):
    m1, want, live = SPILL_CASES[name]
    notes = import_gotrace(hand(tmp_path / "s.trace", ev(13, 0, 0, 1) + m1), tmp_path / "s.msgpack")
    _, c = read(tmp_path / "s.msgpack")
    assert list(zip(c["kind"].tolist(), c["id"].tolist(), strict=True)) == want
    assert notes["live_at_end"] == live


def test_a_late_free_still_owed_at_the_next_mark_s_end_is_not_coming(tmp_path):
    """A slot allocated again while its object is live frees that object at the reuse and owes
    its late free (the sweep that freed it stamped the free late); both come in the sweep phase
    after one mark termination, which ends before the next mark (mgc.go gcStart: finishsweep_m).
    A free at the slot after the next mark's end is therefore the new object's own: kept owed,
    it would be dropped and the new object would stay live to the end."""
    m1 = (ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1)  # t=1002 object A in slot 0
          + ev(132, 8, 0, 1)  # t=1010 slot 0 again, A live: A freed here, its free owed
          + ev(29, 1, 1, 0) + ev(30, 0, 1))  # t=1011 GCBegin, GCEnd: the next mark's end
    m2 = ev(13, 0, 1, 1) + ev(133, 20, 0)  # t=1020 a free of slot 0 on P1
    notes = import_gotrace(hand(tmp_path / "a.trace", m1, m2), tmp_path / "a.msgpack")
    _, c = read(tmp_path / "a.msgpack")
    obj = np.isin(c["kind"], [fmt.ALLOC, fmt.FREE])
    assert c["kind"][obj].tolist() == [fmt.ALLOC, fmt.FREE, fmt.ALLOC, fmt.FREE]
    assert c["p"][obj].tolist() == [0, -1, 0, 1]  # the second object freed by the free
    assert c["id"][obj].tolist()[2] == c["id"][obj].tolist()[3]
    assert notes["live_at_end"] == 0 and notes["late_frees_dropped"] == 0
    assert notes["slot_reused_before_free"] == notes["reused_slots_never_freed"] == 1
    # Without the mark's end between, the same free is the late one, dropped
    m1 = m1[:-len(ev(29, 1, 1, 0) + ev(30, 0, 1))]
    notes = import_gotrace(hand(tmp_path / "b.trace", m1, m2), tmp_path / "b.msgpack")
    _, c = read(tmp_path / "b.msgpack")
    obj = np.isin(c["kind"], [fmt.ALLOC, fmt.FREE])
    assert c["p"][obj].tolist() == [0, -1, 0]
    assert notes["live_at_end"] == 1 and notes["late_frees_dropped"] == 1
    assert notes["reused_slots_never_freed"] == 0


def test_a_replaced_span_s_late_free_is_dropped(tmp_path):
    """mheap.freeSpan traces SpanFree before it takes the heap lock, and Ms' clocks differ by
    microseconds: another M's SpanAlloc reusing the pages can come first in the merge order.
    That SpanAlloc frees the old span (a lost free); the late SpanFree is the old span's, not
    the new one's, as long as no mark termination came between (a heap span is freed only by
    a sweep, after one). Here M2's free at t=1012 follows M1's reuse at t=1010."""
    m1 = (ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1)  # t=1001 span 48 B, an object
          + ev(129, 8, 0, 1, (3 << 1) << 1))  # t=1010 a 24 B span at the same base page
    m2 = ev(13, 0, 1, 1) + ev(130, 12, 0)  # t=1012 the 48 B span's SpanFree
    notes = import_gotrace(hand(tmp_path / "a.trace", m1, m2), tmp_path / "a.msgpack")
    _, c = read(tmp_path / "a.msgpack")
    spans = np.isin(c["kind"], [fmt.SPAN_ALLOC, fmt.SPAN_FREE])
    assert list(zip(c["kind"][spans].tolist(), c["id"][spans].tolist(), strict=True)) == [
        (fmt.SPAN_ALLOC, 0), (fmt.SPAN_FREE, 0), (fmt.SPAN_ALLOC, 1)]  # the 24 B span lives
    assert notes["lost_span_frees"] == notes["late_span_frees_dropped"] == 1
    # With a mark termination (GCEnd) between, a SpanFree is the live span's own
    m1 += ev(29, 1, 1, 0) + ev(30, 0, 1)  # t=1011 GCBegin, GCEnd
    notes = import_gotrace(hand(tmp_path / "b.trace", m1, m2), tmp_path / "b.msgpack")
    _, c = read(tmp_path / "b.msgpack")
    spans = np.isin(c["kind"], [fmt.SPAN_ALLOC, fmt.SPAN_FREE])
    assert list(zip(c["kind"][spans].tolist(), c["id"][spans].tolist(), strict=True)) == [
        (fmt.SPAN_ALLOC, 0), (fmt.SPAN_FREE, 0), (fmt.SPAN_ALLOC, 1), (fmt.SPAN_FREE, 1)]
    assert notes["lost_span_frees"] == 1 and notes["late_span_frees_dropped"] == 0


def test_type_ids_are_per_generation(tmp_path):
    # Generation 2 reuses type id 1 for a 16 B type.
    m1 = ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1)
    gen2 = (types_batch(2, (1, 16, 8, "*int"))
            + batch(2, 1, 5000, ev(13, 0, 0, 1) + ev(132, 1, 6, 1))
            + batch(2, 0, 0, b"\x08" + enc(15625000)))
    import_gotrace(hand(tmp_path / "g.trace", m1, gen2=gen2), tmp_path / "g.msgpack")
    _, c = read(tmp_path / "g.msgpack")
    a = c["kind"] == fmt.ALLOC
    assert c["size"][a].tolist() == [48, 48]  # 48 B type, then 3 x 16 B in a 48 B slot
    # 64 ns ticks, from the first event written (the SpanAlloc at tick 1001)
    assert c["ts"][a].tolist() == [64, (5001 - 1001) * 64]


def test_go_125_sync_batches(tmp_path):
    m1 = ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1)
    path = hand(tmp_path / "s.trace", m1, version=25)
    raw = path.read_bytes().replace(FREQ, batch(1, 0, 0, b"\x32\x08" + enc(15625000)
                                                + bytes([51]) + enc(0, 1, 2, 3)))
    path.write_bytes(raw)
    notes = import_gotrace(path, tmp_path / "s.msgpack")
    assert notes["go_events"]["HeapObjectAlloc"] == 1


# -- errors --------------------------------------------------------------------------------------


def one_line_error(cli, path, tmp_path):
    code, out, err = cli("import", "gotrace", path, "-o", tmp_path / "o.msgpack", "--force")
    assert code == 2, (out, err)
    lines = [x for x in err.strip().splitlines() if x]
    assert len(lines) == 1 and "Traceback" not in err
    assert not (tmp_path / "o.msgpack").exists()
    return lines[0]


def test_truncated_and_corrupt_files(cli, tmp_path):
    raw = TINY.read_bytes()
    batches, _ = walk(TINY)
    big = max(batches, key=lambda b: len(b[6]))
    off = big[0]
    cases = {
        "mid-data": (raw[:off + 100], f"byte {off}: truncated"),
        "mid-header": (raw[:off + 3], f"byte {off}: truncated"),
        "bad-batch": (raw[:off] + b"\x07" + raw[off + 1:], f"byte {off}: corrupt trace: expected"),
    }
    # An unknown event type: overwrite the first event byte of an event batch.
    evb = next(b for b in batches if b[1] == 1 and b[6] and b[6][0] == 13)
    first = evb[7]
    cases["unknown-event"] = (raw[:first] + b"\xc8" + raw[first + 1:],
                              f"byte {first}: corrupt trace: unknown event type 200")
    for name, (data, want) in cases.items():
        p = tmp_path / f"{name}.trace"
        p.write_bytes(data)
        line = one_line_error(cli, p, tmp_path)
        assert want in line, (name, line)


def test_versions_and_foreign_files(cli, tmp_path):
    raw = TINY.read_bytes()
    # Go's own reader (internal/trace/version) knows 22, 23, 25 and 26; 1.27 writes 26.
    for version, want in ((21, "go 1.21 trace is in the execution trace format before Go 1.22"),
                          (24, "go 1.24 trace is not a format Go writes"),
                          (27, "go 1.27 trace format is newer than goalloc knows: it reads the "
                               "formats of Go 1.22 to 1.27")):
        p = tmp_path / f"v{version}.trace"
        p.write_bytes(f"go 1.{version} trace\0\0\0".encode() + raw[16:])
        assert want in one_line_error(cli, p, tmp_path)
    p = tmp_path / "x.trace"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    assert "not a Go execution trace" in one_line_error(cli, p, tmp_path)


def test_trace_without_traceallocfree(cli, tmp_path):
    """Drop the alloc/free experiment's batches and events: what a plain trace looks like."""
    raw = TINY.read_bytes()
    batches, _ = walk(TINY)
    out = bytearray(raw[:16])
    for _off, kind, _exp, gen, m, t, data, _ in batches:
        if kind == 49:
            continue
        if kind == 1 and data and data[0] not in (2, 4, 6, 8):
            j, keep = 0, bytearray()
            while j < len(data):
                start, typ = j, data[j]
                j += 1
                for _ in range(ARGS[typ]):
                    _, j = uvarint(data, j)
                if typ < 128:
                    keep += data[start:j]
            data = bytes(keep)  # (dts of dropped events are lost: times shift, no matter)
        out += batch(gen, m, t, data)
    p = tmp_path / "plain.trace"
    p.write_bytes(bytes(out))
    line = one_line_error(cli, p, tmp_path)
    assert "recorded without GODEBUG=traceallocfree=1" in line
    assert "GODEBUG=traceallocfree=1 go test -trace=out.trace" in line


def test_cli_subprocess_no_traceback(tmp_path):
    p = tmp_path / "cut.trace"
    p.write_bytes(TINY.read_bytes()[:5000])
    r = run_goalloc("import", "gotrace", p, "-o", tmp_path / "o.msgpack")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert re.fullmatch(r".*cut\.trace: byte \d+: truncated: .*\n", r.stderr), r.stderr


# -- end to end with the real toolchain --------------------------------------------------------


def test_record_and_import_a_tiny_go_program(cli, tmp_path):
    go = go_binary()
    if go is None:
        pytest.skip(GO_SKIP)
    env = go_env(go)
    src = tmp_path / "prog"
    src.mkdir()
    shutil.copy(DATA / "gotrace-tiny.go", src / "main.go")
    (src / "go.mod").write_text("module tiny\n\ngo 1.23\n")
    subprocess.run([go, "build", "-o", "tiny", "."], cwd=src, env=env, check=True, timeout=300)
    rec = tmp_path / "rec.trace"
    subprocess.run([str(src / "tiny"), str(rec), "0"], env={**env, "GODEBUG": "traceallocfree=1",
                                                            "GOMAXPROCS": "2"},
                   check=True, timeout=120)
    code, out, err = cli("import", "gotrace", rec, "-o", tmp_path / "rec.msgpack")
    assert code == 0, err
    assert "GOMAXPROCS 2" in out
    _, events = walk(rec)
    n = collections.Counter(e[0] for e in events)
    _, c = read(tmp_path / "rec.msgpack")
    assert int((c["kind"] == fmt.ALLOC).sum()) == n[131] + n[132] > 10000
    assert int((c["kind"] == fmt.GC_START).sum()) == n[29] >= 3
    # The same program without GODEBUG=traceallocfree=1: a clear error.
    plain = tmp_path / "plain.trace"
    subprocess.run([str(src / "tiny"), str(plain), "0"], env={**env, "GOMAXPROCS": "2"},
                   check=True, timeout=120)
    assert "recorded without GODEBUG=traceallocfree=1" in one_line_error(cli, plain, tmp_path)


def test_gc_trigger_from_the_gcbegin_stack():
    """gc_start aux from the function names on GCBegin's stack (innermost first)."""
    from goalloc.trace.importers.gotrace import _gc_trigger

    assert _gc_trigger(["runtime.GC", "testing.(*B).runN"]) == fmt.GC_TRIGGER_FORCED
    assert _gc_trigger(["runtime.GC", "runtime/debug.FreeOSMemory"]) == fmt.GC_TRIGGER_FORCED
    assert _gc_trigger(["runtime.forcegchelper"]) == fmt.GC_TRIGGER_TIME
    assert _gc_trigger(["runtime.mallocgc", "runtime.growslice"]) == fmt.GC_TRIGGER_HEAP
    assert _gc_trigger([]) == fmt.GC_TRIGGER_UNKNOWN


def test_late_alloc_kind_from_the_gcbegin_stack():
    """[1.24+] the malloc paths that run gcStart before the object is traced, by the function
    names of runtime/malloc.go (1.24-1.26) and malloc_generated.go (1.27); 1.23's mallocgc
    traced the object first."""
    from goalloc.trace.importers.gotrace import LATE_ANY, LATE_NOSCAN, LATE_SCAN, _late_alloc_kind

    cases = {
        ("runtime.mallocgcTiny", "runtime.mallocgc"): LATE_NOSCAN,
        ("runtime.mallocgcTinySlowPath", "runtime.mallocgcTinySC"): LATE_NOSCAN,
        ("runtime.mallocgcSmallNoscan", "runtime.mallocgc"): LATE_NOSCAN,
        ("runtime.mallocgcSmallNoScanSC3",): LATE_NOSCAN,
        ("runtime.mallocgcSmallScanNoHeader", "runtime.mallocgc"): LATE_SCAN,
        ("runtime.mallocgcSmallScanSlowPath", "runtime.mallocgcSmallScanNoHeaderSC2"): LATE_SCAN,
        ("runtime.mallocgcSmallScanHeader",): LATE_SCAN,
        ("runtime.mallocgcLarge", "runtime.makeslice"): LATE_ANY,
        ("runtime.mallocgc", "runtime.newobject"): 0,  # 1.23
        ("runtime.GC", "testing.runN"): 0,
    }
    for funcs, want in cases.items():
        assert _late_alloc_kind(list(funcs)) == want, funcs


def test_blocked_starters_allocation_is_not_put_before_its_span():
    """[1.24+] A goroutine blocked in gcStart while another began the cycle allocated before
    it checked the trigger. Its allocation moves before the GCBegin unless its span was
    allocated after the GCBegin (the goroutine ran on another P meanwhile): then it goes just
    after its span's SpanAlloc, as Go 1.24's recording goalloc-go1.24-y7ai_nga showed (a
    45-page span and a fresh 1-page span taken after GCBegin, their objects traced after the
    blocked goroutines woke)."""
    from goalloc.trace.importers import gotrace_wire as w
    from goalloc.trace.importers.gotrace import LATE_ANY, _move_blocked_starters

    per_page = 1024  # heap offsets in 8-byte words per 8 KiB page
    # (event type, goroutine, a1, a2): GCBegin by G1; G2 takes span 10 (1 page) after it and
    # blocks; G3 took span 20 (2 pages) before it and blocks; G4 blocks with no span of its
    # own; then each one's next allocation.
    evs = [(w.EV_SPAN_ALLOC, 3, 20, 2), (w.EV_GC_BEGIN, 1, 0, 0), (w.EV_SPAN_ALLOC, 2, 10, 1),
           (w.EV_GO_BLOCK, 2, 0, 0), (w.EV_GO_BLOCK, 3, 0, 0), (w.EV_GO_BLOCK, 4, 0, 0),
           (w.EV_HEAP_OBJECT_ALLOC, 2, 10 * per_page, 0),
           (w.EV_HEAP_OBJECT_ALLOC, 3, 21 * per_page + 8, 0),
           (w.EV_HEAP_OBJECT_ALLOC, 4, 30 * per_page, 0)]
    typ, a1, a2, key, ga = _events(evs)
    moved = _move_blocked_starters([(3, LATE_ANY), (4, LATE_ANY), (5, LATE_ANY)],
                                   [(1, LATE_ANY)], ga, key, per_page)
    assert moved == 3
    assert (ga.moved[6], key[6]) == (2.5, 200)  # G2: just after its span, at the span's time
    assert (ga.moved[7], key[7]) == (0.75, 100)  # G3: its span is older: before the GCBegin
    assert (ga.moved[8], key[8]) == (0.75, 100)  # G4: likewise
    # the order a stable sort by position gives (G3's and G4's objects by event index)
    assert ga.reordered().tolist() == [0, 7, 8, 1, 2, 6, 3, 4, 5]


def _events(evs, t_ptr=None):
    """Arrays of hand-made (event type, goroutine, a1, a2 and a3) tuples for the functions
    that move allocations, and their _GoAllocs with each event at its index (t_ptr: the
    pointer bytes of each type id, for the allocations' kinds; default: none has pointers)."""
    from goalloc.trace.importers.gotrace import _GoAllocs

    typ = np.array([e[0] for e in evs], np.uint8)
    g_of = np.array([e[1] for e in evs], np.int64)
    a1 = np.array([e[2] for e in evs], np.int64)
    ax = np.array([e[3] for e in evs], np.int64)
    key = np.arange(len(evs), dtype=np.int64) * 100
    order = np.arange(len(evs), dtype=np.int64)
    t_ptr = np.zeros(1, np.int64) if t_ptr is None else t_ptr
    ga = _GoAllocs(order, typ, a1, ax, ax, t_ptr, g_of, order.copy())
    return typ, a1, ax, key, ga


def test_moved_allocations_go_where_a_stable_sort_by_position_puts_them():
    """_GoAllocs.reordered inserts the moved events into the order instead of sorting it by
    float positions (as the importer did until 2026-12-04): the same order, ties between
    moved events included, for any merge order and any moves (each half or a quarter of a
    step from an event's position, as the functions that move allocations make them)."""
    rng = np.random.default_rng(14)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        order = rng.permutation(n).astype(np.int64)
        at = np.empty(n, np.int64)
        at[order] = np.arange(n)  # each event's merge position
        _typ, _a1, _ax, _key, ga = _events([(0, 0, 0, 0)] * n)
        ga.order = order
        pos = at.astype(np.float64)
        for e in rng.choice(n, int(rng.integers(1, n + 1)), replace=True).tolist():
            to = int(rng.integers(0, n)) + float(rng.choice([-0.5, -0.25, 0.5]))
            ga.move(e, pos[e], to)
            pos[e] = to
        assert ga.reordered().tolist() == np.argsort(pos, kind="stable").tolist()


def test_moved_is_delete_then_insert():
    """gotrace._moved gives what np.insert(np.delete(order, was), idx, ev) gives."""
    from goalloc.trace.importers.gotrace import _moved

    rng = np.random.default_rng(18)
    for _ in range(300):
        n = int(rng.integers(1, 30))
        order = rng.permutation(n).astype(np.int64)
        was = np.sort(rng.choice(n, int(rng.integers(0, n + 1)), replace=False)).astype(np.int64)
        m = int(rng.integers(0, 6))
        idx = rng.integers(0, n - was.shape[0] + 1, m).astype(np.int64)
        ev = rng.integers(100, 200, m).astype(np.int64)
        want = np.insert(np.delete(order, was), idx, ev)
        assert _moved(order, was, idx, ev).tolist() == want.tolist()


def test_the_cycle_s_own_starter_blocked_in_gcstart_is_not_moved_again():
    """The goroutine that began a cycle blocks in gcStart too (its stop, preempted); its
    object was moved before the GCBegin by _move_cycle_starters, so its next allocation,
    much later, stays where it is (Go 1.26 encoding/json BenchmarkCodeEncoder: a 1.85 MiB
    buffer 18 ms later had been moved before the cycle, ahead of its own span)."""
    from goalloc.trace.importers import gotrace_wire as w
    from goalloc.trace.importers.gotrace import LATE_ANY, _move_blocked_starters

    per_page = 1024
    # G1: GCBegin (0), blocks in gcStart (1), its trigger object already moved before the
    # GCBegin (pos -0.5); later a span (2) and an object in it (3)
    typ, a1, a2, key, ga = _events(
        [(w.EV_GC_BEGIN, 1, 0, 0), (w.EV_GO_BLOCK, 1, 0, 0), (w.EV_SPAN_ALLOC, 1, 40, 237),
         (w.EV_HEAP_OBJECT_ALLOC, 1, 40 * per_page, 0), (w.EV_HEAP_OBJECT_ALLOC, 1, 9, 0)])
    ga.move(4, 4, -0.5)  # the trigger object, moved by _move_cycle_starters
    assert _move_blocked_starters([(1, LATE_ANY)], [(0, LATE_ANY)], ga, key, per_page) == 0
    assert 3 not in ga.moved and key[3] == 300
    assert ga.reordered().tolist() == [4, 0, 1, 2, 3]


def test_a_block_that_ended_before_a_cycle_did_not_wait_for_it():
    """A goroutine blocked in gcStart does nothing until it resumes: one that ran (allocated,
    blocked again) between its block and a cycle's GCBegin was not waiting for that cycle, and
    its next allocation of the blocked malloc path stays where it is. Go 1.27 recordings
    goalloc-go1.27-tiitsua1 and -feb7lctp: the starter of one cycle blocked in its own
    gcStart, went on allocating pointerful objects (or blocked in an assist's gcMarkDone until
    the next cycle), and its next allocation of that path came a cycle or two later, in a span
    another goroutine took after that cycle's GCBegin; moved before that GCBegin, the object
    fell outside any span."""
    from goalloc.trace.importers import gotrace_wire as w
    from goalloc.trace.importers.gotrace import LATE_NOSCAN, LATE_SCAN, _move_blocked_starters

    per_page = 1024
    t_ptr = np.array([0, 8], np.int64)  # type 1 holds pointers
    late = [(0, LATE_SCAN), (3, LATE_NOSCAN)]

    def moved(between, obj=10 * per_page):
        # G1 begins cycle A (0) and blocks in gcStart (1); `between` (2); G2 begins cycle B (3)
        # and takes span 10 (4); G1's next noscan object (5)
        _, _, _, key, ga = _events(
            [(w.EV_GC_BEGIN, 1, 0, 0), (w.EV_GO_BLOCK, 1, 0, 0), between,
             (w.EV_GC_BEGIN, 2, 0, 0), (w.EV_SPAN_ALLOC, 2, 10, 1),
             (w.EV_HEAP_OBJECT_ALLOC, 1, obj, 0)], t_ptr)
        n = _move_blocked_starters([(1, LATE_NOSCAN)], late, ga, key, per_page)
        return n, ga.moved.get(5)

    # G1 allocated a pointerful object between: its object in span 10 stays
    assert moved((w.EV_HEAP_OBJECT_ALLOC, 1, 3, 1)) == (0, None)
    # nor when G1 blocked again between (in an assist's gcMarkDone) instead of allocating
    assert moved((w.EV_GO_BLOCK, 1, 0, 0)) == (0, None)
    # when the event between was another goroutine's, G1 may have waited for B: its object
    # (here in an older span, 20) goes before B's GCBegin
    assert moved((w.EV_HEAP_OBJECT_ALLOC, 3, 3, 1), 20 * per_page) == (1, 2.75)


def test_a_large_trigger_object_is_its_span_s_not_a_later_one_at_the_same_base():
    """A cycle begun in mallocgcLarge whose object was traced before its GCBegin: nothing
    moves. The goroutine's next object at that base after the cycle's stop lives in another
    span placed there after the first was freed (Go 1.26 encoding/json BenchmarkCodeEncoder:
    a 1.85 MiB buffer moved 18 ms back, before its own span, and dropped as outside spans)."""
    from goalloc.trace.importers import gotrace_wire as w
    from goalloc.trace.importers.gotrace import LATE_ANY, _move_cycle_starters

    per_page = 1024
    # (event type, goroutine, a1, a3): G1 takes large span 10 and its object, begins a cycle
    # (GCBegin, its stop's STWEnd); span 10 is freed; G1 takes a new large span at page 10
    # and its object there
    evs = [(w.EV_SPAN_ALLOC, 1, 10, 0), (w.EV_HEAP_OBJECT_ALLOC, 1, 10 * per_page, 0),
           (w.EV_GC_BEGIN, 1, 0, 0), (w.EV_STW_END, 1, 0, 0), (w.EV_SPAN_FREE, 2, 10, 0),
           (w.EV_SPAN_ALLOC, 1, 10, 0), (w.EV_HEAP_OBJECT_ALLOC, 1, 10 * per_page, 0)]
    typ, a1, a3, key, ga = _events(evs)
    assert _move_cycle_starters([(2, LATE_ANY)], ga, key, per_page) == 0
    assert not ga.moved and key[6] == 600
    # without the free and the second span, the object traced after the stop is the trigger's
    evs = evs[:4] + [(w.EV_HEAP_OBJECT_ALLOC, 1, 10 * per_page, 0)]
    evs[1] = (w.EV_HEAP_OBJECT_ALLOC, 1, 20 * per_page, 0)  # (an object elsewhere before)
    typ, a1, a3, key, ga = _events(evs)
    assert _move_cycle_starters([(2, LATE_ANY)], ga, key, per_page) == 1
    assert (ga.moved[4], key[4]) == (1.5, 200)  # just before the GCBegin, at its time
    assert ga.reordered().tolist() == [0, 1, 4, 2, 3]


def test_no_event_has_more_arguments_than_the_decoder_reads():
    """decode_events reads MAX_EVENT_ARGS arguments (dt included) into locals: an event type
    whose table entry says more, in any wire version read, would desynchronise the batch."""
    from goalloc.trace.importers import gotrace_wire as w

    for version in range(22, 28):
        t = w.nargs_table(version)
        assert 1 <= t[t >= 0].min() and t.max() <= w.MAX_EVENT_ARGS, version


def test_a_large_object_traced_in_the_next_generation_is_allocated_at_its_span(tmp_path, cli):
    """mallocgc zeroes a large object preemptibly after allocLarge and traces it only then
    (malloc.go mallocgcLarge, every release): when the tracer begins a new generation
    meanwhile, the SpanAlloc is in one generation and the HeapObjectAlloc in the next. A GC
    cycle that began in between marked a heap holding the span, so the object is allocated
    at its span (its time, its P), before that GCBegin, and the later event is dropped;
    the object's sweep free still frees it."""
    big = 3 * 8192 // 8  # object id of page 3
    m1 = (ev(13, 0, 0, 1) + SPAN48 + ev(132, 1, 0, 1)  # t=1002 a 48 B object (gen 1)
          + ev(129, 1, 3, 5, 1 << 1)  # t=1003 a large noscan span: 5 pages at page 3
          + ev(29, 1, 1, 0))  # t=1004 GCBegin

    def gen2(obj: bytes) -> bytes:
        return (types_batch(2, (1, 8, 0, "uint8"))
                + batch(2, 1, 5000, ev(13, 0, 0, 1) + obj  # t=5001 its object
                        + ev(30, 1, 1) + ev(133, 1, big))  # GCEnd; swept: freed
                + batch(2, 0, 0, b"\x08" + enc(15625000)))

    notes = import_gotrace(hand(tmp_path / "c.trace", m1, gen2=gen2(ev(132, 1, big, 1))),
                           tmp_path / "c.msgpack")
    _, c = read(tmp_path / "c.msgpack")
    rows = [(int(k), int(s)) for k, s in zip(c["kind"], c["size"], strict=True)
            if k in (fmt.SPAN_ALLOC, fmt.ALLOC, fmt.GC_START, fmt.FREE)]
    assert rows == [(fmt.SPAN_ALLOC, 1), (fmt.ALLOC, 48), (fmt.SPAN_ALLOC, 5),
                    (fmt.ALLOC, 5 * 8192), (fmt.GC_START, 0), (fmt.FREE, 0)]
    a = np.flatnonzero(c["kind"] == fmt.ALLOC)[1]
    s = np.flatnonzero(c["kind"] == fmt.SPAN_ALLOC)[1]
    assert (c["ts"][a], c["p"][a]) == (c["ts"][s], c["p"][s])
    assert c["flags"][a] & fmt.FLAG_NOSCAN
    assert c["id"][c["kind"] == fmt.FREE].tolist() == [c["id"][a]]
    assert notes["large_allocs_carried"] == 1 and notes["live_at_end"] == 1
    assert notes["objects_outside_spans"] == notes["unknown_frees"] == 0
    code, out, _ = cli("import", "gotrace", tmp_path / "c.trace", "-o", tmp_path / "e.msgpack")
    assert code == 0 and "large allocs carried 1" in next(
        ln for ln in out.splitlines() if ln.startswith("read as the runtime ran"))
    # the same trace with the object's event in the first generation: moved, not carried
    m1 += ev(132, 1, big, 0)
    notes = import_gotrace(hand(tmp_path / "d.trace", m1, gen2=gen2(b"")),
                           tmp_path / "d.msgpack")
    assert notes["large_allocs_carried"] == 0 and notes["large_allocs_moved"] == 1


def test_span_pages_in_merge_order_and_none_for_a_large_snapshot():
    """span_pages lists the Span events (the snapshot) and the first SpanAllocs by their
    place in the merge order, [page, pages] each (page = the span id); a snapshot of more
    than MAX_SNAPSHOT_SPAN_PAGES spans is not kept (the header stays small)."""
    from goalloc.trace.importers import gotrace
    from goalloc.trace.importers import gotrace_wire as w

    typ = np.array([w.EV_SPAN_ALLOC, w.EV_SPAN, w.EV_SPAN, w.EV_HEAP_OBJECT, w.EV_SPAN_ALLOC])
    a1 = np.array([700, 0, 600, 9, 73])
    a2 = np.array([32, 1, 4, 0, 1])
    order = np.array([2, 1, 3, 4, 0])  # the merge: 600 before 0, 73 before 700
    assert gotrace._span_pages(typ, a1, a2, order) == {
        "snapshot": [[600, 4], [0, 1]], "first_allocs": [[73, 1], [700, 32]]}
    n = gotrace.MAX_SNAPSHOT_SPAN_PAGES + 1
    big = np.full(n, w.EV_SPAN)
    assert gotrace._span_pages(big, np.arange(n), np.ones(n, np.int64), np.arange(n)) is None


def test_metric_samples_placed_at_their_read():
    """A goalloc.metrics record goes where its values were read (worked out by hand, M0
    allocating, M1 the sampler): with no read age, right after its M's previous event (its
    wake-up) when that is within READ_WINDOW_NS of the record, else READ_WINDOW_NS before
    the record (the OS held the sampler's thread between its wake-up and the read); with a
    read age, that long before the record, whatever its M did since (a sampler preempted
    after its read resumes with an event of its own)."""
    from types import SimpleNamespace

    from goalloc.trace.importers import gotrace
    from goalloc.trace.importers import gotrace_wire as w

    ms = 1_000_000
    alloc, wake, log = w.EV_HEAP_OBJECT_ALLOC, w.EV_GO_START, w.EV_USER_LOG
    ev = [  # (type, time, M, message string id for a record)
        (alloc, 100, 0, 0), (wake, 110, 1, 0), (alloc, 200, 0, 0), (alloc, 2 * ms, 0, 0),
        (alloc, 2_400_000, 0, 0), (log, 2_500_000, 1, 10),  # woke 2.4 ms before: at 1.5 ms
        (wake, 3 * ms, 1, 0), (alloc, 3_100_000, 0, 0), (alloc, 3_200_000, 0, 0),
        (log, 3_300_000, 1, 11),  # read 150 us before: at 3.15 ms
        (wake, 4 * ms, 1, 0), (alloc, 4_010_000, 0, 0),
        (log, 4_020_000, 1, 12),  # an age past its wake-up (preempted after its read): 3.92
        (wake, 5 * ms, 1, 0), (alloc, 5 * ms + 10, 0, 0),
        (log, 5 * ms + 20, 1, 13),  # woke 20 ns before, no age: at the wake-up
    ]
    typ = np.array([e[0] for e in ev], np.int64)
    key = np.array([e[1] for e in ev], np.int64)
    mm = np.array([e[2] for e in ev], np.int64)
    a2 = np.where(typ == log, 1, 0).astype(np.int64)  # the category's string id
    a3 = np.array([e[3] for e in ev], np.int64)
    obj = '{"/memory/classes/heap/objects:bytes":1'
    strings = {1: fmt.METRICS_LOG_CATEGORY, 10: obj + "}",
               11: obj + ',"goalloc.read_age_ns":150000}',
               12: obj + ',"goalloc.read_age_ns":100000}', 13: obj + "}"}
    st = SimpleNamespace(metric_samples_moved=0, metric_samples_by_read_age=0)
    order = gotrace._metric_samples_at_their_read(np.arange(len(ev)), typ, key, mm, a2, a3,
                                                  strings, st)
    assert order.tolist() == [0, 1, 2, 5, 3, 4, 6, 7, 9, 8, 12, 10, 11, 13, 15, 14]
    assert key[[5, 9, 12, 15]].tolist() == [1_500_000, 3_150_000, 3_920_000, 5 * ms]
    assert (st.metric_samples_moved, st.metric_samples_by_read_age) == (4, 2)
