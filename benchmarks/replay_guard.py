"""Byte-identity guard for engine changes (#13, #14): replays every shipped trace and five
synthetic workloads under several configurations with `goalloc replay --json` (in one process,
through the CLI) and records the sha256 of each JSON text.

    python benchmarks/replay_guard.py --record guard.json     # on the base commit
    python benchmarks/replay_guard.py --check guard.json      # after a change: exit 1 on a diff
    python benchmarks/replay_guard.py --quick --check ...     # one trace per kind, 4 configs
    python benchmarks/replay_guard.py --ignore a.b,c ...        # a schema gained keys a.b and c

--ignore (on both the record and the check) compares the JSON without the named keys (dotted
paths, absent ones skipped), so a change that adds to the schema can show the rest unchanged.

The synthetic traces are generated into --dir (default: $TMPDIR/goalloc-guard) with fixed seeds,
so the same paths (which the JSON names) are used for the record and the check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SYNTH = [
    ("steady", []),
    ("batch", []),
    ("fragmenter", []),
    ("large", []),
    ("profile", ["--profile", "tcmalloc:beta"]),
]
SYNTH_EVENTS = 200_000

CONFIGS = [
    [],
    ["--gc", "recorded"],
    ["--gc", "pacer", "--gogc", "50"],
    ["--gogc", "off"],
    ["--gogc", "off", "--memlimit", "24MiB"],
    ["--memlimit", "48MiB", "--gc", "recorded"],
    ["--go-version", "1.19"],
    ["--go-version", "1.22", "--gc", "recorded"],
    ["--go-version", "1.26"],
    ["--classes", "pow2"],
    ["--procs", "1"],
    ["--procs", "8", "--gc", "recorded"],
    ["--no-pagecache"],
]
QUICK_CONFIGS = [[], ["--gc", "recorded"], ["--gogc", "off", "--memlimit", "24MiB"],
                 ["--go-version", "1.19", "--procs", "8"]]


def traces(d: Path, quick: bool) -> list[Path]:
    from click.testing import CliRunner

    from goalloc.cli import cli

    shipped = sorted((ROOT / "traces").glob("*.msgpack"))
    out = shipped[:2] if quick else shipped
    d.mkdir(parents=True, exist_ok=True)
    for name, extra in SYNTH[:2] if quick else SYNTH:
        p = d / f"{name}.msgpack"
        if not p.exists():
            r = CliRunner().invoke(cli, ["synth", name, "-n", str(SYNTH_EVENTS), "-o", str(p),
                                         "--seed", "7", *extra], catch_exceptions=False)
            assert r.exit_code == 0, r.output
        out.append(p)
    return out


def without(text: str, ignore: list[str]) -> str:
    """The JSON text less the dotted keys in `ignore`, re-dumped with sorted keys (a text that
    is not JSON, an error, is returned as it is)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    for path in ignore:
        *parents, last = path.split(".")
        node = doc
        for k in parents:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return json.dumps(doc, sort_keys=True)


def run(d: Path, quick: bool, ignore: list[str] | None = None) -> dict[str, str]:
    from click.testing import CliRunner

    from goalloc.cli import cli

    for var in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS"):
        os.environ.pop(var, None)
    res = {}
    for t in traces(d, quick):
        for cfg in QUICK_CONFIGS if quick else CONFIGS:
            key = f"{t.name} {' '.join(cfg)}".strip()
            t0 = time.perf_counter()
            r = CliRunner().invoke(cli, ["replay", str(t), "--json", *cfg])
            text = r.output if r.exit_code == 0 else f"exit {r.exit_code}: {r.output}"
            # the shipped traces' paths name the checkout: a base recorded in a worktree
            # compares with the change's
            text = text.replace(str(ROOT), "<checkout>")
            if ignore:
                text = without(text, ignore)
            res[key] = hashlib.sha256(text.encode()).hexdigest()
            print(f"{time.perf_counter() - t0:6.2f}s {res[key][:12]} {key}", file=sys.stderr)
    return res


def arg_parser(doc: str, what: str, work_dir: str) -> argparse.ArgumentParser:
    """--record/--check `what`, --quick and --dir (default: `work_dir` in $TMPDIR)."""
    ap = argparse.ArgumentParser(description=doc)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--record", metavar=what)
    g.add_argument("--check", metavar=what)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ignore", default="", metavar="KEYS",
                    help="comma-separated dotted JSON keys left out of the comparison")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), work_dir))
    return ap


def main(argv=None) -> int:
    args = arg_parser(__doc__, "FILE", "goalloc-guard").parse_args(argv)
    t0 = time.perf_counter()
    res = run(Path(args.dir), args.quick, [k for k in args.ignore.split(",") if k])
    if args.record:
        Path(args.record).write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(res)} replays in {time.perf_counter() - t0:.0f} s")
        return 0
    want = json.loads(Path(args.check).read_text())
    return verdict([k for k in res if want.get(k) != res[k]], len(res), "replays", t0)


def verdict(bad: list[str], total: int, what: str, t0: float) -> int:
    """Print how many of `total` were byte-identical and which differ; the exit status."""
    print(f"{total - len(bad)}/{total} {what} byte-identical ({time.perf_counter() - t0:.0f} s)")
    for k in bad:
        print(f"  DIFFERS: {k}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
