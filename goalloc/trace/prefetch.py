"""Reading ahead: an iterable's items produced on a second thread, up to `depth` ahead of the
consumer. A trace reader's decompression (zstandard) and the validation kernel release the GIL,
so the next chunk is being read while the caller works on this one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

_END = object()


def prefetched(items: Iterable, depth: int = 2) -> Iterator:
    """Yield the items of `items`, in order, iterated on a second thread. An exception there is
    raised here, where the item it stopped at would have come. When the consumer stops early
    (break, an exception, close), the thread is stopped and joined before this returns: the
    caller may then close what `items` reads from."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as e:  # noqa: BLE001 (re-raised in the consumer's thread)
            put((_END, e))

    t = threading.Thread(target=work, name="goalloc-read-ahead", daemon=True)
    t.start()
    try:
        while True:
            item, err = q.get()
            if err is not None:
                raise err
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        t.join()
