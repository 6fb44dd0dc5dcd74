"""Threads for fragment read-ahead, started once and reused: a query does not pay a thread start.

Starting a Python thread costs ~0.1-0.2 ms of the query's own time (``Thread.start`` waits for the
new thread to run, and each handoff needs the GIL): for a query answering in a few milliseconds,
every fragment's read-ahead thread was a measurable part of its fixed cost. Here a finished task's
thread waits ``idle_seconds`` for the next one instead of ending.

The pool never makes a task wait for a thread: when no idle thread is there, a new one starts.
Fragments of one query wait for each other (a big side waits for a small side's join keys), so
a bounded pool could deadlock; this one only removes the start cost, never the concurrency. At
most ``max_idle`` threads wait at once, so after a burst the extra ones end.

A running task's thread is named after it (``fragment-f0``), an idle one ``flightmesh-idle-worker``:
what ``threading.enumerate()`` shows is what runs.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable

__all__ = ["Task", "ThreadReuse", "shared_threads"]

IDLE_NAME = "flightmesh-idle-worker"

log = logging.getLogger(__name__)


class Task:
    """One function run on a pooled thread; ``join`` waits for it, ``runs_here`` says if it is this thread's."""

    def __init__(self, function: Callable[[], None], name: str) -> None:
        self.function = function
        self.name = name
        self.thread: threading.Thread | None = None   # set by the worker that runs it
        self._done = threading.Event()

    def runs_here(self) -> bool:
        return self.thread is threading.current_thread() and not self._done.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the task to end (True if it has); as ``Thread.join``, never from its own thread."""
        if self.runs_here():
            raise RuntimeError(f"task {self.name} cannot join itself")
        return self._done.wait(timeout)

    def _run(self) -> None:
        self.thread = threading.current_thread()
        try:
            # An empty context, as a new thread has: nothing a previous task set (a tracing span)
            # leaks into this one.
            contextvars.Context().run(self.function)
        finally:
            self._done.set()


class _Worker:
    def __init__(self, pool: ThreadReuse, first: Task) -> None:
        self.pool = pool
        self.inbox: queue.SimpleQueue[Task] = queue.SimpleQueue()
        self.inbox.put(first)
        self.thread = threading.Thread(target=self._loop, name=first.name, daemon=True)

    def _loop(self) -> None:
        while True:
            try:
                task = self.inbox.get(timeout=self.pool.idle_seconds)
            except queue.Empty:
                if self.pool._retire(self):
                    return
                task = self.inbox.get()  # handed a task as the wait ended: it is on its way
            self.thread.name = task.name
            try:
                task._run()
            except BaseException:  # tasks handle their own failures; one that did not must not end the worker
                log.exception("a pooled task failed: %s", task.name)
            self.thread.name = IDLE_NAME
            if not self.pool._rest(self):
                return


class ThreadReuse:
    def __init__(self, idle_seconds: float = 30.0, max_idle: int = 16) -> None:
        self.idle_seconds = idle_seconds
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []

    def start(self, function: Callable[[], None], name: str) -> Task:
        """Run ``function`` now on an idle thread, or on a new one when none is idle."""
        task = Task(function, name)
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is not None:
            worker.inbox.put(task)
        else:
            _Worker(self, task).thread.start()
        return task

    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def _rest(self, worker: _Worker) -> bool:
        """After a task: wait for the next one (True), or end when enough threads wait already."""
        with self._lock:
            if len(self._idle) >= self.max_idle:
                return False
            self._idle.append(worker)
            return True

    def _retire(self, worker: _Worker) -> bool:
        """Idle too long: end (True), unless a task was handed over at that moment."""
        with self._lock:
            if worker in self._idle:
                self._idle.remove(worker)
                return True
            return False


_shared = ThreadReuse()


def shared_threads() -> ThreadReuse:
    """The process's pool: every executor's read-ahead shares it (idle threads are few and cheap)."""
    return _shared
