"""`goalloc report` / `goalloc replay --html`: one self-contained HTML file of pictures, and the
same figures as SVG or PNG files.

Why SVG drawn from Python rather than a JavaScript charting library: the figures are static
(the replay is done; nothing to query), so a library would only add 50-300 KB to every file,
a dependency to keep up to date, and a script that must run before anything shows. SVG text
written here needs no dependency, renders as soon as the page is parsed, is the same bytes
for the HTML and for `--format svg`, and each mark carries its number (data-* attributes)
for tests and curious readers. Hover details use SVG <title>, the browser's own tooltip.

    runs = [run_one(spec) for spec in specs]        # (status, {"json", "series"}) each
    text = page([r for _, r in runs])               # the HTML
    figs = figures_of(runs_data)                    # {name: svg text} for --format svg|png

Modules: data (picture data from the engine, bounded), svg (the plotting kit), figures (the
charts), page (the HTML), runner (replays for the report), png (PNG through headless
Chromium, optional).
"""

from goalloc.report.html.page import embedded_reports, page

__all__ = ["embedded_reports", "page"]
