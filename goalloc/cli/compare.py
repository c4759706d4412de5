"""`goalloc compare BASE HEAD`: two replay results metric by metric, with CI gates.

BASE and HEAD are each a JSON report (`goalloc replay --json`, single or grid) or a trace,
replayed here with the configuration options (and --base/--head overrides). With one TRACE,
--base and --head give the two configurations. Exit status: 0 no gate crossed, 1 a gate
crossed, 2 usage or input error (docs/ci.md). No numba until a replay runs.
"""

from __future__ import annotations

import click

# --base/--head keys -> replay option names
SPEC_KEYS = {"gogc": "gogc", "memlimit": "memlimit", "gomemlimit": "memlimit",
             "procs": "procs", "gomaxprocs": "procs", "classes": "table", "table": "table",
             "go": "go_version", "go-version": "go_version", "go_version": "go_version",
             "gc": "gc_mode"}


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False),
                metavar="BASE [HEAD]")
@click.option("--fail-on", "gates", multiple=True, metavar="'METRIC OP THRESHOLD'",
              help="Gate: exit 1 when the change crosses it, e.g. "
                   "'/memory/classes/heap/unused:bytes>+5%' or '/goalloc/frag/rounding:bytes>"
                   "+1MiB' (OP > < >= <=; repeatable; docs/ci.md).")
@click.option("--format", "fmt",
              type=click.Choice(["text", "markdown", "benchstat", "gab", "json"]),
              default="text", show_default=True,
              help="text: what changed, grouped, with units; markdown: the same for "
                   "$GITHUB_STEP_SUMMARY and PR comments; benchstat: both "
                   "sides in Go benchmark format (`benchstat -col side`); gab: HEAD as "
                   "github-action-benchmark customSmallerIsBetter JSON; json: goalloc-compare/1.")
@click.option("--all", "show_all", is_flag=True,
              help="Text/markdown: every metric, changed or not, per-size-class ones too "
                   "(by default: changes of at least --threshold; gated rows always).")
@click.option("--threshold", type=click.FloatRange(min=0), default=1.0, show_default=True,
              metavar="PCT",
              help="Text/markdown: smaller relative changes count as unchanged.")
@click.option("--allow-different-traces", is_flag=True,
              help="Compare reports of different traces (different sha256).")
@click.option("--base", "base_spec", metavar="K=V[,K=V]",
              help="Configuration of the BASE replay, e.g. 'gogc=100,classes=go' (keys gogc, "
                   "memlimit, procs, classes, go, gc).")
@click.option("--head", "head_spec", metavar="K=V[,K=V]",
              help="Configuration of the HEAD replay, e.g. 'gogc=50'.")
@click.option("--go-version", "go_version", metavar="V", help="Replays: Go version profile.")
@click.option("--classes", "table", default="go", show_default=True, metavar="TABLE",
              help="Replays: size-class table.")
@click.option("--gogc", metavar="N|off", envvar="GOGC", help="Replays: GOGC (env GOGC).")
@click.option("--memlimit", metavar="BYTES", envvar="GOMEMLIMIT",
              help="Replays: GOMEMLIMIT (env GOMEMLIMIT).")
@click.option("--procs", metavar="N", envvar="GOMAXPROCS",
              help="Replays: GOMAXPROCS (env GOMAXPROCS).")
@click.option("--gc", "gc_mode", type=click.Choice(["pacer", "recorded"]), default="pacer",
              show_default=True, help="Replays: GC mode.")
@click.option("-j", "--jobs", type=int, metavar="N",
              help="Replays: worker processes (default: the number of cores).")
