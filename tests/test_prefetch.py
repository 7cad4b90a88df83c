"""benchmarks.runtime.prefetch: items produced on a thread ahead of the consumer."""

import threading
import time

import pytest

from benchmarks.runtime.prefetch import prefetched


def _threads():
    return [t for t in threading.enumerate() if t.name == "videozoo-prefetch"]


def test_items_come_in_order_and_are_made_ahead_on_another_thread():
    made = []

    def source():
        for i in range(4):
            made.append((i, threading.current_thread().name))
            yield i

    got = []
    for item in prefetched(source(), depth=1):
        time.sleep(0.05)  # the consumer is slow: the next item is ready meanwhile
        got.append((item, len(made)))
    assert [i for i, _ in got] == [0, 1, 2, 3]
    assert all(name == "videozoo-prefetch" for _, name in made)
    assert got[0][1] >= 2  # while item 0 was consumed, item 1 was already made
    assert not _threads()


def test_an_error_on_the_thread_is_raised_in_order():
    def source():
        yield 1
        raise OSError("disk gone")

    items = prefetched(source())
    assert next(items) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(items)
    assert not _threads()


def test_leaving_early_stops_the_thread():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    for item in prefetched(endless(), depth=2):
        if item == 3:
            break
    deadline = time.time() + 5
    while _threads() and time.time() < deadline:
        time.sleep(0.01)
    assert not _threads()


def test_the_thread_starts_at_once_and_close_stops_it_unread():
    made = []

    def source():
        for i in range(10):
            made.append(i)
            yield i

    items = prefetched(source(), depth=2)
    deadline = time.time() + 5
    while len(made) < 3 and time.time() < deadline:  # nobody asked yet: it fills the hand-off
        time.sleep(0.01)
    assert made == [0, 1, 2]  # two waiting, the third blocked on the full hand-off
    items.close()
    assert not _threads() and list(items) == []
