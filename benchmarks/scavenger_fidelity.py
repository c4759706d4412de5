"""The scavenger against the runtime over time (#20): record tests/data/scavprogs with Go
toolchains (as tests/test_scavenger_go.py does) and print, per program and GC mode, each heap
memory class's mean and worst |model - recorded| as a share of the heap total at the
runtime/metrics samples (`goalloc replay --validate`), as a markdown table.

    python benchmarks/scavenger_fidelity.py [--releases 1.23,1.27] [--modes recorded,pacer]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_scavenger_go import CLASSES, PROGRAMS, classes, recording  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default="1.23,1.27")
    ap.add_argument("--modes", default="recorded,pacer")
    a = ap.parse_args()
    print("| Go | program | mode | samples | " + " | ".join(CLASSES) + " |")
    print("|---|---|---|---|" + "---|" * len(CLASSES))
    for release in a.releases.split(","):
        for program in PROGRAMS:
            rec = recording(release, program)
            for mode in a.modes.split(","):
                mc = classes(rec, mode)
                cells = [f"{100 * mc['classes'][n]['mean_error']:.1f} / "
                         f"{100 * mc['classes'][n]['max_error']:.1f}%" for n in CLASSES]
                print(f"| {release} | {program} | {mode} | {mc['samples']} | "
                      + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
