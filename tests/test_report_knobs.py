"""GOGC / GOMEMLIMIT / GOMAXPROCS parsed as the runtime parses them (readGOGC,
parseByteCount), with one-line errors naming the knob and the value."""

from __future__ import annotations

import pytest

from goalloc.errors import GoallocError
from goalloc.report.knobs import (
    MAX_INT64,
    format_gogc,
    format_memlimit,
    gogc_metric,
    memlimit_metric,
    parse_gogc,
    parse_memlimit,
    parse_procs,
)


@pytest.mark.parametrize("text, want", [
    ("off", None), ("100", 100), ("50", 50), ("0", 0), ("200", 200), (" 75 ", 75),
    # a negative percent is off (runtime/mgcpacer.go setGCPercent: in < 0 -> -1)
    ("-1", None), ("-50", None), ("-2147483648", None),
])
def test_gogc_valid(text, want):
    assert parse_gogc(text) == want


@pytest.mark.parametrize("text", ["", "abc", "1.5", "+50", "Off", "50%", "2147483648",
                                  "-2147483649", "--1"])
def test_gogc_invalid_names_knob_and_value(text):
    with pytest.raises(GoallocError) as e:
        parse_gogc(text)
    msg = str(e.value)
    assert "GOGC" in msg and repr(text) in msg and "\n" not in msg


@pytest.mark.parametrize("text, want", [
    ("512MiB", 512 << 20), ("1GiB", 1 << 30), ("100", 100), ("100B", 100),
    ("4KiB", 4096), ("2TiB", 2 << 40), ("0", 0), ("off", None), ("math.MaxInt64", None),
    (str(MAX_INT64), None), (f"{MAX_INT64}B", None),
])
def test_memlimit_valid(text, want):
    assert parse_memlimit(text) == want


@pytest.mark.parametrize("text", [
    "512MB", "1G", "1Gi", "10 MiB", "KiB", "B", "", "-1", "1.5GiB", "512mib", "1PiB",
    "8388608TiB",  # 2^23 TiB = 2^63 bytes: overflows int64 as parseByteCount rejects
    str(MAX_INT64 + 1),
])
def test_memlimit_invalid(text):
    with pytest.raises(GoallocError) as e:
        parse_memlimit(text)
    assert "GOMEMLIMIT" in str(e.value) and repr(text) in str(e.value)


def test_error_names_the_flag_when_given_as_a_flag():
    with pytest.raises(GoallocError, match=r"--memlimit value '5XB'"):
        parse_memlimit("5XB", "--memlimit")


@pytest.mark.parametrize("text, want", [("1", 1), ("8", 8), ("32768", 32768)])
def test_procs_valid(text, want):
    assert parse_procs(text) == want


@pytest.mark.parametrize("text", ["0", "-2", "x", "32769", ""])
def test_procs_invalid(text):
    with pytest.raises(GoallocError, match="GOMAXPROCS"):
        parse_procs(text)


def test_spelled_back_as_go_users_write_them():
    assert [format_gogc(g) for g in (None, 100, 0)] == ["off", "100", "0"]
    assert format_memlimit(None) == "off"
    assert format_memlimit(512 << 20) == "512MiB"
    assert format_memlimit(1 << 30) == "1GiB"
    assert format_memlimit(1536 << 20) == "1536MiB"
    assert format_memlimit(100) == "100B"
    # runtime/metrics values: -1 for GOGC=off, math.MaxInt64 for no limit
    assert (gogc_metric(None), gogc_metric(50)) == (-1, 50)
    assert (memlimit_metric(None), memlimit_metric(1024)) == (MAX_INT64, 1024)
