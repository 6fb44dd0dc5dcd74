"""A ticket's body is written once per statement and completed with each query id: the body a
replica reads is the one the general path writes, query id included."""

from __future__ import annotations

import pyarrow as pa

from flightmesh.mesh import Principal
from flightmesh.planner.serial import schema_to_text
from flightmesh.server.auth import Caller
from flightmesh.server.replica_tokens import ReplicaTokens, Restatement
from flightmesh.server.ticket_codec import TicketCodec


class _Settings:
    ticket_ttl_seconds = 300.0


class _Runtime:
    settings = _Settings()
    connectors = None


def test_tickets_of_one_statement_share_a_template_and_carry_their_own_query_id() -> None:
    replicas = ReplicaTokens(_Runtime(), TicketCodec())  # type: ignore[arg-type]
    replicas.fingerprint = lambda: "mesh"  # type: ignore[method-assign]
    alice = Caller(Principal("alice"), "a")
    schema = pa.schema([("x", pa.int64()), ("name", pa.string())])
    again = Restatement('SELECT "x", \'é"\' AS name FROM t', "sales", "duckdb")
    for query_id in ("first", "second"):
        token = replicas.seal_ticket(alice, b"k" * 16, [], schema, query_id, ["sales"], again)
        body = dict(replicas.codec.open("ticket", token, "alice", not_found="nope").body)
        assert body == {"schema": schema_to_text(schema), "query_id": query_id, "products": ["sales"],
                        "sql": again.sql, "plans": None, "restatement": again.to_dict()}
    assert len(replicas._templates) == 1   # written once, completed twice
    with_rows = Restatement(again.sql, None, None, [(1,)])
    token = replicas.seal_ticket(alice, b"j" * 16, [], schema, "third", ["sales"], with_rows)
    assert replicas.codec.open("ticket", token, "alice", not_found="nope").body["restatement"]["rows"] is not None
    assert len(replicas._templates) == 1   # parameter rows: the general path
