"""What a GetFlightInfo and its DoGet spend on the ticket: checking one reads only its header, and
a server without a shared FLIGHTMESH_TICKET_KEY puts no plans in it (no other process can open it).

Answers are checked against DuckDB over the same data (``Mesh.oracle``).
"""

from __future__ import annotations

import pyarrow.flight as flight
import pytest

from flightmesh.server import ticket_codec
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, sql, unpack_command
from flightmesh.server.ticket_codec import TicketCodec
from tests.oracle import assert_same_result
from tests.server.conftest import flight_client
from tests.server.support import Mesh

JOIN = ("SELECT o.order_id, c.country FROM sales.orders o JOIN crm.customers c ON c.customer_id = o.customer_id "
        "WHERE o.amount > 50")
ORACLE_JOIN = ("SELECT o.order_id, c.country FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
               "WHERE o.amount > 50")


def _seal(codec: TicketCodec) -> bytes:
    return codec.seal("ticket", "alice", {"plans": [{"sql": "SELECT 1"}], "n": 3}, ttl_seconds=60,
                      fingerprint="f", nonce="00ff")


def test_opening_a_token_reads_its_header_only(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = TicketCodec(b"k" * 32)
    token = _seal(codec)
    monkeypatch.setattr(ticket_codec.zlib, "decompress", _no_decompress)
    opened = codec.open("ticket", token, "alice", not_found="nope")   # the body stays compressed
    assert (opened.nonce, opened.fingerprint) == ("00ff", "f")
    assert codec.nonce_of(token) == "00ff"
    with pytest.raises(AssertionError, match="decompressed"):
        _ = opened.body
    monkeypatch.undo()
    assert dict(opened.body) == {"plans": [{"sql": "SELECT 1"}], "n": 3}


def test_the_header_is_signed_too() -> None:
    codec = TicketCodec(b"k" * 32)
    token = bytearray(_seal(codec))
    token[12] ^= 0x01   # inside the JSON header
    with pytest.raises(Exception, match="signature"):
        codec.open("ticket", bytes(token), "alice", not_found="nope")
    assert codec.nonce_of(bytes(token)) is None


def _no_decompress(data: bytes) -> bytes:
    raise AssertionError("the body was decompressed")


def _ticket_of(info: flight.FlightInfo) -> tuple[flight.Ticket, bytes]:
    (endpoint,) = info.endpoints
    command = unpack_command(endpoint.ticket.ticket)
    assert isinstance(command, sql.TicketStatementQuery)
    return endpoint.ticket, bytes(command.statement_handle)


def test_without_a_shared_key_tickets_carry_no_plans_and_an_evicted_one_is_planned_again(
        server: FlightMeshServer, mesh: Mesh) -> None:
    replicas = server.queries.replicas
    assert not replicas.codec.shared
    client, options = flight_client(server, "alice")
    try:
        descriptor = flight.FlightDescriptor.for_command(pack(sql.CommandStatementQuery(query=JOIN)))
        ticket, token = _ticket_of(client.get_flight_info(descriptor, options))
        opened = replicas.codec.open("ticket", token, "alice", not_found="nope")
        assert opened.body["plans"] is None and opened.body["restatement"]["sql"] == JOIN
        # Forgotten here (as the oldest of max_pending tickets is): served from its SQL, planned again.
        handle = bytes.fromhex(opened.nonce)
        with server.tickets._lock:
            del server.tickets._pending[handle]
        assert_same_result(client.do_get(ticket, options).read_all(), mesh.oracle(ORACLE_JOIN), ordered=False)
    finally:
        client.close()
