"""goalloc.trace.importers.detect: which kind of trace a file holds, from its first few KB."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
import zstandard

from goalloc.errors import GoallocError
from goalloc.trace import Header, Writer
from goalloc.trace.importers import HEAD_BYTES, detect

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
HEAPTRACK_ZST = DATA / "heaptrack-git-version.raw.zst"
MTRACE = DATA / "mtrace-git-version.txt"
NOT_A_TRACE = ("not a trace goalloc can read (expected a goalloc trace, a Go execution trace, "
               "an mtrace or a heaptrack raw file)")


@pytest.mark.parametrize("path", sorted((ROOT / "traces").glob("*.msgpack")), ids=lambda p: p.name)
def test_shipped_goalloc_traces(path):
    assert detect(path) == "goalloc"


def test_shipped_recorder_files():
    assert detect(DATA / "gotrace-tiny.trace") == "gotrace"
    assert detect(HEAPTRACK_ZST) == "heaptrack"
    assert detect(MTRACE) == "mtrace"


def test_written_goalloc_trace_and_header_key_order(tmp_path):
    p = tmp_path / "w.msgpack"
    with Writer(p, Header(producer="test", source={"x": "y" * 9000})) as w:
        w.write(kind=[1, 2], ts=[0, 10], id=[0, 0], size=[24, 0])
    assert detect(p) == "goalloc"  # "format" comes after a source map larger than HEAD_BYTES
    # A msgpack map that is not a goalloc header, and one with another format name.
    q = tmp_path / "other.msgpack"
    q.write_bytes(msgpack.packb({"producer": "x", "events": 3}))
    with pytest.raises(GoallocError, match="not a trace goalloc can read"):
        detect(q)
    q.write_bytes(msgpack.packb({"format": "something-else"}))
    with pytest.raises(GoallocError, match="not a trace goalloc can read"):
        detect(q)


def test_go_trace_versions(tmp_path):
    """Any `go 1.N trace` header is a Go trace: the importer names unsupported versions."""
    raw = (DATA / "gotrace-tiny.trace").read_bytes()
    for v in (22, 25, 26):
        p = tmp_path / f"v{v}.trace"
        p.write_bytes(f"go 1.{v} trace\0\0\0".encode() + raw[16:])
        assert detect(p) == "gotrace"


def test_heaptrack_plain_gzip_zstd(tmp_path):
    text = zstandard.ZstdDecompressor().stream_reader(HEAPTRACK_ZST.open("rb")).read()
    assert text.startswith(b"v ")
    (tmp_path / "h.raw").write_bytes(text)
    (tmp_path / "h.raw.gz").write_bytes(gzip.compress(text))
    # zstd of a text that is not heaptrack: not a trace
    (tmp_path / "m.zst").write_bytes(zstandard.ZstdCompressor().compress(MTRACE.read_bytes()))
    assert detect(tmp_path / "h.raw") == "heaptrack"
    assert detect(tmp_path / "h.raw.gz") == "heaptrack"
    with pytest.raises(GoallocError, match="not a trace goalloc can read"):
        detect(tmp_path / "m.zst")
    # a compressed file cut short of its first block: an error, not a traceback
    (tmp_path / "cut.zst").write_bytes(HEAPTRACK_ZST.read_bytes()[:6])
    with pytest.raises(GoallocError, match="not a trace goalloc can read"):
        detect(tmp_path / "cut.zst")


def test_mtrace_first_lines(tmp_path):
    lines = MTRACE.read_text().splitlines(keepends=True)
    assert lines[0].startswith("= Start")
    at = tmp_path / "at.txt"
    at.write_text("".join(lines[1:]))  # starts with "@ caller + 0x..."
    plus = tmp_path / "plus.txt"
    plus.write_text("+ 0x56371f467610 0x5\n- 0x56371f467610\n")
    assert detect(at) == "mtrace" and detect(plus) == "mtrace"


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + bytes(64), b"hello world\n",
                                     b"{\"format\": \"goalloc-trace\"}\n", b"go 1.x trace\0"],
                         ids=["empty", "png", "text", "jsonl", "bad-go-header"])
def test_other_files_are_a_one_line_error(tmp_path, content):
    p = tmp_path / "f.bin"
    p.write_bytes(content)
    with pytest.raises(GoallocError) as e:
        detect(p)
    assert str(e.value) == f"{p}: {NOT_A_TRACE}"
    assert e.value.exit_code == 2


def test_missing_file(tmp_path):
    with pytest.raises(GoallocError, match="cannot open"):
        detect(tmp_path / "nope.trace")


def test_reads_only_the_head(tmp_path, monkeypatch):
    """A recorder's file can be GBs: detection reads HEAD_BYTES at most."""
    p = tmp_path / "big.txt"
    p.write_bytes(MTRACE.read_bytes()[:HEAD_BYTES] + b"x" * (8 * HEAD_BYTES))
    import builtins

    real_open = builtins.open
    read = []

    class Counting:
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            assert 0 <= n <= HEAD_BYTES
            data = self.f.read(n)
            read.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(builtins, "open", lambda *a, **k: Counting(real_open(*a, **k)))
    assert detect(p) == "mtrace"
    assert sum(read) <= HEAD_BYTES


def test_detect_imports_nothing_heavy():
    code = ("import sys; from goalloc.trace.importers import detect; "
            f"print(detect({str(MTRACE)!r}), detect({str(ROOT / 'traces' / 'go-parser.msgpack')!r}));"
            "print(sorted(m for m in ('numba', 'numpy', 'llvmlite') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "mtrace goalloc"
    assert "numba" not in out[1] and "llvmlite" not in out[1], out[1]
