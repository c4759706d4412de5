"""runtime/metrics samples a Go program wrote into its execution trace (issue #20).

A program that wants its memory classes checked over time logs them with
`trace.Log(ctx, "goalloc.metrics", json)` every few ms (docs/importers.md, "Metric samples";
docs/go/goallocmetrics is a package that does it): the message is a JSON object of
runtime/metrics names to values, e.g.
`{"/memory/classes/heap/objects:bytes":123,"/memory/classes/heap/free:bytes":456}`.
The Go importer keeps such a record as `metric` events (goalloc.trace.format.METRIC), one per
value whose name is in format.METRIC_NAMES (others are left out), at the record's time, all
with the same sample-group id. A record of another category is not kept; a record of this
category whose message is not such an object is counted and left out.
"""

from __future__ import annotations

import json

import numpy as np

from goalloc.trace import format as fmt

MAX_VALUE = 1 << 63
# a record's time since its metrics.Read returned (ns), which docs/go/goallocmetrics adds: the
# importer places the sample there (gotrace.py _metric_samples_at_their_read); not a metric
READ_AGE_NAME = "goalloc.read_age_ns"
MAX_READ_AGE_NS = 10**9  # an age past a second is not a sampler's: the record is placed as if
# it had none


def parse_sample(message: str) -> list[tuple[int, int]] | None:
    """(METRIC_NAMES index, value) of the known metrics in one record's message, by index;
    None when the message is not a JSON object of non-negative integers (a float with no
    fraction is taken) or names none of them."""
    try:
        d = json.loads(message)
    except ValueError:
        return None
    if not isinstance(d, dict):
        return None
    out = []
    for name, v in d.items():
        k = fmt.METRIC_INDEX.get(name)
        if k is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < MAX_VALUE \
                or v != int(v):
            return None
        out.append((k, int(v)))
    out.sort()
    return out or None


def read_age(message: str) -> int | None:
    """The record's READ_AGE_NAME: how long before the record its values were read (ns);
    None when the message has none that is a whole number of ns in [0, MAX_READ_AGE_NS]."""
    try:
        d = json.loads(message)
    except ValueError:
        return None
    v = d.get(READ_AGE_NAME) if isinstance(d, dict) else None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_READ_AGE_NS:
        return None
    return v


class MetricLog:
    """Sample groups numbered through the whole trace, and the records left out."""

    def __init__(self):
        self.groups = 0
        self.bad = 0  # records of the category whose message could not be read

    def expand(self, part: dict[str, np.ndarray], strings: dict[int, str]) -> dict:
        """The columns of one converted slice with each placeholder `metric` row (id = the
        record's message string id, aux = its category string id) replaced by its values,
        or dropped if it is not a metric sample. Returns `part` itself when it has none."""
        kind = part["kind"]
        idx = np.flatnonzero(kind == fmt.METRIC)
        if idx.size == 0:
            return part
        reps = np.ones(kind.shape[0], np.int64)
        samples = []
        for j in idx.tolist():
            vals = None
            if strings.get(int(part["aux"][j])) == fmt.METRICS_LOG_CATEGORY:
                vals = parse_sample(strings.get(int(part["id"][j]), ""))
                if vals is None:
                    self.bad += 1
            reps[j] = len(vals) if vals else 0
            samples.append(vals)
        out = {name: np.repeat(col, reps) for name, col in part.items()}
        first = np.cumsum(reps) - reps
        for j, vals in zip(idx.tolist(), samples, strict=True):
            if not vals:
                continue
            rows = slice(first[j], first[j] + len(vals))
            out["id"][rows] = self.groups
            out["aux"][rows] = [k for k, _ in vals]
            out["size"][rows] = [v for _, v in vals]
            out["flags"][rows] = 0
            self.groups += 1
        return out
