"""The HTML reports in a real headless Chromium (Debian's `chromium`, installed by `make test`;
skipped, saying why, when there is none): no console error, no request but the page itself,
every chart present with visible marks, a screenshot that is not blank, and the JSON report the
page gives back (its own script, the browser's gzip) equal to `goalloc replay --json`'s.

One browser for the module; three pages (tests/html_pages.py). Load times are measured in
benchmarks/bench_html.py, not here."""

from __future__ import annotations

import io

import pytest
from html_pages import session_pages

from goalloc.report.html.png import find_browser

pytestmark = pytest.mark.skipif(
    find_browser() is None,
    reason="no Chromium on PATH (make test installs Debian's chromium when run as root)")

# chart kinds each page must show (data-chart of its <svg class="chart"> elements)
EXPECTED = {
    "go": {"heap-timeline", "class-waste", "util-hists", "pause-hist", "mmu",
           "lock-acquisitions", "fidelity"},
    "grid": {"overlay", "heap-timeline", "class-waste", "util-hists", "pause-hist", "mmu",
             "lock-acquisitions"},
    "noclock": {"heap-timeline", "class-waste", "util-hists"},
}

CHARTS_JS = """
[...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('path, rect, circle, line')].filter(el => {
    const b = el.getBBox();
    return b.width > 0 || b.height > 0;
  });
  return {id: svg.id, chart: svg.dataset.chart, w: box.width, h: box.height,
          visible: marks.length, declared: Number(svg.dataset.marks)};
})
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    return session_pages(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    from goalloc.report.html.browser import Browser

    with Browser(width=1000, height=1200) as b:
        yield b


@pytest.fixture(scope="module")
def visits(browser, pages):
    """Each page opened once: (visit, charts, screenshot, the page's JSON reports)."""
    out = {}
    for name, p in pages.items():
        url = p["html"].as_uri()
        visit = browser.open(url)
        charts = browser.eval(CHARTS_JS)
        shot = browser.screenshot()
        reports = [browser.eval(f"goallocReport({i})") for i in range(len(p["json"]))]
        out[name] = (visit, charts, shot, reports)
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_console_error_and_no_request_but_the_page(visits, pages, name):
    visit = visits[name][0]
    assert visit.errors == []
    assert visit.requests == [pages[name]["html"].as_uri()]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_chart_is_present_and_drawn(visits, name):
    charts = visits[name][1]
    assert EXPECTED[name] <= {c["chart"] for c in charts}
    for c in charts:
        assert c["w"] > 100 and c["h"] > 50, c
        assert c["visible"] > 0 and c["declared"] > 0, c


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_screenshot_is_not_blank(visits, name):
    from PIL import Image, ImageStat

    shot = Image.open(io.BytesIO(visits[name][2])).convert("L")
    assert shot.size[0] == 1000 and shot.size[1] > 1200  # the whole page, below the fold too
    stat = ImageStat.Stat(shot)
    assert stat.stddev[0] > 20  # a blank (or one-colour) page has ~0
    dark = sum(shot.histogram()[:200]) / (shot.size[0] * shot.size[1])
    assert dark > 0.03  # ink: text, axes and filled areas


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_page_gives_back_the_replay_json(visits, pages, name):
    assert visits[name][3] == pages[name]["json"]


def test_checks_catch_a_fetch(browser, pages, tmp_path):
    """A negative control: the same page with one remote image added. The page's
    Content-Security-Policy blocks it, and the visit reports the violation as a console
    error, so a report that tried to fetch anything would fail the tests above."""
    text = pages["go"]["text"].replace(
        "<body>", '<body><img src="http://127.0.0.1:9/x.png" alt="">', 1)
    bad = tmp_path / "fetching.html"
    bad.write_text(text)
    visit = browser.open(bad.as_uri())
    assert any("Content Security Policy" in e for e in visit.errors), visit.console
