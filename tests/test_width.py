"""Width (#19): every table fits the terminal (COLUMNS, 80 when piped) without wrapping or
truncating a figure, and a wider terminal gets the roomier layout and the dropped columns
back. Checked on a shipped trace at 80 and 120 columns for replay, a grid, compare and the
classes views."""

from __future__ import annotations

import pytest
from conftest import REPO

TRACE = REPO / "traces" / "go-parser.msgpack"
ONE_LINE = ("  ! ", "caveat: ")  # caveats are one line each by design, not tables


pytestmark = pytest.mark.usefixtures("clean_knob_env")


def run_at(cli, monkeypatch, width, *args):
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, err = cli(*map(str, args))
    assert code == 0, err
    return out


def check_fits(out: str, width: int) -> None:
    for line in out.splitlines():
        if line.startswith(ONE_LINE):
            continue
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"
    assert "…" not in out  # nothing truncated


def header(out: str, first: str, *words) -> str:
    return next(line for line in out.splitlines()
                if line.startswith(first) and all(w in line for w in words))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    from goalloc.cli import main

    d = tmp_path_factory.mktemp("width")
    for name, args in {"go": ("--classes", "go"), "pow2": ("--classes", "pow2")}.items():
        main(["replay", str(TRACE), *args, "-o", str(d / f"{name}.json")])
    return d


@pytest.mark.parametrize("width", [80, 120])
def test_replay_tables_fit(cli, monkeypatch, width):
    out = run_at(cli, monkeypatch, width, "replay", TRACE)
    check_fits(out, width)
    for col in ("util hist", "objects", "share", "contended", "p50", "p99", "p90", "trigger"):
        assert col in out  # at 80 the tables tighten; no column had to go


def test_replay_uses_the_room(cli, monkeypatch):
    # the size-class table: one space between columns at 80, the roomier padding at 120
    narrow = header(run_at(cli, monkeypatch, 80, "replay", TRACE), "class ", "slot")
    wide = header(run_at(cli, monkeypatch, 120, "replay", TRACE), "class ", "slot")
    assert narrow.split() == wide.split() and len(wide.rstrip()) > len(narrow.rstrip())


@pytest.mark.parametrize("width", [80, 120])
def test_grid_and_compare_fit(cli, monkeypatch, reports, width):
    check_fits(run_at(cli, monkeypatch, width, "replay", TRACE, "--gogc", "50,100",
                      "--classes", "go,pow2", "-j", "1"), width)
    check_fits(run_at(cli, monkeypatch, width, "compare", reports / "go.json",
                      reports / "pow2.json"), width)


@pytest.mark.parametrize("width", [80, 120])
def test_classes_views_fit(cli, monkeypatch, width):
    check_fits(run_at(cli, monkeypatch, width, "classes"), width)
    both = run_at(cli, monkeypatch, width, "classes", "go", "pow2")
    check_fits(both, width)
    tails = both.count("worst tail")
    # 120: every column of both tables; 80: the worst tails go first
    assert tails == (2 if width == 120 else 0)
    check_fits(run_at(cli, monkeypatch, width, "classes", "go", "pow2", "--trace", TRACE), width)
