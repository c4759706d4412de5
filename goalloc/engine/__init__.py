"""The replay engine: a numba model of the Go runtime's allocator (mcache, mcentral, mspan,
mheap, page allocator) and GC (pacer, mark, sweep). See docs/model.md, section "Engine".

Importing this package does not import numba; `goalloc.engine.replay` does.
"""
