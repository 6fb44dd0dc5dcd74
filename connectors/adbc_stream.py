"""Streaming an ADBC cursor's result, and cleaning up however the stream ends.

PostgreSQL and Flight SQL fragments both run on a pooled connection's cursor. Their streams end
three ways — read to the end, a driver error, or abandoned by the consumer (cancel, failure
elsewhere, client gone) — and each way must release the same things: the cancel callback, the
engine's query (cancelled when abandoned, so nothing keeps running there), the reader and the
cursor, and the connection (returned to the pool, or discarded when the stream was cut short).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

__all__ = ["cursor_batches"]


def cursor_batches(
    reader: pa.RecordBatchReader,
    cursor: Any,
    *,
    driver_errors: tuple[type[BaseException], ...],
    translate: Callable[[BaseException], BaseException],
    unregister: Callable[[], None],
    release: Callable[[bool], None],
    convert: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield the cursor's batches (``convert``-ed); driver errors become ``translate(error)``.

    ``release(broken)`` gets True unless the stream was read to its end: a connection whose
    result was cut short is not reused.
    """
    finished = False
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                finished = True
                return
            except driver_errors as error:
                raise translate(error) from None
            yield convert(batch) if convert is not None else batch
    finally:
        unregister()
        if not finished:
            with contextlib.suppress(Exception):
                cursor.adbc_cancel()  # abandoned: stop the engine's query too
        for resource in (reader, cursor):
            with contextlib.suppress(Exception):
                resource.close()
        release(not finished)
