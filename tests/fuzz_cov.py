"""Coverage-guided fuzzing of goalloc's parsers with atheris (issue #18), `make fuzz-cov`.

tests/fuzz.py mutates seeds blindly and runs whole CLI commands; this one lets libFuzzer
steer by the Python lines and branches each input reaches, one parser at a time, called as a
library (no CLI, no replay), so it tries thousands of inputs a second on the cheap readers:

    python tests/fuzz_cov.py TARGET [--seconds S] [--corpus DIR] [libFuzzer flags...]

TARGET is one of: msgpack (trace reader + validation), jsonl, gotrace (the Go trace wire
decoder and importer), mtrace, heaptrack, table (TOML / JSON size-class tables, then the
lookup arrays a replay builds), report (a JSON report as `compare` reads and renders it).
The contract per input is the CLI's: the parser returns, or raises goalloc's own error
(GoallocError: one line, exit 2). Any other exception is a finding: atheris prints its
traceback and writes the input to crash-*; a crash in compiled code (a signal) is caught the
same way, and libFuzzer's -rss_limit_mb (1024 here: the acceptance cap) and -timeout stop
runaway memory and hangs.

Coverage: only goalloc's pure-Python functions are instrumented (functions and methods of
the parser modules; numba kernels are dispatchers, left alone, so their compiled code and
its cache stay as they are). Seeds come from tests/data/fuzz and tests/data/robust; the
corpus grows in --corpus (default fuzz-cov-corpus/TARGET).
"""

from __future__ import annotations

import os
import sys
import tempfile
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "data"
sys.path.insert(0, str(REPO))

# target -> (seed files under tests/data, file suffix the input is written with, modules whose
# Python code is instrumented for coverage)
TARGETS = {
    "msgpack": (["fuzz/synth.msgpack", "fuzz/recorded.msgpack", "fuzz/metrics.msgpack",
                 "robust/bill-id-2g.msgpack", "robust/header-deep.msgpack"], ".msgpack",
                ["goalloc.trace.reader", "goalloc.trace.header", "goalloc.trace.sites",
                 "goalloc.trace.validate", "goalloc.trace.format"]),
    "jsonl": (["fuzz/synth.jsonl", "fuzz/recorded.jsonl", "robust/jsonl-snapshot-id.jsonl"],
              ".jsonl", ["goalloc.trace.jsonl", "goalloc.trace.header", "goalloc.trace.sites",
                         "goalloc.jsonread"]),
    "gotrace": (["fuzz/go1.23.trace", "fuzz/go1.25.trace", "fuzz/go1.27-metrics.trace"],
                ".trace", ["goalloc.trace.importers.gotrace",
                           "goalloc.trace.importers.gotrace_wire",
                           "goalloc.trace.importers.gometrics", "goalloc.trace.sites",
                           "goalloc.trace.writer"]),
    "mtrace": (["mtrace-git-version.txt", "robust/mtrace-1tib.txt"], ".txt",
               ["goalloc.trace.importers.mtrace", "goalloc.trace.importers.text",
                "goalloc.trace.sites"]),
    "heaptrack": (["fuzz/heaptrack.raw", "heaptrack-git-version.raw.zst"], ".raw",
                  ["goalloc.trace.importers.heaptrack", "goalloc.trace.importers.text"]),
    "table": (["fuzz/table.toml", "fuzz/table.json", "robust/table-pages-1m.toml",
               "robust/table-2048-objects.toml"], None,
              ["goalloc.sizeclasses.custom", "goalloc.sizeclasses.tables", "goalloc.jsonread"]),
    "report": (["fuzz/report.json", "fuzz/report-attr.json", "robust/report-metric-name.json"],
               ".json", ["goalloc.jsonread", "goalloc.report.docshape", "goalloc.report.grid",
                         "goalloc.report.compare", "goalloc.report.formats"]),
}


def _scratch() -> Path:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="goalloc-fuzzcov-", dir=base))


SCRATCH: Path | None = None


def _write(data: bytes, suffix: str) -> Path:
    p = SCRATCH / ("input" + suffix)
    p.write_bytes(data)
    return p


def _clear_out(out: Path) -> None:
    for q in out.parent.glob(".*.tmp"):  # a temp file left behind is a finding
        raise AssertionError(f"temporary file left behind: {q.name}")
    out.unlink(missing_ok=True)


def run_msgpack(data: bytes) -> None:
    from goalloc.trace.validate import scan

    scan(_write(data, ".msgpack"), lenient=len(data) % 2 == 1)


