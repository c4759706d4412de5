"""Trace format v1: round trips, forward compatibility, limits (docs/trace-format.md)."""

from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest
from conftest import write_trace
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import goalloc.trace as trace
from goalloc.errors import GoallocError, TraceError
from goalloc.trace import Header, Writer
from goalloc.trace import format as fmt

EVENTS = [
    {"kind": fmt.ALLOC, "ts": 0, "p": 0, "id": 0, "size": 24, "flags": fmt.FLAG_NOSCAN},
    {"kind": fmt.ALLOC, "ts": 5, "p": 1, "id": 1, "size": 100},
    {"kind": fmt.GC_START, "ts": 7, "id": 1},
    {"kind": fmt.STW_BEGIN, "ts": 7, "aux": fmt.STW_GC_SWEEP_TERM},
    {"kind": fmt.STW_END, "ts": 8},
    {"kind": fmt.FREE, "ts": 10, "p": 0, "id": 0},
    {"kind": fmt.ALLOC, "ts": 20, "p": 0, "id": 0, "size": 5000, "aux": 5376},
    {"kind": fmt.GC_END, "ts": 25, "id": 1},
    {"kind": fmt.FREE, "ts": 30, "p": -1, "id": 1},
]


def read_all(path):
    with trace.open(path) as r:
        chunks = list(r)
        header = r.header
    cols = {name: np.concatenate([getattr(c, name) for c in chunks]) for name in fmt.COLUMNS}
    return header, cols, chunks


def expected_columns(events):
    return {name: np.array([e.get(name, 0) for e in events], dtype=dt)
            for name, dt in fmt.COLUMNS.items()}


@pytest.mark.parametrize("chunk_events", [1, 2, 4, 1000])
@pytest.mark.parametrize("codec", ["raw", "zstd", "zstd-shuffle"])
def test_round_trip_hand_written(tmp_path, chunk_events, codec):
    path = write_trace(tmp_path / "t.msgpack", EVENTS, Header(producer="test", gomaxprocs=2),
                       chunk_events=chunk_events, codec=codec)
    header, cols, chunks = read_all(path)
    assert header.producer == "test" and header.gomaxprocs == 2
    assert header.events == len(EVENTS)  # patched in by the writer at close
    want = expected_columns(EVENTS)
    for name in fmt.COLUMNS:
        np.testing.assert_array_equal(cols[name], want[name], err_msg=name)
    assert [c.n for c in chunks] == [min(chunk_events, len(EVENTS) - s)
                                     for s in range(0, len(EVENTS), chunk_events)]
    assert [c.start for c in chunks] == list(range(0, len(EVENTS), chunk_events))


@pytest.mark.parametrize("codec", ["zstd", "zstd-shuffle"])
def test_a_header_set_as_first_gives_the_bytes_of_a_writer_opened_with_it(tmp_path, codec):
    """Writer.set_header(as_first=True): a writer opened with a provisional header writes the
    file a writer opened with the final one writes (the Go importer opens its output before
    it knows the release, #14); a later set_header writes the usual late form."""
    def written(name, *headers, as_first=True):
        with Writer(tmp_path / name, headers[0], codec=codec, force=True) as w:
            w.write(kind=[1, 2], ts=[0, 5], id=[0, 0], size=[8, 0])
            for h in headers[1:]:
                w.set_header(h, as_first=as_first)
        return (tmp_path / name).read_bytes()

    final = Header(producer="test", gomaxprocs=2, source={"go_version": "go1.26.0"})
    provisional = Header(producer="test", gomaxprocs=2, source={"go_version": None})
    assert written("a", provisional, final) == written("b", final)
    # the event count packed as such, not in the 9-byte placeholder
    assert written("c", provisional, final, as_first=False) != written("b", final)
    assert written("c", provisional, final, as_first=False) == written("d", final, final,
                                                                     as_first=False)


@pytest.mark.parametrize("late", [None, "as_first", "late"])
def test_a_header_holding_the_count_placeholders_bytes_still_counts_its_events(tmp_path, late):
    """The event count is patched into a 9-byte placeholder (a uint64 of 2^64 - 1) at close;
    a header value of 2^64 - 1 elsewhere makes those bytes ambiguous: the header is then
    written whole with the count, so the file reads back (it had declared 2^64 - 1 events)."""
    h = Header(producer="test", gomaxprocs=1, source={"x": [(1 << 64) - 1]})
    path = tmp_path / "t.msgpack"
    with Writer(path, Header(producer="test") if late else h, force=True) as w:
        w.write(kind=[1, 2, 1], ts=[0, 5, 6], id=[0, 0, 1], size=[8, 0, 8])
        if late:
            w.set_header(h, as_first=late == "as_first")
    with trace.open(path) as r:
        assert r.header.events == 3
        assert r.header.source == {"x": [(1 << 64) - 1]}
        assert sum(c.n for c in r.chunks()) == 3


