"""Byte-identity guard for the CLI and report layers (#13): runs `goalloc replay` (text, JSON,
--validate, --attribute, --peak-spans, --gctrace, --timeline, benchstat, gab, pprof, -o, --html,
grids), `compare`, `explain`, `report` and `info` on the shipped traces, a synthetic workload
and an invalid trace, in one process through the CLI, and records each command's exit status,
stdout, stderr and the files it wrote (replay_guard.py covers the replay JSON under many
configurations; this covers every output the commands render).

    python benchmarks/cli_guard.py --record DIR     # on the base commit: DIR/<n>.txt per command
    python benchmarks/cli_guard.py --check DIR      # after a change: exit 1 on a diff
    python benchmarks/cli_guard.py --quick ...      # the first shipped Go trace and the synthetic

The synthetic and invalid traces are written into --dir (default: $TMPDIR/goalloc-cli-guard)
and outputs into --dir/out, so the same paths (which outputs name) are used for both runs.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay_guard  # noqa: E402
from replay_guard import verdict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BAD_TRACE = (
    '{"format": "goalloc-trace", "version": [1, 1], "sizes": "requested", "frees": "death", '
    '"gomaxprocs": 1}\n'
    '{"kind": "alloc", "ts": 0, "id": 0, "size": 32}\n'
    '{"kind": "free", "ts": 1, "id": 5}\n'
)


def commands(d: Path, quick: bool) -> list[list[str]]:
    """The guarded command lines; {out} is a fresh output directory per command."""
    shipped = sorted((ROOT / "traces").glob("*.msgpack"))
    go = [str(t) for t in shipped if t.name.startswith("go")]
    c = [str(t) for t in shipped if not t.name.startswith("go")]
    synth = str(d / "steady.msgpack")
    bad = str(d / "bad.jsonl")
    if quick:
        go, c = go[-1:], []
    cmds = []
    for t in [*go, *c, synth]:
        cmds += [["replay", t], ["replay", t, "--json"], ["replay", t, "--attribute"],
                 ["info", t], ["info", t, "--json"], ["explain", t],
                 ["replay", t, "--gctrace"], ["replay", t, "--timeline", "{out}/t.csv"]]
    for t in go:
        cmds += [["replay", t, "--validate"], ["replay", t, "--validate", "--json"],
                 ["replay", t, "--gc", "recorded", "--validate", "-o", "{out}/r.json"]]
    t = go[-1]
    cmds += [
        ["replay", t, "--peak-spans", "--json"],
        ["replay", t, "--attribute", "--json"],
        ["replay", t, "--format", "benchstat"],
        ["replay", t, "--format", "gab"],
        ["replay", t, "--format", "pprof", "-o", "{out}/p.pb.gz"],
        ["replay", t, "-o", "{out}/r.json"],
        ["replay", t, "--gc", "recorded", "--html", "{out}/r.html", "--json"],
        ["replay", t, "--gogc", "50,100"],
        ["replay", t, "--gogc", "50,100", "--json", "-j", "1"],
        ["replay", t, synth, "--format", "benchstat", "-j", "1"],
        ["replay", t, "--gogc", "50,off", "-o", "{out}/g.json", "-j", "1"],
        ["replay", t, "--gogc", "50,100", "--html", "{out}/g.html", "-j", "1"],
        ["replay", t, "--gogc", "50,100", "--gctrace"],
        ["replay", t, "--json", "--format", "gab"],
        ["replay", t, "--format", "pprof"],
        ["compare", t, "--base", "gogc=100", "--head", "gogc=50", "-j", "1"],
        ["compare", t, "--base", "gogc=100", "--head", "gogc=50", "--format", "markdown",
         "--all", "-j", "1"],
        ["compare", t, "--base", "gogc=100", "--head", "classes=pow2", "--format", "json",
         "-j", "1"],
        ["compare", t, "--base", "gogc=100", "--head", "gogc=50", "--format", "benchstat",
         "--fail-on", "/memory/classes/heap/unused:bytes>+1%", "-j", "1"],
        ["compare", t, synth, "--allow-different-traces", "-j", "1"],
        ["explain", t, "--json"],
        ["explain", t, "--html", "{out}/e.html"],
        ["explain", synth, "--gogc", "50"],
        ["report", t, "-o", "{out}/rep.html"],
        ["replay", bad], ["replay", bad, "--json"], ["info", bad], ["info", bad, "--lenient"],
        ["explain", bad], ["compare", bad, "--base", "gogc=100", "--head", "gogc=50"],
    ]
    return cmds


def prepare(d: Path) -> None:
    """The invalid trace, and replay_guard's synthetic ones (steady.msgpack among them)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "bad.jsonl").write_text(BAD_TRACE)
    replay_guard.traces(d, quick=True)


def run_one(argv: list[str], out: Path) -> str:
    """The command's exit status, stdout, stderr and written files, as one text."""
    from click.testing import CliRunner

    from goalloc.cli import main

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    argv = [a.replace("{out}", str(out)) for a in argv]
    runner = CliRunner()
    code = 0
    with runner.isolation() as (stdout, stderr, _):
        try:
            main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except Exception as e:  # noqa: BLE001 (recorded, so a traceback counts as a diff)
            code = f"{type(e).__name__}: {e}"
        text = [f"$ goalloc {' '.join(argv)}", f"exit {code}", "--- stdout",
                stdout.getvalue().decode(errors="replace"), "--- stderr",
                stderr.getvalue().decode(errors="replace")]
    for f in sorted(out.iterdir()):
        blob = f.read_bytes()
        body = blob.decode() if f.suffix in (".json", ".csv", ".html") else blob.hex()
        text += [f"--- file {f.name}", body]
    # a JSON Lines trace is imported to a temporary directory with a random name
    return re.sub(r"goalloc-jsonl-[a-z0-9_]+", "goalloc-jsonl-X", "\n".join(text))


def main(argv=None) -> int:
    ap = replay_guard.arg_parser(__doc__, "DIR", "goalloc-cli-guard")
    ap.add_argument("--only", metavar="SUBSTR", help="only commands whose line contains this")
    args = ap.parse_args(argv)
    for var in ("GOGC", "GOMEMLIMIT", "GOMAXPROCS", "COLUMNS", "NO_COLOR", "FORCE_COLOR"):
        os.environ.pop(var, None)
    d = Path(args.dir)
    prepare(d)
    t0 = time.perf_counter()
    bad = []
    cmds = commands(d, args.quick)
    for i, cmd in enumerate(cmds):
        line = " ".join(cmd)
        if args.only and args.only not in line:
            continue
        t1 = time.perf_counter()
        text = run_one(cmd, d / "out")
        name = Path(args.record or args.check) / f"{i:03d}.txt"
        print(f"{time.perf_counter() - t1:6.2f}s {i:3d} {line}", file=sys.stderr)
        if args.record:
            name.parent.mkdir(parents=True, exist_ok=True)
            name.write_text(text)
            continue
        want = name.read_text()
        if want != text:
            bad.append(line)
            diff = difflib.unified_diff(want.splitlines(), text.splitlines(), "base", "now",
                                        lineterm="", n=1)
            print("\n".join(list(diff)[:40]), file=sys.stderr)
    return verdict(bad, len(cmds), "commands", t0)


if __name__ == "__main__":
    sys.exit(main())
