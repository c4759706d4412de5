"""goalloc.trace.prefetch: items in order from a second thread, the producer's exception where
its item would have come, and no thread left behind when the consumer stops early."""

from __future__ import annotations

import threading

import pytest

from goalloc.trace.prefetch import prefetched


def test_items_in_order_from_another_thread():
    seen = []

    def items():
        for i in range(100):
            seen.append(threading.current_thread().name)
            yield i

    assert list(prefetched(items(), depth=3)) == list(range(100))
    assert set(seen) == {"goalloc-read-ahead"}


def test_exception_raised_where_its_item_would_come():
    def items():
        yield 1
        yield 2
        raise ValueError("bad chunk")

    got = []
    with pytest.raises(ValueError, match="bad chunk"):
        for x in prefetched(items()):
            got.append(x)
    assert got == [1, 2]


def test_early_stop_stops_and_joins_the_producer():
    produced = []

    def items():
        for i in range(10_000):
            produced.append(i)
            yield i

    before = threading.active_count()
    it = prefetched(items(), depth=2)
    assert next(it) == 0
    it.close()  # as a `break` out of the caller's loop does
    assert threading.active_count() == before
    # it stopped a few items ahead of the consumer, not at the end
    assert len(produced) < 10
