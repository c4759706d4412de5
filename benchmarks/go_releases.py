"""Fidelity per Go release (#12): record the README's two benchmarks (go/parser BenchmarkParse
20x at 2 Ps, net/http ClientServerParallel/4/h1 1500x at 4 Ps) and, `--runs` times each, the
test programs of tests/data/goprogs (`multi`: four goroutines at 4 Ps; `long`: four trace
generations) with every installed Debian toolchain, replay each with `--gc recorded
--validate` and `--gc pacer --validate`, and print markdown tables: in use at mark start
(max / mean |error|), spans per size class at the end, cycles (model / recorded) in both modes.

    python benchmarks/go_releases.py [--releases 1.23,1.27] [--runs 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_go_releases import PROGS, RELEASES, goalloc, toolchain  # noqa: E402

BENCHMARKS = {
    "parser": ["test", "-run=^$", "-bench=BenchmarkParse$", "-benchtime=20x", "go/parser"],
    "http": ["test", "-run=^$", "-bench=^BenchmarkClientServerParallel$/^4$/^h1$",
             "-benchtime=1500x", "-cpu=4", "net/http"],
}


def fidelity(trace: Path) -> dict:
    out = {}
    for mode in ("recorded", "pacer"):
        r = goalloc("replay", trace, "--gc", mode, "--validate", "--json")
        if not r.stdout:
            raise SystemExit(f"{trace}: {r.stderr.strip()}")
        out[mode] = json.loads(r.stdout)["fidelity"]
    return out


def record(release: str, name: str, work: Path, exe: Path | None, n: int) -> Path:
    go, env = toolchain(release)
    out = work / f"go{release}-{name}-{n}.msgpack"
    if not out.exists():
        cmd = [go, *BENCHMARKS[name]] if exe is None else [str(exe), name]
        r = goalloc("record", "-o", out, "--keep-trace", out.with_suffix(".trace"), "--",
                    *cmd, env=env)
        if r.returncode != 0:
            raise SystemExit(f"recording {name} with Go {release} failed: {r.stderr.strip()}")
    return out


def build(release: str, work: Path) -> Path:
    go, env = toolchain(release)
    src = work / f"goprogs-{release}"
    exe = src / "goprogs"
    if not exe.exists():
        src.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROGS / "main.go", src / "main.go")
        (src / "go.mod").write_text("module goprogs\n\ngo 1.23\n")
        subprocess.run([go, "build", "-o", str(exe), "."], cwd=src, env=env, check=True)
    return exe


def row(f: dict) -> list[str]:
    rec, pac = f["recorded"], f["pacer"]
    return [f"{100 * rec['inuse_max_error']:.2f} / {100 * rec['inuse_mean_error']:.2f}%",
            f"{100 * rec['classes_error']:.2f}%",
            f"{rec['model_cycles']}/{rec['recorded_cycles']}",
            f"{pac['model_cycles']}/{pac['recorded_cycles']}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", default=",".join(RELEASES))
    ap.add_argument("--runs", type=int, default=3, help="recordings of each test program")
    ap.add_argument("--work", type=Path, help="keep recordings here (reused when present; "
                                              "the Go traces beside them, to re-import)")
    a = ap.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="goalloc-releases-"))
    work.mkdir(parents=True, exist_ok=True)
    releases = a.releases.split(",")
    print("| Go | parser: in use | classes | cycles | pacer | http: in use | classes | cycles "
          "| pacer |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rel in releases:
        cells = []
        for name in BENCHMARKS:
            cells += row(fidelity(record(rel, name, work, None, 1)))
        print(f"| {rel} | " + " | ".join(cells) + " |", flush=True)
    print()
    print("| Go | program | run | in use max / mean | classes | cycles | pacer cycles |")
    print("|---|---|---|---|---|---|---|")
    for rel in releases:
        exe = build(rel, work)
        for name in ("multi", "long"):
            for n in range(1, a.runs + 1):
                cells = row(fidelity(record(rel, name, work, exe, n)))
                print(f"| {rel} | {name} | {n} | " + " | ".join(cells) + " |", flush=True)
    print(f"\nrecordings in {work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