def _stored_columns(path) -> dict[str, bytes]:
    """The first chunk's columns as stored, decompressed (no reader involved)."""
    import zstandard

    _header, chunk = list(msgpack.Unpacker(open(path, "rb"), raw=False))[:2]
    return {k: zstandard.ZstdDecompressor().decompress(v) for k, v in chunk["cols"].items()}


def test_zstd_shuffle_stores_time_differences_in_byte_planes(tmp_path):
    """The codec's layout worked by hand (docs/trace-format.md): ts 1, 3, 258 is stored as
    the differences 1, 2, 255, byte 0 of each, then byte 1 of each, ...; id 0x0102, 0x0304,
    0 as 02 04 00 01 03 00 and zeros; p (int16) -1, 2, 0x0100 as ff 02 00 ff 00 01; kind
    (one byte) as it is. The header names the codec a required feature of format 1.2."""
    path = tmp_path / "s.msgpack"
    with Writer(path, Header(), codec="zstd-shuffle") as w:
        w.write(kind=[1, 2, 1], ts=[1, 3, 258], p=[-1, 2, 0x0100], id=[0x0102, 0x0304, 0],
                size=[8, 0, 8])
    stored = _stored_columns(path)
    assert stored["ts"] == bytes([1, 2, 255]) + bytes(21)
    assert stored["id"] == bytes([0x02, 0x04, 0, 0x01, 0x03, 0]) + bytes(18)
    assert stored["p"] == bytes([0xFF, 0x02, 0x00, 0xFF, 0x00, 0x01])
    assert stored["kind"] == bytes([1, 2, 1])
    header, cols, _ = read_all(path)
    assert header.version == (1, 2) and header.required == ["zstd-shuffle"]
    np.testing.assert_array_equal(cols["ts"], [1, 3, 258])
    np.testing.assert_array_equal(cols["p"], [-1, 2, 0x0100])
    np.testing.assert_array_equal(cols["id"], [0x0102, 0x0304, 0])


def test_zstd_shuffle_time_differences_wrap(tmp_path):
    """Differences are taken modulo 2**64 (ts from the most negative to the most positive
    int64 and back) and summed back the same way."""
    ts = [-(1 << 63), (1 << 63) - 1, -(1 << 63), 0]
    path = write_trace(tmp_path / "w.msgpack", [{"kind": 1, "ts": t, "id": 0} for t in ts],
                       codec="zstd-shuffle")
    assert _stored_columns(path)["ts"][:4] == bytes([0, 0xFF, 0x01, 0])  # byte 0: 0, -1, 1, 2**63
    _, cols, _ = read_all(path)
    np.testing.assert_array_equal(cols["ts"], ts)


def test_a_reader_that_does_not_know_zstd_shuffle_refuses_the_file(tmp_path, monkeypatch):
    """A goalloc that reads only 1.1 (no zstd-shuffle among its known features) stops at the
    header with one line, instead of meeting chunks it cannot read."""
    path = write_trace(tmp_path / "s.msgpack", EVENTS, codec="zstd-shuffle")
    monkeypatch.setattr(fmt, "KNOWN_REQUIRED_FEATURES", frozenset())
    with pytest.raises(TraceError, match="requires features this goalloc does not know: "
                                         "zstd-shuffle"):
        trace.open(path)


def test_the_codec_feature_follows_the_chunks_not_the_header_read(tmp_path, cli):
    """A zstd-shuffle file converted to JSON Lines or to raw chunks no longer declares the
    codec (nor the 1.2 it needed); converted back with the codec, it is the same file."""
    src = write_trace(tmp_path / "s.msgpack", EVENTS, Header(producer="t"), codec="zstd-shuffle")
    code, _, err = cli("convert", src, "-o", tmp_path / "s.jsonl")
    assert code == 0, err
    head = json.loads((tmp_path / "s.jsonl").read_text().splitlines()[0])
    assert head["version"] == [1, 0] and head["required"] == []
    code, _, err = cli("convert", src, "-o", tmp_path / "raw.msgpack", "--codec", "raw")
    assert code == 0, err
    h, cols, _ = read_all(tmp_path / "raw.msgpack")
    assert h.version == (1, 0) and h.required == []
    np.testing.assert_array_equal(cols["ts"], expected_columns(EVENTS)["ts"])
    code, _, err = cli("convert", tmp_path / "s.jsonl", "-o", tmp_path / "back.msgpack",
                       "--codec", "zstd-shuffle")
    assert code == 0, err
    assert (tmp_path / "back.msgpack").read_bytes() == src.read_bytes()


