"""glibc mtrace importer: hand-made lines with hand-worked events, a real recording checked
against an independent line count, and malformed input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import goalloc.trace as trace
from goalloc.trace import format as fmt
from goalloc.trace.importers.mtrace import import_mtrace

DATA = Path(__file__).parent / "data"

HAND = """= Start
@ ./prog:[0x401136] + 0x5555555592a0 0x10
@ ./prog:(main+0x1a)[0x40114a] + 0x5555555592c0 0x30
@ [0x7ffff7e4d000] - 0x5555555592a0
@ ./prog:[0x401160] < 0x5555555592c0
@ ./prog:[0x401160] > 0x555555559300 0x400
+ 0x5555555592a0 0x8
- 0x7fffdeadbeef
! 0x555555559300 0xffffffffff
@ ./prog:[0x401170] + (nil) 0x10
- (nil)
= End
"""


def read(path):
    with trace.open(path) as r:
        chunks = list(r)
        return r.header, {k: np.concatenate([getattr(c, k) for c in chunks]) for k in fmt.COLUMNS}


def test_hand_made_lines(tmp_path):
    (tmp_path / "m.txt").write_text(HAND)
    notes = import_mtrace(tmp_path / "m.txt", tmp_path / "m.msgpack")
    header, c = read(tmp_path / "m.msgpack")
    assert header.sizes == "requested" and header.frees == "death"
    # alloc A (id 0, 16 B); alloc B (id 1, 48 B); free A; realloc B -> free B, alloc C (id 1
    # or 0: ids are recycled, last freed first); alloc at A's old address again.
    np.testing.assert_array_equal(c["kind"], [1, 1, 2, 2, 1, 1])
    np.testing.assert_array_equal(c["size"], [16, 48, 0, 0, 1024, 8])
    np.testing.assert_array_equal(c["id"], [0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(c["ts"], np.arange(6))
    assert notes["unknown_frees"] == 1 and notes["failed_reallocs"] == 1
    assert notes["null_results"] == 1 and notes["live_at_end"] == 2
    assert notes["lines"] == HAND.count("\n")


def test_real_recording_matches_an_independent_count(tmp_path):
    src = DATA / "mtrace-git-version.txt"
    import_mtrace(src, tmp_path / "g.msgpack")
    _, c = read(tmp_path / "g.msgpack")
    # Independent count: a plain Python walk over the text with a dict of live addresses.
    live, allocs, frees, sizes = {}, 0, 0, []
    for line in src.read_text().splitlines():
        tok = line.split("] ")[-1].split() if line.startswith("@") else line.split()
        if tok[0] in "+>":
            allocs += 1
            sizes.append(int(tok[2], 16))
            live[tok[1]] = True
        elif tok[0] in "-<" and live.pop(tok[1], None):
            frees += 1
    assert (c["kind"] == fmt.ALLOC).sum() == allocs
    assert (c["kind"] == fmt.FREE).sum() == frees
    assert sorted(c["size"][c["kind"] == fmt.ALLOC].tolist()) == sorted(sizes)


@pytest.mark.parametrize("text, line", [
    ("= Start\n+ 0x10 0x8\n? what\n", 3),
    ("+ 0x10\n", 1),
    ("= Start\n@ ./prog:[0x1 + 0x10 0x8\n", 2),
    ("+ 0x12345678901234567 0x8\n", 1),
])
def test_malformed_lines_name_the_line(tmp_path, cli, text, line):
    (tmp_path / "bad.txt").write_text(text)
    code, out, err = cli("import", "mtrace", tmp_path / "bad.txt", "-o", tmp_path / "o.msgpack")
    assert code == 2 and err.count("\n") == 1
    assert f"line {line}" in err and "not an mtrace line" in err
    assert not (tmp_path / "o.msgpack").exists()
