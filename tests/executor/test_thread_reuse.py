"""ThreadReuse: read-ahead threads are reused, never make a task wait, and carry nothing over."""

from __future__ import annotations

import contextvars
import threading
import time

from flightmesh.executor.thread_reuse import IDLE_NAME, ThreadReuse

MARK: contextvars.ContextVar[str] = contextvars.ContextVar("mark", default="unset")


def test_a_finished_tasks_thread_runs_the_next_task() -> None:
    pool = ThreadReuse()
    seen: list[threading.Thread] = []
    first = pool.start(lambda: seen.append(threading.current_thread()), "fragment-a")
    assert first.join(5)
    deadline = time.monotonic() + 5
    while pool.idle() == 0:  # the worker puts itself back after the task
        assert time.monotonic() < deadline
        time.sleep(0.001)
    assert seen[0].name == IDLE_NAME
    second = pool.start(lambda: seen.append(threading.current_thread()), "fragment-b")
    assert second.join(5)
    assert seen[0] is seen[1]


def test_tasks_waiting_for_each_other_all_run_at_once() -> None:
    """A big side waits for a small side's keys: no task may wait for a free thread."""
    pool = ThreadReuse(max_idle=2)
    barrier = threading.Barrier(12, timeout=5)
    names: list[str] = []
    tasks = [pool.start(lambda: (names.append(threading.current_thread().name), barrier.wait()), f"fragment-{i}")
             for i in range(12)]
    assert all(task.join(10) for task in tasks)
    assert sorted(names) == sorted(f"fragment-{i}" for i in range(12))
    deadline = time.monotonic() + 5
    while pool.idle() > 2:
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_a_task_starts_in_an_empty_context() -> None:
    pool = ThreadReuse()
    marks: list[str] = []

    def mark() -> None:
        marks.append(MARK.get())
        MARK.set("set by the first task")

    assert pool.start(mark, "fragment-a").join(5)
    assert pool.start(mark, "fragment-b").join(5)
    assert marks == ["unset", "unset"]


def test_idle_threads_end_after_idle_seconds() -> None:
    pool = ThreadReuse(idle_seconds=0.05)
    ran: list[threading.Thread] = []
    assert pool.start(lambda: ran.append(threading.current_thread()), "fragment-a").join(5)
    ran[0].join(5)
    assert not ran[0].is_alive() and pool.idle() == 0


def test_a_task_cannot_join_itself() -> None:
    pool = ThreadReuse()
    holder: dict[str, object] = {}
    errors: list[BaseException] = []
    ready = threading.Event()

    def run() -> None:
        ready.wait(5)
        try:
            holder["task"].join(1)  # type: ignore[attr-defined]
        except RuntimeError as error:
            errors.append(error)

    holder["task"] = task = pool.start(run, "fragment-a")
    ready.set()
    assert task.join(5)
    assert len(errors) == 1


def test_a_failing_task_leaves_its_worker_usable() -> None:
    pool = ThreadReuse()

    def fail() -> None:
        raise ValueError("boom")

    assert pool.start(fail, "fragment-a").join(5)
    assert pool.start(lambda: None, "fragment-b").join(5)
