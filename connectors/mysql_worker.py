"""The child process that reads MariaDB/MySQL fragments for ``mysql_stream``.

Run as ``python -P mysql_worker.py <socket fd> <server pid>``: a fresh interpreter, never a fork
of the threaded server. It imports nothing of flightmesh, only connectorx and pyarrow, so it
starts in about 0.1 s. It serves one statement at a time over the Unix socket it inherits (the
engine's URI, password included, travels there, never on a command line):

    parent -> worker   one JSON line: {"uri", "sql", "setup": [...], "batch_rows"}
    worker -> parent   once the first batch is there, one JSON line: {"stream": true}, or
                       {"error": {...}} if the statement failed before; after {"stream": true},
                       an Arrow IPC stream, then one JSON line: {"ok": true} or {"error": {...}}

Why a process: connectorx's ``arrow_stream`` waits for each batch inside ``__next__`` holding
the GIL, so in the server it would freeze every other thread for as long as the engine takes to
produce a batch. Here that freezes nobody. Backpressure is the socket: this process blocks
writing when the server reads slowly (connectorx itself buffers ahead without bound, which is
why the parent pauses this process when it grows; see ``mysql_stream``).

It exits when the socket closes (the server stopped or dropped it), and the kernel kills it when
the server dies (``PR_SET_PDEATHSIG``): a worker the server had paused would otherwise stay
stopped forever, holding its engine connection. Its stderr is the server's until it is ready,
so a failure to start is visible; after that it is discarded, because every cancelled or
timed-out statement makes connectorx's Rust thread print a panic message.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from typing import Any, BinaryIO, cast


def _describe(error: BaseException) -> dict[str, str]:
    # The parent maps errors by the engine's error number, which connectorx only has in its text.
    return {"kind": type(error).__name__, "text": str(error)}


def _send(out: BinaryIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()


def _serve_one(request: dict[str, Any], out: BinaryIO) -> None:
    import connectorx as cx
    import pyarrow as pa

    try:
        reader = cx.read_sql(request["uri"], request["sql"], return_type="arrow_stream",
                             batch_size=int(request["batch_rows"]),
                             pre_execution_query=request["setup"])
        # Wait for the first batch (or the end) before answering, so that what fails early (a
        # timeout, a cancel, a missing table) fails the parent's execute(), not its first read.
        batches = iter(reader)
        first = next(batches, None)
    except BaseException as error:  # pyo3's PanicException is a BaseException
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        _send(out, {"error": _describe(error)})
        return
    _send(out, {"stream": True})
    failure: BaseException | None = None
    with pa.ipc.new_stream(out, reader.schema) as writer:
        try:
            if first is not None:
                writer.write_batch(first)
                del first
            for batch in batches:
                writer.write_batch(batch)
        except BaseException as error:
            if isinstance(error, (KeyboardInterrupt, SystemExit, BrokenPipeError, ConnectionError)):
                raise
            failure = error  # an engine error mid-stream (KILL QUERY, max_statement_time, ...)
    # the IPC stream is closed (end-of-stream marker written) before the verdict follows it
    _send(out, {"error": _describe(failure)} if failure is not None else {"ok": True})
    del reader


def _die_with(server: int) -> None:
    if sys.platform != "linux":
        return  # elsewhere only the closed socket ends a worker
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != server:
        sys.exit(0)  # the server died before the request took effect


def main(fd: int, server: int) -> None:
    _die_with(server)
    import connectorx  # noqa: F401 - imported before "ready", so a broken install shows here
    import pyarrow  # noqa: F401

    channel = socket.socket(fileno=fd)
    inbox = channel.makefile("rb")
    out = cast(BinaryIO, channel.makefile("wb", buffering=1 << 16))
    _send(out, {"ready": True})
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        for line in inbox:
            _serve_one(json.loads(line), out)
    except (BrokenPipeError, ConnectionError):
        pass  # the server went away mid-stream: nothing left to do


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
