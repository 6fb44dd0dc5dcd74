"""What goes into the signed tickets and statement handles, and how a replica takes them back.

A **ticket** carries the bound plans (``BoundPlan.to_dict``), the announced schema, the query id
and how to plan it again (the SQL, session schema, dialect and parameter rows). The replica that
issued it runs the plans it keeps in memory; another replica restores them from the ticket. Plans
that cannot travel (system tables, planned per principal; more than ``MAX_TRAVELLING_PLANS``
parameter rows; a ticket over ``MAX_TOKEN_BYTES``) are
left out and the other replica plans the SQL again for the same user, under the same mesh, and
serves it only if the result has the schema the FlightInfo announced.

Every ticket is bound to the mesh fingerprint it was planned under. A replica whose mesh differs
(a reload changed a policy, a grant, a role...) refuses it rather than re-planning it: the client
holds a FlightInfo whose schema and meaning came from the old policies, and a silent re-plan
could answer something else under that schema. Refused, the client runs the query again and sees
the new policy from GetFlightInfo on. The user's identity must also be the one the plans were
made for (same roles and attributes): a role taken away is never served by an older ticket.

A **statement handle** carries the SQL, the session's schema and dialect and, after a DoPut, the
parameter rows (DoPut answers a new handle; ADBC and JDBC replace theirs with it). Another replica
prepares the SQL again for the caller, under its current mesh: that is always safe.

Privacy mode: nothing in a ticket is a release. The ledger charges the budget when a plan is
executed (``executor.privacy_gate``), on whichever replica runs it, so every DoGet of a ticket,
here or elsewhere, pays its epsilon; with a shared state store (``state: {kind: postgresql}``) the
replicas charge one ledger.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from flightmesh.executor.bound import BoundPlan
from flightmesh.mesh import AuthenticationError, NotFound, QueryError
from flightmesh.planner.serial import schema_from_text, schema_to_text

from .auth import Caller
from .errors import BadRequest
from .mesh_fingerprint import mesh_fingerprint
from .runtime import Runtime
from .statements import common_schema
from .ticket_codec import Opened, TicketCodec, TokenTooLarge, decode_rows, encode_rows

__all__ = ["HANDLE_SECONDS", "ReplicaTokens", "Restatement"]

TICKET_NOT_FOUND = "ticket not found; it was already used or has expired"
STATEMENT_NOT_FOUND = "prepared statement not found; it was closed or has expired"
# A handle lives as long as clients keep it (a JDBC pool keeps statements for hours); replaying it
# only prepares the caller's own SQL again, under the current policies.
HANDLE_SECONDS = 24 * 3600.0
# An execution over many parameter rows travels as its SQL and rows: serializing a plan per row
# would double the time planning them takes, and the other replica plans them as fast.
MAX_TRAVELLING_PLANS = 8
STALE_MESH = ("this ticket was planned under an earlier version of the mesh (it was reloaded since, and its "
              "policies may differ): run the query again")
_TEMPLATES = 1_000   # ticket body templates kept (then it starts over)
_OPENED_STATEMENTS = 10_000   # statement handles remembered as verified (then it starts over)
OTHER_IDENTITY = ("this ticket was planned for your identity with other roles or attributes: run the query "
                  "again")


@dataclass(frozen=True)
class Restatement:
    """How to plan a statement again: its SQL, the session's schema and dialect, its parameter rows."""

    sql: str
    default_schema: str | None
    dialect: str | None
    rows: Sequence[tuple[Any, ...]] | None = None   # None: nothing bound

    def to_dict(self, *, with_rows: bool = True) -> dict[str, Any]:
        rows = None if self.rows is None or not with_rows else encode_rows(list(self.rows))
        return {"sql": self.sql, "default_schema": self.default_schema, "dialect": self.dialect, "rows": rows}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Restatement:
        rows = data.get("rows")
        return cls(data["sql"], data.get("default_schema"), data.get("dialect"),
                   None if rows is None else decode_rows(rows))


