"""heaptrack raw importer: hand-made records with hand-worked events and times, a real
recording (zstd-compressed, as heaptrack writes it) against an independent count."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import zstandard

import goalloc.trace as trace
from goalloc.trace import format as fmt
from goalloc.trace.importers.heaptrack import import_heaptrack

DATA = Path(__file__).parent / "data"

HAND = """v 10400 3
x c /usr/bin/prog
m 1 x 55b2eb4c9000 0 1dd08
t 7ff7bcc93b9f 0
+ 10 1 55b300985530
+ 30 1 55b300985560
c a
- 55b300985530
- 7fffdeadbeef
c 14
- 55b300985560
+ 400 2 55b300985600
R a58
"""


def read(path):
    with trace.open(path) as r:
        chunks = list(r)
        return r.header, {k: np.concatenate([getattr(c, k) for c in chunks]) for k in fmt.COLUMNS}


@pytest.mark.parametrize("compress", [False, True])
def test_hand_made_records(tmp_path, compress):
    data = HAND.encode()
    name = "h.raw"
    if compress:
        data = zstandard.ZstdCompressor().compress(data)
        name += ".zst"
    (tmp_path / name).write_bytes(data)
    notes = import_heaptrack(tmp_path / name, tmp_path / "h.msgpack")
    header, c = read(tmp_path / "h.msgpack")
    assert header.frees == "death" and header.sizes == "requested"
    np.testing.assert_array_equal(c["kind"], [1, 1, 2, 2, 1])
    np.testing.assert_array_equal(c["size"], [16, 48, 0, 0, 1024])
    np.testing.assert_array_equal(c["id"], [0, 1, 0, 1, 1])
    # before any marker: 0, 1 ns; `c a` = 10 ms; `c 14` = 20 ms; then +1 ns
    np.testing.assert_array_equal(c["ts"], [0, 1, 10_000_000, 20_000_000, 20_000_001])
    assert notes["unknown_frees"] == 1 and notes["time_markers"] == 2
    assert notes["live_at_end"] == 1


def test_real_recording_matches_an_independent_count(tmp_path):
    src = DATA / "heaptrack-git-version.raw.zst"
    import_heaptrack(src, tmp_path / "g.msgpack")
    _, c = read(tmp_path / "g.msgpack")
    text = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(src.read_bytes())).read().decode()
    live, allocs, frees, sizes = set(), 0, 0, []
    for line in text.splitlines():
        tok = line.split()
        if tok and tok[0] == "+":
            allocs += 1
            sizes.append(int(tok[1], 16))
            live.add(tok[3])
        elif tok and tok[0] == "-" and tok[1] in live:
            live.discard(tok[1])
            frees += 1
    assert allocs > 50
    assert (c["kind"] == fmt.ALLOC).sum() == allocs
    assert (c["kind"] == fmt.FREE).sum() == frees
    assert sorted(c["size"][c["kind"] == fmt.ALLOC].tolist()) == sorted(sizes)
    assert (np.diff(c["ts"]) > 0).all()


@pytest.mark.parametrize("text, line", [
    ("v 10400 3\n+ 10 1\n", 2),
    ("+ 10 1 zz\n", 1),
    ("c a\n- \n", 2),
    ("~ 1\n", 1),
])
def test_malformed_records_name_the_line(tmp_path, cli, text, line):
    (tmp_path / "bad.raw").write_text(text)
    code, out, err = cli("import", "heaptrack", tmp_path / "bad.raw", "-o", tmp_path / "o.msgpack")
    assert code == 2 and err.count("\n") == 1
    assert f"line {line}" in err and "not a heaptrack raw line" in err
    assert not (tmp_path / "o.msgpack").exists()


def test_corrupt_compressed_file(tmp_path, cli):
    data = bytearray((DATA / "heaptrack-git-version.raw.zst").read_bytes())
    (tmp_path / "cut.raw.zst").write_bytes(bytes(data[: len(data) // 2]))
    code, out, err = cli("import", "heaptrack", tmp_path / "cut.raw.zst", "-o", tmp_path / "o.msgpack")
    assert code == 2 and err.count("\n") == 1 and "byte" in err


CALLS = """v 10400 3
x c /usr/bin/app
m 1 -
m 1 x 400000 0 1000
m e /lib/libc.so.6 7f0000000000 0 2000 3000 1000
t 7f0000001234 0
t 400abc 1
+ 10 2 a000
m 1 -
m e /lib/libc.so.6 7f1000000000 0 2000
t 7f1000000010 0
t 7f0000001234 3
+ 20 1 a100
+ 30 3 a200
+ 40 4 a300
+ 50 0 a400
+ 60 9 a500
"""


def test_call_sites_from_the_trace_tree(tmp_path):
    """Each alloc's site is its trace's innermost node (#17), named `file+0xOFFSET` from the
    module list written before that node: node 1 (libc at 0x7f0000000000) stays libc+0x1234
    after the list is re-read with libc elsewhere; node 4, the same ip added after the
    re-read, is in no module and named by address; trace 0 and a trace the tree does not
    have give no site."""
    (tmp_path / "c.raw").write_text(CALLS)
    notes = import_heaptrack(tmp_path / "c.raw", tmp_path / "c.msgpack")
    header, c = read(tmp_path / "c.msgpack")
    assert header.sites.kind == "call-site"
    names = [None, *header.sites.names]
    assert [names[s] for s in c["site"]] == ["app+0xabc", "libc.so.6+0x1234", "libc.so.6+0x10",
                                             "0x7f0000001234", None, None]
    assert notes["trace_nodes"] == 4 and notes["unknown_traces"] == 1


def test_real_recording_call_sites(tmp_path):
    """On the git recording: as many sites as distinct innermost ips of the alloc lines'
    traces (counted here from the `t` and `+` lines), and the first alloc (trace 4, ip
    7ff7bc6a57b9) in libstdc++ mapped at 7ff7bc600000: libstdc++.so.6+0xa57b9."""
    src = DATA / "heaptrack-git-version.raw.zst"
    text = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(src.read_bytes())).read().decode()
    node_ip, leaf_ips = [None], set()
    for line in text.splitlines():
        tok = line.split()
        if tok and tok[0] == "t":
            node_ip.append(tok[1])
        elif tok and tok[0] == "+":
            leaf_ips.add(node_ip[int(tok[2], 16)])
    import_heaptrack(src, tmp_path / "g.msgpack")
    header, c = read(tmp_path / "g.msgpack")
    assert len(header.sites.names) == len(leaf_ips) > 10
    assert header.sites.names[c["site"][0] - 1] == "libstdc++.so.6+0xa57b9"
    assert (c["site"][c["kind"] == fmt.ALLOC] > 0).all()