def test_zstd_shuffle_checksum_detects_a_flipped_bit(tmp_path):
    """The checksum covers the stored (shuffled) bytes: a changed byte plane is caught."""
    import zstandard

    path = write_trace(tmp_path / "t.msgpack", EVENTS, codec="zstd-shuffle")
    objs = list(msgpack.Unpacker(open(path, "rb"), raw=False))
    cols = objs[1]["cols"]
    ts = bytearray(zstandard.ZstdDecompressor().decompress(cols["ts"]))
    ts[len(EVENTS) + 1] ^= 0x04  # byte 1 of the second event's difference
    cols["ts"] = zstandard.ZstdCompressor().compress(bytes(ts))
    path.write_bytes(b"".join(msgpack.packb(o, use_bin_type=True) for o in objs))
    with pytest.raises(TraceError, match="checksum mismatch"):
        read_all(path)


def test_writer_is_atomic_and_refuses_overwrite(tmp_path):
    path = tmp_path / "t.msgpack"
    with pytest.raises(RuntimeError), Writer(path, Header()) as w:
        w.write(kind=[1], ts=[0], id=[0], size=[8])
        raise RuntimeError("boom")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left behind
    write_trace(path, EVENTS)
    with pytest.raises(GoallocError, match="already exists"):
        Writer(path, Header())
    before = path.read_bytes()
    write_trace(path, EVENTS[:2])  # force=True
    assert path.read_bytes() != before


def test_unknown_header_keys_and_columns_are_ignored(tmp_path):
    path = tmp_path / "future.msgpack"
    header = Header().to_map()
    header["version"] = [1, 7]  # a newer minor version
    header["events"] = 2
    header["shiny_new_key"] = {"x": 1}
    kinds = np.array([1, 2], "<u1").tobytes()
    cols = {"kind": kinds, "ts": np.array([0, 1], "<i8").tobytes(),
            "id": np.array([0, 0], "<i8").tobytes(), "size": np.array([8, 0], "<i8").tobytes(),
            "future_col": b"\x01" * 16}
    chunk = {"n": 2, "codec": "raw", "cols": cols, "future_key": 3}
    path.write_bytes(msgpack.packb(header) + msgpack.packb(chunk))
    h, got, _ = read_all(path)
    assert h.version == (1, 7) and h.extra["shiny_new_key"] == {"x": 1}
    np.testing.assert_array_equal(got["size"], [8, 0])
    np.testing.assert_array_equal(got["p"], [0, 0])  # omitted optional column reads as zeros


@pytest.mark.parametrize("change, message", [
    ({"version": [2, 0]}, "version 2.0 is not supported"),
    ({"required": ["time-travel"]}, "requires features this goalloc does not know: time-travel"),
    ({"format": "something-else"}, "not a goalloc trace"),
    ({"frees": "later"}, "'frees' is 'later'"),
])
def test_header_errors(tmp_path, change, message):
    header = Header().to_map()
    header.update(change)
    path = tmp_path / "h.msgpack"
    path.write_bytes(msgpack.packb(header))
    with pytest.raises(TraceError, match=message) as e:
        trace.open(path)
    assert e.value.offset == 0


def test_missing_required_column(tmp_path):
    path = tmp_path / "t.msgpack"
    header = Header(events=1).to_map()
    chunk = {"n": 1, "cols": {"kind": b"\x01", "ts": b"\0" * 8}}
    path.write_bytes(msgpack.packb(header) + msgpack.packb(chunk))
    with pytest.raises(TraceError, match="required column 'id' is missing"):
        read_all(path)


def test_checksum_detects_a_flipped_bit(tmp_path):
    path = write_trace(tmp_path / "t.msgpack", EVENTS)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10  # inside the last column's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(TraceError, match="checksum mismatch"):
        read_all(path)


