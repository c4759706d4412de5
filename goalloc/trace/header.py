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
    version: tuple[int, int] = fmt.PLAIN_VERSION  # to_map writes 1.1 when there are sites
    clock: str = fmt.CLOCK
    required: list[str] = field(default_factory=list)
    # 1.1 (#17): attribution table the `site` column indexes, see Sites; None: no sites
    sites: Sites | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept for round trips

    @property
    def go_version(self) -> str | None:
        v = self.source.get("go_version")
        return str(v) if v else None

    def to_map(self) -> dict[str, Any]:
        m = dict(self.extra)
        d = asdict(self)
        d.pop("extra")
        d.pop("sites")
        m.update(d)
        m["format"] = fmt.FORMAT_NAME
        m["version"] = list(self.version)
        if self.sites is not None:  # last, so `detect` meets "format" before the table
            m["version"] = list(max(tuple(self.version), fmt.SITES_VERSION))
            m["sites"] = self.sites.to_map()
        return m


def map_for_codec(m: dict[str, Any], codec: str) -> dict[str, Any]:
    """Header map `m` as a file whose chunks use `codec` declares it: zstd-shuffle is a
    required feature of format 1.2 in a file that uses it and nowhere else (a header read
    from such a file and written as raw chunks or JSON Lines drops it, and the 1.2 it
    needed)."""
    m = dict(m)
    required = [r for r in m.get("required", []) if r != fmt.SHUFFLE_CODEC]
    version = tuple(m["version"])
    if codec == fmt.SHUFFLE_CODEC:
        required.append(fmt.SHUFFLE_CODEC)
        version = max(version, fmt.SHUFFLE_VERSION)
    elif version == fmt.SHUFFLE_VERSION:
        version = fmt.SITES_VERSION if "sites" in m else fmt.PLAIN_VERSION
    m["required"] = sorted(required)
    m["version"] = list(version)
    return m


@dataclass
class Sites:
    """The attribution table (format 1.1, #17): site k (k >= 1, the `site` column) is entry
    k - 1. `kind`: fmt.SITE_KINDS ("go-type": Go type names with their size and pointer bytes
    from the execution trace's types batches; "call-site": C call sites, size and ptr_bytes 0)."""

    kind: str
    names: list[str] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    ptr_bytes: list[int] = field(default_factory=list)

    def to_map(self) -> dict[str, Any]:
        return {"kind": self.kind, "names": list(self.names), "size": list(self.size),
                "ptr_bytes": list(self.ptr_bytes)}


def sites_from_map(v: Any) -> Sites:
    """Check a header's `sites` value; ValueError with a short reason when it is not usable."""
    if not isinstance(v, dict):
        raise ValueError("header 'sites' must be a map")
    kind = v.get("kind")
    if kind not in fmt.SITE_KINDS:
        raise ValueError(f"header 'sites' kind is {kind!r}; expected one of "
                         f"{', '.join(fmt.SITE_KINDS)}")
    names = v.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("header 'sites' names must be a list of strings")
    if len(names) > fmt.MAX_SITES:
        raise ValueError(f"header 'sites' has {len(names)} names, more than {fmt.MAX_SITES}")
    cols = {}
    for key in ("size", "ptr_bytes"):
        c = v.get(key, [0] * len(names))
        if (not isinstance(c, list) or len(c) != len(names)
                or not all(type(x) is int and 0 <= x < 1 << 62 for x in c)):  # (not bool)
            raise ValueError(f"header 'sites' {key} must be {len(names)} non-negative integers")
        cols[key] = c
    return Sites(kind=kind, names=names, size=cols["size"], ptr_bytes=cols["ptr_bytes"])


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
             "source", "clock", "required", "sites"}
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
        sites=None if m.get("sites") is None else sites_from_map(m["sites"]),
        extra={k: v for k, v in m.items() if k not in known},
    )
