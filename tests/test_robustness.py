"""Regression inputs the fuzzer found (tests/data/robust, issue #18), each with the one line
it must now give, plus output paths, stale temp files and interrupts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

DATA = REPO / "tests" / "data" / "robust"
FUZZ = REPO / "tests" / "data" / "fuzz"

# (argv with {d} = tests/data/robust, {f} = tests/data/fuzz, {o} = an output path) -> the
# error line (after "goalloc: error: ") must contain this
CASES = [
    # invalid UTF-8 in a JSON Lines event: was UnicodeDecodeError
    (["convert", "{d}/jsonl-bad-utf8.jsonl", "-o", "{o}.msgpack"],
     "jsonl-bad-utf8.jsonl: line 6: not UTF-8 text (byte 40)"),
    # a line nested 1,000 deep: was RecursionError
    (["convert", "{d}/jsonl-deep.jsonl", "-o", "{o}.msgpack"],
     "jsonl-deep.jsonl: line 4: JSON nested deeper than 64 levels"),
    # a snapshot object with id 2^62: lookahead.plan asked numpy for a 2^62-row array
    (["replay", "--gc", "recorded", "{o}.msgpack"],
     "event 2: id is negative or not dense (far beyond the events so far) (alloc, id 4611686018427387904)"),
    # a 1 TiB malloc: the replay held 3.4 GB growing the page allocator
    (["replay", "{d}/mtrace-1tib.txt"],
     "mtrace-1tib.txt: the modelled heap would exceed the model's limit of 256 GiB"),
    # a Go trace whose alloc/free info says pages are 4 GiB: the slot pool grew without end
    (["import", "gotrace", "{d}/gotrace-page-size-4g.trace", "-o", "{o}.msgpack"],
     "gotrace-page-size-4g.trace: byte 66: corrupt trace: alloc/free info [824633720832, "
     "4294967296, 8, 2048]"),
    # a size-class span of 2^20 pages: the importer sized its slot pool for 8 GiB of 8 B slots
    (["import", "gotrace", "{d}/gotrace-8gib-small-span.trace", "-o", "{o}.msgpack"],
     "gotrace-8gib-small-span.trace: byte 16: corrupt trace: a 1048576-page span of size "
     "class 9"),
    # a 2-byte mutation of a 9 KB trace put a span at page 261,799,793: the importer's six
    # page tables asked for 12 GB (atheris, make fuzz-cov gotrace)
    (["import", "gotrace", "{d}/gotrace-span-page-262m.trace", "-o", "{o}.msgpack"],
     "gotrace-span-page-262m.trace: byte 16: corrupt trace (or a heap beyond the importer's "
     "limit): a span reaches page 261799793 above the lowest heap page, more than 8388608"),
    # a span of 0 pages sat one past the page tables sized by id + pages: SIGSEGV in a fuzz
    # worker whose earlier cases left garbage in memory (seed 77 gotrace case 588)
    (["import", "gotrace", "{d}/gotrace-span-no-pages.trace", "-o", "{o}.msgpack"],
     "gotrace-span-no-pages.trace: byte 16: corrupt trace: a span with a negative id or no "
     "pages"),
    # a span class of -4 (uvarint 2^64 - 4) indexed the class tables from the end
    (["import", "gotrace", "{d}/gotrace-span-class-neg.trace", "-o", "{o}.msgpack"],
     "gotrace-span-class-neg.trace: byte 16: corrupt trace: span type and class -4 (the "
     "runtime writes 0..511)"),
    # classes --trace: the bill's kernels trusted sizes and ids (SIGSEGV on a 2^62-byte
    # alloc; ids of 2^31 asked for 16 GiB arrays)
    (["classes", "go", "pow2", "--trace", "{d}/bill-size-segv.msgpack"],
     "bill-size-segv.msgpack: byte 268, event 288: negative or absurd size (> 1 TiB) (alloc, "
     "size 4611686018427387904)"),
    (["classes", "go", "pow2", "--trace", "{d}/bill-id-2g.msgpack"],
     "bill-id-2g.msgpack: byte 338, event 35: id is negative or not dense (far beyond the "
     "events so far) (alloc, id 2147483647)"),
    # a string table entry of length ~2^63: i + length wrapped negative and the decoder read
    # before its buffer (SIGSEGV; seed 77 gotrace case 502)
    (["import", "gotrace", "{d}/gotrace-string-len-2e63.trace", "-o", "{o}.msgpack"],
     "gotrace-string-len-2e63.trace: byte 9128: corrupt trace: bad string table entry"),
    # a stack id of 2^40: the replay sized its stack table by it, 16 TiB (seed 77 jsonl case
    # 3107); stack ids are dense like object ids
    (["replay", "{d}/stack-id-2e40.jsonl"],
     "stack-id-2e40.jsonl: event 1: id is negative or not dense (far beyond the events so "
     "far) (stack_alloc, id 1099511627776)"),
    # a class size of 500 nested lists was quoted whole: a 4 KB error line (seed 77
    # table-json case 2703 quoted 100 KB)
    (["classes", "{d}/table-long-value.json"],
     "table-long-value.json: class 2 (size [[[[0]]], [[[0]]], [[[0]]], [[[0]]], ...): size "
     "must be a positive integer"),
    # a table whose largest class is 8 B: the tiny allocator's 16-byte blocks had no class
    # (IndexError; seed 77 table case 5953)
    (["replay", "--classes", "{d}/table-largest-8.toml", "{f}/synth.msgpack"],
     "table-largest-8.toml: the largest class is 8 B: the tiny allocator needs a class of at "
     "least 16 B"),
    # a header value nested 500 deep (msgpack allows it): RecursionError writing the report
    (["replay", "--json", "{d}/header-deep.msgpack"],
     "header-deep.msgpack: byte 0: header value snapshot[0][0]"),
    # an empty file to JSON Lines: click's three-line usage error
    (["convert", "{d}/empty.msgpack", "-o", "{o}.jsonl"],
     "empty.msgpack: already JSON Lines (or empty): nothing to convert"),
    # size-class tables that crashed the kernels (SIGSEGV, SIGABRT) or asked for 64 GiB
    (["replay", "--classes", "{d}/table-pages-1m.toml", "{f}/synth.msgpack"],
     "class 4 (size 128): 1048576 pages per span, more than 512"),
    (["classes", "{d}/table-pages-huge.toml"],
     "class 4 (size 128): 1099511627777 pages per span, more than 512"),
    (["classes", "{d}/table-1tib-class.toml"],
     "page_size 1099511627776 must be a multiple of 8 in 8..1048576"),
    (["replay", "--classes", "{d}/table-2048-objects.toml", "{f}/synth.msgpack"],
     "class 1 (size 8): a 2-page span holds 2048 objects, more than the model's 1024 per span"),
    (["classes", "{d}/table-deep.json"], "table-deep.json: not a valid size-class table file: "
     "JSON nested deeper than 64 levels"),
    # compare reports of the wrong shape: were AttributeError / KeyError / RecursionError
    (["compare", "{d}/report-metric-name.json", "{f}/report.json"],
     "report-metric-name.json: metrics[27].name: expected a string"),
    (["compare", "{f}/report.json", "{d}/report-config-list.json"],
     "report-config-list.json: config: expected an object"),
    (["compare", "{d}/report-deep.json", "{f}/report.json"],
     "report-deep.json: JSON report: JSON nested deeper than 64 levels"),
    (["compare", "{d}/report-inf.json", "{f}/report.json", "--format", "gab"],
     "report-inf.json: JSON report: -Infinity is not a JSON number"),
    # special paths
    (["info", "{d}/no-such-file.msgpack"], "no-such-file.msgpack: cannot open: No such file"),
    (["info", "{d}"], "is a directory"),
    (["convert", "{f}/synth.msgpack", "-o", "{o}-missing/x.jsonl"],
     "x.jsonl: cannot write: directory"),
    (["import", "mtrace", "{f}/../mtrace-git-version.txt", "-o", "{tmp}"],
     ": is a directory (expected an output file name)"),
    (["replay", "{f}/synth.msgpack", "-o", "{tmp}"], "' is a directory."),  # click's check
    (["synth", "steady", "-n", "10", "-o", "{o}-missing/x.msgpack"],
     "x.msgpack: cannot write: directory"),
]


@pytest.mark.parametrize("argv,expected", CASES, ids=[" ".join(c[0][:2]) + f" {i}"
                                                     for i, c in enumerate(CASES)])
def test_regression(cli, tmp_path, argv, expected):
    out = tmp_path / "out"
    if "--gc" in argv:  # the JSON Lines regression converts first (that part is valid)
        code, _, err = cli("convert", DATA / "jsonl-snapshot-id.jsonl", "-o", f"{out}.msgpack")
        assert code == 0, err
    args = [a.format(d=DATA, f=FUZZ, o=out, tmp=tmp_path) for a in argv]
    before = set(os.listdir(tmp_path))
    code, _, err = cli(*args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("goalloc: error: "), err
    assert expected in lines[0]
    assert set(os.listdir(tmp_path)) == before  # nothing written, no temp file left


def test_span_free_beyond_every_span(cli, tmp_path):
    """A SpanFree of span id 2^40 (no span was ever there) read the page tables 2^40 entries
    past their end; it is an unknown span free, counted like any other."""
    code, out, err = cli("import", "gotrace", DATA / "gotrace-span-free-2e40.trace", "-o",
                         tmp_path / "out.msgpack")
    assert code == 0, err
    assert "unknown span frees 1" in out + err


def test_stack_frame_naming_no_string(cli):
    """A GCBegin stack frame whose function string id is past 2^63 (a flipped varint): the
    ids went into an int64 array (OverflowError; seed 77 gotrace case 5186). Such an id names
    no string; the trace replays."""
    code, _, err = cli("replay", "--gc", "recorded", DATA / "gotrace-func-id-2e64.trace")
    assert code == 0, err


def test_explain_sites_holding_nothing(cli):
    """A trace with a sites table whose objects are all gone by the end: the attribution has
    no rows, and its sums were an empty dict (KeyError 'held_bytes' in explain; seed 77
    msgpack case 2725). The sums are 0 and no "held by type" claim names nobody."""
    code, out, err = cli("explain", "--json", "--gc", "recorded",
                         DATA / "explain-no-site-rows.msgpack")
    assert code == 0, err
    doc = json.loads(out)
    assert "held by type" not in [c["pattern"] for c in doc["claims"]]
    code, out, err = cli("replay", "--attribute", "--json", "--gc", "recorded",
                         DATA / "explain-no-site-rows.msgpack")
    assert code == 0, err
    sums = json.loads(out)["attribution"]["sums"]
    assert sums["held_bytes"] == 0 and sums["live_bytes"] == 0


def test_explain_type_name_with_braces(cli):
    """A Go closure's type name has braces (`struct { F uintptr; X0 chan struct {} }`):
    explain put it into its claim's str.format template (ValueError: cannot switch from
    manual field specification..., a traceback; seed 77 table-json case 4 on the Go 1.27
    seed). The name is now printed as it is."""
    code, out, err = cli("explain", DATA / "explain-brace-type.jsonl")
    assert code == 0, err
    text = " ".join(out.split())  # the claim may be wrapped at the terminal's width
    assert "struct { F uintptr; X0 chan struct {} }" in text and "main.node" in text


def test_stale_temp_files_are_removed(cli, tmp_path):
    """A temp file of a writer that died (its pid is gone, or an old one without a pid) is
    removed by the next writer of the same output; a live process's is kept."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [tmp_path / f".out.msgpack.{dead.pid}.abcd1234.tmp", tmp_path / ".out.msgpack.x1.tmp"]
    live = tmp_path / f".out.msgpack.{os.getpid()}.efgh5678.tmp"
    for p in [*stale, live]:
        p.write_bytes(b"partial")
    os.utime(stale[1], (0, 0))
    other = tmp_path / ".other.msgpack.123.abc.tmp"  # another output's: not ours to touch
    other.write_bytes(b"x")
    code, _, err = cli("convert", FUZZ / "synth.jsonl", "-o", tmp_path / "out.msgpack")
    assert code == 0, err
    assert not any(p.exists() for p in stale)
    assert live.exists() and other.exists()


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path)
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def _interrupt(args, tmp_path, sig, wait_for: Path | None = None, after: float = 0.0,
               opened: Path | None = None):
    """Start `goalloc ARGS`, send `sig` once it has started work, return (status, stderr)."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-m", "goalloc", *map(str, args)], cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        if wait_for is None or any(wait_for.parent.glob(f".{wait_for.name}.*.tmp")):
            break
        if opened is not None and _has_open(p.pid, opened):
            break
        time.sleep(0.02)
    time.sleep(after)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    return p.returncode, err


@pytest.mark.parametrize("sig,status,word", [(signal.SIGINT, 130, "interrupted"),
                                             (signal.SIGTERM, 143, "terminated")])
def test_interrupt_synth_leaves_nothing(tmp_path, sig, status, word):
    out = tmp_path / "big.msgpack"
    code, err = _interrupt(["synth", "steady", "-n", "50000000", "-o", out], tmp_path, sig,
                           wait_for=out, after=0.5)
    assert code == status, err
    assert err.strip() == f"goalloc: {word}"
    assert sorted(os.listdir(tmp_path)) == []  # no output, no temp file


def test_interrupt_convert_and_import(tmp_path):
    big = tmp_path / "in.msgpack"
    subprocess.run([sys.executable, "-m", "goalloc", "synth", "steady", "-n", "3000000", "-o",
                    big], check=True, capture_output=True)
    out = tmp_path / "out.jsonl"
    code, err = _interrupt(["convert", big, "-o", out], tmp_path, signal.SIGINT, wait_for=out,
                           after=0.3)
    assert code == 130 and err.strip() == "goalloc: interrupted", err
    assert sorted(os.listdir(tmp_path)) == ["in.msgpack"]
    imported = tmp_path / "imp.msgpack"
    code, err = _interrupt(["import", "gotrace", REPO / "tests/data/gotrace-tiny.trace", "-o",
                            imported], tmp_path, signal.SIGINT, wait_for=imported)
    assert code in (0, 130), err  # the tiny trace may be imported before the signal lands
    if code == 130:
        assert err.strip() == "goalloc: interrupted"
        assert sorted(os.listdir(tmp_path)) == ["in.msgpack"]
    report = tmp_path / "r.json"
    # once the replay has the trace open it still has a second of work (a 3 M-event replay)
    code, err = _interrupt(["replay", big, "--gogc", "5", "-o", report], tmp_path,
                           signal.SIGINT, wait_for=report, opened=big, after=0.2)
    assert code == 130 and err.strip() == "goalloc: interrupted", err
    assert not report.exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp") or "goalloc-" in n]


def test_interrupt_while_numba_compiles_is_one_line(tmp_path):
    """Ctrl-C during the first run's compile (an empty kernel cache): one line and exit 130,
    not llvmlite's "Exception ignored" traceback and exit 1 (the signal lands inside numba)."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), TMPDIR=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)
    p = subprocess.Popen([sys.executable, "-m", "goalloc", "replay",
                          REPO / "traces/go-parser.msgpack"], cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    cache = tmp_path / "cache" / "goalloc"
    deadline = time.monotonic() + 120
    # wait until numba has started writing the cache: it is compiling
    while time.monotonic() < deadline and p.poll() is None and not any(cache.rglob("*.nbi")):
        time.sleep(0.05)
    time.sleep(3.0)  # well inside the compile of the next kernels (a minute in all)
    assert p.poll() is None, "finished before compiling anything"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert err.strip() == "goalloc: interrupted", err


_SIGNAL_IN_A_LOAD = r"""
import ctypes, signal, sys
import numpy as np
from numba.core import caching
from goalloc import cli
from goalloc.engine import arrays
ids = np.arange(4, dtype=np.int64)
if sys.argv[1] == "fill":  # a process that compiles (or loads) the kernel: it is cached
    arrays.largest_ids(ids, ids, 1, 2, 3)
    sys.exit(0)
cli._catch_signals()
real = caching.Cache._load_overload
def load_with_a_signal(self, sig, ctx):
    # the signal lands inside a ctypes callback, as inside llvmlite's during a load
    ctypes.CFUNCTYPE(None)(lambda: signal.raise_signal(signal.SIGINT))()
    return real(self, sig, ctx)
caching.Cache._load_overload = load_with_a_signal
try:
    arrays.largest_ids(ids, ids, 1, 2, 3)
except cli.Interrupted:
    print("interrupted")
    sys.exit(0)
print("ran on")
"""


def test_a_signal_while_a_cached_kernel_loads_is_not_lost(tmp_path):
    """Ctrl-C while a cached kernel loads: the load runs llvmlite's ctypes callbacks, where the
    handler's exception used to be printed ("Exception ignored") and dropped, and the command
    ran to the end (a CI run, 2026-12-05). The signal is held until the load ends, then raised
    (fails on the code before: "ran on")."""
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("NUMBA_CACHE_DIR", None)
    subprocess.run([sys.executable, "-c", _SIGNAL_IN_A_LOAD, "fill"], env=env, check=True,
                   capture_output=True, timeout=300)
    p = subprocess.run([sys.executable, "-c", _SIGNAL_IN_A_LOAD, "load"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.stdout.strip() == "interrupted", p.stdout + p.stderr
    assert "Exception ignored" not in p.stderr, p.stderr


def test_an_interrupt_inside_numbas_c_code_is_one_line(tmp_path, monkeypatch, capsys):
    """A signal that lands while numba's C code calls back into Python (loading a cached
    kernel: serialize._numba_unpickle) surfaces as a SystemError raised from the handler's
    Interrupted, as a CI run caught once in `import gotrace`: still one line and 130, and
    nothing written."""
    from goalloc import cli as cli_mod

    def interrupted_in_c(src, out, **kw):
        try:
            raise cli_mod.Interrupted(signal.SIGINT)
        except cli_mod.Interrupted as e:
            raise SystemError("<function _numba_unpickle> returned a result with an "
                              "exception set") from e

    _import_is_interrupted(interrupted_in_c, tmp_path, monkeypatch, capsys)
    assert cli_mod.interrupt_cause(SystemError("unrelated")) is None


def test_an_interrupt_inside_a_class_statement_is_one_line(tmp_path, monkeypatch, capsys):
    """A signal that lands while a class statement runs (a CI run caught one in a dataclass
    field's __set_name__ while `replay` imported the engine) comes out of Python 3.11 as a
    RuntimeError caused by the handler's Interrupted: still one line and 130."""
    from goalloc import cli as cli_mod

    class LandsHere:
        def __set_name__(self, owner, name):
            raise cli_mod.Interrupted(signal.SIGINT)  # what the signal handler raises

    def interrupted_in_a_class(src, out, **kw):
        class Report:  # noqa: F841 - Python calls __set_name__ as the class is made
            cycles = LandsHere()

    _import_is_interrupted(interrupted_in_a_class, tmp_path, monkeypatch, capsys)


def _import_is_interrupted(import_gotrace, tmp_path, monkeypatch, capsys):
    """`goalloc import gotrace` with `import_gotrace` in place of the importer: exit 130,
    one line, nothing written."""
    from goalloc import cli as cli_mod
    from goalloc.trace.importers import gotrace

    monkeypatch.setattr(gotrace, "import_gotrace", import_gotrace)
    monkeypatch.setattr(cli_mod, "_leave", sys.exit)  # os._exit would end pytest too
    out = tmp_path / "imp.msgpack"
    with pytest.raises(SystemExit) as e:
        cli_mod.main(["import", "gotrace", str(REPO / "tests/data/gotrace-tiny.trace"), "-o",
                      str(out)])
    assert e.value.code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "goalloc: interrupted"
    assert not out.exists()


def test_an_interrupted_command_leaves_without_finalizing():
    """After its one line an interrupted command leaves the process at once: the interpreter's
    finalization, with a thread still in C code using what it frees, once crashed a
    fresh-clone CI run's Ctrl-C of a replay after the line (a double free, SIGABRT). An
    atexit handler, which finalization would run, does not run; the status is 130."""
    probe = ("import atexit, threading, time\n"
             "from goalloc import cli\n"
             "atexit.register(lambda: print('finalized', flush=True))\n"
             "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
             "cli._exit_interrupted(2)\n")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 130
    assert r.stderr.strip() == "goalloc: interrupted"
    assert "finalized" not in r.stdout