class ReplicaTokens:
    def __init__(self, runtime: Runtime, codec: TicketCodec) -> None:
        self.runtime = runtime
        self.codec = codec
        self._fingerprinted: tuple[Any, str] | None = None
        self._lock = threading.Lock()
        self._serialized: weakref.WeakKeyDictionary[BoundPlan, dict[str, Any]] = weakref.WeakKeyDictionary()
        # Statement handles already opened: a client sends the same handle with every execution, and
        # verifying it twice (statement_key, then open_statement) and inflating its body cost each
        # prepared GetFlightInfo ~0.05 ms. User and expiry are still checked on every use.
        self._statements: dict[bytes, _OpenedStatement] = {}
        self._templates: dict[tuple[Any, ...], tuple[pa.Schema, str, str]] = {}

    def fingerprint(self) -> str:
        spec = self.runtime.spec
        known = self._fingerprinted
        if known is None or known[0] is not spec:  # recomputed once per reload
            known = self._fingerprinted = (spec, mesh_fingerprint(spec))
        return known[1]

    # -- tickets ---------------------------------------------------------------------------------

    def seal_ticket(self, caller: Caller, handle: bytes, plans: list[Any], schema: pa.Schema, query_id: str,
                    products: Sequence[str], restatement: Restatement | None) -> bytes:
        ttl = self.runtime.settings.ticket_ttl_seconds
        template = self._ticket_template(plans, schema, products, restatement)
        if template is not None:
            try:
                return self.codec.seal_text("ticket", caller.principal.name,
                                            template[0] + json.dumps(query_id) + template[1], ttl_seconds=ttl,
                                            fingerprint=self.fingerprint(), nonce=handle.hex())
            except TokenTooLarge:
                pass   # the general path below leaves parts out
        body: dict[str, Any] = {"schema": schema_to_text(schema), "query_id": query_id, "products": list(products),
                                "sql": restatement.sql if restatement is not None else "",
                                "plans": self._portable(plans),
                                "restatement": restatement.to_dict() if restatement is not None else None}
        while True:
            try:
                return self.codec.seal("ticket", caller.principal.name, body, ttl_seconds=ttl,
                                       fingerprint=self.fingerprint(), nonce=handle.hex())
            except TokenTooLarge:
                # Too big to travel whole: first the plans stay here (re-planned elsewhere), then the
                # parameter rows too (then only this replica can serve it).
                if body["plans"] is not None:
                    body["plans"] = None
                elif body["restatement"] is not None:
                    body["restatement"] = None
                else:
                    raise

    def _ticket_template(self, plans: list[Any], schema: pa.Schema, products: Sequence[str],
                         restatement: Restatement | None) -> tuple[str, str] | None:
        """A ticket body's JSON around its query id, kept per statement: a client re-executing a
        statement gets tickets that differ only there, and writing the rest (the schema as IPC
        bytes, the restatement) was most of each ticket's cost. Only for bodies without plans or
        parameter rows (no shared key: nothing else would read them); None otherwise."""
        if restatement is None or restatement.rows is not None or self._portable(plans) is not None:
            return None
        key = (id(schema), tuple(products), restatement.sql, restatement.default_schema, restatement.dialect)
        with self._lock:
            found = self._templates.get(key)
        if found is not None and found[0] is schema:
            return found[1], found[2]
        marker = "\u0000query-id\u0000"
        text = json.dumps({"schema": schema_to_text(schema), "query_id": marker, "products": list(products),
                           "sql": restatement.sql, "plans": None, "restatement": restatement.to_dict()},
                          separators=(",", ":"))
        before, _, after = text.partition(json.dumps(marker))
        with self._lock:
            if len(self._templates) >= _TEMPLATES:
                self._templates.clear()
            self._templates[key] = (schema, before, after)   # the schema kept alive: its id stays its own
        return before, after

    def open_ticket(self, token: bytes, caller: Caller) -> tuple[bytes, Opened]:
        """(the ticket's handle in ``Tickets``, its checked payload); refused if stale."""
        opened = self.codec.open("ticket", token, caller.principal.name, not_found=TICKET_NOT_FOUND)
        if opened.fingerprint != self.fingerprint():
            raise QueryError(STALE_MESH)
        return bytes.fromhex(opened.nonce), opened

    def ticket_handle(self, token: bytes) -> bytes | None:
        nonce = self.codec.nonce_of(token)
        return None if nonce is None else bytes.fromhex(nonce)

    def restore(self, opened: Opened, caller: Caller) -> tuple[list[Any], pa.Schema]:
        """The plans of a ticket another replica issued: restored, or planned again for ``caller``."""
        body = opened.body
        schema = schema_from_text(body["schema"])
        connectors = getattr(self.runtime, "connectors", None)
        if body.get("plans") is not None and connectors is not None:
            try:
                plans: list[Any] = [BoundPlan.from_dict(item, connectors) for item in body["plans"]]
            except (KeyError, ValueError):  # a product this replica lacks: its mesh is not the same
                raise QueryError(STALE_MESH) from None
            return plans, schema
        if body.get("restatement") is None:
            raise NotFound("this ticket can be redeemed only on the server that issued it (it was too large to "
                           "carry its plan); run the query again")
        again = Restatement.from_dict(body["restatement"])
        prepared = self.runtime.prepare(again.sql, caller.principal, default_schema=again.default_schema,
                                        dialect=again.dialect)
        rows: Sequence[tuple[Any, ...]] = again.rows if again.rows is not None else [()]
        plans = [self.runtime.bind(prepared, caller.principal, row) for row in rows]
        if plans and not common_schema([plan.schema for plan in plans]).equals(schema):
            raise QueryError(STALE_MESH)
        return plans, schema

    @staticmethod
    def check_identity(plans: Sequence[Any], caller: Caller) -> None:
        for plan in plans:
            principal = getattr(plan, "principal", None)
            if principal is not None and principal.policy_key() != caller.principal.policy_key():
                raise QueryError(OTHER_IDENTITY)

    def _portable(self, plans: list[Any]) -> list[dict[str, Any]] | None:
        connectors = getattr(self.runtime, "connectors", None)
        # No shared key: no other process can open the ticket, so its plans would never be read
        # (writing them costs 1-2 ms per TPC-H query); one evicted here is planned again from its SQL.
        if not self.codec.shared or connectors is None or len(plans) > MAX_TRAVELLING_PLANS \
                or not all(isinstance(plan, BoundPlan) for plan in plans):
            return None
        try:
            return [self._as_dict(plan, connectors) for plan in plans]
        except ValueError:  # a fragment over a per-principal system connector: planned again elsewhere
            return None

    def _as_dict(self, plan: BoundPlan, connectors: Mapping[str, Any]) -> dict[str, Any]:
        # Bound plans are immutable values handed out again by the plan cache: serialized once each.
        with self._lock:
            found = self._serialized.get(plan)
        if found is None:
            found = plan.to_dict(connectors)
            with self._lock:
                self._serialized[plan] = found
        return found

    # -- statement handles -----------------------------------------------------------------------

    def seal_statement(self, caller: Caller, key: bytes, restatement: Restatement) -> bytes:
        """A handle for the statement registered under ``key``, carrying its rows if they fit."""
        for with_rows in (True, False):
            try:
                return self.codec.seal("statement", caller.principal.name, restatement.to_dict(with_rows=with_rows),
                                       ttl_seconds=HANDLE_SECONDS, fingerprint=self.fingerprint(),
                                       nonce=key.hex())
            except TokenTooLarge:
                continue
        raise BadRequest("the statement is too large to prepare")

    def statement_key(self, token: bytes) -> bytes:
        """The key ``PreparedStatements`` knows the statement by (unverifiable bytes: themselves)."""
        with self._lock:
            known = self._statements.get(token)
        if known is not None:
            return known.key
        nonce = self.codec.nonce_of(token)
        return token if nonce is None else bytes.fromhex(nonce)

    def open_statement(self, token: bytes, caller: Caller) -> Restatement:
        with self._lock:
            known = self._statements.get(token)
        if known is not None:
            # What codec.open checks once the signature verified: expiry, then the user.
            if self.codec.now() > known.expires_at:
                raise AuthenticationError("this statement has expired; run the query again")
            if known.user != caller.principal.name:
                raise NotFound(STATEMENT_NOT_FOUND)
            return known.restatement
        try:
            opened = self.codec.open("statement", token, caller.principal.name, not_found=STATEMENT_NOT_FOUND)
        except BadRequest:  # not a handle of ours at all: as for a handle that never existed
            raise NotFound(STATEMENT_NOT_FOUND) from None
        restatement = Restatement.from_dict(opened.body)
        with self._lock:
            if len(self._statements) >= _OPENED_STATEMENTS:
                self._statements.clear()   # (closed and expired ones among them): cheaper than an LRU
            self._statements[token] = _OpenedStatement(bytes.fromhex(opened.nonce), caller.principal.name,
                                                       opened.expires_at, restatement)
        return restatement


@dataclass(frozen=True)
class _OpenedStatement:
    """A statement handle whose signature verified: its key, user, expiry and what it carries."""

    key: bytes
    user: str
    expires_at: float
    restatement: Restatement
