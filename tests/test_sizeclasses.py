"""goalloc.sizeclasses: the generated Go table against the runtime's published table (typed in
from the table atop runtime/sizeclasses.go, not produced by the code), profiles, lookups,
custom tables and the trace bill."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import goalloc.sizeclasses as sc
from goalloc.errors import GoallocError

# cls: (bytes, span bytes, pages, objs, tail, maxw%, align) -- §1.1, Go 1.19 .. newest.
GO_TABLE = {
    1: (8, 8192, 1, 1024, 0, 87.50, 8),
    2: (16, 8192, 1, 512, 0, 43.75, 16),
    3: (24, 8192, 1, 341, 8, 29.24, 8),
    4: (32, 8192, 1, 256, 0, 21.88, 32),
    5: (48, 8192, 1, 170, 32, 31.52, 16),
    6: (64, 8192, 1, 128, 0, 23.44, 64),
    7: (80, 8192, 1, 102, 32, 19.07, 16),
    8: (96, 8192, 1, 85, 32, 15.95, 32),
    9: (112, 8192, 1, 73, 16, 13.56, 16),
    10: (128, 8192, 1, 64, 0, 11.72, 128),
    11: (144, 8192, 1, 56, 128, 11.82, 16),
    12: (160, 8192, 1, 51, 32, 9.73, 32),
    13: (176, 8192, 1, 46, 96, 9.59, 16),
    14: (192, 8192, 1, 42, 128, 9.25, 64),
    15: (208, 8192, 1, 39, 80, 8.12, 16),
    16: (224, 8192, 1, 36, 128, 8.15, 32),
    17: (240, 8192, 1, 34, 32, 6.62, 16),
    18: (256, 8192, 1, 32, 0, 5.86, 256),
    19: (288, 8192, 1, 28, 128, 12.16, 32),
    20: (320, 8192, 1, 25, 192, 11.80, 64),
    21: (352, 8192, 1, 23, 96, 9.88, 32),
    22: (384, 8192, 1, 21, 128, 9.51, 128),
    23: (416, 8192, 1, 19, 288, 10.71, 32),
    24: (448, 8192, 1, 18, 128, 8.37, 64),
    25: (480, 8192, 1, 17, 32, 6.82, 32),
    26: (512, 8192, 1, 16, 0, 6.05, 512),
    27: (576, 8192, 1, 14, 128, 12.33, 64),
    28: (640, 8192, 1, 12, 512, 15.48, 128),
    29: (704, 8192, 1, 11, 448, 13.93, 64),
    30: (768, 8192, 1, 10, 512, 13.94, 256),
    31: (896, 8192, 1, 9, 128, 15.52, 128),
    32: (1024, 8192, 1, 8, 0, 12.40, 1024),
    33: (1152, 8192, 1, 7, 128, 12.41, 128),
    34: (1280, 8192, 1, 6, 512, 15.55, 256),
    35: (1408, 16384, 2, 11, 896, 14.00, 128),
    36: (1536, 8192, 1, 5, 512, 14.00, 512),
    37: (1792, 16384, 2, 9, 256, 15.57, 256),
    38: (2048, 8192, 1, 4, 0, 12.45, 2048),
    39: (2304, 16384, 2, 7, 256, 12.46, 256),
    40: (2688, 8192, 1, 3, 128, 15.59, 128),
    41: (3072, 24576, 3, 8, 0, 12.47, 1024),
    42: (3200, 16384, 2, 5, 384, 6.22, 128),
    43: (3456, 24576, 3, 7, 384, 8.83, 128),
    44: (4096, 8192, 1, 2, 0, 15.60, 4096),
    45: (4864, 24576, 3, 5, 256, 16.65, 256),
    46: (5376, 16384, 2, 3, 256, 10.92, 256),
    47: (6144, 24576, 3, 4, 0, 12.48, 2048),
    48: (6528, 32768, 4, 5, 128, 6.23, 128),
    49: (6784, 40960, 5, 6, 256, 4.36, 128),
    50: (6912, 49152, 6, 7, 768, 3.37, 256),
    51: (8192, 8192, 1, 1, 0, 15.61, 8192),
    52: (9472, 57344, 7, 6, 512, 14.28, 256),
    53: (9728, 49152, 6, 5, 512, 3.64, 512),
    54: (10240, 40960, 5, 4, 0, 4.99, 2048),
    55: (10880, 32768, 4, 3, 128, 6.24, 128),
    56: (12288, 24576, 3, 2, 0, 11.45, 4096),
    57: (13568, 40960, 5, 3, 256, 9.99, 256),
    58: (14336, 57344, 7, 4, 0, 5.35, 2048),
    59: (16384, 16384, 2, 1, 0, 12.49, 8192),
    60: (18432, 73728, 9, 4, 0, 11.11, 2048),
    61: (19072, 57344, 7, 3, 128, 3.57, 128),
    62: (20480, 40960, 5, 2, 0, 6.87, 4096),
    63: (21760, 65536, 8, 3, 256, 6.25, 256),
    64: (24576, 24576, 3, 1, 0, 11.45, 8192),
    65: (27264, 81920, 10, 3, 128, 10.00, 128),
    66: (28672, 57344, 7, 2, 0, 4.91, 4096),
    67: (32768, 32768, 4, 1, 0, 12.50, 8192),
}

# §1.2, objects per span for classes 1..26.
OBJS_122_SCAN = [1008, 504, 336, 252, 168, 126, 100, 84, 72, 63, 56, 50, 45, 42, 38, 36, 33, 31,
                 28, 25, 22, 21, 19, 18, 16, 15]
OBJS_126_NOSCAN = [1024, 504, 336, 252, 168, 126, 100, 84, 72, 63, 56, 50, 45, 42, 38, 36, 33, 31,
                   28, 25, 22, 21, 19, 18, 16, 15]
OBJS_126_SCAN = [1008, 496, 330, 248, 165, 124, 99, 82, 70, 62, 55, 49, 45, 41, 38, 35, 33, 31,
                 27, 24, 22, 20, 19, 17, 16, 15]
OBJS_PLAIN = [GO_TABLE[c][3] for c in range(1, 27)]  # 1.19 both, 1.22-1.25 noscan

GO_SIZES = np.array([0] + [GO_TABLE[c][0] for c in range(1, 68)])


def smallest_class_at_least(sizes, n):
    """Reference size->class by brute force: the first index whose size is >= n."""
    return np.argmax(sizes[None, :] >= n[:, None], axis=1)


# -- the Go table -----------------------------------------------------------------------------


def test_go_table_matches_published_table():
    t = sc.get_table("go")
    assert t.num_classes == 68
    assert t.page_size == 8192 and t.max_small_size == 32768
    assert t.class_size[0] == 0 and t.class_pages[0] == 0
    for c, (size, span, pages, objs, tail, _maxw, align) in GO_TABLE.items():
        got = (t.class_size[c], t.class_span[c], t.class_pages[c], t.class_objs[c],
               t.class_tail[c], t.class_align[c])
        assert tuple(int(x) for x in got) == (size, span, pages, objs, tail, align), c


def test_go_max_waste_matches_published_column():
    mw = sc.get_table("go").max_waste()
    for c, row in GO_TABLE.items():
        assert round(mw[c] * 100, 2) == pytest.approx(row[5], abs=1e-9), c


def test_go_lookup_arrays_have_runtime_shape():
    t = sc.get_table("go")
    assert len(t.size_to_class8) == 129 and len(t.size_to_class128) == 249
    assert t.size_to_class8.dtype == np.int64 and t.size_to_class128.dtype == np.int64


@pytest.mark.parametrize("name", ["go", "jemalloc", "pow2", "go-waste6.25", "go-waste25"])
def test_size_to_class_is_smallest_class_at_least_n(name):
    t = sc.get_table(name)
    n = np.arange(1, t.max_small_size + 1)
    want = smallest_class_at_least(t.class_size, n) if name != "go" else \
        smallest_class_at_least(GO_SIZES, n)
    assert (t.size_to_class(n) == want).all()


def test_numba_lookup_in_kernel_agrees():
    from goalloc.jit import kernel
    from goalloc.sizeclasses.lookup import size_to_class

    @kernel(cache=False)
    def classes_of(ns, c8, c128):
        out = np.empty(ns.shape[0], np.int64)
        for i in range(ns.shape[0]):
            out[i] = size_to_class(ns[i], c8, c128)
        return out

    for name in ("go", "jemalloc"):
        t = sc.get_table(name)
        n = np.arange(1, t.max_small_size + 1)
        got = classes_of(n, t.size_to_class8, t.size_to_class128)
        ref = GO_SIZES if name == "go" else t.class_size
        assert (got == smallest_class_at_least(ref, n)).all()


def test_generator_variants_are_valid_tables():
    for name in ("go-waste6.25", "jemalloc", "pow2"):
        t = sc.get_table(name)
        s, span = t.class_size[1:], t.class_span[1:]
        assert (np.diff(s) > 0).all() and (s % 8 == 0).all()
        assert (span // s >= 1).all() and (t.class_pages[1:] >= 1).all()
    w = sc.get_table("go-waste6.25")
    assert (w.class_tail[1:] * 16 <= w.class_span[1:]).all()
    assert w.num_classes > 68
    assert list(sc.get_table("pow2").class_size[1:]) == [1 << k for k in range(3, 16)]
    je = sc.get_table("jemalloc")
    assert list(je.class_size[1:14]) == [8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256]
    assert (je.class_tail == 0).all()


def test_generator_parameters():
    from fractions import Fraction

    from goalloc.sizeclasses.generator import GeneratorParams, make_classes

    with pytest.raises(ValueError):
        make_classes(GeneratorParams(tail_waste=Fraction(1, 16)))  # Go's 68-class check
    small = make_classes(GeneratorParams(max_small_size=4096, expect_classes=None))
    assert small == [tuple(x) for x in [(0, 0)] + [GO_TABLE[c][0:3:2] for c in range(1, 45)]]


# -- version profiles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version,scan,noscan",
    [
        ("1.19", OBJS_PLAIN, OBJS_PLAIN),
        ("1.22", OBJS_122_SCAN, OBJS_PLAIN),
        ("1.26", OBJS_126_SCAN, OBJS_126_NOSCAN),
    ],
)
def test_objects_per_span_by_profile(version, scan, noscan):
    p = sc.profile(sc.get_table("go"), version)
    assert list(p.objs_scan[1:27]) == scan
    assert list(p.objs_noscan[1:27]) == noscan
    plain = [GO_TABLE[c][3] for c in range(27, 68)]  # no reserves above 512 B
    assert list(p.objs_scan[27:]) == plain and list(p.objs_noscan[27:]) == plain


def test_1020_byte_object():
    t = sc.get_table("go")
    assert sc.profile(t, "1.19").size_class(1020, False) == (32, 1024, 0)
    assert sc.profile(t, "1.22").size_class(1020, False) == (33, 1152, 8)
    assert sc.profile(t, "1.19").size_class(1020, True) == (32, 1024, 0)
    assert sc.profile(t, "1.22").size_class(1020, True) == (32, 1024, 0)


def test_profile_limits_and_headers():
    t = sc.get_table("go")
    p19, p22, p26 = (sc.profile(t, v) for v in ("1.19", "1.22", "1.26"))
    assert (p19.small_max, p22.small_max, p26.small_max) == (32768, 32760, 32760)
    assert not p19.malloc_header and p22.malloc_header and p26.malloc_header
    assert (p22.header_size, p22.header_threshold, p22.tiny_size) == (8, 512, 16)
    assert p22.size_class(512, False) == (26, 512, 0)  # threshold is exclusive
    assert p22.size_class(513, False) == (27, 576, 8)
    assert p22.size_class(32760, False) == (67, 32768, 8)
    assert p22.size_class(32761, True) == (0, 32768, 0)  # noscan too goes large (4 pages)
    assert p19.size_class(32768, True) == (67, 32768, 0)
    assert p19.size_class(32769, False) == (0, 40960, 0)
    assert p22.size_class(0, True) == (0, 0, 0)


@pytest.mark.parametrize(
    "given,key,layout",
    [("1.19", "1.19", "1.19"), ("1.20", "1.19", "1.19"), ("1.21", "1.19", "1.19"),
     ("1.22", "1.22", "1.22"), ("1.23", "1.23", "1.22"), ("1.24", "1.24", "1.22"),
     ("go1.25.3", "1.25", "1.22"), ("1.26", "1.26", "1.26"), ("go1.27.4", "1.27", "1.26")],
)
def test_version_mapping(given, key, layout):
    """One profile per release 1.22-1.27; span layouts as the runtime's initSpan has them
    (Green Tea's inline mark bits by default from 1.26, internal/buildcfg/exp.go)."""
    p = sc.profile(sc.get_table("go"), given)
    assert (p.go_version, p.layout) == (key, layout)


def test_goexperiment_layout():
    """GOEXPERIMENT=nogreenteagc on 1.26 gives 1.25's layout; greenteagc on 1.25 gives 1.26's.
    16 B noscan: 8192 // 16 = 512 slots, (8192 - 128) // 16 = 504 with the inline mark bits."""
    t = sc.get_table("go")
    assert sc.profile(t, "1.26", green_tea=False).objs_noscan[2] == 512
    assert sc.profile(t, "1.25", green_tea=True).objs_noscan[2] == 504
    assert sc.profile(t, "1.26").objs_noscan[2] == 504
    assert sc.profile(t, "1.19", green_tea=True).layout == "1.19"  # no heap bits in spans


@pytest.mark.parametrize("bad", ["1.18", "banana", "", "1", "1.28", "2.0", "1.30"])
def test_unknown_version(bad):
    with pytest.raises(GoallocError):
        sc.profile(sc.get_table("go"), bad)


# -- custom tables ---------------------------------------------------------------------------

GOOD_TOML = """
name = "tiny-table"
[[class]]
size = 8
pages = 1
[[class]]
size = 1024
pages = 1
[[class]]
size = 1536
span = 8192
[[class]]
size = 32768
pages = 4
"""


def test_custom_toml_and_json_load(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text(GOOD_TOML)
    t = sc.get_table(str(p))
    assert t.name == "tiny-table" and t.num_classes == 5
    assert list(t.class_size) == [0, 8, 1024, 1536, 32768]
    assert list(t.class_pages) == [0, 1, 1, 1, 4]
    n = np.arange(1, 32769)
    assert (t.size_to_class(n) == smallest_class_at_least(t.class_size, n)).all()
    j = tmp_path / "t.json"
    j.write_text(json.dumps({"class": [{"size": 16, "pages": 1}, {"size": 1032, "pages": 1}]}))
    tj = sc.get_table(str(j))
    assert tj.name == "t" and tj.max_small_size == 1032
    n = np.arange(1, 1033)
    assert (tj.size_to_class(n) == smallest_class_at_least(tj.class_size, n)).all()


BAD_CLASSES = [
    ([(8, 1), (8, 1)], "class 2 (size 8): sizes must be strictly increasing"),
    ([(8, 1), (20, 1)], "class 2 (size 20): size is not a multiple of 8"),
    ([(8, 1), (40960, 5)], "class 2 (size 40960): size exceeds the max small size"),
    ([(8, 1), (16, 0)], "class 2 (size 16): pages must be a positive integer"),
    ([(16384, 1)], "class 1 (size 16384): a 1-page span holds no object"),
]


@pytest.mark.parametrize("rows,msg", BAD_CLASSES)
def test_custom_validation(tmp_path, rows, msg):
    p = tmp_path / "bad.toml"
    p.write_text("".join(f"[[class]]\nsize = {s}\npages = {n}\n" for s, n in rows))
    with pytest.raises(GoallocError) as e:
        sc.get_table(str(p))
    assert str(e.value).startswith(f"{p}: ")
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_custom_span_not_whole_pages(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"class": [{"size": 8, "span": 12288}]}))
    with pytest.raises(GoallocError, match=r"class 1 \(size 8\): span 12288 is not a whole"):
        sc.get_table(str(p))


@pytest.mark.parametrize("text", ["[[class]\nsize=", "{not json", "", "x = 1\n"])
def test_custom_unparsable(tmp_path, text):
    p = tmp_path / ("bad.json" if text.startswith("{") else "bad.toml")
    p.write_text(text)
    with pytest.raises(GoallocError) as e:
        sc.get_table(str(p))
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_unknown_table_and_missing_file():
    with pytest.raises(GoallocError, match="unknown size-class table"):
        sc.get_table("nosuch")
    with pytest.raises(GoallocError, match="cannot read"):
        sc.get_table("/nonexistent/t.toml")


def test_no_numba_on_table_paths():
    import subprocess

    code = ("import sys, goalloc.sizeclasses as s; t = s.get_table('go'); s.profile(t, '1.26');"
            "s.get_table('jemalloc'); import goalloc.sizeclasses.compare;"
            "assert 'numba' not in sys.modules, 'numba imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
