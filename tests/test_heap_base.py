"""The randomized heap base (Go 1.26+, runtime/mheap.go grow, mpagealloc.go
markRandomPaddingPages): the first grow marks a random 0-511 pages at the start of the first
4 MiB chunk allocated and scavenged; the first span comes after them. A Go trace numbers spans
by page from that chunk's base, so its lowest span page is the padding (the importer's
`lowest_span_page`, checked against Go's own reader in tests/test_go_releases.py).

Expected values are worked out by hand from those rules: a chunk is 512 pages of 8 KiB.
"""

from __future__ import annotations

from conftest import write_trace

from goalloc.engine import state as S
from goalloc.engine.config import Config
from goalloc.engine.replay import replay
from goalloc.trace import Header
from goalloc.trace import format as fmt

PAGE = 8192


def trace(tmp_path, go_version="1.27", lowest=100, large_pages=0):
    """One 8 B noscan object (a 1-page class-1 span), then a large object of large_pages."""
    events = [dict(kind=fmt.ALLOC, ts=1, id=0, size=8, flags=fmt.FLAG_NOSCAN)]
    if large_pages:
        events.append(dict(kind=fmt.ALLOC, ts=2, id=1, size=large_pages * PAGE,
                           flags=fmt.FLAG_NOSCAN))
    src = {"go_version": go_version}
    if lowest is not None:
        src["lowest_span_page"] = lowest
    return write_trace(tmp_path / "t.msgpack", events, Header(source=src))


def engine(path, **cfg):
    out = []
    r = replay(path, Config(**cfg), engine_out=out)
    return r, out[0]


def first_span_base(eng):
    return int(eng.arrays.sp[0, S.SP_BASE])


def test_padding_comes_before_the_first_span_and_stays_released(tmp_path):
    r, eng = engine(trace(tmp_path))
    sc = eng.arrays.sc
    assert eng.heap_pad_pages == 100
    assert first_span_base(eng) == 100
    # one chunk mapped: 1 page in use, the 100 padding pages and the 411 never used released
    assert sc[S.S_MAPPED_CHUNKS] == 1
    assert (sc[S.S_PAGES_INUSE], sc[S.S_PAGES_FREE], sc[S.S_PAGES_RELEASED]) == (1, 0, 511)
    assert r.end.released == 511 * PAGE


def test_padding_takes_room_from_the_first_chunk(tmp_path):
    # 1 + 412 pages fit in one 512-page chunk, but not after 100 padding pages (1 + 412 > 412)
    _, eng = engine(trace(tmp_path, large_pages=412))
    assert eng.arrays.sc[S.S_MAPPED_CHUNKS] == 2
    _, eng = engine(trace(tmp_path, go_version="1.23", large_pages=412))
    assert eng.arrays.sc[S.S_MAPPED_CHUNKS] == 1


def test_no_padding_unless_the_trace_and_the_release_both_have_it(tmp_path):
    # Go 1.23 has no randomized base: a lowest page there says nothing of padding
    _, eng = engine(trace(tmp_path, go_version="1.23"))
    assert eng.heap_pad_pages == 0 and first_span_base(eng) == 0
    # a 1.27 trace replayed as 1.23
    _, eng = engine(trace(tmp_path), go_version="1.23")
    assert eng.heap_pad_pages == 0 and first_span_base(eng) == 0
    # a trace that does not tell (another recorder): the runtime draws it; the model does not
    _, eng = engine(trace(tmp_path, lowest=None))
    assert eng.heap_pad_pages == 0 and first_span_base(eng) == 0


def test_padding_is_less_than_a_chunk(tmp_path):
    # the runtime pads by fewer than 512 pages (a random offset inside the 4 MiB chunk); a
    # lowest span further up means the first one was freed before the trace began
    _, eng = engine(trace(tmp_path, lowest=700))
    assert eng.heap_pad_pages == 511 and first_span_base(eng) == 511


def test_the_report_says_so(cli, tmp_path):
    """The text report names the padding and JSON's config carries it (only when there is
    one: other reports are unchanged)."""
    import json

    path = trace(tmp_path)
    code, out, err = cli("replay", path)
    assert code == 0, err
    assert "100 padding pages before the first span" in " ".join(out.split())
    code, out, err = cli("replay", "--json", path)
    assert json.loads(out)["config"]["heap_base_padding_pages"] == 100
    code, out, err = cli("replay", "--json", trace(tmp_path, go_version="1.23"))
    assert "heap_base_padding_pages" not in json.loads(out)["config"]
