"""The trace header: what recorded the trace and how to read its events (docs/trace-format.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from goalloc import limits
from goalloc.jsonread import too_deep
from goalloc.trace import format as fmt


@dataclass
class Header:
    producer: str = "goalloc"
    sizes: str = "requested"  # fmt.SIZES
    frees: str = "death"  # fmt.FREES
    gomaxprocs: int = 1
    events: int | None = None  # total event count when known
    source: dict[str, Any] = field(default_factory=dict)  # recorder, program, go_version, ...
    version: tuple[int, int] = fmt.FORMAT_VERSION
    clock: str = fmt.CLOCK
    required: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept for round trips

    @property
    def go_version(self) -> str | None:
        v = self.source.get("go_version")
        return str(v) if v else None

    def to_map(self) -> dict[str, Any]:
        m = dict(self.extra)
        d = asdict(self)
        d.pop("extra")
        m.update(d)
        m["format"] = fmt.FORMAT_NAME
        m["version"] = list(self.version)
        return m


def header_from_map(m: Any) -> Header:
    """Check a decoded header map; raise ValueError with a short reason when it is not usable."""
    if not isinstance(m, dict):
        raise ValueError("not a goalloc trace (the first value is not a header map)")
    deep = too_deep(m, limits.MAX_JSON_DEPTH)  # #18: it is copied into reports and JSON
    if deep is not None:
        raise ValueError(f"header value {deep} is nested deeper than {limits.MAX_JSON_DEPTH} "
                         "levels")
    if m.get("format") != fmt.FORMAT_NAME:
        raise ValueError(f"not a goalloc trace (format is {m.get('format')!r})")
    version = m.get("version")
    if (
        not isinstance(version, list | tuple)
        or len(version) != 2
        or not all(isinstance(v, int) for v in version)
    ):
        raise ValueError(f"header has a malformed version {version!r}")
    if version[0] != fmt.FORMAT_VERSION[0]:
        raise ValueError(
            f"trace format version {version[0]}.{version[1]} is not supported "
            f"(this goalloc reads {fmt.FORMAT_VERSION[0]}.x; upgrade goalloc)"
        )
    required = m.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError("header 'required' must be a list of strings")
    unknown = sorted(set(required) - fmt.KNOWN_REQUIRED_FEATURES)
    if unknown:
        raise ValueError(f"trace requires features this goalloc does not know: {', '.join(unknown)}")

    def pick(key, typ, default, choices=None):
        v = m.get(key, default)
        if v is None and default is None:
            return None
        if not isinstance(v, typ) or isinstance(v, bool) and typ is int:
            raise ValueError(f"header '{key}' has the wrong type ({type(v).__name__})")
        if choices is not None and v not in choices:
            raise ValueError(f"header '{key}' is {v!r}; expected one of {', '.join(choices)}")
        return v

    events = pick("events", int, None)
    if events is not None and events < 0:
        raise ValueError("header 'events' is negative")
    gomaxprocs = pick("gomaxprocs", int, 1)
    if not 1 <= gomaxprocs <= 1 << 15:
        raise ValueError(f"header 'gomaxprocs' is {gomaxprocs}, outside 1..32768")
    known = {"format", "version", "producer", "sizes", "frees", "gomaxprocs", "events",
             "source", "clock", "required"}
    return Header(
        producer=pick("producer", str, "unknown"),
        sizes=pick("sizes", str, "requested", fmt.SIZES),
        frees=pick("frees", str, "death", fmt.FREES),
        gomaxprocs=gomaxprocs,
        events=events,
        source=pick("source", dict, {}),
        version=(version[0], version[1]),
        clock=pick("clock", str, fmt.CLOCK, (fmt.CLOCK,)),
        required=list(required),
        extra={k: v for k, v in m.items() if k not in known},
    )
