"""goalloc: replay allocation traces through a model of the Go runtime's allocator and GC.

The library works without the CLI: `goalloc.trace` reads and writes traces, and
`goalloc.sizeclasses` builds size-class tables.
"""

__version__ = "0.1.0"
