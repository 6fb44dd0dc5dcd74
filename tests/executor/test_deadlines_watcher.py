"""The deadline watcher outlives a quiet spell: the first query after a pause starts no thread."""

from __future__ import annotations

import threading
import time

from flightmesh.executor.deadlines import Deadlines


def test_the_watcher_waits_through_an_empty_heap_and_serves_the_next_deadline() -> None:
    deadlines = Deadlines()
    first = threading.Event()
    deadlines.after(0.01, first.set)
    assert first.wait(10)
    watcher = deadlines._thread
    assert watcher is not None
    time.sleep(0.2)  # the heap is empty now: the watcher waits for the next deadline
    assert watcher.is_alive()
    second = threading.Event()
    deadlines.after(0.01, second.set)
    assert second.wait(10), "the waiting watcher was not woken by a new deadline"
    assert deadlines._thread is watcher  # no new watcher thread
