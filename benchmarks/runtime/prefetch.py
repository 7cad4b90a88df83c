"""Items of an iterable produced on a thread, ahead of the consumer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

_DONE = object()


def prefetched(items: Iterable, depth: int = 1, name: str = "videozoo-prefetch") -> Prefetched:
    """Yield ``items``, produced on a thread up to ``depth`` ahead, starting at once.

    For ``zoo evaluate --workers 0``: the next video decodes (FFmpeg and torch release
    Python's lock) while the model scores this one, and the first ones while the model is
    being built. An exception on the thread is raised here, at the item it replaced;
    :meth:`Prefetched.close` (or leaving a ``for`` loop early) stops the thread.

    Example:
        >>> list(prefetched(range(5), depth=2))
        [0, 1, 2, 3, 4]
    """
    return Prefetched(items, depth, name)


class Prefetched(Iterator):
    """The iterator :func:`prefetched` returns: its thread runs from the moment it is made."""

    def __init__(self, items: Iterable, depth: int, name: str):
        self._handoff: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._closed = False
        # the thread holds the queue and the event, not this object, so that a consumer
        # dropping it (a loop left early) reaches __del__, which stops the thread
        self._thread = threading.Thread(target=_produce, args=(items, self._handoff, self._stop), name=name,
                                        daemon=True)
        self._thread.start()

    def __next__(self):
        if self._closed:
            raise StopIteration
        item, err = self._handoff.get()
        if item is _DONE:
            self.close()
            if err is not None:
                raise err
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the thread (idempotent)."""
        self._closed = True
        self._stop.set()
        while self._thread.is_alive():  # let a put blocked on a full hand-off see the stop
            try:
                self._handoff.get(timeout=0.05)
            except queue.Empty:
                pass

    def __del__(self):  # a consumer that left its loop early, without closing
        if getattr(self, "_thread", None) is not None:
            self.close()


def _put(handoff: queue.Queue, stop: threading.Event, entry) -> bool:
    while not stop.is_set():
        try:
            handoff.put(entry, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _produce(items: Iterable, handoff: queue.Queue, stop: threading.Event) -> None:
    try:
        for item in items:
            if not _put(handoff, stop, (item, None)):
                return
    except BaseException as err:  # noqa: BLE001 - handed to the consumer's thread
        _put(handoff, stop, (_DONE, err))
        return
    _put(handoff, stop, (_DONE, None))
