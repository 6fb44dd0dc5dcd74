"""Cancellation that crosses layers: the server trips it, connectors stop their engines' queries."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from .errors import QueryCancelled, QueryTimeout

__all__ = ["CancelScope"]


class CancelScope:
    """One query's cancellation. Callbacks run once, on the thread that cancels.

    A deadline turns into a timeout: ``check()`` raises QueryTimeout once it has passed, and a
    watchdog (the executor's) calls ``cancel(timed_out=True)`` so engines stop too.
    """

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline  # time.monotonic() value, or None
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self._cancelled = False
        self._timed_out = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` when cancelled (now, if already). Returns a function that unregisters it."""
        with self._lock:
            if not self._cancelled:
                self._callbacks.append(callback)
                return lambda: self._discard(callback)
        _quietly(callback)
        return lambda: None

    def _discard(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def cancel(self, *, timed_out: bool = False) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            self._timed_out = timed_out
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            _quietly(callback)

    def stopped(self) -> QueryCancelled | QueryTimeout | None:
        """Why a cancelled query stopped (what ``check`` would raise), or None if it was not cancelled.

        Connectors ask it when a driver fails: a failure after a cancel is the cancel."""
        if not self._cancelled:
            return None
        try:
            self.check()
        except (QueryCancelled, QueryTimeout) as stopped:
            return stopped
        return None

    def check(self) -> None:
        """Raise if the query should stop: QueryTimeout past the deadline, QueryCancelled if cancelled."""
        if self.deadline is not None and not self._cancelled and time.monotonic() > self.deadline:
            self.cancel(timed_out=True)
        if self._cancelled:
            if self._timed_out:
                raise QueryTimeout("the query ran past its time limit and was stopped")
            raise QueryCancelled("the query was cancelled")


def _quietly(callback: Callable[[], None]) -> None:
    # An engine that fails to interrupt must not stop the others from being interrupted.
    with contextlib.suppress(Exception):
        callback()
