"""Event validation (`goalloc info`): every anomaly class, lenient mode, the summary figures,
and a corrupted-file corpus that must always end in one line and exit status 2."""

from __future__ import annotations

import json
import random

import msgpack
import numpy as np
import pytest
from conftest import run_goalloc, write_trace

from goalloc.trace import Header
from goalloc.trace import format as fmt
from goalloc.trace.validate import scan

A, F = fmt.ALLOC, fmt.FREE

GOOD = [
    {"kind": A, "ts": 0, "p": 0, "id": 0, "size": 8},
    {"kind": A, "ts": 1, "p": 1, "id": 1, "size": 100},
    {"kind": A, "ts": 2, "p": 0, "id": 2, "size": 40000},
    {"kind": F, "ts": 3, "p": 1, "id": 1},
    {"kind": A, "ts": 4, "p": 1, "id": 1, "size": 3},
    {"kind": F, "ts": 5, "p": 0, "id": 2},
    {"kind": fmt.GC_START, "ts": 6, "id": 1},
]


def test_summary_figures_by_hand(tmp_path):
    s = scan(write_trace(tmp_path / "t.msgpack", GOOD, Header(gomaxprocs=2)))
    assert s.events == 7
    assert s.kinds == {"alloc": 4, "free": 2, "gc_start": 1}
    assert s.alloc_bytes == 8 + 100 + 40000 + 3
    assert s.free_bytes == 100 + 40000
    # live: 8, 108, 40108 (peak, at ts 2), 40008, 40011, 11
    assert (s.peak_live_bytes, s.peak_live_objects, s.peak_live_ts) == (40108, 3, 2)
    assert (s.live_bytes_end, s.live_objects_end) == (11, 2)
    assert (s.ts_min, s.ts_max) == (0, 6)
    assert s.procs == [0, 1]
    # log2 buckets: 8 -> [8,15], 100 -> [64,127], 40000 -> [32768,65535], 3 -> [2,3]
    assert s.size_histogram == [(2, 3, 1), (8, 15, 1), (64, 127, 1), (32768, 65535, 1)]
    assert s.anomalies == {}


CASES = [
    # (events, anomaly key, message fragment, index of the bad event)
    (GOOD[:1] + [{"kind": F, "ts": 1, "id": 5}], "free_unknown", "free of an unknown or already-freed id (free, id 5)", 1),
    (GOOD[:1] + [{"kind": F, "ts": 1, "id": 0}, {"kind": F, "ts": 2, "id": 0}], "free_unknown", "already-freed", 2),
    (GOOD[:1] + [{"kind": A, "ts": 1, "id": 0, "size": 8}], "alloc_live", "alloc of an id that is still live (alloc, id 0)", 1),
    (GOOD[:1] + [{"kind": A, "ts": 1, "id": 1, "size": -4}], "bad_size", "negative or absurd size", 1),
    (GOOD[:1] + [{"kind": A, "ts": 1, "id": 1, "size": (1 << 40) + 1}], "bad_size", "size 1099511627777", 1),
    (GOOD[:2] + [{"kind": A, "ts": 0, "p": 1, "id": 2, "size": 8}], "ts_backwards", "timestamp goes backwards on its P (alloc, P 1, ts 0)", 2),
    (GOOD[:1] + [{"kind": 99, "ts": 1}], "unknown_kind", "unknown event kind (99, kind 99)", 1),
    (GOOD[:1] + [{"kind": A, "ts": 1, "id": 1 << 36, "size": 8}], "bad_id", "not dense", 1),
    (GOOD[:1] + [{"kind": A, "ts": 1, "id": -1, "size": 8}], "bad_id", "id -1", 1),
    (GOOD[:1] + [{"kind": A, "ts": 1, "p": -7, "id": 1, "size": 8}], "bad_p", "invalid P", 1),
]


