"""Replays for the HTML report: each run gives its JSON report text (exactly what `goalloc
replay --json` prints for that configuration, with `--validate`'s fidelity section when the
trace recorded runtime facts) and the picture data only the engine has (goalloc.report.html.
data). `run_one` has goalloc.grid.run_one's contract, so grids run it in worker processes.
"""

from __future__ import annotations

from goalloc.errors import GoallocError


def replay_run(spec, *, original: dict | None = None, validate: bool | None = None,
               run=None) -> dict:
    """One spec: {"json": text, "series": picture data}. `validate` None: add fidelity when the
    trace recorded runtime facts (a Go execution trace). `run(trace, config, engine_out=)`:
    how to replay (the CLI passes its progress-bar runner)."""
    import dataclasses
    import json

    import goalloc
    from goalloc.report import fidelity
    from goalloc.report import replay as rep
    from goalloc.report.html import data

    header = spec.header
    if header is None:
        from goalloc.trace.reader import TraceReader

        with TraceReader(spec.trace) as r:
            header = r.header
    engines: list = []
    rec = None
    if validate is None:
        rec = fidelity.recorded_side(spec.trace) if header.frees == "sweep" else None
        if rec is not None and not rec.has_facts:
            rec = None
    config = spec.config
    if (validate or rec is not None) and config.tracer_buffers is None:
        # compared with its recording, whose heap had the tracer's buffers (as replay
        # --validate does)
        config = dataclasses.replace(config, tracer_buffers="keep")
    if run is None:
        report = goalloc.replay(spec.trace, config, engine_out=engines,
                                plans=spec.passes)
    else:
        report = run(spec.trace, config, engine_out=engines)
    fid = None
    if rec is not None:
        fid = fidelity.compare(report, rec)
    elif validate:
        name = (original or {}).get("path", spec.trace)
        fid = fidelity.validate(spec.trace, report, name=name)
    text = rep.to_json(report, spec.trace, config, header=header.to_map(),
                       sources=spec.sources, original=original,
                       extra=None if fid is None else {"fidelity": fid.to_dict()})
    return {"json": text, "series": data.series(report, engines[0], json.loads(text))}


def run_one(spec, validate: bool | None = None) -> tuple[str, object]:
    """("ok", {"json", "series"}) or ("error", one-line message), for goalloc.grid.run_all
    (functools.partial to set `validate`: `replay --html` keeps replay's JSON, no fidelity)."""
    try:
        return "ok", replay_run(spec, validate=validate)
    except GoallocError as e:
        return "error", str(e)
