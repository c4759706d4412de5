"""The `goalloc` command: a thin click group whose subcommands live one per module.

Subcommand modules are imported only when their command runs (or its --help is shown), and
none of them imports numba at module level, so `goalloc --help` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

# command name -> (module, function, one-line help shown by `goalloc --help`)
COMMANDS = {
    "replay": ("goalloc.cli.replay", "replay", "Replay a trace through the Go allocator model."),
    "report": ("goalloc.cli.report", "report",
               "Replay and draw the heap, GC, size classes and locks as one HTML page."),
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
    """Entry point: user errors become one line on stderr and exit status 2."""
    from goalloc.errors import GoallocError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("GOALLOC_DEBUG")
    )
    try:
        cli.main(args=argv, prog_name="goalloc", standalone_mode=False)
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
    except KeyboardInterrupt:
        click.echo("goalloc: interrupted", err=True)
        sys.exit(130)
