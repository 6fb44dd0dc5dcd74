"""Stopping SQLite statements, which the ADBC SQLite driver cannot cancel.

The driver implements no ADBC cancel and keeps its statically linked SQLite to itself, so
flightmesh loads its own small extension (``sqlite_interrupt.c``, built by the Makefile into
``libsqlite_interrupt.so`` next to this file) into each connection. The extension registers
nothing SQL can call; it installs a progress handler that stops the running statement when a
flag is set or a deadline passes, so a cancel or a timeout stops it within milliseconds.

Extension loading is switched on for that one load and off again before the connection is used.
(The driver's option enables only the C interface: SQL's ``load_extension()`` stays refused.)

Without the built library (a plain ``pip install`` of the sources, no compiler), connections
work as before and one warning is logged: a cancel or timeout then takes effect when the
statement's next batch of rows is ready, so a statement that computes long before its first row
runs that long.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["LIBRARY", "RunningStatement", "Watch", "interrupt_library"]

LIBRARY = Path(__file__).with_name("libsqlite_interrupt.so")
_ENTRYPOINT = "sqlite3_flightmesh_interrupt_init"
_OPTION = "adbc.sqlite.load_extension."

log = logging.getLogger(__name__)


class _Stop(ctypes.Structure):
    # struct flightmesh_sqlite_stop in sqlite_interrupt.c
    _fields_ = [("stop", ctypes.c_int), ("deadline_ns", ctypes.c_longlong)]


class Watch:
    """One connection's stop flag and deadline, read by the extension's progress handler.

    Holds the memory the handler points to: it must live as long as the connection.
    """

    def __init__(self, library: InterruptLibrary, handle: int) -> None:
        self.library = library
        self.handle = handle
        self.state = _Stop(0, 0)


class InterruptLibrary:
    def __init__(self, path: Path) -> None:
        self.path = path
        library = ctypes.CDLL(str(path))
        self._take = library.flightmesh_sqlite_take_loaded
        self._take.argtypes, self._take.restype = [], ctypes.c_void_p
        self._watch = library.flightmesh_sqlite_watch
        self._watch.argtypes, self._watch.restype = [ctypes.c_void_p, ctypes.POINTER(_Stop)], None
        self._interrupt = library.flightmesh_sqlite_interrupt
        self._interrupt.argtypes, self._interrupt.restype = [ctypes.c_void_p], None

    def attach(self, connection: Any) -> Watch:
        """Load the extension into ``connection`` (an ADBC SQLite DB-API connection) and watch it.

        Raises if the extension does not load, or if loading cannot be switched off again: the
        caller must then close the connection.
        """
        options = connection.adbc_connection
        self._take()  # nothing left over from an earlier failed load on this thread
        options.set_options(**{_OPTION + "enabled": "true"})
        try:
            options.set_options(**{_OPTION + "path": str(self.path)})
            options.set_options(**{_OPTION + "entrypoint": _ENTRYPOINT})  # loads, on this thread
        finally:
            options.set_options(**{_OPTION + "enabled": "false"})
        handle = self._take()
        if not handle:
            raise RuntimeError("the SQLite interrupt extension did not report its connection")
        watch = Watch(self, handle)
        self._watch(handle, ctypes.byref(watch.state))
        return watch

    def interrupt(self, handle: int) -> None:
        self._interrupt(handle)


_loaded: list[InterruptLibrary | None] = []  # filled once: the library, or None when unavailable
_loading = threading.Lock()


def interrupt_library() -> InterruptLibrary | None:
    """The built extension, or None (and one logged warning) when it is missing or does not load."""
    with _loading:
        if not _loaded:
            try:
                _loaded.append(InterruptLibrary(LIBRARY))
            except (OSError, AttributeError) as error:
                log.warning("SQLite statements cannot be interrupted: %s is not usable (%s); run `make install` "
                            "to build it. Until then a cancel or timeout stops a SQLite statement only at its "
                            "next batch of rows.", LIBRARY.name, error)
                _loaded.append(None)
        return _loaded[0]


class RunningStatement:
    """The stop switch of one statement on one connection.

    A pooled connection outlives its statements, so a stop arriving late (a cancel racing the
    statement's end) must not reach the next statement on that connection, nor a closed one:
    ``stop`` acts only between ``__init__`` and ``finish``, both under one lock.
    """

    def __init__(self, watch: Watch | None, timeout_seconds: float | None) -> None:
        self._watch = watch
        self._lock = threading.Lock()
        self._running = True
        self.deadline = None if timeout_seconds is None else time.monotonic_ns() + int(timeout_seconds * 1e9)
        if watch is not None:
            watch.state.stop = 0
            watch.state.deadline_ns = self.deadline or 0

    def stop(self) -> None:
        """Stop the statement now (any thread); it fails with SQLite's "interrupted"."""
        with self._lock:
            if self._running and self._watch is not None:
                self._watch.state.stop = 1  # also stops a statement that has not started yet
                self._watch.library.interrupt(self._watch.handle)

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic_ns() >= self.deadline

    def finish(self) -> bool:
        """End the statement's stop switch; True the first time only."""
        with self._lock:
            if not self._running:
                return False
            self._running = False
            if self._watch is not None:
                self._watch.state.stop = 0
                self._watch.state.deadline_ns = 0  # the connection's next statement has its own
            return True
