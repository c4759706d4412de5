"""goalloc: replay allocation traces through a model of the Go runtime's allocator and GC.

The library works without the CLI: `goalloc.trace` reads and writes traces, and
`goalloc.sizeclasses` builds size-class tables.
"""

__version__ = "0.1.0"


def replay(path, config=None, **kwargs):
    """Replay a trace through the allocator/GC model; returns a goalloc.engine.report.Report.

    `config` is a goalloc.engine.config.Config (None: defaults). Imports numba lazily."""
    from goalloc.engine.replay import replay as _replay

    return _replay(path, config, **kwargs)
