"""`goalloc record`: command-line rewriting (no toolchain needed), exit statuses and errors, and
recordings with the real Go 1.23 toolchain when it is installed."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from test_import_gotrace import GO_SKIP, go_binary, read

from goalloc.cli.record import GOALLOC_TRACE, is_go_test, prepare, user_trace
from goalloc.trace import format as fmt
from goalloc.trace.importers import detect

REPO = Path(__file__).resolve().parents[1]

GO_MOD = "module rec\n\ngo 1.23\n"
BENCH_TEST = """package rec

import "testing"

var keep [][]byte
var nodes []*node

type node struct {
	next *node
	val  [4]int
}

func BenchmarkAlloc(b *testing.B) {
	for i := 0; i < b.N; i++ {
		for j := 0; j < 500; j++ {
			buf := make([]byte, 64+j)
			if j%50 == 0 {
				keep = append(keep, buf)
			}
			nodes = append(nodes, &node{})
		}
		if len(keep) > 200 {
			keep = keep[:0]
		}
		if len(nodes) > 5000 {
			nodes = nil
		}
	}
}

func TestFails(t *testing.T) {
	if testing.Short() {
		t.Fatal("this test fails on purpose")
	}
}
"""
# The recipe of docs/importers.md, "goalloc record".
MAIN_GO = """package main

import (
	"fmt"
	"os"
	"runtime/trace"
)

var sink [][]byte

