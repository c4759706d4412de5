"""`goalloc record -o OUT -- COMMAND...`: run a Go program under the execution tracer with
GODEBUG=traceallocfree=1 and import its trace (docs/importers.md, "goalloc record")."""

from __future__ import annotations

import os
import re

import click

GOALLOC_TRACE = "GOALLOC_TRACE"
_GO = re.compile(r"go(1\.\d+(\.\d+)?)?(\.exe)?$")  # go, or a go1.23.5 wrapper

NO_TRACE_GO_TEST = ("`go test` wrote no execution trace (no test binary ran: a package without "
                    "test files, a build failure reported above, or -c/-list/-json mode?)")
NO_TRACE_OTHER = ("the command wrote no execution trace: goalloc sets GOALLOC_TRACE to a file "
                  "name, and the program must call trace.Start on that file in main (recipe "
                  "in docs/importers.md, \"goalloc record\"); or record a benchmark with "
                  "`goalloc record -o OUT -- go test -run='^$' -bench=X ./pkg`")


def is_go_test(command) -> bool:
    return len(command) >= 2 and bool(_GO.match(os.path.basename(command[0]))) and \
        command[1] == "test"


def user_trace(args) -> str | None:
    """The -trace file a `go test` command line names itself (flags up to -args), if any."""
    trace = outdir = None
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-args", "--args"):
            break
        name, eq, value = a.lstrip("-").partition("=")
        if a.startswith("-") and name in ("trace", "outputdir"):
            if not eq and i + 1 < len(args):
                value = args[i + 1]
                i += 1
            if name == "trace":
                trace = value
            else:
                outdir = value
        i += 1
    if trace is None:
        return None
    if outdir and not os.path.isabs(trace):
        trace = os.path.join(outdir, trace)
    return os.path.abspath(trace)


def prepare(command, env: dict, trace: str) -> tuple[list[str], str]:
    """The command line to run and the trace file it will write: `go test` gets -trace=TRACE
    right after `test` (before package arguments and -args) unless it names a -trace itself;
    anything else gets GOALLOC_TRACE=TRACE in `env`. GODEBUG gets traceallocfree=1."""
    command = list(command)
    env["GODEBUG"] = godebug(env)
    if is_go_test(command):
        own = user_trace(command[2:])
        if own is not None:
            return command, own
        return command[:2] + [f"-trace={trace}"] + command[2:], trace
    env[GOALLOC_TRACE] = trace
    return command, trace


def godebug(env: dict) -> str:
    """GODEBUG with traceallocfree=1 appended (a later setting wins in Go)."""
    current = env.get("GODEBUG", "").strip(",")
    return f"{current},traceallocfree=1" if current else "traceallocfree=1"


@click.command("record", options_metavar="-o OUT.msgpack [--force] [--keep-trace FILE] --",
               context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.option("-o", "--output", "out", required=True, metavar="OUT.msgpack",
              help="The goalloc trace to write.")
@click.option("--force", is_flag=True, help="Overwrite OUT (and the --keep-trace file).")
@click.option("--keep-trace", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Also keep the Go execution trace as FILE.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def record(out, force, keep_trace, command):
    """Run COMMAND with the Go execution tracer and GODEBUG=traceallocfree=1, then import its
    trace into OUT.

    \b
    go test commands get -trace=FILE (right after `test`):
      goalloc record -o json.msgpack -- go test -run='^$' -bench=CodeDecoder encoding/json
    any other program gets GOALLOC_TRACE=FILE in its environment and must call
    trace.Start on that file in main (the recipe is in docs/importers.md).

    COMMAND's output passes through unchanged; goalloc's own lines go to stderr. If COMMAND
    fails, goalloc exits with its status and writes nothing.
    """
    import shutil
    import signal
    import subprocess
    import tempfile

    from goalloc.errors import GoallocError
    from goalloc.trace.writer import check_output

    for path in (out, keep_trace):
        if path is not None:
            check_output(path, force)  # before the command runs: one line, nothing written
    go_test = is_go_test(command)
    env = dict(os.environ)
    tmpdir = tempfile.mkdtemp(prefix="goalloc-record-")
    try:
        command, trace = prepare(command, env, os.path.join(tmpdir, "go.trace"))
        try:
            status = subprocess.run(command, env=env).returncode
        except OSError as e:
            err = GoallocError(f"cannot run {command[0]!r}: {e.strerror}")
            err.exit_code = 127 if isinstance(e, FileNotFoundError) else 126
            raise err from None
        if status != 0:
            if status < 0:  # killed by a signal: the shell's 128 + N
                try:
                    name = f" ({signal.Signals(-status).name})"
                except ValueError:
                    name = ""
                err = GoallocError(f"recorded command exited with status {128 - status}{name}")
                err.exit_code = 128 - status
            else:
                err = GoallocError(f"recorded command exited with status {status}")
                err.exit_code = status
            raise err
        if not os.path.exists(trace) or os.path.getsize(trace) == 0:
            raise GoallocError(NO_TRACE_GO_TEST if go_test else NO_TRACE_OTHER)
        if keep_trace is not None and os.path.abspath(keep_trace) != trace:
            shutil.copyfile(trace, keep_trace)
        _import(trace, out, force, go_release(command, go_test, env))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def go_release(command, go_test: bool, env: dict) -> str | None:
    """The exact Go release that built the recorded program ("1.26.11"), or None: `go
    version` of the go command for go test; otherwise the program's build info, read from
    the binary (no go command needed: a production host often has none), else `go version
    PROGRAM`."""
    import re
    import shutil
    import subprocess

    from goalloc.trace.importers.gotoolchain import binary_release

    if not go_test:
        release = binary_release(shutil.which(command[0], path=env.get("PATH")) or command[0])
        if release:
            return release
    go = command[0] if go_test else shutil.which("go", path=env.get("PATH"))
    if not go:
        return None
    if go_test:
        args = [go, "version"]
    else:  # the program's build info names the toolchain that built it
        args = [go, "version", shutil.which(command[0], path=env.get("PATH")) or command[0]]
    try:
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    # "go version go1.26.11 linux/amd64", or "PROGRAM: go1.26.11" for a binary
    lines = out.strip().splitlines()
    text = lines[0] if lines else ""
    text = text.removeprefix("go version ") if go_test else text.rsplit(": ", 1)[-1]
    m = re.match(r"go(1\.\d+(?:\.\d+)?)\b", text)
    return m.group(1) if m else None


def _import(trace: str, out: str, force: bool, go_version: str | None) -> None:
    from goalloc.cli.common import echo_import_summary, progress_for
    from goalloc.trace.importers.gocpu import cpus_here, packed_span_scan_here
    from goalloc.trace.importers.gotrace import import_gotrace

    with progress_for("importing", os.path.getsize(trace)) as advance:
        notes = import_gotrace(trace, out, force=force, progress=advance,
                               go_version=go_version, packed_span_scan=packed_span_scan_here(),
                               cpus=cpus_here())
    echo_import_summary(out, notes, err=True)
