"""`goalloc import FORMAT IN -o OUT`: convert a recorder's file to a goalloc trace."""

from __future__ import annotations

import click

# format -> (module, function); each importer returns a dict of notes.
IMPORTERS = {
    "gotrace": ("goalloc.trace.importers.gotrace", "import_gotrace"),
    "mtrace": ("goalloc.trace.importers.mtrace", "import_mtrace"),
    "heaptrack": ("goalloc.trace.importers.heaptrack", "import_heaptrack"),
}
FORMATS = tuple(IMPORTERS)

# Facts in an importer's notes that are not "could not map" counts.

@click.command("import")
@click.argument("format_", metavar="FORMAT", type=click.Choice(FORMATS))
@click.argument("src", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", required=True, help="The goalloc trace to write.")
@click.option("--codec", type=click.Choice(["raw", "zstd", "zstd-shuffle"]),
              default="zstd-shuffle", show_default=True,
              help="Column compression of the output (zstd: readable by goalloc before "
                   "format 1.2).")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def import_(format_, src, out, codec, force):
    """Import FORMAT file SRC as a goalloc trace.

    \b
    gotrace    Go execution trace recorded with GODEBUG=traceallocfree=1 (Go 1.23+)
    mtrace     glibc MALLOC_TRACE text
    heaptrack  heaptrack raw file (heaptrack -r; plain, .gz or .zst)
    docs/importers.md has the recording recipes.
    """
    import importlib
    import os

    from goalloc.cli.common import echo_import_summary, progress_for
    from goalloc.trace.writer import check_output

    check_output(out, force)  # before any work: one line, nothing written
    total = os.path.getsize(src) if os.path.exists(src) else None
    with progress_for("importing", total) as advance:
        module, function = IMPORTERS[format_]
        run = getattr(importlib.import_module(module), function)
        notes = run(src, out, force=force, codec=codec, progress=advance)
    echo_import_summary(out, notes)
