"""Items of an iterable produced on a thread, ahead of the consumer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

_DONE = object()


def prefetched(items: Iterable, depth: int = 1, name: str = "videozoo-prefetch") -> Iterator:
    """Yield ``items``, produced on a thread up to ``depth`` ahead.

    For ``zoo evaluate --workers 0``: the next video decodes (FFmpeg and torch release
    Python's lock) while the model scores this one. An exception on the thread is raised
    here, at the item it replaced; leaving the loop early stops the thread.

    Example:
        >>> list(prefetched(range(5), depth=2))
        [0, 1, 2, 3, 4]
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer's thread
            put((_DONE, err))
            return
        put((_DONE, None))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item, err = handoff.get()
            if item is _DONE:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # let a put blocked on a full hand-off see the stop
            try:
                handoff.get(timeout=0.05)
            except queue.Empty:
                pass
