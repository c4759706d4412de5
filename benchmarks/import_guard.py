"""Byte-identity guard for importer changes (#13): imports every Go execution trace the repo has
(and those named on the command line) with `goalloc import` in one process, through the CLI,
and records the sha256 of each output file and of the command's text (its notes, or the
one-line error and exit status of a bad input), with the full report dict import_gotrace
returns. The mtrace and heaptrack samples are imported too (they share importers/text.py).

    python benchmarks/import_guard.py record guard.json [TRACE ...]   # on the base commit
    python benchmarks/import_guard.py check guard.json [TRACE ...]    # exit 1 on a diff

Run both from the same directory with the same TRACE arguments: the output is written to one
fixed temporary path, so the file names the outputs carry are the same in both runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAW = Path("/work/raw")  # the developers' raw recordings, when present


def go_traces(extra: list[str]) -> list[Path]:
    found = sorted((ROOT / "traces").glob("*.trace*"))
    found += sorted((ROOT / "tests" / "data").rglob("*.trace*"))
    if RAW.is_dir():
        found += sorted(RAW.glob("*.trace*")) + sorted(RAW.glob("rel/*.trace*"))
        found += sorted(RAW.glob("gp*/*.trace*"))
    return found + [Path(p) for p in extra]


OTHER = [("mtrace", ROOT / "tests" / "data" / "mtrace-git-version.txt"),
         ("heaptrack", ROOT / "tests" / "data" / "heaptrack-git-version.raw.zst"),
         ("heaptrack", ROOT / "tests" / "data" / "fuzz" / "heaptrack.raw")]


def run(extra: list[str]) -> dict[str, dict]:
    from click.testing import CliRunner

    from goalloc.cli import cli
    from goalloc.errors import TraceError
    from goalloc.trace.importers.gotrace import import_gotrace

    out = Path(tempfile.gettempdir()) / "goalloc-import-guard" / "out.msgpack"
    out.parent.mkdir(parents=True, exist_ok=True)
    res = {}
    jobs = [("gotrace", p) for p in go_traces(extra)] + OTHER
    for fmt_name, src in jobs:
        t0 = time.perf_counter()
        out.unlink(missing_ok=True)
        r = CliRunner().invoke(cli, ["import", fmt_name, str(src), "-o", str(out), "--force"])
        entry = {"exit": r.exit_code,
                 "text": hashlib.sha256(r.output.encode()).hexdigest(),
                 "bytes": hashlib.sha256(out.read_bytes()).hexdigest() if out.exists() else None}
        if r.exit_code not in (0, 2) or r.exception and not isinstance(r.exception, SystemExit):
            entry["exception"] = repr(r.exception)
        if fmt_name == "gotrace" and r.exit_code == 0:
            try:  # the library's report, with an exact release given (as `goalloc record` does)
                rep = import_gotrace(src, out, force=True, go_version="go1.99.0")
                entry["report"] = rep
                entry["bytes_exact_release"] = hashlib.sha256(out.read_bytes()).hexdigest()
            except TraceError as e:
                entry["report"] = f"TraceError: {e}"
        res[f"{fmt_name} {src}"] = entry
        digest = entry["bytes"][:12] if entry["bytes"] else "-"
        print(f"{time.perf_counter() - t0:6.2f}s exit {r.exit_code} {digest} {src}",
              file=sys.stderr)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=("record", "check"))
    ap.add_argument("guard", type=Path, help="the JSON file of the base commit's imports")
    ap.add_argument("traces", nargs="*", help="more Go execution traces to import")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = json.loads(json.dumps(run(args.traces)))  # the types the JSON file holds
    if args.mode == "record":
        args.guard.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(res)} imports in {time.perf_counter() - t0:.0f} s")
        return 0
    want = json.loads(args.guard.read_text())
    differ = [k for k in res if want.get(k) != res[k]] + [f"{k} (not run)" for k in want
                                                          if k not in res]
    print(f"{len(res) - len(differ)}/{len(want)} imports identical (output bytes, text, exit "
          f"status, report) ({time.perf_counter() - t0:.0f} s)",
          *(f"  DIFFERS: {k}" for k in differ), sep="\n")
    return int(bool(differ))


if __name__ == "__main__":
    sys.exit(main())
