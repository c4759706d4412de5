"""`goalloc classes`: the table as the runtime documents it (max waste checked against the
published §1.1 column, typed in here), comparisons, the --trace bill with hand-computed
expectations, error handling (exit 2, one line) and the no-numba path."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from goalloc.trace import Header, Writer

# runtime/sizeclasses.go's "max waste" column (the table atop the file), classes 1..67.
GO_MAXW = [87.50, 43.75, 29.24, 21.88, 31.52, 23.44, 19.07, 15.95, 13.56, 11.72, 11.82, 9.73,
           9.59, 9.25, 8.12, 8.15, 6.62, 5.86, 12.16, 11.80, 9.88, 9.51, 10.71, 8.37, 6.82, 6.05,
           12.33, 15.48, 13.93, 13.94, 15.52, 12.40, 12.41, 15.55, 14.00, 14.00, 15.57, 12.45,
           12.46, 15.59, 12.47, 6.22, 8.83, 15.60, 16.65, 10.92, 12.48, 6.23, 4.36, 3.37, 15.61,
           14.28, 3.64, 4.99, 6.24, 11.45, 9.99, 5.35, 12.49, 11.11, 3.57, 6.87, 6.25, 11.45,
           10.00, 4.91, 12.50]
GO_TAIL = [0, 0, 8, 0, 32, 0, 32, 32, 16, 0, 128, 32, 96, 128, 80, 128, 32, 0, 128, 192, 96, 128,
           288, 128, 32, 0, 128, 512, 448, 512, 128, 0, 128, 512, 896, 512, 256, 0, 256, 128, 0,
           384, 384, 0, 256, 256, 0, 128, 256, 768, 0, 512, 512, 0, 128, 0, 256, 0, 0, 0, 128, 0,
           256, 0, 128, 0, 0]


def goalloc(*args):
    """The real entry point in a subprocess: exit codes, stderr, imports."""
    return subprocess.run([sys.executable, "-m", "goalloc", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("version", ["1.19", "1.22"])
def test_json_table_matches_published_columns(cli, version):
    code, out, err = cli("classes", "go", "--go-version", version, "--json")
    assert code == 0, err
    doc = json.loads(out)
    rows = doc["classes"]
    assert doc["table"]["num_classes"] == 68 and len(rows) == 67
    assert [round(r["max_waste_pct"], 2) for r in rows] == GO_MAXW
    assert [r["tail_waste"] for r in rows] == GO_TAIL
    assert rows[31]["bytes_obj"] == 1024 and rows[31]["objects"] == 8
    assert doc["profile"]["malloc_header"] == (version == "1.22")
    if version == "1.19":
        assert all(r["objects_scan"] == r["objects"] for r in rows)
    else:
        assert rows[0]["objects_scan"] == 1008 and rows[25]["objects_scan"] == 15


def test_human_table_shows_runtime_columns(cli):
    code, out, err = cli("classes", "--go-version", "1.19")
    assert code == 0, err
    for col in ("class", "bytes/obj", "bytes/span", "objects", "tail waste", "max waste",
                "min align"):
        assert col in out
    lines = {}
    for line in out.splitlines():
        cells = line.split()  # one space or more between columns, no box characters
        if len(cells) >= 7 and cells[0].isdigit() and cells[1].isdigit():
            lines[int(cells[0])] = cells
    assert sorted(lines) == list(range(1, 68))
    for c, maxw in enumerate(GO_MAXW, start=1):
        assert lines[c][5] == f"{maxw:.2f}%", c
    assert lines[67][1:4] == ["32768", "32768", "1"]
    assert "scan objects" not in out  # 1.19 keeps pointer bits outside spans


def test_output_is_deterministic(cli):
    a = cli("classes", "go", "jemalloc", "--json")[1]
    b = cli("classes", "go", "jemalloc", "--json")[1]
    assert a == b


def test_compare_json(cli):
    code, out, err = cli("classes", "go", "jemalloc", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert [t["num_classes"] for t in doc["tables"]] == [68, 42]
    ranges = doc["ranges"]
    assert [(r["lo"], r["hi"]) for r in ranges][:3] == [(0, 8), (8, 16), (16, 32)]
    assert ranges[-1]["hi"] == 32768
    # 17..32 B: Go has 24 and 32, jemalloc only 32. Worst case n = 17 in a 24 / 32 B slot.
    r = ranges[2]["tables"]
    assert r[0]["classes"] == 2 and r[1]["classes"] == 1
    assert r[0]["rounding_worst_pct"] == pytest.approx(100 * 7 / 24)
    assert r[1]["rounding_worst_pct"] == pytest.approx(100 * 15 / 32)
    assert r[1]["differs_pct"] == pytest.approx(50.0)  # n = 17..24 differ, 25..32 do not
    d = doc["differences"][0]
    assert 24 in d["only_in_baseline"] and 2560 in d["only_in_table"]
    assert {"size": 48, "pages_baseline": 1, "pages_table": 3} in d["same_size_other_pages"]


def test_compare_human(cli):
    code, out, err = cli("classes", "go", "pow2")
    assert code == 0, err
    assert "worst round" in out and "class sizes only in go" in out and "16385-32768" in out


def test_list(cli):
    code, out, _ = cli("classes", "--list")
    assert code == 0 and "jemalloc" in out and "go-waste6.25" in out


BAD_FILES = [
    ("classes_bad_order.toml", "[[class]]\nsize = 16\npages = 1\n[[class]]\nsize = 8\npages = 1\n",
     "class 2 (size 8): sizes must be strictly increasing"),
    ("classes_bad_align.json", '{"class": [{"size": 8, "pages": 1}, {"size": 36, "pages": 1}]}',
     "class 2 (size 36): size is not a multiple of 8"),
    ("classes_too_big.toml", "[[class]]\nsize = 65536\npages = 8\n",
     "class 1 (size 65536): size exceeds the max small size"),
    ("classes_span.toml", "[[class]]\nsize = 8\nspan = 100\n",
     "class 1 (size 8): span 100 is not a whole number"),
    ("classes_no_pages.toml", "[[class]]\nsize = 8\n[[class]]\nsize = 24576\npages = 2\n",
     "class 1 (size 8): give exactly one of pages or span"),
    ("classes_empty.toml", "[[class]]\nsize = 8\npages = 1\n[[class]]\nsize = 24576\npages = 2\n",
     "class 2 (size 24576): a 2-page span holds no object"),
]


@pytest.mark.parametrize("name,text,msg", BAD_FILES)
def test_invalid_custom_table_exit_2(cli, tmp_path, name, text, msg):
    path = tmp_path / name
    path.write_text(text)
    code, out, err = cli("classes", "go", path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(path) in err and msg in err


def test_invalid_custom_table_subprocess(tmp_path):
    name, text, msg = BAD_FILES[1]
    path = tmp_path / name
    path.write_text(text)
    r = goalloc("classes", path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr == f"goalloc: error: {path}: {msg}\n"


@pytest.mark.parametrize("args,msg", [
    (["classes", "nosuch"], "unknown size-class table"),
    (["classes", "--go-version", "1.17"], "not modelled"),
    (["classes", "go", "--trace", "/nonexistent/t.msgpack"], "/nonexistent/t.msgpack"),
])
def test_bad_input_is_one_line(cli, args, msg):
    code, out, err = cli(*args)
    assert code == 2 and msg in err and err.count("\n") == 1


def test_custom_table_shown_and_compared(cli, tmp_path):
    p = tmp_path / "classes_mine.toml"
    p.write_text('name = "mine"\n[[class]]\nsize = 16\npages = 1\n[[class]]\nsize = 4096\n'
                 'pages = 1\n[[class]]\nsize = 32768\npages = 4\n')
    code, out, err = cli("classes", p, "--json")
    assert code == 0, err
    assert [r["bytes_obj"] for r in json.loads(out)["classes"]] == [16, 4096, 32768]
    code, out, err = cli("classes", "go", p, "--json")
    assert code == 0 and json.loads(out)["tables"][1]["name"] == "mine"


def test_classes_needs_no_numba():
    probe = ("import sys\nfrom goalloc.cli import main\n"
             "for args in (['classes'], ['classes', 'go', 'jemalloc', 'go-waste6.25'],"
             " ['classes', '--json', '--go-version', '1.26']):\n"
             "    try:\n        main(args)\n    except SystemExit as e:\n"
             "        assert not e.code, e.code\n"
             "assert 'numba' not in sys.modules and 'llvmlite' not in sys.modules\n")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# -- the --trace bill -----------------------------------------------------------------------

ALLOC, FREE, NOSCAN = 1, 2, 1
# (kind, id, size, flags). Peak live set after event 4 = objects 0..4.
EVENTS = [
    (ALLOC, 0, 1020, 0),  # pointerful: 1.22 -> 1028 B -> class 33 (1152), 1.19 -> class 32
    (ALLOC, 1, 100, NOSCAN),  # class 9 (112)
    (ALLOC, 2, 5, NOSCAN),  # tiny: a new 16 B block
    (ALLOC, 5000, 8, NOSCAN),  # tiny: 8-aligned offset 8, fits the same block
    (ALLOC, 4, 40000, NOSCAN),  # large: 5 pages
    (FREE, 1, 0, 0),  # leaves the peak
    (ALLOC, 6, 20, 0),  # class 3 (24): rounding 4 in the all-allocs total only
    (FREE, 77, 0, 0),  # never allocated
]


def make_trace(path, events, sizes="requested", chunk_events=2):
    kind, ids, size, flags = (np.array(c, dtype=np.int64) for c in zip(*events, strict=True))
    with Writer(path, Header(sizes=sizes), force=True, chunk_events=chunk_events) as w:
        w.write(kind=kind, ts=np.arange(len(events)), id=ids, size=size, flags=flags)
    return path


def test_bill_by_hand(cli, tmp_path):
    trace = make_trace(tmp_path / "classes_bill.msgpack", EVENTS)
    code, out, err = cli("classes", "go", "jemalloc", "--trace", trace, "--go-version", "1.22",
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["peak"] == {"event": 4, "live_requested_bytes": 41133, "live_objects": 5}
    assert doc["unmatched_frees"] == 1 and doc["allocs"] == 6 and doc["frees"] == 1
    assert doc["tiny"]["peak_blocks"] == 1 and doc["tiny"]["allocs"] == 2
    go = doc["tables"][0]
    by = {r["class"]: r for r in go["classes"]}
    assert by[33]["header_bytes"] == 8 and by[33]["rounding_bytes"] == 1152 - 1020 - 8
    assert by[33]["tail_bytes"] == 8192 - 7 * 1152 and by[33]["partial_bytes"] == 6 * 1152
    assert by[9]["rounding_bytes"] == 12 and by[9]["partial_bytes"] == 72 * 112
    assert by[2]["live_slots"] == 1 and by[2]["rounding_bytes"] == 16 - 13
    assert by[2]["partial_bytes"] == 511 * 16  # tiny blocks live in class 2 noscan spans
    assert by[0]["span_bytes"] == 40960 and by[0]["rounding_bytes"] == 960
    assert by[3]["live_slots"] == 0 and by[3]["alloc_rounding_bytes"] == 4
    t = go["total"]
    assert t["requested_bytes"] == 41133 and t["held_bytes"] == 3 * 8192 + 40960
    assert t["rounding_bytes"] == 124 + 12 + 3 + 960 and t["header_bytes"] == 8
    assert t["tail_bytes"] == 128 + 16 and t["partial_bytes"] == 6 * 1152 + 72 * 112 + 511 * 16
    assert t["internal_bytes"] == t["held_bytes"] - t["requested_bytes"]
    assert t["internal_bytes"] == sum(t[k] for k in ("rounding_bytes", "header_bytes",
                                                     "tail_bytes", "partial_bytes"))
    assert t["alloc_rounding_bytes"] == 124 + 12 + 3 + 960 + 4
    je = doc["tables"][1]["total"]
    diff = doc["differences"][0]
    assert diff["table"] == "jemalloc" and diff["held_bytes"] == je["held_bytes"] - t["held_bytes"]
    # jemalloc: 1028 B -> 1280 B class in a 5-page slab (lcm), 100 -> 112 in 7 pages.
    jby = {r["class"]: r for r in doc["tables"][1]["classes"]}
    assert any(r["slot_bytes"] == 1280 and r["span_bytes"] == 40960 for r in jby.values())


def test_bill_versions_and_chunking(cli, tmp_path):
    one = make_trace(tmp_path / "classes_a.msgpack", EVENTS, chunk_events=1 << 10)
    many = make_trace(tmp_path / "classes_b.msgpack", EVENTS, chunk_events=1)
    outs = [json.loads(cli("classes", "--trace", p, "--go-version", "1.19", "--json")[1])
            for p in (one, many)]
    for o in outs:
        o.pop("trace")
    assert outs[0] == outs[1]
    by = {r["class"]: r for r in outs[0]["tables"][0]["classes"]}
    assert by[32]["rounding_bytes"] == 4 and by[32]["header_bytes"] == 0 and 33 not in by


def test_bill_peak_at_end_and_slot_warning(cli, tmp_path):
    trace = make_trace(tmp_path / "classes_c.msgpack", EVENTS[:3], sizes="slot")
    code, out, err = cli("classes", "go", "--trace", trace, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["peak"]["event"] == 2 and doc["peak"]["live_objects"] == 3
    assert doc["tables"][0]["total"]["requested_bytes"] == 1125
    assert "slot sizes" in doc["warning"]


def test_bill_human(tmp_path):
    trace = make_trace(tmp_path / "classes_d.msgpack", EVENTS)
    r = goalloc("classes", "go", "pow2", "--trace", trace)
    assert r.returncode == 0, r.stderr
    assert "held vs go" in r.stdout and "pow2: per class" in r.stdout and "KiB" in r.stdout


def test_bill_random_trace_invariants(tmp_path):
    """A random trace with tiny churn over several Ps: the peak matches a brute-force replay
    and each table's bill adds up."""
    from goalloc.engine.bill import run_bill
    from goalloc.sizeclasses import get_table

    rng = np.random.default_rng(7)
    events, live, next_id = [], {}, 0
    for _ in range(3000):
        if live and rng.random() < 0.45:
            oid = list(live)[rng.integers(len(live))]
            events.append((FREE, oid, 0, 0, 0))
            del live[oid]
        else:
            size = int(rng.choice([rng.integers(1, 16), rng.integers(16, 2000),
                                   rng.integers(2000, 50000)], p=[0.5, 0.4, 0.1]))
            flags = int(rng.integers(0, 2))
            events.append((ALLOC, next_id, size, flags, int(rng.integers(-1, 4))))
            live[next_id] = size
            next_id += 1
    kind, ids, size, flags, p = (np.array(c, dtype=np.int64) for c in zip(*events, strict=True))
    path = tmp_path / "classes_rand.msgpack"
    with Writer(path, Header(gomaxprocs=4), force=True, chunk_events=333) as w:
        w.write(kind=kind, ts=np.arange(len(kind)), p=p, id=ids, size=size, flags=flags)
    delta = np.where(kind == ALLOC, size, 0).astype(np.int64)
    freed = {int(i): int(s) for i, s in zip(ids[kind == ALLOC], size[kind == ALLOC], strict=True)}
    delta[kind == FREE] = [-freed[int(i)] for i in ids[kind == FREE]]
    running = np.cumsum(delta)
    res = run_bill(path, [get_table("go"), get_table("pow2")], "1.26")
    assert res["peak"]["live_requested_bytes"] == running.max()
    assert res["peak"]["event"] == int(np.argmax(running))
    for b in res["tables"]:
        t = b["total"]
        assert t["requested_bytes"] == running.max()
        assert t["internal_bytes"] == sum(t[k] for k in ("rounding_bytes", "header_bytes",
                                                         "tail_bytes", "partial_bytes"))
        assert all(r[k] >= 0 for r in b["classes"] for k in r)
    tiny = res["tiny"]
    assert 0 < tiny["peak_blocks"] <= tiny["blocks_allocated"] <= tiny["allocs"]
