"""Prefetch: closing from any thread, including the fragment's own."""

from __future__ import annotations

import threading

import pyarrow as pa

from flightmesh.executor.prefetch import Prefetch
from flightmesh.mesh import CancelScope

SCHEMA = pa.schema([("x", pa.int64())])


def test_close_on_the_fragment_thread_itself_does_not_raise() -> None:
    """The cyclic GC may close a result generator on the fragment's own thread (CI saw it)."""
    holder: dict[str, Prefetch] = {}
    ready = threading.Event()
    outcome: list[BaseException | None] = []

    def open_reader() -> pa.RecordBatchReader:
        ready.wait(5)
        try:
            holder["prefetch"].close()
            outcome.append(None)
        except BaseException as error:  # the test reports whatever close raised
            outcome.append(error)
        batch = pa.record_batch([pa.array([1, 2])], schema=SCHEMA)
        return pa.RecordBatchReader.from_batches(SCHEMA, [batch])

    holder["prefetch"] = prefetch = Prefetch("f0", open_reader, SCHEMA, CancelScope())
    ready.set()
    prefetch._task.join(5)
    assert outcome == [None]
    prefetch.close()  # and from another thread, after it ended


def test_close_from_the_consumer_stops_a_producer_blocked_on_a_full_queue() -> None:
    batch = pa.record_batch([pa.array([1])], schema=SCHEMA)
    prefetch = Prefetch("f0", lambda: pa.RecordBatchReader.from_batches(SCHEMA, iter([batch] * 100)),
                        SCHEMA, CancelScope(), depth=2)
    prefetch.close()
    assert prefetch._task.join(0)  # the producer's task has ended
