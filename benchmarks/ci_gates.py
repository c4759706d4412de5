"""The "Gates that see changes" table of docs/ci.md (#19): for each shipped trace, the relative
change of each candidate gate metric from GOGC=100 with Go's table to GOGC 50, GOGC 90, the
go-waste25 table and pow2 (everything else default, the central replay as `goalloc replay
--json` reports it). Run: `.venv/bin/python benchmarks/ci_gates.py` (prints the Markdown table).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRACES = ("go-parser", "go-json-decoder", "go-http-clientserver", "c-python-json")
METRICS = (
    ("peak total", "/goalloc/peak/memory/classes/heap/total:bytes"),
    ("peak held", "/goalloc/frag/jw/peak-held:bytes"),
    ("peak in-use", "/goalloc/peak/heap/inuse-sampled:bytes"),
    ("peak objects", "/goalloc/peak/memory/classes/heap/objects:bytes"),
    ("rounding", "/goalloc/frag/rounding:bytes"),
    ("free slots", "/goalloc/frag/free-slots:bytes"),
    ("goal", "/gc/heap/goal:bytes"),
    ("GC cycles", "/gc/cycles/total:gc-cycles"),
)
CHANGES = (("GOGC 100 -> 50", {"gogc": 50}), ("GOGC 100 -> 90", {"gogc": 90}),
           ("go -> go-waste25", {"table": "go-waste25"}), ("go -> pow2", {"table": "pow2"}))


def values(trace: Path, **knobs) -> dict:
    from goalloc.engine.config import Config
    from goalloc.engine.replay import replay
    from goalloc.report.metrics import metric_values

    return metric_values(replay(trace, Config(**knobs)))


def change(base, head) -> str:
    if base in (None, 0) or head is None:
        return "-"
    return f"{(head - base) / base * 100:+.1f}%"


def main() -> int:
    sys.path.insert(0, str(REPO))
    print("| trace | change | " + " | ".join(n for n, _ in METRICS) + " |")
    print("|---|---|" + "--:|" * len(METRICS))
    for name in TRACES:
        path = REPO / "traces" / f"{name}.msgpack"
        base = values(path)
        for label, knobs in CHANGES:
            head = values(path, **knobs)
            print(f"| {name} | {label} | "
                  + " | ".join(change(base[m], head[m]) for _, m in METRICS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
