"""Query deadlines: one watcher thread for every running query, not a ``threading.Timer`` each.

A timer per query started a thread per query, and ``Thread.start`` waits until the new thread runs:
on a busy machine that wait (for a core and the GIL) was ~1 ms of every query, a ``SELECT 1``
through the server included. Here a deadline is an entry in a heap that one daemon thread sleeps
on. An action that falls due runs on a thread of its own (a timeout is rare, and an engine's
cancel may block on the network), so no deadline waits for another's action.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["DEADLINES", "Deadline", "Deadlines"]

log = logging.getLogger(__name__)


class Deadline:
    """A pending action; ``cancel`` before it is due and it never runs (a ``threading.Timer``'s interface)."""

    __slots__ = ("action", "at", "cancelled")

    def __init__(self, at: float, action: Callable[[], None]) -> None:
        self.at = at
        self.action = action
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Deadlines:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()   # ties in time keep their order; Deadlines never compared
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def after(self, seconds: float, action: Callable[[], None]) -> Deadline:
        """Run ``action`` once ``seconds`` have passed, unless the returned deadline is cancelled first."""
        deadline = Deadline(self._clock() + seconds, action)
        with self._changed:
            if len(self._heap) > 1024 and len(self._heap) % 1024 == 0:
                self._compact()   # cancelled entries wait for their time otherwise: long timeouts, many queries
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="flightmesh-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._changed.notify()   # sooner than what the watcher sleeps for
        return deadline

    def __len__(self) -> int:
        with self._changed:
            return sum(1 for _, _, deadline in self._heap if not deadline.cancelled)

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if not entry[2].cancelled]
        heapq.heapify(self._heap)

    def _watch(self) -> None:
        while True:
            with self._changed:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                if not self._heap:
                    # Nothing pending: wait for the next deadline (``after`` notifies). Ending here
                    # instead made the first query after every pause start the thread again.
                    self._changed.wait()
                    continue
                wait = self._heap[0][0] - self._clock()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                _, _, due = heapq.heappop(self._heap)
            threading.Thread(target=self._fire, args=(due,), name="flightmesh-deadline", daemon=True).start()

    @staticmethod
    def _fire(due: Deadline) -> None:
        if due.cancelled:
            return
        try:
            due.action()
        except Exception:
            log.exception("a query deadline's action failed")


DEADLINES = Deadlines()   # the process's one watcher (the executor's queries)
