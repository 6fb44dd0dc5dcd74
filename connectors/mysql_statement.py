"""One MariaDB/MySQL fragment's statement: how it is stopped, and how its stream ends.

``StatementKiller`` finds the statement by the unique comment it carries
(``/* flightmesh:<token> */``) in ``information_schema.PROCESSLIST`` and runs ``KILL QUERY``
on the fragment's control connection. ``StatementEnd`` is what runs once when the stream ends,
however it ends: a stream cut short (abandoned, cancelled, failed) kills the engine's statement
and the reader process; the control connection goes back to its pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pymysql

from .mysql_stream import FragmentStream

__all__ = ["StatementEnd", "StatementKiller"]

_KILL_RETRY_SECONDS = 5.0


class StatementEnd:
    """What ends a fragment's stream, once, however it ends (read through, failed, abandoned)."""

    def __init__(self, stream: FragmentStream, killer: StatementKiller, release: Callable[[], None]) -> None:
        self._stream = stream
        self._killer = killer
        self._release: Callable[[], None] | None = release
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            release, self._release = self._release, None
        if release is None:
            return
        if not self._stream.complete:
            self._killer.stop_now()  # cut short: nothing of ours may keep running in the engine
        self._stream.close()         # ... nor in the worker, which this kills
        release()


class StatementKiller:
    """Stops one tagged statement: finds it in the process list, then ``KILL QUERY``.

    Runs on a thread of its own (the canceller is not held up) and keeps looking for a moment,
    since the statement may still be connecting when the cancel arrives. It uses the fragment's
    control connection, idle while the worker reads; ``finish`` waits for it before that
    connection goes back to the pool.
    """

    def __init__(self, connection: Any, token: str) -> None:
        self.connection = connection
        self.token = token
        self._finished = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="flightmesh-mysql-kill").start()

    def finish(self) -> None:
        self._finished.set()
        with self._lock:
            pass

    def stop_now(self) -> None:
        """One look, on the caller's thread: for a stream abandoned after its statement started."""
        with self._lock:
            if not self._finished.is_set():
                self._kill()

    def _run(self) -> None:
        give_up = time.monotonic() + _KILL_RETRY_SECONDS
        while time.monotonic() < give_up:
            with self._lock:
                if self._finished.is_set():
                    return
                killed = self._kill()
            if killed is None or killed:
                return
            self._finished.wait(0.05)

    def _kill(self) -> bool | None:
        """KILL QUERY our statement: whether it was found, None when the engine is unreachable."""
        try:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT ID FROM information_schema.PROCESSLIST "
                               "WHERE ID <> CONNECTION_ID() AND INFO LIKE %s", (f"%flightmesh:{self.token}%",))
                ids = [row[0] for row in cursor.fetchall()]
                for process in ids:
                    cursor.execute(f"KILL QUERY {int(process)}")
        except pymysql.MySQLError:
            return None  # the engine is gone: nothing left to stop
        return bool(ids)
