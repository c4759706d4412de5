"""Figures as files: each <svg> of a page as an .svg file, or as a .png rendered by a headless
Chromium (optional: `--format png` says clearly when none is installed). Chromium, not a Python
rasteriser, because it is the renderer the HTML report is tested in, so the PNG shows exactly
what the page shows, and Debian packages it (`apt-get install chromium`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from goalloc.errors import GoallocError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
SCALE = 2  # device pixels per CSS pixel: sharp in a README on high-density screens
_SVG = re.compile(r'<svg xmlns="http://www.w3.org/2000/svg" id="([^"]+)".*?</svg>', re.S)
_SIZE = re.compile(r'width="(\d+)" height="(\d+)"')


def figures_of(html: str) -> list[tuple[str, str]]:
    """(id, svg text) of every figure in a page written by goalloc.report.html.page, in page
    order; the SVG text is the page's own."""
    return [(m.group(1), m.group(0)) for m in _SVG.finditer(html)]


def find_browser() -> str | None:
    """A headless-capable Chromium: $GOALLOC_CHROMIUM, else the first of BROWSERS on PATH."""
    env = os.environ.get("GOALLOC_CHROMIUM")
    if env:
        return env if shutil.which(env) else None
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_browser() -> str:
    path = find_browser()
    if path is None:
        raise GoallocError("--format png needs a headless Chromium to render the figures and "
                           "found none (Debian: apt-get install chromium; or set "
                           "GOALLOC_CHROMIUM to the browser's path); --format svg needs none")
    return path


def browser_command(browser: str, *args: str) -> list[str]:
    """Chromium's command line for a headless one-shot run (no sandbox: CI containers run as
    root; no first-run, extensions or background networking)."""
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--mute-audio", *args]


def svg_to_png(svg: str, name: str, browser: str, timeout: float = 60.0) -> bytes:
    """One SVG rendered as PNG bytes, its size x SCALE (`name` for error messages)."""
    m = _SIZE.search(svg)
    w, h = (int(m.group(1)), int(m.group(2))) if m else (960, 300)
    with tempfile.TemporaryDirectory(prefix="goalloc-png-") as tmp:
        page = os.path.join(tmp, "figure.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write('<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;'
                    f'background:#fff}}</style></head><body>{svg}</body></html>')
        out = os.path.join(tmp, "figure.png")
        cmd = browser_command(browser, f"--user-data-dir={tmp}/profile",
                              f"--window-size={w},{h}", f"--force-device-scale-factor={SCALE}",
                              f"--screenshot={out}", "file://" + page)
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise GoallocError(f"{name}: the browser did not render the figure in "
                               f"{timeout:.0f} s") from None
        if r.returncode != 0 or not os.path.exists(out):
            last = (r.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            raise GoallocError(f"{name}: the browser failed to render the figure ({last})")
        with open(out, "rb") as f:
            return f.read()
