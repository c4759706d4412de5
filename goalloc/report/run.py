"""One replay as `goalloc replay` presents it: the engine's Report, the versioned JSON text
(report.replay.to_json) and, when asked, the fidelity comparison with the recording. The CLI
parses options and renders what this returns; the library gets the same without the CLI.

    out = replay_one(spec, validate=True)       # spec: a goalloc.grid.RunSpec
    out.report, out.json, out.fidelity
"""

from __future__ import annotations

from dataclasses import dataclass

from goalloc.errors import TraceError


@dataclass
class Replayed:
    report: object  # goalloc.engine.report.Report
    json: str | None = None  # the JSON report text (None: not asked for)
    fidelity: object = None  # goalloc.report.fidelity.Fidelity (None: not asked for)
    engine: object = None  # the engine, for the HTML pictures' data (None: not asked for)


def replay_one(spec, *, original: dict | None = None, validate: bool = False, reruns=(),
               attribute: bool = False, peak_spans: bool = False, want_json: bool = False,
               want_engine: bool = False, run=None) -> Replayed:
    """Replay one goalloc.grid.RunSpec. `original`: the recorder's or JSON Lines file the
    trace was imported from (the JSON and errors name it). `validate`: compare with the
    runtime facts the trace recorded, and the runtime/metrics samples of `reruns` ((goalloc
    trace, name) of other recordings of the program) against its own. `want_json`: the JSON
    text, the trace's sha256 hashed on a second thread while the (nogil) kernel replays.
    `run(trace, config, **kw)`: how to replay (default goalloc.replay; the CLI passes its
    progress-bar runner)."""
    engines: list = []
    kw = {"death_range": spec.death_range, "attribute": attribute, "peak_spans": peak_spans,
          "mark_speed_samples": spec.mark_speed_samples,
          "engine_out": engines if want_engine else None}
    digest = None
    try:
        if want_json:
            from concurrent.futures import ThreadPoolExecutor

            from goalloc.report.replay import file_sha256

            with ThreadPoolExecutor(1) as pool:
                digest = pool.submit(file_sha256, spec.trace)
                report = _replay(spec, run, kw)
                digest.result()
        else:
            report = _replay(spec, run, kw)
    except TraceError as e:
        raise replay_error(e, spec.trace, original) from None
    out = Replayed(report, engine=engines[0] if want_engine else None)
    if validate:
        from goalloc.report import fidelity

        out.fidelity = fidelity.validate(spec.trace, report,
                                         name=(original or {}).get("path", spec.trace),
                                         reruns=reruns)
    if want_json:
        from goalloc.report.replay import to_json

        extra = None if out.fidelity is None else {"fidelity": out.fidelity.to_dict()}
        out.json = to_json(report, spec.trace, spec.config, header=spec.header.to_map(),
                           sources=spec.sources, sha256=digest.result(), original=original,
                           extra=extra)
    return out


def _replay(spec, run, kw):
    if run is None:
        import goalloc

        return goalloc.replay(spec.trace, spec.config, **kw)
    return run(spec.trace, spec.config, **kw)


def replay_error(e: TraceError, trace, original: dict | None) -> TraceError:
    """A replay's TraceError as the user should read it: for a trace imported to a temporary
    file, naming the file the user gave."""
    if original is not None and e.path == str(trace):
        e = TraceError(original["path"], f"{e.reason} (in the imported trace)", event=e.event)
    return e