func main() {
	if name := os.Getenv("GOALLOC_TRACE"); name != "" {
		f, err := os.Create(name)
		if err != nil {
			panic(err)
		}
		if err := trace.Start(f); err != nil {
			panic(err)
		}
		defer func() { trace.Stop(); f.Close() }()
	}
	for i := 0; i < 200000; i++ {
		sink = append(sink, make([]byte, 100+i%900))
		if len(sink) > 1000 {
			sink = sink[:0]
		}
	}
	fmt.Println("done")
}
"""


def goalloc(*args, cwd=None, env=None, timeout=180):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "goalloc", *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


# -- command lines -----------------------------------------------------------------------------


def test_go_test_gets_trace_right_after_test():
    env = {"GODEBUG": "gctrace=1"}
    cmd, trace = prepare(["go", "test", "-run=^$", "-bench=.", "./pkg", "-args", "-x"], env,
                         "/t/go.trace")
    assert cmd == ["go", "test", "-trace=/t/go.trace", "-run=^$", "-bench=.", "./pkg", "-args",
                   "-x"]
    assert trace == "/t/go.trace"
    assert env["GODEBUG"] == "gctrace=1,traceallocfree=1" and GOALLOC_TRACE not in env
    env = {}
    cmd, _ = prepare(["/usr/lib/go-1.23/bin/go", "test"], env, "/t/go.trace")
    assert cmd == ["/usr/lib/go-1.23/bin/go", "test", "-trace=/t/go.trace"]
    assert env["GODEBUG"] == "traceallocfree=1"


def test_go_test_with_its_own_trace_flag(tmp_path):
    for args, want in ((["-trace=a.trace"], "a.trace"), (["-trace", "b.trace", "."], "b.trace"),
                       (["--trace=c.trace"], "c.trace"),
                       (["-outputdir", str(tmp_path), "-trace=d.trace"], tmp_path / "d.trace"),
                       (["-trace=/abs/e.trace"], "/abs/e.trace")):
        cmd, trace = prepare(["go", "test", *args], {}, "/t/go.trace")
        assert cmd == ["go", "test", *args] and trace == os.path.abspath(want)
    # after -args, -trace belongs to the test binary
    assert user_trace(["-bench=.", "-args", "-trace=x"]) is None


def test_other_commands_get_goalloc_trace():
    env = {}
    cmd, trace = prepare(["./prog", "test", "-trace=x"], env, "/t/go.trace")
    assert cmd == ["./prog", "test", "-trace=x"] and env[GOALLOC_TRACE] == trace == "/t/go.trace"
    assert not is_go_test(["go", "run", "."]) and not is_go_test(["go"])
    assert is_go_test(["go1.23.5", "test"]) and not is_go_test(["gofmt", "test"])


# -- exit statuses and errors (no toolchain) ----------------------------------------------------


def test_failing_command_passes_its_status_and_output_through(tmp_path):
    out = tmp_path / "o.msgpack"
    r = goalloc("record", "-o", out, "--", sys.executable, "-c",
                "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)")
    assert r.returncode == 3
    assert r.stdout == "to stdout\n"
    assert r.stderr == "to stderr\ngoalloc: error: recorded command exited with status 3\n"
    assert not out.exists()


def test_command_without_trace_support_is_a_clear_error(tmp_path):
    out = tmp_path / "o.msgpack"
    r = goalloc("record", "-o", out, "--", sys.executable, "-c",
                f"import os; print(os.environ['{GOALLOC_TRACE}'].endswith('.trace'), "
                "os.environ['GODEBUG'])")
    assert r.stdout == "True traceallocfree=1\n"
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("goalloc: error: the command wrote no execution trace: goalloc "
                               "sets GOALLOC_TRACE")
    assert "trace.Start" in lines[0] and "docs/importers.md" in lines[0]
    assert not out.exists()


def test_missing_command_and_existing_output(tmp_path):
    r = goalloc("record", "-o", tmp_path / "o.msgpack", "--", "no-such-command-goalloc")
    assert r.returncode == 127 and r.stderr.startswith("goalloc: error: cannot run")
    out = tmp_path / "exists.msgpack"
    out.write_bytes(b"x")
    marker = tmp_path / "ran"
    r = goalloc("record", "-o", out, "--", sys.executable, "-c",
                f"open({str(marker)!r}, 'w').close()")
    assert r.returncode == 2 and "already exists (use --force" in r.stderr
    assert not marker.exists() and out.read_bytes() == b"x"  # checked before running anything


def test_record_help_lists_usage():
    r = goalloc("record", "--help")
    assert r.returncode == 0 and "-o OUT.msgpack" in r.stdout and "GOALLOC_TRACE" in r.stdout


# -- with the real toolchain -------------------------------------------------------------------


@pytest.fixture(scope="module")
def go_module(tmp_path_factory):
    go = go_binary()
    if go is None:
        pytest.skip(GO_SKIP)
    d = tmp_path_factory.mktemp("gomod")
    (d / "go.mod").write_text(GO_MOD)
    (d / "rec_test.go").write_text(BENCH_TEST)
    prog = d / "prog"
    prog.mkdir()
    (prog / "go.mod").write_text("module prog\n\ngo 1.23\n")
    (prog / "main.go").write_text(MAIN_GO)
    # Stdlib-only code: no network. The build cache is shared by the tests of a session (and
    # kept in the system temp dir for the next one): a cold cache compiles the runtime.
    env = {"PATH": str(Path(go).parent) + os.pathsep + os.environ.get("PATH", ""),
           "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod",
           "GOCACHE": os.environ.get("GOCACHE") or os.path.join(tempfile.gettempdir(),
                                                                "goalloc-test-gocache"),
           "HOME": os.environ.get("HOME", tempfile.gettempdir())}
    return d, env


def test_record_a_go_benchmark(go_module, tmp_path):
    d, env = go_module
    out, kept = tmp_path / "bench.msgpack", tmp_path / "bench.trace"
    r = goalloc("record", "-o", out, "--keep-trace", kept, "--", "go", "test", "-run=^$",
                "-bench=Alloc", "-benchtime=300x", ".", cwd=d, env=env)
    assert r.returncode == 0, r.stderr
    assert "BenchmarkAlloc" in r.stdout and "PASS" in r.stdout  # go test's output, unchanged
    assert "goalloc" not in r.stdout
    assert f"{out}: " in r.stderr and "Go trace events" in r.stderr
    assert detect(kept) == "gotrace" and kept.read_bytes().startswith(b"go 1.23 trace")
    header, c = read(out)
    # the exact release, as the toolchain itself names it
    told = subprocess.run([go_binary(), "version"], capture_output=True, text=True).stdout
    assert header.frees == "sweep" and f"go{header.source['go_version']} " in told
    assert header.source["go_version_source"] == "go version (goalloc record)"
    kinds = np.bincount(c["kind"], minlength=256)
    assert kinds[fmt.ALLOC] > 100_000 and kinds[fmt.FREE] > 50_000
    assert kinds[fmt.GC_START] >= 3 and kinds[fmt.GC_END] >= 3
    assert kinds[fmt.SPAN_ALLOC] > 0 and kinds[fmt.HEAP_LIVE] > 0
    assert not list(tmp_path.glob("*.test"))  # go test -trace keeps no test binary around


def test_failing_go_test_passes_its_status_through(go_module, tmp_path):
    d, env = go_module
    out = tmp_path / "fail.msgpack"
    r = goalloc("record", "-o", out, "--", "go", "test", "-short", "-run=TestFails", ".",
                cwd=d, env=env)
    assert r.returncode == 1
    assert "this test fails on purpose" in r.stdout and "FAIL" in r.stdout
    assert r.stderr.strip().splitlines()[-1] == \
        "goalloc: error: recorded command exited with status 1"
    assert not out.exists()


def test_record_a_program_that_honours_goalloc_trace(go_module, tmp_path):
    """The docs' trace.Start recipe, through `go run` (not go test: GOALLOC_TRACE is set)."""
    d, env = go_module
    out = tmp_path / "prog.msgpack"
    r = goalloc("record", "-o", out, "--", "go", "run", ".", cwd=d / "prog", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "done\n"
    _, c = read(out)
    assert int((c["kind"] == fmt.ALLOC).sum()) > 50_000
    assert int((c["kind"] == fmt.GC_START).sum()) >= 1


@pytest.mark.parametrize("minor", [23, 27])
def test_prebuilt_binary_names_its_release_without_a_go_command(go_module, tmp_path, minor):
    """A binary built elsewhere, recorded where no go command is on PATH (a production host):
    the release comes from the binary's own build info, the same one `go version EXE` reads."""
    from goalloc.trace.importers.gotoolchain import binary_release
    from goalloc.trace.importers.gotoolchain import go_release as toolchain

    go = toolchain(minor)
    if go is None:
        pytest.skip(f"Go 1.{minor} is not installed (make test installs it)")
    d, env = go_module
    exe = tmp_path / "prog"
    subprocess.run([go, "build", "-o", str(exe), "."], cwd=d / "prog", check=True,
                   env={**env, "PATH": str(Path(go).parent) + os.pathsep + env["PATH"]},
                   timeout=600)
    told = subprocess.run([go, "version", str(exe)], capture_output=True, text=True).stdout
    release = binary_release(exe)
    assert release is not None and release.startswith(f"1.{minor}")
    assert told.strip().endswith(f": go{release}")
    assert binary_release(Path(sys.executable).resolve()) is None  # not a Go binary
    out = tmp_path / "prog.msgpack"
    no_go = {**env, "PATH": "/usr/bin:/bin"}
    r = goalloc("record", "-o", out, "--", str(exe), env=no_go)
    assert r.returncode == 0, r.stderr
    header, _ = read(out)
    assert header.source["go_version"] == release
    assert header.source["go_version_source"] == "go version (goalloc record)"