@click.pass_context
def compare(ctx, inputs, gates, fmt, show_all, threshold, allow_different_traces, base_spec,
            head_spec, go_version, table, gogc, memlimit, procs, gc_mode, jobs):
    """Compare BASE and HEAD replay results metric by metric: base, head and the exact delta
    (replays are deterministic: no p-values). Exit 0 when no --fail-on gate is crossed, 1 when
    one is, 2 on usage or input errors.

    \b
    goalloc compare base.json head.json --fail-on '/goalloc/frag/rounding:bytes>+5%'
    goalloc compare A.msgpack B.msgpack --gogc 50
    goalloc compare TRACE --base 'classes=go' --head 'classes=pow2'
    """
    import sys

    from goalloc.errors import GoallocError
    from goalloc.report import compare as C
    from goalloc.report import formats

    if len(inputs) > 2:
        raise GoallocError(f"expected BASE and HEAD (or one TRACE with --base/--head), got "
                           f"{len(inputs)} inputs")
    parsed_gates = [C.parse_gate(g) for g in gates]
    if len(inputs) == 1:
        if base_spec is None and head_spec is None:
            raise GoallocError("one input: give --base and/or --head configurations to compare "
                               "(e.g. --base 'gogc=100' --head 'gogc=50'), or two inputs")
        inputs = (inputs[0], inputs[0])
    kinds = [_kind(p) for p in inputs]
    common = {"go_version": go_version, "table": table, "gogc": gogc, "memlimit": memlimit,
              "procs": procs, "gc_mode": gc_mode}
    sides: list = [None, None]
    replays = []
    for i, (path, (kind, doc)) in enumerate(zip(inputs, kinds, strict=True)):
        spec = (base_spec, head_spec)[i]
        if kind == "report":
            if spec is not None:
                raise GoallocError(f"--{('base', 'head')[i]}: {path} is a JSON report, not a "
                                   "trace to replay")
            sides[i] = _runs_of(doc, path)
        else:
            replays.append((i, path, _options(common, spec, ("--base", "--head")[i])))
    if replays:
        sides_run = _replay(ctx, replays, jobs)
        for i, runs in sides_run.items():
            sides[i] = runs
    # two traces given directly are different traces on purpose; reports must match
    check = not (kinds[0][0] == "trace" and kinds[1][0] == "trace")
    cmp = C.compare(sides[0], sides[1], parsed_gates,
                    allow_different_traces=allow_different_traces, check_traces=check)
    names = {"base_name": _side_name(inputs[0], base_spec),
             "head_name": _side_name(inputs[1], head_spec)}
    if fmt == "text":
        from rich.console import Console

        out = C.text(cmp, show_all=show_all, threshold=threshold, width=Console().width,
                     **names)
    elif fmt == "markdown":
        out = C.markdown(cmp, show_all=show_all, threshold=threshold, **names)
    elif fmt == "json":
        out = C.to_json(cmp, **names)
    elif fmt == "benchstat":
        out = formats.benchstat_compare_text([p.base for p in cmp.pairs],
                                             [p.head for p in cmp.pairs])
    else:
        base_of = {id(p.head): p.base for p in cmp.pairs}
        out = formats.gab_json(formats.gab_records([p.head for p in cmp.pairs], base=base_of))
    click.echo(out, nl=False)
    sys.stdout.flush()
    if cmp.crossed:
        for c in cmp.crossings:
            click.echo(f"goalloc: {c.message()}", err=True)
        sys.exit(1)


def _side_name(path: str, spec: str | None) -> str:
    return path + (f" [{spec}]" if spec else "")


def _kind(path: str):
    """("report", doc) for a goalloc JSON report, else ("trace", None) if it opens as a trace."""
    import os

    from goalloc.errors import GoallocError

    if not os.path.exists(path):
        raise GoallocError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            start = f.read(1 << 16).lstrip()
    except OSError as e:
        raise GoallocError(f"{path}: cannot open: {e.strerror}") from None
    if start.startswith(b"{"):  # never a msgpack trace, whose first byte is a map's
        from goalloc.jsonread import load_file

        doc = load_file(path, "JSON report")
        if isinstance(doc, dict) and str(doc.get("schema", "")).startswith("goalloc-"):
            return "report", doc
        raise GoallocError(f"{path}: neither a goalloc JSON report nor a readable trace "
                           "(JSON without a goalloc schema)")
    from goalloc.trace.reader import TraceReader

    try:
        with TraceReader(path):
            pass
    except GoallocError as e:
        raise GoallocError(f"{path}: neither a goalloc JSON report nor a readable trace ({e})") \
            from None
    return "trace", None


def _runs_of(doc, path):
    from goalloc.report.grid import runs_of

    return runs_of(doc, path)


def _options(common: dict, spec: str | None, flag: str) -> dict:
    from goalloc.errors import GoallocError

    opts = dict(common)
    opts["_flags"] = {k for k, v in common.items() if v is not None}
    if not spec:
        return opts
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in SPEC_KEYS:
            raise GoallocError(f"{flag} {spec!r}: expected KEY=VALUE[,KEY=VALUE] with KEY one of "
                               "gogc, memlimit, procs, classes, go, gc")
        opts[SPEC_KEYS[key]] = value.strip()
        opts["_flags"].add(SPEC_KEYS[key])
    if opts["gc_mode"] not in ("pacer", "recorded"):
        raise GoallocError(f"{flag}: gc must be pacer or recorded, not {opts['gc_mode']!r}")
    return opts


class _Ctx:
    """Stands in for the click context of `replay`'s knob parser: values given in --base/--head
    count as flags; the rest keep the source click saw."""

    def __init__(self, ctx, flags):
        self.ctx = ctx
        self.flags = flags

    def get_parameter_source(self, param):
        from click.core import ParameterSource

        name = {"gogc": "gogc", "memlimit": "memlimit", "procs": "procs"}[param]
        if name in self.flags and self.ctx.params.get(name) is None:
            return ParameterSource.COMMANDLINE
        return self.ctx.get_parameter_source(param)


def _replay(ctx, replays, jobs) -> dict:
    """Replay each trace side with its options (in parallel); side index -> [replay doc]."""
    import json

    from goalloc.cli.replay import build_specs, run_specs

    specs, owner = [], []
    for i, path, opts in replays:
        s = build_specs(_Ctx(ctx, opts["_flags"]), (path,), go_version=opts["go_version"],
                        table=opts["table"], gogc=opts["gogc"], memlimit=opts["memlimit"],
                        procs=opts["procs"], gc_mode=opts["gc_mode"], lists=False)
        specs += s
        owner += [i] * len(s)
    texts = run_specs(specs, jobs, None)
    out: dict = {}
    for i, t in zip(owner, texts, strict=True):
        out.setdefault(i, []).append(json.loads(t))
    return out
