"""HTML report size and opening time (issue #16): `goalloc report` on a 100 M-event `goalloc
synth steady` trace must give at most 2 MB of HTML that a headless Chromium opens (navigation
to the second animation frame after the load event: laid out and painted) in under 2 s; the shipped net/http Go trace's report for reference. Also the
time `goalloc report` takes (the replay dominates) and what the page holds, and the same at
GOGC=10 (thousands of cycles: the bands, ticks and cycle table are what grows).

    python benchmarks/bench_html.py [--events N] [--quick] [--dir DIR]

Needs Chromium and websocket-client (make test installs both); without Chromium the opening
times are left out.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import goalloc.synth

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MAX_BYTES = 2_000_000
MAX_OPEN_S = 2.0
OPENS = 5  # median of this many opens (each a fresh navigation)


def report(trace: str, out: str, *args: str) -> float:
    """Wall seconds of `goalloc report TRACE -o OUT` in a fresh process (JIT cache warm)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "goalloc", "report", trace, "-o", out, "--force",
                    *args], check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - t


def open_times(paths: list[str]) -> dict[str, float]:
    from goalloc.report.html.browser import Browser

    out = {}
    with Browser() as b:
        for p in paths:
            b.open("file://" + os.path.abspath(p))  # warm the browser's own caches once
            out[p] = statistics.median(b.open("file://" + os.path.abspath(p)).shown_s
                                       for _ in range(OPENS))
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=100_000_000)
    ap.add_argument("--quick", action="store_true", help="10 M events")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args(argv)
    n = 10_000_000 if args.quick else args.events
    from goalloc.report.html.png import find_browser

    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        big = os.path.join(d, "big.msgpack")
        t = time.perf_counter()
        goalloc.synth.generate("steady", n, big, procs=4, seed=3, force=True)
        gen_s = time.perf_counter() - t
        go = os.path.join(REPO, "traces", "go-http-clientserver.msgpack")
        report(go, os.path.join(d, "warm.html"))  # the JIT cache, once
        big_html, go_html = os.path.join(d, "big.html"), os.path.join(d, "go.html")
        res = {"html_events": n, "html_synth_seconds": gen_s,
               "html_report_seconds": report(big, big_html),
               "html_bytes": os.path.getsize(big_html),
               "html_go_bytes": (report(go, go_html, "--gc", "recorded"),
                                 os.path.getsize(go_html))[1]}
        text = open(big_html, encoding="utf-8").read()
        res["html_charts"] = len(re.findall(r'<svg [^>]*class="chart"', text))
        res["html_cycles"] = \
            sum(int(k) for k in re.findall(r'class="cycle"[^>]*data-n="(\d+)"', text))
        # the same trace at GOGC=10: many more cycles (the bands and the table are thinned)
        many_html = os.path.join(d, "gogc10.html")
        res["html_gogc10_report_seconds"] = report(big, many_html, "--gogc", "10")
        res["html_gogc10_bytes"] = os.path.getsize(many_html)
        text = open(many_html, encoding="utf-8").read()
        res["html_gogc10_cycles"] = sum(
            int(k) for k in re.findall(r'class="cycle"[^>]*data-n="(\d+)"', text))
        if find_browser() is not None:
            opened = open_times([big_html, many_html, go_html])
            res["html_open_seconds"] = opened[big_html]
            res["html_gogc10_open_seconds"] = opened[many_html]
            res["html_go_open_seconds"] = opened[go_html]
        res["html_ok"] = (max(res["html_bytes"], res["html_gogc10_bytes"]) <= MAX_BYTES
                          and max(res.get("html_open_seconds", 0.0),
                                  res.get("html_gogc10_open_seconds", 0.0)) < MAX_OPEN_S)
    return res


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
