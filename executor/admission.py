"""Admission control: how many queries run at once, how many may wait, how many one user may have.

Three settings bound the server's work (``mesh.settings``):

* ``max_running_queries``: queries streaming results at the same time; the next ones queue;
* ``max_queued_queries``: queries that may wait for a slot; past it a query is refused at once;
* ``max_queries_per_user``: running plus queued queries of one user;

and ``max_queue_wait_seconds`` bounds how long a queued query waits. Every refusal is a
``ServerBusy`` naming the limit (the server answers UNAVAILABLE: retryable). A queued query that
is cancelled (its client left, a kill) leaves the queue at once. Slots are handed out in arrival
order: a waiting query is admitted only when every query that queued before it was.

The limits are read from ``settings()`` at each admission, so a reload that changes them applies
to the next query without dropping the running ones.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from flightmesh.mesh import CancelScope, Settings
from flightmesh.mesh.errors import ServerBusy

__all__ = ["Admission", "Slot"]


@dataclass
class Slot:
    """One admitted query; ``Admission.release`` gives it back (idempotent)."""

    user: str
    released: bool = False


class Admission:
    # How often a queued query looks at its CancelScope; a cancel also wakes the queue at once.
    poll_seconds = 0.25

    def __init__(self, settings: Callable[[], Settings]) -> None:
        self._settings = settings
        self._lock = threading.Condition()
        self._running = 0
        self._queue: list[int] = []          # arrival numbers of waiting queries, oldest first
        self._per_user: Counter[str] = Counter()   # running + queued, per user
        self._arrivals = itertools.count()

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def admit(self, user: str, scope: CancelScope) -> Slot:
        """A running slot for ``user``'s query, waiting in the queue if needed.

        ServerBusy past a limit; the scope's QueryCancelled/QueryTimeout if it is cancelled while
        waiting.
        """
        settings = self._settings()
        wake = scope.on_cancel(self._wake_all)
        try:
            with self._lock:
                per_user = settings.max_queries_per_user
                if per_user and self._per_user[user] >= per_user:
                    raise ServerBusy(f"user {user} already has {self._per_user[user]} queries running or queued, "
                                     f"the limit max_queries_per_user ({per_user}); retry when one has finished")
                if self._free(settings) and not self._queue:
                    return self._take(user)
                if len(self._queue) >= settings.max_queued_queries:
                    raise ServerBusy(
                        f"the server is busy: max_running_queries ({settings.max_running_queries}) queries are "
                        f"running and max_queued_queries ({settings.max_queued_queries}) are waiting; retry later")
                return self._wait(user, settings, scope)
        finally:
            wake()

    def release(self, slot: Slot) -> None:
        with self._lock:
            if slot.released:
                return
            slot.released = True
            self._running -= 1
            self._forget(slot.user)
            self._lock.notify_all()

    # -- inside the lock ---------------------------------------------------------------------------

    def _wait(self, user: str, settings: Settings, scope: CancelScope) -> Slot:
        arrival = next(self._arrivals)
        self._queue.append(arrival)
        self._per_user[user] += 1
        deadline = time.monotonic() + settings.max_queue_wait_seconds
        admitted = False
        try:
            while True:
                scope.check()   # cancelled or past the query's own deadline: leave the queue
                if self._queue[0] == arrival and self._free(self._settings()):
                    admitted = True
                    self._queue.pop(0)
                    self._running += 1
                    self._lock.notify_all()  # the next in line may fit too
                    return Slot(user)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerBusy(
                        f"the query waited max_queue_wait_seconds ({settings.max_queue_wait_seconds:g}) for one "
                        f"of max_running_queries ({settings.max_running_queries}) to finish; retry later")
                self._lock.wait(min(left, self.poll_seconds))
        finally:
            if not admitted:
                self._queue.remove(arrival)
                self._forget(user)
                self._lock.notify_all()  # whoever was behind it may be first now

    def _free(self, settings: Settings) -> bool:
        limit = settings.max_running_queries
        return not limit or self._running < limit

    def _take(self, user: str) -> Slot:
        self._running += 1
        self._per_user[user] += 1
        return Slot(user)

    def _forget(self, user: str) -> None:
        self._per_user[user] -= 1
        if self._per_user[user] <= 0:
            del self._per_user[user]

    def _wake_all(self) -> None:
        with self._lock:
            self._lock.notify_all()
