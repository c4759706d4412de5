"""The `goalloc` command: a thin click group whose subcommands live one per module.

Subcommand modules are imported only when their command runs (or its --help is shown), and
none of them imports numba at module level, so `goalloc --help` stays fast.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

import click

# command name -> (module, function, one-line help shown by `goalloc --help`)
COMMANDS = {
    "replay": ("goalloc.cli.replay", "replay", "Replay a trace through the Go allocator model."),
    "report": ("goalloc.cli.report", "report",
               "Replay and draw the heap, GC, size classes and locks as one HTML page."),
    "explain": ("goalloc.cli.explain", "explain",
                "Say where held memory goes, by type, and replay what-ifs that would help."),
    "compare": ("goalloc.cli.compare", "compare",
                "Compare two replay results metric by metric; gate CI on regressions."),
    "info": ("goalloc.cli.info", "info", "Summarise and validate a trace."),
    "classes": ("goalloc.cli.classes", "classes", "Show or compare size-class tables."),
    "synth": ("goalloc.cli.synth", "synth", "Generate a synthetic trace."),
    "convert": ("goalloc.cli.convert", "convert", "Convert between msgpack and JSON Lines."),
    "import": ("goalloc.cli.import_", "import_", "Import a recorder's trace (mtrace, ...)."),
    "record": ("goalloc.cli.record", "record", "Run a Go program traced and import its trace."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx, name):
        if name not in COMMANDS or not _available(name):
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(name: str) -> bool:
    module = COMMANDS[name][0]
    path = os.path.join(os.path.dirname(__file__), module.rsplit(".", 1)[1] + ".py")
    return os.path.exists(path)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="goalloc", prog_name="goalloc")
@click.option("--debug", is_flag=True, envvar="GOALLOC_DEBUG", help="Show tracebacks on errors.")
@click.pass_context
def cli(ctx, debug):
    """goalloc replays allocation traces through a model of the Go runtime's allocator and
    garbage collector and reports fragmentation, lock contention and GC pauses."""
    ctx.obj = {"debug": debug}


def main(argv=None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2; Ctrl-C (SIGINT)
    and SIGTERM one line and 130 / 143 after every temporary file is removed."""
    from goalloc.errors import GoallocError

    memory_settings()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("GOALLOC_DEBUG")
    )
    previous = _catch_signals()
    try:
        cli.main(args=argv, prog_name="goalloc", standalone_mode=False)
    except click.BadParameter as e:
        if not isinstance(getattr(e.param, "type", None), click.Path):
            e.show()
            sys.exit(2)
        # a file argument that is missing, a directory or unreadable: one line, like the rest
        click.echo(f"goalloc: error: {e.format_message()}", err=True)
        sys.exit(2)
    except GoallocError as e:
        if debug:
            raise
        click.echo(f"goalloc: error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("goalloc: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(2)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except (KeyboardInterrupt, Interrupted) as e:
        _exit_interrupted(getattr(e, "signum", signal.SIGINT))
    except OSError as e:  # the system refused a read or write (disk full, I/O error, ...)
        if debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        click.echo(f"goalloc: error: {where}{e.strerror or e}", err=True)
        sys.exit(2)
    except Exception as e:
        # a signal can land where Python wraps what the handler raises: in numba's C code
        # running Python (loading a cached kernel: a SystemError) or in a class statement
        # (a dataclass field's __set_name__: a RuntimeError); either is caused by it
        cause = interrupt_cause(e)
        if cause is None:
            raise
        _exit_interrupted(cause.signum)
    finally:
        _restore_signals(previous)


def _exit_interrupted(signum: int) -> None:
    """One line and 128 + signum, once the unwinding has removed what the command wrote. The
    process leaves at once (os._exit), not through the interpreter's finalization: a thread
    still in C code with the GIL released (the next chunk's decompression, a background
    sort, a kernel) while the interpreter frees what it uses crashed the process after the
    line ("free(): double free detected", SIGABRT, once in a fresh-clone CI run's Ctrl-C of
    a replay)."""
    click.echo("goalloc: terminated" if signum == signal.SIGTERM else "goalloc: interrupted",
               err=True)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    _leave(128 + signum)


_leave = os._exit  # (in-process tests put sys.exit here)


def interrupt_cause(e: BaseException) -> Interrupted | None:
    """The Interrupted that an exception was raised from (its __cause__ / __context__ chain),
    if any."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, Interrupted):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def memory_settings() -> None:
    """The process-wide memory settings every command runs with (before numpy is imported):
    numpy without huge-page advice, malloc keeping freed memory. A benchmark that times the
    library as the command runs it calls this too (benchmarks/bench_shipped.py)."""
    _no_huge_pages()
    _keep_freed_memory()


def _no_huge_pages() -> None:
    """Ask numpy (read when it is imported, which a command does after this) not to madvise
    transparent huge pages on its arrays of 4 MiB and more. goalloc's large arrays are
    streamed once (an importer's decoded events and output columns, a chunk's columns), so a
    huge page buys little TLB reach and costs its whole 2 MiB zeroed at the first touch; on
    the 2-core VM goalloc is measured on, a fresh `goalloc import gotrace` of 4.5 M Go
    events took 2.96-3.42 s with them and 1.98-2.10 s without, replays the same either way
    (README, Performance). NUMPY_MADVISE_HUGEPAGE=1 in the environment keeps numpy's default."""
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


def _keep_freed_memory() -> None:
    """Ask glibc's malloc to keep freed memory for the process's next arrays. By default a
    block over 128 KiB (the threshold grows to at most 32 MiB) is mmap'd and returned to the
    system when freed, and the heap's top is trimmed past 128 KiB free, so each array of a
    generation or chunk the size of the last one's is fresh pages again, each a page fault
    and a page zeroed: on bench_import's Go recording the importer faulted ~100 K pages
    (0.4 GB) with ~0.25 GB live at its peak. Blocks up to 32 MiB (mallopt's ceiling) now come
    from the heap, which is trimmed only past 1 GiB free, and every thread allocates from one
    arena (M_ARENA_MAX 1; by default each thread that allocates gets its own, whose freed
    blocks the main thread's next arrays cannot reuse: the importer's second thread sorts and
    decodes, 2026-12-05). A command's memory then stays at its peak until it exits. Not glibc
    (no mallopt): nothing changes."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    mallopt(_M_ARENA_MAX, 1)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8  # glibc's malloc.h


class Interrupted(BaseException):
    """SIGINT or SIGTERM during a command. Not a KeyboardInterrupt, which click would turn into
    Abort after printing a blank line; a BaseException, so every `finally` and context manager
    on the way out runs (temporary files and partial outputs are removed) before main() prints
    one line and exits 128 + the signal number. SIGKILL cannot be caught: the next writer of
    the same output removes what it left (trace/writer.py clean_stale_temps)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _catch_signals() -> dict:
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def on_signal(signum, frame):
        jit = sys.modules.get("goalloc.jit")  # may be half imported when the signal lands
        if getattr(jit, "compiling", None) is not None and jit.compiling():
            # inside numba's compiler an exception would surface in llvmlite's ctypes
            # callbacks (a traceback, exit 1): raise it once compiling ends (seconds), so the
            # command unwinds and removes what it was writing; a second signal meanwhile
            # leaves at once (temporary files then go with the next writer, trace/writer.py)
            if jit.defer(Interrupted(signum)):
                return
            os.write(2, (b"goalloc: terminated\n" if signum == signal.SIGTERM
                         else b"goalloc: interrupted\n"))
            os._exit(128 + signum)
        raise Interrupted(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except (ValueError, OSError):
            pass
    return previous


def _restore_signals(previous: dict) -> None:
    for sig, handler in previous.items():
        try:
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        except (ValueError, OSError):
            pass
