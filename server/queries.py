"""SQL statements over Flight SQL: prepare, bind, describe, execute, close.

Every query goes through the runtime: ``prepare`` (parse, resolve, check policies), ``bind``
(parameter values; one plan per parameter row) and ``execute`` (a RecordBatchReader). The
server never looks at SQL text itself.

The flows real clients use (``../shared/notes/flight-sql-clients.md`` §1):

* ADBC / JDBC: CreatePreparedStatement -> [DoPut parameters] -> GetFlightInfo(prepared) -> DoGet
  -> ClosePreparedStatement.
* flightsql-dbapi and ADBC's fallback: GetFlightInfo(CommandStatementQuery) -> DoGet.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from flightmesh.executor.query_context import tag
from flightmesh.mesh import NotFound, ParameterError, QueryTimeout

from .auth import Caller
from .errors import BadRequest, with_query_id
from .messages import pack, sql
from .replica_tokens import ReplicaTokens, Restatement
from .runtime import Runtime
from .sessions import Sessions
from .statements import (
    PendingResult,
    PreparedStatement,
    PreparedStatements,
    Tickets,
    common_schema,
    parameter_rows,
)
from .streams import CancelWatcher, result_stream
from .ticket_codec import TicketCodec
from .tracking import tracker_of

__all__ = ["READ_ONLY", "QueryService"]

READ_ONLY = "the mesh is read-only: flightmesh runs queries, not updates or ingestion"


class QueryService:
    def __init__(
        self,
        runtime: Runtime,
        statements: PreparedStatements,
        tickets: Tickets,
        sessions: Sessions,
        watcher: CancelWatcher,
        codec: TicketCodec | None = None,
    ) -> None:
        self.runtime = runtime
        self.statements = statements
        self.tickets = tickets
        self.sessions = sessions
        self.watcher = watcher
        # Tickets and handles are signed and self-contained: any replica with the same key serves them.
        self.replicas = ReplicaTokens(runtime, codec or TicketCodec.from_environment())
        # Wraps each DoGet's batches (the server's metrics and query log); none by default.
        self.tracker = tracker_of(runtime)
        self.observe: Callable[[PendingResult, Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]] = \
            lambda result, batches: batches

    # -- prepared statements (DoAction) ------------------------------------------------------

    def create_prepared_statement(
        self, request: sql.ActionCreatePreparedStatementRequest, caller: Caller
    ) -> bytes:
        _no_transaction(request)
        with self._refusals(caller, request.query):
            query = self._prepare(request.query, caller)
        # Serialize before registering: a failure here must not leave a handle behind.
        dataset_schema = query.schema.serialize().to_pybytes()
        parameter_schema = query.parameter_schema.serialize().to_pybytes()
        statement = self.statements.add(query, caller)
        handle = self.replicas.seal_statement(caller, statement.handle, _restatement(query))
        return pack(
            sql.ActionCreatePreparedStatementResult(
                prepared_statement_handle=handle,
                dataset_schema=dataset_schema,
                parameter_schema=parameter_schema,
                is_update=False,  # read-only: every statement that prepares is a query
            )
        )

    def close_prepared_statement(
        self, request: sql.ActionClosePreparedStatementRequest, caller: Caller
    ) -> None:
        self.statements.close(self.replicas.statement_key(request.prepared_statement_handle), caller)

    # -- parameters (DoPut) --------------------------------------------------------------------

    def bind_parameters(
        self,
        command: sql.CommandPreparedStatementQuery,
        reader: flight.MetadataRecordBatchReader,
        caller: Caller,
    ) -> bytes:
        """Store the uploaded parameter rows; the PutResult metadata to answer with."""
        statement = self._statement(command.prepared_statement_handle, caller)
        rows = parameter_rows(reader.read_all(), statement.query.parameter_schema)
        limit = self.runtime.settings.max_parameter_rows
        if len(rows) > limit:
            raise ParameterError(f"{len(rows)} rows of parameters were bound, more than max_parameter_rows ({limit})")
        self.statements.bind(statement.handle, caller, rows)
        # Always answer a handle: JDBC and ADBC replace theirs with this field (an empty PutResult
        # would leave them an empty one). This one carries the rows, so another replica has them.
        handle = self.replicas.seal_statement(caller, statement.handle, _restatement(statement.query, rows))
        return bytes(sql.DoPutPreparedStatementResult(prepared_statement_handle=handle).SerializeToString())

    # -- describing and running (GetFlightInfo, GetSchema, DoGet) ------------------------------

    def statement_info(
        self, command: sql.CommandStatementQuery, descriptor: flight.FlightDescriptor, caller: Caller
    ) -> flight.FlightInfo:
        _no_transaction(command)
        with self._refusals(caller, command.query):
            query = self._prepare(command.query, caller)
            plan = self.runtime.bind(query, caller.principal, ())
        return self._issue(caller, [plan], plan.schema, descriptor, command.query, _restatement(query))

    def prepared_info(
        self, command: sql.CommandPreparedStatementQuery, descriptor: flight.FlightDescriptor, caller: Caller
    ) -> flight.FlightInfo:
        statement = self._statement(command.prepared_statement_handle, caller)
        with self._refusals(caller, statement.query.sql):
            plans = self._bind_all(statement, caller)
            schema = common_schema([plan.schema for plan in plans]) if plans else statement.query.schema
        return self._issue(caller, plans, schema, descriptor, statement.query.sql,
                           _restatement(statement.query, statement.parameter_rows))

    def statement_schema(self, command: sql.CommandStatementQuery, caller: Caller) -> pa.Schema:
        _no_transaction(command)
        schema: pa.Schema = self._prepare(command.query, caller).schema
        return schema

    def prepared_schema(self, command: sql.CommandPreparedStatementQuery, caller: Caller) -> pa.Schema:
        schema: pa.Schema = self._statement(command.prepared_statement_handle, caller).query.schema
        return schema

    def stream(
        self, ticket: sql.TicketStatementQuery, context: flight.ServerCallContext, caller: Caller
    ) -> flight.FlightDataStream:
        handle, opened = self.replicas.open_ticket(ticket.statement_handle, caller)
        if self.tickets.known(handle):
            result = self.tickets.take(handle, caller)
        else:  # issued by another replica (or before this one restarted): its plans travel in the ticket
            plans, schema = self.replicas.restore(opened, caller)
            result = self.tickets.adopt(handle, caller, plans, schema)
            result.query_id = tag(result.scope, str(opened.body["query_id"]), str(opened.body["sql"]),
                                  tuple(opened.body["products"])).query_id
        self.replicas.check_identity(result.plans, caller)
        return result_stream(self.runtime, result, context, self.watcher,
                             on_finish=lambda: self.tickets.finished(result.handle),
                             observe=lambda batches: self.observe(result, batches), tracker=self.tracker)

    def cancel_ticket(self, token: bytes, caller: Caller) -> bool:
        """CancelFlightInfo of one ticket this replica knows (another replica's runs are its own)."""
        handle = self.replicas.ticket_handle(token)
        return handle is not None and self.tickets.cancel(handle, caller)

    # -- helpers -------------------------------------------------------------------------------

    def _statement(self, token: bytes, caller: Caller) -> PreparedStatement:
        """The caller's statement behind a handle; prepared again here if another replica (or this
        one before an idle drop or restart) made the handle, unless it was closed here."""
        key = self.replicas.statement_key(token)
        try:
            statement = self.statements.get(key, caller)
        except NotFound:
            if self.statements.was_closed(key):
                raise
            again = self.replicas.open_statement(token, caller)
        else:
            # A handle answered by a DoPut carries its rows, and they are this call's: the DoPut may
            # have reached another replica, so what this one kept can be older.
            if key != token:
                carried = self.replicas.open_statement(token, caller).rows
                if carried is not None and list(carried) != statement.parameter_rows:
                    statement = self.statements.bind(key, caller, list(carried))
            return statement
        with self._refusals(caller, again.sql):
            query = self.runtime.prepare(again.sql, caller.principal, default_schema=again.default_schema,
                                         dialect=again.dialect)
        rows = list(again.rows) if again.rows is not None else None
        return self.statements.add(query, caller, handle=key, parameter_rows=rows)

    def _prepare(self, query: str, caller: Caller) -> Any:
        # Unqualified table names resolve in the session's current schema (a product), if set;
        # the text is parsed in the session's SQL dialect, if it chose one.
        default_schema = self.sessions.current_schema(caller.session)
        dialect = self.sessions.current_dialect(caller.session)
        return self.runtime.prepare(query, caller.principal, default_schema=default_schema, dialect=dialect)

    def _bind_all(self, statement: PreparedStatement, caller: Caller) -> list[Any]:
        """One plan per bound parameter row; one plan without parameters if none were bound.

        The runtime raises ParameterError when a row does not fit the statement. Zero rows (an
        empty upload) means zero executions: an empty result.
        """
        bound = statement.parameter_rows
        rows: Sequence[tuple[Any, ...]] = bound if bound is not None else [()]
        # Every row is planned: together they get the time one statement may take to plan.
        deadline = time.monotonic() + self.runtime.settings.planning_timeout_seconds
        plans = []
        for row in rows:
            if time.monotonic() > deadline:
                raise QueryTimeout(f"planning {len(rows)} rows of parameters took longer than "
                                   "planning_timeout_seconds; bind fewer rows at a time")
            plans.append(self.runtime.bind(statement.query, caller.principal, row))
        return plans

    @contextlib.contextmanager
    def _refusals(self, caller: Caller, query: str) -> Iterator[None]:
        """A query refused here (syntax, names, policy; an engine failing to type it) gets an id and
        its history row; its error message ends with the id."""
        started_at = dt.datetime.now(dt.UTC)
        try:
            yield
        except Exception as error:
            with_query_id(error, self.tracker.refused(caller.principal.name, query, error, started_at=started_at))
            raise

    def _issue(
        self, caller: Caller, plans: list[Any], schema: pa.Schema, descriptor: flight.FlightDescriptor,
        query: str, restatement: Restatement | None = None,
    ) -> flight.FlightInfo:
        result: PendingResult = self.tickets.issue(caller, plans, schema)
        products = sorted({p for plan in plans for f in getattr(getattr(plan, "plan", None), "fragments", ())
                           for p in f.products})
        # The query's id from now on: its DoGet, log lines, errors, EXPLAIN ANALYZE and history carry it.
        result.query_id = self.tracker.issue(result.scope, query, tuple(products))
        token = self.replicas.seal_ticket(caller, result.handle, plans, schema, result.query_id, products,
                                          restatement)
        ticket = pack(sql.TicketStatementQuery(statement_handle=token))
        endpoint = flight.FlightEndpoint(ticket, [])  # no locations: "redeem here"
        return flight.FlightInfo(schema, descriptor, [endpoint], total_records=-1, total_bytes=-1)


def _restatement(query: Any, rows: Sequence[tuple[Any, ...]] | None = None) -> Restatement:
    """How another replica prepares ``query`` again (the session's schema and dialect come along)."""
    return Restatement(query.sql, getattr(query, "default_schema", None), getattr(query, "dialect", None), rows)


def _no_transaction(message: Any) -> None:
    # SqlInfo says NONE, so well-behaved clients never send one.
    if message.HasField("transaction_id"):
        raise BadRequest("flightmesh has no transactions (SqlInfo FLIGHT_SQL_SERVER_TRANSACTION is NONE)")
