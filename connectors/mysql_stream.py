"""MariaDB/MySQL results streamed from reader processes, with memory bounded on both sides.

connectorx is the fast way from the MySQL wire protocol to Arrow, but its streaming mode waits
for each batch holding the GIL (other threads of the server freeze while the engine works) and
buffers ahead without bound (a slow consumer lets the whole result pile up). So each statement
runs in a ``mysql_worker`` process: a small pool of long-lived ones per product, started with
``subprocess`` (exec of a fresh interpreter: nothing is forked from the threaded server).

Memory, in the server: the worker writes Arrow IPC into a Unix socket that the server reads one
batch at a time as its consumer asks, so the server holds about one batch plus the socket
buffers. In the worker: its RSS is checked after every batch the server takes and every 50 ms
by a monitor thread; above ``pause_above`` bytes over its idle size the worker is paused
(SIGSTOP) until the server wants the next bytes (SIGCONT). A paused worker stops reading its
socket to the engine, so the engine waits too: backpressure all the way down. The session
raises ``net_write_timeout`` so a long pause does not make the engine drop the connection.

A stream read to its end leaves its worker reusable; one cut short (closed early, cancelled,
failed) kills it (a hard stop, and the next statement gets a fresh process in ~0.1 s).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = ["FragmentStream", "WorkerError", "WorkerLost", "WorkerPool"]

_WORKER = str(Path(__file__).with_name("mysql_worker.py"))
_START_SECONDS = 30.0       # a worker that is not ready by then is broken (imports, not the engine)
_MONITOR_SECONDS = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE")


class WorkerError(Exception):
    """The engine or connectorx failed the statement; ``kind`` is the exception's class name."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(text)
        self.kind = kind


class WorkerLost(Exception):
    """The reader process died or broke the protocol (killed, out of memory, crashed)."""


class _Spawner:
    """Starts worker processes from one thread that lives as long as the server.

    A worker asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG), and Linux means
    the parent *thread*: a worker started from a fragment's short-lived thread would die with it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[list[str], int, Future[subprocess.Popen[bytes]]]] = \
            queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def popen(self, command: list[str], fd: int) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="flightmesh-mysql-spawner")
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((command, fd, done))
        return done.result()

    def _run(self) -> None:
        while True:
            command, fd, done = self._requests.get()
            try:
                # a session of its own: the terminal's Ctrl-C goes to the server, which stops workers
                done.set_result(subprocess.Popen(command, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, start_new_session=True))
            except BaseException as error:
                done.set_exception(error)


_spawner = _Spawner()


class _Worker:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            # -P: the script's folder (connectors/, with a duckdb.py) must not shadow real modules
            self.process = _spawner.popen(
                [sys.executable, "-P", _WORKER, str(theirs.fileno()), str(os.getpid())], theirs.fileno())
        except OSError as error:  # out of processes or file descriptors
            ours.close()
            raise WorkerLost(f"the MySQL reader process could not start: {error}") from None
        finally:
            theirs.close()
        self.socket = ours
        self.socket.settimeout(_START_SECONDS)
        self.inbox = io.BufferedReader(_GovernedSocket(self), buffer_size=1 << 16)
        self.lock = threading.Lock()
        self.reading = 0        # reads of the server blocked on this worker: never pause it then
        self.paused = False
        try:
            ready = self.inbox.readline()
        except OSError:
            ready = b""
        if not ready.startswith(b'{"ready"'):
            self.kill()
            raise WorkerLost("the MySQL reader process did not start")
        self.socket.settimeout(None)
        self.baseline = self.rss()

    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> int:
        try:
            with open(f"/proc/{self.process.pid}/statm", "rb") as statm:
                return int(statm.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            return 0

    def pause_if_above(self, limit: int) -> None:
        with self.lock:
            if self.reading == 0 and not self.paused and self.rss() > self.baseline + limit:
                self._signal(signal.SIGSTOP)
                self.paused = True

    def resume(self) -> None:
        with self.lock:
            if self.paused:
                self._signal(signal.SIGCONT)
                self.paused = False

    def _signal(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(number)

    def send(self, message: dict[str, Any]) -> None:
        self.socket.sendall(json.dumps(message).encode() + b"\n")

    def receive(self) -> dict[str, Any]:
        try:
            line = self.inbox.readline()
            message: dict[str, Any] = json.loads(line) if line.endswith(b"\n") else {}
        except (OSError, ValueError):
            message = {}
        if not message:
            raise WorkerLost("the MySQL reader process stopped unexpectedly")
        return message

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()  # works on a paused process too
        self.process.wait()
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes a thread still blocked reading it
        self.socket.close()


class _GovernedSocket(io.RawIOBase):
    """The worker's socket as a raw stream; wanting bytes is what resumes a paused worker."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        worker = self.worker
        with worker.lock:
            worker.reading += 1
        try:
            worker.resume()
            return worker.socket.recv_into(buffer)
        finally:
            with worker.lock:
                worker.reading -= 1


