"""The attribution table importers build (format 1.1 `sites`, #17): names (Go type or call
site) with their size and pointer bytes, deduplicated, each given a trace-wide site id (k >= 1,
the `site` column; 0 = none). Bounded: at most fmt.MAX_SITES entries and fmt.SITE_NAME_BUDGET
characters of names; what does not fit shares one entry, OVERFLOW_NAME."""

from __future__ import annotations

from goalloc.trace import format as fmt
from goalloc.trace.header import Sites

OVERFLOW_NAME = "(other sites: the trace's table is full)"


class SiteTable:
    def __init__(self, kind: str):
        self.sites = Sites(kind=kind)
        self._ids: dict[tuple[str, int, int], int] = {}
        self._chars = 0
        self._overflow = 0

    def __len__(self) -> int:
        return len(self.sites.names)

    def site(self, name: str, size: int = 0, ptr_bytes: int = 0) -> int:
        """The trace-wide id of (name, size, ptr_bytes), added when new."""
        name = name[: fmt.MAX_SITE_NAME]
        key = (name, int(size), int(ptr_bytes))
        k = self._ids.get(key)
        if k is not None:
            return k
        if len(self) >= fmt.MAX_SITES - 1 or self._chars + len(name) > fmt.SITE_NAME_BUDGET:
            if not self._overflow:
                self._overflow = self._add(OVERFLOW_NAME, 0, 0)
            return self._overflow
        k = self._ids[key] = self._add(*key)
        self._chars += len(name)
        return k

    def _add(self, name: str, size: int, ptr_bytes: int) -> int:
        s = self.sites
        s.names.append(name)
        s.size.append(size)
        s.ptr_bytes.append(ptr_bytes)
        return len(s.names)