# -- property: random event streams round-trip exactly ------------------------------------

event = st.fixed_dictionaries({
    "kind": st.integers(0, 255),
    "ts": st.integers(-(1 << 63), (1 << 63) - 1),
    "p": st.integers(-(1 << 15), (1 << 15) - 1),
    "id": st.integers(-(1 << 63), (1 << 63) - 1),
    "size": st.integers(-(1 << 63), (1 << 63) - 1),
    "flags": st.integers(0, 255),
    "aux": st.integers(-(1 << 63), (1 << 63) - 1),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event, min_size=1, max_size=40), chunk=st.integers(1, 9),
       codec=st.sampled_from(["raw", "zstd", "zstd-shuffle"]))
def test_random_streams_round_trip(tmp_path, events, chunk, codec):
    path = tmp_path / "r.msgpack"
    write_trace(path, events, chunk_events=chunk, codec=codec)
    _, cols, _ = read_all(path)
    want = expected_columns(events)
    for name in fmt.COLUMNS:
        np.testing.assert_array_equal(cols[name], want[name])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(event, min_size=1, max_size=30))
def test_random_streams_round_trip_through_jsonl(tmp_path, cli, events):
    src = write_trace(tmp_path / "a.msgpack", events, Header(producer="prop", gomaxprocs=3))
    code, _, err = cli("convert", src, "-o", tmp_path / "a.jsonl", "--force")
    assert code == 0, err
    code, _, err = cli("convert", tmp_path / "a.jsonl", "-o", tmp_path / "b.msgpack", "--force")
    assert code == 0, err
    h1, c1, _ = read_all(src)
    h2, c2, _ = read_all(tmp_path / "b.msgpack")
    assert h1 == h2
    for name in fmt.COLUMNS:
        np.testing.assert_array_equal(c1[name], c2[name])
    assert (tmp_path / "b.msgpack").read_bytes() == src.read_bytes()


def test_hand_written_jsonl_without_header(tmp_path, cli):
    text = "\n".join([
        '# a comment line',
        '{"kind": "alloc", "ts": 0, "id": 0, "size": 24, "flags": ["noscan"]}',
        '{"kind": "alloc", "ts": 3, "p": 1, "id": 1, "size": 40000}',
        '',
        '{"kind": "stw_begin", "ts": 4, "reason": "GC sweep termination"}',
        '{"kind": "free", "ts": 9, "id": 0}',
    ]) + "\n"
    (tmp_path / "h.jsonl").write_text(text)
    code, _, err = cli("convert", tmp_path / "h.jsonl", "-o", tmp_path / "h.msgpack")
    assert code == 0, err
    header, cols, _ = read_all(tmp_path / "h.msgpack")
    assert header.producer == "hand-written" and header.events == 4
    np.testing.assert_array_equal(cols["kind"], [1, 1, 6, 2])
    np.testing.assert_array_equal(cols["flags"], [1, 0, 0, 0])
    np.testing.assert_array_equal(cols["aux"], [0, 0, fmt.STW_GC_SWEEP_TERM, 0])
    np.testing.assert_array_equal(cols["p"], [0, 1, 0, 0])


@pytest.mark.parametrize("line, message", [
    ('{"kind": "alloc", "ts": 0, "id": 0, "size": 8', "line 1: invalid JSON"),
    ('{"kind": "malloc", "ts": 0}', "line 1, event 0: unknown event kind 'malloc'"),
    ('{"kind": "alloc", "ts": "soon"}', "'ts' must be an integer"),
    ('{"kind": "alloc", "ts": 0, "flags": ["sparkly"]}', "unknown flag 'sparkly'"),
])
def test_jsonl_errors_name_the_line(tmp_path, cli, line, message):
    (tmp_path / "bad.jsonl").write_text(line + "\n")
    code, out, err = cli("convert", tmp_path / "bad.jsonl", "-o", tmp_path / "o.msgpack")
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "o.msgpack").exists()


def test_jsonl_to_stdout_is_one_event_per_line(tmp_path, cli):
    src = write_trace(tmp_path / "a.msgpack", EVENTS)
    code, out, _ = cli("convert", src, "-o", "-")
    assert code == 0
    lines = out.splitlines()
    assert json.loads(lines[0])["format"] == "goalloc-trace"
    assert len(lines) == 1 + len(EVENTS)
    assert json.loads(lines[4]) == {"kind": "stw_begin", "ts": 7, "reason": "GC sweep termination"}
