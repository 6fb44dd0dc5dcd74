"""A stand-in runtime for the few server tests that must not depend on planning.

``CatalogRuntime`` has the real parts a runtime has besides planning: the descriptor, its users
and a ``Catalog`` built from the products' real engines (through the real connectors). It plans
nothing: ``prepare`` raises the error it was told to raise, or, when given a ``canned`` table,
answers that table for any SQL, optionally failing after the first batch. Tests use it to drive
every branch of the error mapping through a real client; everything about query results is
tested against the real ``MeshRuntime``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from flightmesh.connectors import open_connector
from flightmesh.mesh import (
    AuthenticationError,
    CancelScope,
    Catalog,
    CatalogTable,
    Principal,
    UnsupportedQuery,
    load_descriptor,
)

__all__ = ["CatalogRuntime"]


@dataclass
class _Prepared:
    sql: str
    schema: pa.Schema
    parameter_schema: pa.Schema


@dataclass
class _Plan:
    schema: pa.Schema


class CatalogRuntime:
    refusals: list[tuple[str | None, str]]

    def __init__(
        self,
        descriptor: Path,
        *,
        prepare_error: Exception | None = None,
        canned: pa.Table | None = None,
        stream_error: Exception | None = None,
        batch_delay_seconds: float = 0.0,
    ) -> None:
        self.spec = load_descriptor(descriptor)
        self.settings = self.spec.settings
        self.refusals = []
        self.prepare_error = prepare_error
        self.canned = canned
        self.stream_error = stream_error
        self.batch_delay_seconds = batch_delay_seconds
        self.cancelled_scopes: list[CancelScope] = []
        tables: dict[str, dict[str, CatalogTable]] = {}
        for product in self.spec.products.values():
            connector = open_connector(product, self.settings)
            try:
                tables[product.name] = {
                    name: CatalogTable(product.name, name, table, connector.describe(table.source),
                                       columns=product.columns.get(name, {}))
                    for name, table in product.tables.items()
                }
            finally:
                connector.close()
        self.catalog = Catalog(self.spec, tables)

    def authenticate(self, username: str, password: str) -> Principal:
        user = self.spec.users.get(username)
        if user is None or user.password != password:
            raise AuthenticationError("invalid username or password")
        return Principal(user.name, frozenset(user.roles))

    def principal_for(self, username: str) -> Principal | None:
        user = self.spec.users.get(username)
        return None if user is None else Principal(user.name, frozenset(user.roles))

    def authenticate_jwt(self, token: str) -> Principal:
        raise AuthenticationError("invalid or expired token; authenticate again")

    def audit_refusal(self, user: str | None, reason: str) -> None:
        self.refusals.append((user, reason))

    def prepare(self, sql: str, principal: Principal, *, default_schema: str | None = None,
                dialect: str | None = None) -> _Prepared:
        if self.prepare_error is not None:
            raise self.prepare_error
        if self.canned is None:
            raise UnsupportedQuery("the test runtime plans no queries")
        return _Prepared(sql, self.canned.schema, pa.schema([]))

    def bind(self, prepared: _Prepared, principal: Principal, parameters: Sequence[Any] = ()) -> _Plan:
        return _Plan(prepared.schema)

    def execute(self, plan: _Plan, cancel: CancelScope) -> pa.RecordBatchReader:
        assert self.canned is not None
        self.cancelled_scopes.append(cancel)
        return pa.RecordBatchReader.from_batches(plan.schema, self._batches(cancel))

    def _batches(self, cancel: CancelScope) -> Iterator[pa.RecordBatch]:
        assert self.canned is not None
        for number, batch in enumerate(self.canned.to_batches(max_chunksize=10)):
            if number == 1 and self.stream_error is not None:
                raise self.stream_error
            if number > 0 and self.batch_delay_seconds:
                # An engine still computing the next batch: only cancellation interrupts it.
                stopped = threading.Event()
                unregister = cancel.on_cancel(stopped.set)
                stopped.wait(self.batch_delay_seconds)
                unregister()
            cancel.check()
            yield batch

    def close(self) -> None:
        pass
