"""`goalloc convert IN -o OUT`: JSON Lines <-> msgpack (and msgpack re-encoding)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import click

_TEXT_SUFFIXES = {".jsonl", ".ndjson", ".json", ".txt"}


@click.command()
@click.argument("src", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", required=True, help="Output file ('-' for stdout, JSON Lines only).")
@click.option("--to", "to", type=click.Choice(["jsonl", "msgpack"]),
              help="Output format (default: from the output file's suffix; .jsonl/.ndjson/.json are text).")
@click.option("--codec", type=click.Choice(["raw", "zstd", "zstd-shuffle"]), default="raw",
              show_default=True,
              help="Column compression of msgpack output.")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def convert(src, out, to, codec, force):
    """Convert a trace between the msgpack format and JSON Lines (one event per line).

    Conversion keeps events as they are, anomalies included: run `goalloc info` to validate.
    """
    from goalloc.errors import GoallocError
    from goalloc.trace import jsonl
    from goalloc.trace.header import Header
    from goalloc.trace.reader import TraceReader
    from goalloc.trace.writer import AtomicFile, Writer, check_output

    if to is None:
        to = "jsonl" if out == "-" or Path(out).suffix.lower() in _TEXT_SUFFIXES else "msgpack"
    if out == "-" and to != "jsonl":
        raise click.UsageError("only JSON Lines can go to stdout")
    if out != "-":
        check_output(out, force)  # before any work: one line, nothing written

    if jsonl.looks_like_jsonl(src):
        if to == "jsonl":
            raise GoallocError(f"{src}: already JSON Lines (or empty): nothing to convert")
        from goalloc.cli.common import jsonl_to_msgpack

        jsonl_to_msgpack(src, out, codec=codec, force=force)
        return

    reader = TraceReader(src)
    with reader:
        if to == "msgpack":
            with Writer(out, Header(**{**reader.header.__dict__, "events": None}),
                        codec=codec, force=force) as w:
                for chunk in reader:
                    w.write_chunk(chunk)
        elif out == "-":
            jsonl.write_jsonl(sys.stdout, reader.header, reader)
        else:
            f = AtomicFile(out, force=force)
            try:
                text = io.TextIOWrapper(f.file, encoding="utf-8", newline="\n")
                jsonl.write_jsonl(text, reader.header, reader)
                text.flush()
                text.detach()
                f.commit()
            except BaseException:
                f.discard()
                raise