def run_jsonl(data: bytes) -> None:
    from goalloc.trace.jsonl import read_jsonl

    _header, chunks = read_jsonl(_write(data, ".jsonl"))
    for _ in chunks:
        pass


def _import(kind: str, data: bytes, suffix: str) -> None:
    from goalloc.trace.importers import import_file

    out = SCRATCH / "out.msgpack"
    try:
        import_file(kind, _write(data, suffix), out, force=True, codec="raw")
    finally:
        _clear_out(out)


def run_gotrace(data: bytes) -> None:
    _import("gotrace", data, ".trace")


def run_mtrace(data: bytes) -> None:
    _import("mtrace", data, ".txt")


def run_heaptrack(data: bytes) -> None:
    _import("heaptrack", data, ".raw")


def run_table(data: bytes) -> None:
    from goalloc.sizeclasses.custom import load_table

    # JSON when it opens like JSON, else TOML: both readers get every input shape
    suffix = ".json" if data.lstrip()[:1] in (b"{", b"[") else ".toml"
    table = load_table(_write(data, suffix))  # builds the lookup arrays a replay indexes
    table.max_waste()
    table.size_to_class(table.class_size)


def run_report(data: bytes) -> None:
    from goalloc.cli.compare import _kind
    from goalloc.report import compare as C
    from goalloc.report import formats
    from goalloc.report.grid import runs_of

    path = str(_write(data, ".json"))
    kind, doc = _kind(path)
    if kind != "report":
        return
    runs = runs_of(doc, path)
    cmp = C.compare(runs, runs, [], allow_different_traces=True)
    C.text(cmp, show_all=True, threshold=0.0, width=100)
    C.to_json(cmp)
    formats.benchstat_compare_text(runs, runs)
    formats.gab_json(formats.gab_records(runs))


RUNNERS = {"msgpack": run_msgpack, "jsonl": run_jsonl, "gotrace": run_gotrace,
           "mtrace": run_mtrace, "heaptrack": run_heaptrack, "table": run_table,
           "report": run_report}


def instrument(module_names: list[str]) -> int:
    """Instrument the plain Python functions and methods defined in these modules (numba
    dispatchers are not functions and are skipped: their bytecode must stay numba's)."""
    import importlib

    import atheris

    n = 0
    for name in module_names:
        mod = importlib.import_module(name)
        for obj in list(vars(mod).values()):
            fns = [obj] if isinstance(obj, types.FunctionType) else (
                [v for v in vars(obj).values() if isinstance(v, types.FunctionType)]
                if isinstance(obj, type) else [])
            for fn in fns:
                if fn.__module__ == name:
                    atheris.instrument_func(fn)
                    n += 1
    return n


def one_input(runner):
    from goalloc.errors import GoallocError

    def test(data: bytes) -> None:
        try:
            runner(data)
        except GoallocError as e:
            text = str(e)
            if "\n" in text or not text:
                raise AssertionError(f"error is not one line: {text!r}") from None
    return test


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("--seconds", type=int, default=60, help="stop after this long")
    ap.add_argument("--corpus", help="corpus directory (grows; seeded from tests/data)")
    a, libfuzzer = ap.parse_known_args(argv)
    import atheris

    global SCRATCH
    SCRATCH = _scratch()
    seeds, _suffix, modules = TARGETS[a.target]
    corpus = Path(a.corpus or REPO / "fuzz-cov-corpus" / a.target)
    corpus.mkdir(parents=True, exist_ok=True)
    for s in seeds:
        src = DATA / s
        if src.exists() and not (corpus / src.name).exists():
            (corpus / src.name).write_bytes(src.read_bytes())
    runner = RUNNERS[a.target]
    for s in seeds:  # compile or load the kernels once before the clock starts
        try:
            one_input(runner)((DATA / s).read_bytes())
        except Exception as e:  # a seed that fails is a finding too: say so, go on
            print(f"seed {s}: {type(e).__name__}: {e}", file=sys.stderr)
    n = instrument(modules)
    print(f"fuzz-cov {a.target}: {n} functions instrumented, {a.seconds} s, corpus {corpus}",
          file=sys.stderr)
    flags = [f"-max_total_time={a.seconds}", "-rss_limit_mb=1024", "-timeout=60",
             "-max_len=262144", *libfuzzer, str(corpus)]
    atheris.Setup([sys.argv[0], *flags], one_input(runner))
    try:
        atheris.Fuzz()
    finally:
        import shutil

        shutil.rmtree(SCRATCH, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
