"""A bounded pool of engine connections, shared by one product's fragments.

Why our own: the ADBC drivers have no pool, and a federation server must not open one
connection per fragment (connection set-up costs a PostgreSQL backend fork) nor let a burst of
queries open hundreds. ``size`` bounds the connections open at once; idle ones are reused
newest-first (a recently used connection is the one least likely to have been dropped by a
firewall or an engine restart). A connection that failed is discarded, never returned, so the
pool heals by itself when an engine comes back: the next lease simply opens a new one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from flightmesh.mesh import Settings

__all__ = ["ConnectionPool", "PoolTimeout", "engine_timeout", "pooled_engine_options"]

C = TypeVar("C")


class PoolTimeout(Exception):
    """Every connection stayed busy for the whole wait."""


class ConnectionPool(Generic[C]):
    def __init__(self, open_connection: Callable[[], C], close_connection: Callable[[C], None],
                 size: int) -> None:
        if size < 1:
            raise ValueError("a pool holds at least one connection")
        self.size = size
        self._open = open_connection
        self._close = close_connection
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[C] = []
        self._closed = False

    def acquire(self, timeout: float | None = None, *, should_stop: Callable[[], None] | None = None) -> C:
        """A connection for the caller alone. Opening one may raise whatever ``open_connection`` raises.

        ``should_stop`` is called while waiting for a free slot (it raises to abandon the wait:
        a cancelled query must not sit in the queue).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._slots.acquire(timeout=0.05):
            if should_stop is not None:
                should_stop()
            if deadline is not None and time.monotonic() > deadline:
                raise PoolTimeout(f"all {self.size} connections stayed busy")
        try:
            with self._lock:
                if self._idle:
                    return self._idle.pop()
            return self._open()
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection: C, *, broken: bool = False) -> None:
        """Give ``connection`` back; a broken one (or any, once the pool is closed) is closed instead."""
        try:
            with self._lock:
                keep = not broken and not self._closed
                if keep:
                    self._idle.append(connection)
            if not keep:
                _quietly(self._close, connection)
        finally:
            self._slots.release()

    @contextmanager
    def lease(self, timeout: float | None = None) -> Iterator[C]:
        """``with pool.lease() as connection``: returned on success, discarded if the block raised."""
        connection = self.acquire(timeout)
        broken = True
        try:
            yield connection
            broken = False
        finally:
            self.release(connection, broken=broken)

    def clear(self) -> None:
        """Close the idle connections (an engine restart made them useless); busy ones finish first."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _quietly(self._close, connection)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.clear()


def _quietly(close: Callable[[C], None], connection: C) -> None:
    # a connection that cannot even close is gone anyway
    with contextlib.suppress(Exception):
        close(connection)


def engine_timeout(options: Mapping[str, Any], settings: Settings) -> float:
    """An engine's fragment timeout: its descriptor's ``timeout_seconds``, else the mesh setting."""
    return float(options.get("timeout_seconds", settings.fragment_timeout_seconds))


def pooled_engine_options(options: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """``pool_size`` and ``timeout_seconds`` of a server engine: its descriptor keys, else the mesh settings."""
    return {"pool_size": int(options.get("pool_size", settings.pool_size)),
            "timeout_seconds": engine_timeout(options, settings)}