class FragmentStream:
    """One statement's result: ``schema``, then iterate the batches, then ``close``.

    Iterating raises WorkerError when the engine fails mid-stream, WorkerLost when the process
    does. ``complete`` is True once the worker reported the end, whatever it reported.
    """

    def __init__(self, pool: WorkerPool, worker: _Worker) -> None:
        self._pool = pool
        self._worker = worker
        self.complete = False
        try:
            self._reader = pa.ipc.open_stream(worker.inbox)
        except (pa.ArrowInvalid, OSError) as error:
            self.close()
            raise WorkerLost("the MySQL reader process stopped unexpectedly") from error
        self.schema = self._reader.schema

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        worker = self._worker
        while True:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as error:
                raise WorkerLost("the MySQL reader process stopped unexpectedly") from error
            worker.pause_if_above(self._pool.pause_above)  # the consumer may take its time
            yield batch
        verdict = worker.receive()
        self.complete = True
        if "error" in verdict:
            raise WorkerError(verdict["error"]["kind"], verdict["error"]["text"])

    def close(self) -> None:
        """Return the worker to the pool if the stream was read to its end, else kill it."""
        self._pool._done(self._worker, reusable=self.complete)


class WorkerPool:
    """One product's reader processes. Started on demand, reused, killed on ``close``."""

    def __init__(self, *, pause_above: int = 64 << 20) -> None:
        self.pause_above = pause_above
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = threading.Event()
        self._monitor: threading.Thread | None = None

    def open(self, uri: str, sql: str, setup: list[str], batch_rows: int) -> FragmentStream:
        """Start ``sql`` in a worker. Raises WorkerError if it fails before its first batch."""
        worker = self._acquire()
        try:
            worker.send({"uri": uri, "sql": sql, "setup": setup, "batch_rows": batch_rows})
            header = worker.receive()
        except (OSError, WorkerLost):
            self._done(worker, reusable=False)
            raise WorkerLost("the MySQL reader process stopped unexpectedly") from None
        if "error" in header:
            self._done(worker, reusable=True)
            raise WorkerError(header["error"]["kind"], header["error"]["text"])
        return FragmentStream(self, worker)

    def workers(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        with self._lock:
            return [worker.process.pid for worker in (*self._idle, *self._busy)]

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed.is_set():
                raise WorkerLost("the connector is closed")
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    self._busy.add(worker)
                    return worker
                worker.kill()
            if self._monitor is None:
                self._monitor = threading.Thread(target=self._watch, daemon=True,
                                                 name="flightmesh-mysql-monitor")
                self._monitor.start()
        worker = _Worker()  # outside the lock: it takes ~0.1 s
        with self._lock:
            self._busy.add(worker)
        return worker

    def _done(self, worker: _Worker, *, reusable: bool) -> None:
        worker.resume()  # the monitor may have paused it just before the end
        with self._lock:
            self._busy.discard(worker)
            keep = reusable and not self._closed.is_set() and worker.alive()
            if keep:
                self._idle.append(worker)
        if not keep:
            worker.kill()

    def _watch(self) -> None:
        # Covers a consumer that stops asking for batches: the worker would read ahead meanwhile.
        while not self._closed.wait(_MONITOR_SECONDS):
            with self._lock:
                busy = list(self._busy)
            for worker in busy:
                worker.pause_if_above(self.pause_above)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            workers, self._idle = [*self._idle, *self._busy], []
            self._busy.clear()
        for worker in workers:
            worker.kill()