@pytest.mark.parametrize("events, key, message, index", CASES)
def test_each_anomaly_stops_with_one_line_and_exit_2(tmp_path, cli, events, key, message, index):
    path = write_trace(tmp_path / "t.msgpack", events)
    code, out, err = cli("info", path)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"goalloc: error: {path}: byte ")
    assert f"event {index}: " in err and message in err
    code, out, err = cli("info", path, "--lenient", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["anomalies"] == {key: 1}
    assert doc["first_anomaly"]["event"] == index
    assert doc["events"] == len(events) - 1  # the anomalous event is skipped


def test_sweep_semantics_treat_alloc_of_live_id_as_implicit_free(tmp_path):
    events = GOOD[:1] + [{"kind": A, "ts": 1, "id": 0, "size": 16}]
    s = scan(write_trace(tmp_path / "t.msgpack", events, Header(frees="sweep")))
    assert s.anomalies == {} and s.implicit_frees == 1
    assert (s.live_objects_end, s.live_bytes_end, s.free_bytes) == (1, 16, 8)


def test_timestamps_of_events_without_a_p_are_not_ordered(tmp_path):
    events = GOOD[:2] + [{"kind": F, "ts": 0, "p": -1, "id": 0}]
    assert scan(write_trace(tmp_path / "t.msgpack", events)).anomalies == {}


def test_info_json_is_deterministic(tmp_path, cli):
    path = write_trace(tmp_path / "t.msgpack", GOOD)
    outs = {cli("info", path, "--json")[1] for _ in range(2)}
    assert len(outs) == 1


# -- corrupted-file corpus ----------------------------------------------------------------


def _sample_trace(tmp_path):
    rng = np.random.default_rng(7)
    n = 3000
    kind = np.where(np.arange(n) % 2 == 0, A, F)
    ids = np.arange(n) // 2
    cols = {"kind": kind, "ts": np.arange(n) * 3, "id": ids, "p": (ids % 3),
            "size": np.where(kind == A, rng.integers(1, 70000, n), 0), "flags": ids % 2}
    path = tmp_path / "good.msgpack"
    from goalloc.trace import Writer

    with Writer(path, Header(gomaxprocs=3), chunk_events=500, force=True) as w:
        w.write(**cols)
    return path


def _corpus(good: bytes):
    rnd = random.Random(1234)
    cases = []
    for cut in sorted({0, 1, 5, 17, 60, 100, len(good) // 3, len(good) // 2, len(good) - 1}
                      | {rnd.randrange(len(good)) for _ in range(10)}):
        cases.append((f"truncated at {cut}", good[:cut]))
    for k in range(40):
        pos = rnd.randrange(len(good))
        b = bytearray(good)
        b[pos] ^= 1 << rnd.randrange(8)
        cases.append((f"bit flip {k} at {pos}", bytes(b)))
    header = msgpack.packb(Header(events=10).to_map())
    cases.append(("huge bin length", header + b"\x84\xa1n\x0a\xa4cols\x81\xa4kind\xc6\x7f\xff\xff\xff"))
    cases.append(("huge map length", header + b"\xdf\x7f\xff\xff\xff"))
    cases.append(("huge array length", header + b"\xdd\x7f\xff\xff\xff"))
    cases.append(("huge str length", b"\xdb\x7f\xff\xff\xff"))
    cases.append(("deep nesting", b"\x91" * 100000))
    cases.append(("random garbage", bytes(rnd.randrange(256) for _ in range(4096))))
    cases.append(("chunk with n=2^31", header + msgpack.packb({"n": 1 << 31, "cols": {}})))
    cases.append(("column length mismatch", header + msgpack.packb(
        {"n": 10, "cols": {"kind": b"\x01" * 9, "ts": b"\0" * 80, "id": b"\0" * 80}})))
    import zstandard

    bomb = zstandard.ZstdCompressor().compress(b"\0" * (64 << 20))
    cases.append(("zstd bomb", header + msgpack.packb(
        {"n": 10, "codec": "zstd", "cols": {"kind": bomb, "ts": bomb, "id": bomb}})))
    return cases


def test_corrupted_files_give_one_line_and_exit_2(tmp_path, cli):
    good = _sample_trace(tmp_path).read_bytes()
    code, _, err = cli("info", tmp_path / "good.msgpack")
    assert code == 0, err
    bad = tmp_path / "bad.msgpack"
    failures = []
    for name, data in _corpus(good):
        bad.write_bytes(data)
        code, out, err = cli("info", bad)
        ok = code == 2 and err.count("\n") == 1 and err.startswith("goalloc: error: ") and "byte" in err
        if not ok:
            failures.append((name, code, err[-300:]))
    assert not failures, failures


def test_corrupted_file_in_a_subprocess_has_no_traceback(tmp_path):
    good = _sample_trace(tmp_path).read_bytes()
    (tmp_path / "cut.msgpack").write_bytes(good[: len(good) // 2])
    r = run_goalloc("info", tmp_path / "cut.msgpack")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "truncated" in r.stderr and "byte" in r.stderr and "event" in r.stderr


def test_missing_file(tmp_path):
    r = run_goalloc("info", tmp_path / "nope.msgpack")
    assert r.returncode == 2 and "cannot open" in r.stderr and r.stderr.count("\n") == 1
