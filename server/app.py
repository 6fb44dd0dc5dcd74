"""The Flight SQL server: pyarrow's ``FlightServerBase`` routing each RPC to the piece that
answers it.

==========================  ============================================================
RPC / command               answered by
==========================  ============================================================
Handshake                   ``auth`` (middleware: Basic -> Bearer token)
GetFlightInfo / GetSchema   statements -> ``queries``; catalog commands -> ``metadata``,
                            key commands -> ``keys``, GetSqlInfo -> ``sqlinfo``,
                            GetXdbcTypeInfo -> ``type_info``
DoGet                       statement tickets -> ``streams``; catalog tickets (the command
                            itself, as the C++ server does) -> ``metadata`` / ``sqlinfo``
DoPut                       parameters of a prepared statement -> ``queries``; updates and
                            ingestion are refused (the mesh is read-only)
DoAction                    prepared statements -> ``queries``; sessions -> ``sessions``;
                            CancelFlightInfo -> ``statements.Tickets``; revoke_tokens
                            (administrators) -> the token store
anything else               UNIMPLEMENTED
==========================  ============================================================

Every handler is wrapped by ``errors.flight_errors``: the mesh's errors become Flight statuses
in that one place, and the server keeps serving after any of them.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf.message import Message

from flightmesh.governance.identity import TokenSigner
from flightmesh.governance.throttle import LoginThrottle
from flightmesh.mesh import AccessDenied, NotFound, ReadOnlyViolation
from flightmesh.mesh.descriptor import TlsSpec

from . import schemas
from .auth import (
    AUTH_MIDDLEWARE,
    AuthMiddlewareFactory,
    Caller,
    NoopAuthHandler,
    TokenStore,
)
from .auth import caller_of as _caller_of
from .errors import BadRequest, flight_errors
from .gc_settle import settle_long_lived
from .grpc_health import GrpcHealth
from .http import HttpSidePort
from .keys import KeyService
from .lifecycle import require_free_port
from .messages import pack, parse_bare, session, sql, unpack_command
from .metadata import MetadataService
from .operations import Operations
from .queries import READ_ONLY, QueryService
from .runtime import Runtime
from .sessions import Sessions
from .sqlinfo import SQL_INFO_SCHEMA, server_info, sql_info_batch
from .statements import PreparedStatements, Tickets
from .streams import CancelWatcher
from .type_info import XDBC_TYPE_INFO, type_info_batch

__all__ = ["FlightMeshServer"]

M = TypeVar("M", bound=Message)

# DoAction types flightmesh answers, with the description ListActions reports.
ACTIONS = {
    "CreatePreparedStatement": "Prepare a SQL query; answers its handle and schemas.",
    "ClosePreparedStatement": "Free a prepared statement.",
    "SetSessionOptions": "Set the session's 'catalog' or 'schema'.",
    "GetSessionOptions": "The session's options.",
    "CloseSession": "Forget the session's options, prepared statements and pending results; revoke its token.",
    "CancelFlightInfo": "Cancel the query behind a FlightInfo.",
    "revoke_tokens": 'Administrators (auth.admin_roles): refuse every token a user holds. Body: {"user": "name"}.',
    "reload": ("Administrators (auth.admin_roles): read the descriptor again and swap the new mesh in, or refuse "
               'it and keep the running one. Reply: {"reloaded": true, "changes": ...} or '
               '{"reloaded": false, "problems": [...]}.'),
    "kill": ("Cancel a running query in every engine it runs in: the query's own user, or administrators "
             "(auth.admin_roles). Body: the query id (flightmesh.queries). "
             'Reply: {"query_id": ..., "user": ..., "killed": true}.'),
    "refresh": ('Administrators (auth.admin_roles): ask the engines again for their tables\' schemas. '
                'Body: {"product": "name"} or empty for every product.'),
}

log = logging.getLogger("flightmesh.server")


class FlightMeshServer(flight.FlightServerBase):  # type: ignore[misc]
    """A Flight SQL server over one mesh runtime. Serves until ``shutdown()``; usable in ``with``.

    The runtime is the caller's: the server never closes it.
    """

    def __init__(
        self,
        runtime: Runtime,
        location: str = "grpc://127.0.0.1:0",
        *,
        tokens: TokenStore | None = None,
        server_name: str = "flightmesh",
        http_port: int | None = None,
        **options: Any,
    ) -> None:
        settings = runtime.settings
        auth = runtime.spec.auth
        self.runtime = runtime
        if tokens is None:
            secret = auth.token_secret.encode() if auth.token_secret else None  # None: random per start
            tokens = TokenSigner(secret, settings.token_ttl_seconds)
        self.tokens = tokens
        location, options = _with_tls(location, auth.tls, options)
        address = urlsplit(location)
        host = address.hostname or "127.0.0.1"
        require_free_port(host, address.port or 0)  # a clear error naming the port (see lifecycle)
        require_free_port(host, max(0, settings.grpc_health_port))  # the health port too, before either listens
        # Outcomes, metrics, the query log and the drain (http_port: None -> the setting; -1 off, 0 any)
        self.operations = Operations(runtime)
        fragment_observers = getattr(getattr(runtime, "executor", None), "fragment_observers", None)
        if fragment_observers is not None:  # (test doubles have no executor)
            fragment_observers.append(self.operations.fragment_finished)
        self.statements = PreparedStatements(idle_seconds=settings.token_ttl_seconds)
        # Tickets live minutes, not a session's hours: each redeemed one is remembered until it
        # expires (replay), and at 100 queries/s eight hours of those would be ~300 MB.
        self.tickets = Tickets(idle_seconds=settings.ticket_ttl_seconds)
        self.sessions = Sessions()
        self.watcher = CancelWatcher()
        self.queries = QueryService(runtime, self.statements, self.tickets, self.sessions, self.watcher)
        self.queries.observe = self.operations.observe
        admission = getattr(self.queries.tracker, "admission", None)
        if admission is not None:  # the gauges read admission control's own counts
            self.operations.metrics.count_running(lambda: admission.running)
            self.operations.metrics.queued.set_function(lambda: float(admission.queued))
        self.metadata = MetadataService(settings.table_type_case)
        self.keys = KeyService()
        self.info = server_info(settings, server_name)
        # Last: the server accepts calls as soon as the base class has bound the port.
        super().__init__(
            location,
            auth_handler=NoopAuthHandler(),
            middleware={AUTH_MIDDLEWARE: AuthMiddlewareFactory(
                runtime, self.tokens, allow_passwords=_passwords_allowed(location, auth.allow_plaintext_passwords),
                throttle=LoginThrottle(settings.login_max_failures, settings.login_failure_window_seconds,
                                       settings.login_lockout_seconds))},
            **options,
        )
        port = settings.http_port if http_port is None else http_port
        self.http = HttpSidePort(runtime, self.operations, host, port) if port >= 0 else None
        health_port = settings.grpc_health_port  # the gRPC health checking protocol; -1 off
        self.grpc_health = GrpcHealth(self.operations.lifecycle, host, health_port) if health_port >= 0 else None

    def shutdown(self) -> None:
        if self.http is not None:
            self.http.close()
        if self.grpc_health is not None:
            self.grpc_health.close()
        observers = getattr(getattr(self.runtime, "executor", None), "fragment_observers", None)
        if observers is not None and self.operations.fragment_finished in observers:
            observers.remove(self.operations.fragment_finished)
        super().shutdown()
        self.watcher.close()
        refresher = getattr(self.runtime, "schema_refresher", None)  # (test doubles have none)
        if refresher is not None:
            refresher.stop()  # no engine is asked again once the server is down

    # -- RPCs ----------------------------------------------------------------------------------

    @flight_errors
    def get_flight_info(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor) -> Any:
        caller = _caller_of(context)
        command = _command_of(descriptor)
        if isinstance(command, sql.CommandStatementQuery):
            with self.operations.planning(caller, command.query):
                return self.queries.statement_info(command, descriptor, caller)
        if isinstance(command, sql.CommandPreparedStatementQuery):
            with self.operations.planning(caller, "(a prepared statement)"):
                return self.queries.prepared_info(command, descriptor, caller)
        schema = self._catalog_schema(command)
        # The ticket is the command itself: DoGet recomputes the answer for whoever redeems it.
        endpoint = flight.FlightEndpoint(pack(command), [])
        return flight.FlightInfo(schema, descriptor, [endpoint], total_records=-1, total_bytes=-1)

    @flight_errors
    def get_schema(self, context: flight.ServerCallContext, descriptor: flight.FlightDescriptor) -> Any:
        caller = _caller_of(context)
        command = _command_of(descriptor)
        if isinstance(command, sql.CommandStatementQuery):
            return flight.SchemaResult(self.queries.statement_schema(command, caller))
        if isinstance(command, sql.CommandPreparedStatementQuery):
            return flight.SchemaResult(self.queries.prepared_schema(command, caller))
        return flight.SchemaResult(self._catalog_schema(command))

    @flight_errors
    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> Any:
        caller = _caller_of(context)
        command = unpack_command(ticket.ticket)
        if isinstance(command, sql.TicketStatementQuery):
            return self.queries.stream(command, context, caller)
        self._catalog_schema(command)  # UNIMPLEMENTED before any work for unknown commands
        batch = self._catalog_answer(command, caller)
        # One batch: ADBC's get_table_schema and flightsql-dbapi read only the first.
        return flight.RecordBatchStream(pa.RecordBatchReader.from_batches(batch.schema, [batch]))

    @flight_errors
    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        caller = _caller_of(context)
        command = _command_of(descriptor)
        if isinstance(command, sql.CommandPreparedStatementQuery):
            writer.write(pa.py_buffer(self.queries.bind_parameters(command, reader, caller)))
            return
        if isinstance(command, sql.CommandStatementUpdate | sql.CommandPreparedStatementUpdate
                      | sql.CommandStatementIngest):
            raise ReadOnlyViolation(READ_ONLY)
        raise NotImplementedError(f"DoPut with {type(command).__name__} is not supported by flightmesh")

    @flight_errors
    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> list[flight.Result]:
        caller = _caller_of(context)
        kind = action.type
        body = action.body.to_pybytes() if action.body is not None else b""
        if kind == "CreatePreparedStatement":
            request = _expect(unpack_command(body), sql.ActionCreatePreparedStatementRequest)
            with self.operations.planning(caller, request.query, issues_ticket=False):
                return [flight.Result(self.queries.create_prepared_statement(request, caller))]
        if kind == "ClosePreparedStatement":
            close = _expect(unpack_command(body), sql.ActionClosePreparedStatementRequest)
            self.queries.close_prepared_statement(close, caller)
            return []
        if kind == "SetSessionOptions":
            options = parse_bare(session.SetSessionOptionsRequest, body)
            catalog = self.runtime.catalog
            outcome = self.sessions.set_options(caller.session, options, catalog, caller.principal)
            return [flight.Result(outcome.SerializeToString())]
        if kind == "GetSessionOptions":
            current = self.sessions.get_options(caller.session, self.runtime.catalog)
            return [flight.Result(current.SerializeToString())]
        if kind == "CloseSession":
            self.statements.close_session(caller.session)
            self.tickets.close_session(caller.session)
            # The session is over, so is its token: a copy of it (a log, a leaked header) is useless.
            # (Basic sessions have no token; identity-provider tokens are the provider's to revoke.)
            self.tokens.revoke(caller.session)
            return [flight.Result(self.sessions.close(caller.session).SerializeToString())]
        if kind == "revoke_tokens":
            return [flight.Result(self._revoke_tokens(body, caller))]
        if kind == "reload":
            return [flight.Result(self._reload(caller))]
        if kind == "refresh":
            return [flight.Result(self._refresh(body, caller))]
        if kind == "kill":
            return [flight.Result(self._kill(body, caller))]
        if kind == "CancelFlightInfo":
            cancel = parse_bare(session.CancelFlightInfoRequest, body)
            return [flight.Result(self._cancel(cancel, caller).SerializeToString())]
        raise NotImplementedError(f"action {kind!r} is not supported by flightmesh")

    @flight_errors
    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        _caller_of(context)  # establishes a deferred check (see auth): never listed to strangers
        return list(ACTIONS.items())

    # -- helpers -------------------------------------------------------------------------------

    def _require_admin(self, action: str, caller: Caller) -> None:
        if not set(self.runtime.spec.auth.admin_roles) & caller.principal.roles:
            raise AccessDenied(f"{action} is reserved to the mesh's administrators (auth.admin_roles)")

    @staticmethod
    def _json_field(body: bytes, field: str, usage: str) -> object:
        """``body``'s JSON object's ``field`` (None when absent or the body is empty); BadRequest with ``usage``."""
        try:
            request = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest(usage) from None
        if not isinstance(request, dict):
            raise BadRequest(usage)
        return request.get(field)

    def _revoke_tokens(self, body: bytes, caller: Caller) -> bytes:
        """``revoke_tokens {"user": name}``: every token of that user issued so far is refused."""
        self._require_admin("revoke_tokens", caller)
        usage = 'revoke_tokens expects a JSON body {"user": "name"}'
        user = self._json_field(body, "user", usage)
        if not isinstance(user, str) or not user:
            raise BadRequest(usage)
        self.tokens.revoke_user(user)
        log.warning("%s revoked every token of %s", caller.principal.name, user)
        return json.dumps({"user": user, "revoked": True}).encode()

    def _kill(self, body: bytes, caller: Caller) -> bytes:
        """``kill <query id>``: the query is cancelled, in every engine it runs in; its history says killed."""
        try:
            query_id = body.decode().strip()
        except UnicodeDecodeError:
            query_id = ""
        if not query_id:
            raise BadRequest("kill expects the query id as its body")
        killed = self.queries.tracker.kill(query_id, caller.principal)
        return json.dumps({"query_id": killed.query_id, "user": killed.user, "killed": True}).encode()

    def _refresh(self, body: bytes, caller: Caller) -> bytes:
        """``refresh [{"product": name}]``: the engines are described again; answers what changed."""
        self._require_admin("refresh", caller)
        usage = 'refresh expects an empty body or a JSON body {"product": "name"}'
        product = self._json_field(body, "product", usage)
        if product is not None and not isinstance(product, str):
            raise BadRequest(usage)
        try:
            changed = self.runtime.refresh_schemas(product)
        except KeyError:
            raise BadRequest(f"refresh: there is no product {product!r}") from None
        log.warning("%s refreshed the engines' schemas (%s): changed %s", caller.principal.name,
                    product or "every product", ", ".join(changed) or "nothing")
        return json.dumps({"changed": changed, "unavailable": sorted(self.runtime.catalog.unavailable)}).encode()

    def _reload(self, caller: Caller) -> bytes:
        """``reload``: the runtime reads its descriptor again; the outcome (changes or report) as JSON."""
        self._require_admin("reload", caller)
        outcome = self.reload_mesh(caller.principal)
        return json.dumps(outcome.as_json()).encode()

    # -- memory --------------------------------------------------------------------------------

    def settle_memory(self) -> None:
        """Freeze the opened mesh for the garbage collector (``gc_settle``: shorter GC pauses while
        planning), again after each reload or catalog swap. The ``serve`` command calls it."""
        self._settles = True
        self._settle()

    def reload_mesh(self, by: Any = None) -> Any:
        """``runtime.reload``; the new mesh is settled as the old one was (admin action, SIGHUP)."""
        outcome = self.runtime.reload(by)
        if getattr(self, "_settles", False) and getattr(outcome, "applied", False):
            self._settle()
        return outcome

    def _settle(self, *_: object) -> None:
        settle_long_lived()
        catalogs = getattr(self.runtime, "catalogs", None)  # (test doubles have none)
        if catalogs is not None and catalogs is not getattr(self, "_settled_catalogs", None):
            catalogs.on_change(self._settle)  # a refresh swapping the catalog replaces long-lived state
            self._settled_catalogs = catalogs

    def _catalog_schema(self, command: Message) -> pa.Schema:
        """The result schema of a catalog command; UNIMPLEMENTED for commands flightmesh lacks."""
        if isinstance(command, sql.CommandGetTables):
            return schemas.TABLES_WITH_SCHEMA if command.include_schema else schemas.TABLES
        schema = _CATALOG_SCHEMAS.get(type(command))
        if schema is None:
            raise NotImplementedError(f"{type(command).__name__} is not supported by flightmesh")
        return schema

    def _catalog_answer(self, command: Message, caller: Caller) -> pa.RecordBatch:
        catalog = self.runtime.catalog
        if isinstance(command, sql.CommandGetSqlInfo):
            return sql_info_batch(self.info, command.info)
        if isinstance(command, sql.CommandGetCatalogs):
            return self.metadata.catalogs(catalog)
        if isinstance(command, sql.CommandGetDbSchemas):
            return self.metadata.db_schemas(catalog, caller.principal, command)
        if isinstance(command, sql.CommandGetTables):
            return self.metadata.tables(catalog, caller.principal, command)
        if isinstance(command, sql.CommandGetTableTypes):
            return self.metadata.table_types()
        if isinstance(command, sql.CommandGetXdbcTypeInfo):
            return type_info_batch(command.data_type if command.HasField("data_type") else None)
        # The key commands (the only others _catalog_schema accepts).
        return self.keys.answer(catalog, caller.principal, command)

    def _cancel(
        self, request: session.CancelFlightInfoRequest, caller: Caller
    ) -> session.CancelFlightInfoResult:
        try:
            info = flight.FlightInfo.deserialize(request.info)
        except Exception:
            raise BadRequest("CancelFlightInfo carries a malformed FlightInfo") from None
        cancelled = queries_seen = 0
        for endpoint in info.endpoints:
            ticket = unpack_command(endpoint.ticket.ticket)
            if isinstance(ticket, sql.TicketStatementQuery):
                queries_seen += 1
                cancelled += self.queries.cancel_ticket(ticket.statement_handle, caller)
        if cancelled:
            return session.CancelFlightInfoResult(status=session.CANCEL_STATUS_CANCELLED)
        if queries_seen:
            raise NotFound("no running query matches this FlightInfo; it has finished or was never started")
        # Catalog answers are computed at once; there is nothing to cancel.
        return session.CancelFlightInfoResult(status=session.CANCEL_STATUS_NOT_CANCELLABLE)


_CATALOG_SCHEMAS: dict[type[Message], pa.Schema] = {
    sql.CommandGetSqlInfo: SQL_INFO_SCHEMA,
    sql.CommandGetCatalogs: schemas.CATALOGS,
    sql.CommandGetDbSchemas: schemas.DB_SCHEMAS,
    sql.CommandGetTableTypes: schemas.TABLE_TYPES,
    sql.CommandGetPrimaryKeys: schemas.PRIMARY_KEYS,
    sql.CommandGetImportedKeys: schemas.IMPORTED_KEYS,
    sql.CommandGetExportedKeys: schemas.EXPORTED_KEYS,
    sql.CommandGetCrossReference: schemas.CROSS_REFERENCE,
    sql.CommandGetXdbcTypeInfo: XDBC_TYPE_INFO,
}


def _with_tls(location: str, tls: TlsSpec | None, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Serve TLS (and verify clients for mutual TLS) when the descriptor's ``auth.tls`` says so."""
    if tls is None or "tls_certificates" in options:
        return location, options
    options = dict(options)
    options["tls_certificates"] = [flight.CertKeyPair(tls.cert_file.read_bytes(), tls.key_file.read_bytes())]
    if tls.client_ca_file is not None:
        options["verify_client"] = True
        options["root_certificates"] = tls.client_ca_file.read_bytes()
    scheme, _, rest = location.partition("://")
    return (f"grpc+tls://{rest}" if scheme in ("grpc", "grpc+tcp") else location), options


def _passwords_allowed(location: str, allowed_by_descriptor: bool) -> bool:
    """Passwords may cross TLS, or stay on this machine; elsewhere only if the descriptor says so."""
    scheme, _, rest = location.partition("://")
    host = rest.rsplit(":", 1)[0].strip("[]")
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    return scheme == "grpc+tls" or loopback or allowed_by_descriptor


def _command_of(descriptor: flight.FlightDescriptor) -> Message:
    if descriptor.descriptor_type != flight.DescriptorType.CMD:
        raise BadRequest("flightmesh serves Flight SQL commands; path descriptors are not supported")
    return unpack_command(descriptor.command)


def _expect(message: Message, expected: type[M]) -> M:
    if not isinstance(message, expected):
        raise BadRequest(f"expected {expected.__name__}, got {type(message).__name__}")
    return message
