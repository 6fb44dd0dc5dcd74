"""Spark Connect's ``Interrupt`` call: stop a session's operations on the cluster.

Why it exists: ``adbc-driver-spark`` 0.3's cancel ends only its own gRPC call. Apache Spark 4.3
then runs the job on to its end (a cancelled cross join's job SUCCEEDED later, seen through
Spark's REST API in tests/connectors/test_spark_jvm.py), and Sail returns an empty result to an
interrupted call. So the connector sends ``Interrupt`` itself, beside the driver's cancel.

Each pooled connection is a Spark session of its own (the connector gives it a fresh session id)
running one statement at a time, so ``INTERRUPT_TYPE_ALL`` for that session stops exactly the
cancelled statement. A session pinned by the descriptor (``session_id``) is shared by every
connection, so there only the driver's cancel is used.

The request is ``spark.connect.InterruptRequest`` with four fields (session_id = 1,
user_context = 2 {user_id = 1}, client_type = 3, interrupt_type = 4, ALL = 1), encoded here:
the driver ships no Spark Connect protobufs, and PySpark's must not be installed beside Sail.
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["interrupt_request", "interrupt_session"]

_METHOD = "/spark.connect.SparkConnectService/Interrupt"
_INTERRUPT_TYPE_ALL = 1


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _text_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def interrupt_request(session_id: str, user_id: str) -> bytes:
    """The serialized ``InterruptRequest`` for every operation of ``session_id``."""
    return (_text_field(1, session_id.encode()) + _text_field(2, _text_field(1, user_id.encode()))
            + _text_field(3, b"flightmesh") + _varint(4 << 3) + _varint(_INTERRUPT_TYPE_ALL))


def interrupt_session(target: str, session_id: str, user_id: str, *, tls: bool, token: str | None,
                      timeout_seconds: float = 10.0) -> None:
    """Ask the Spark Connect endpoint ``target`` (host:port) to interrupt the session's operations.

    Best effort: the driver's own cancel has already ended our call, so a failure here (endpoint
    gone, no gRPC runtime installed) leaves only the cluster's job running, as before.
    """
    try:
        import grpc
    except ImportError:
        return
    channel: Any = grpc.secure_channel(target, grpc.ssl_channel_credentials()) if tls \
        else grpc.insecure_channel(target)
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    with contextlib.suppress(Exception), channel:
        call = channel.unary_unary(_METHOD)
        call(interrupt_request(session_id, user_id), timeout=timeout_seconds, metadata=metadata)
