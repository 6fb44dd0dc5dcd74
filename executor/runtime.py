"""The mesh at run time: descriptor, connectors, catalog, planner and executor behind one object.

This is the embedded mode (a notebook needs no server) and what the Flight SQL server wraps::

    mesh = MeshRuntime.open("mesh.yaml")
    alice = mesh.authenticate("alice", "...")
    table = mesh.query("SELECT ... FROM sales.orders JOIN crm.customers ...", alice).read_all()

Prepared statements: ``prepare`` checks the SQL and announces the result schema (computed with
NULL parameters); ``bind`` plans for concrete parameter values; ``execute`` streams. Plans are
cached under (SQL, dialect, session schema, the principal's policy context, catalog version,
parameters), so a statement executed again skips planning.

Every query and every refusal (including failed authentication) is written to the audit log
(``flightmesh.governance.audit``) when its stream ends, so embedded use is audited like the server.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from flightmesh.connectors import Connector, open_connector
from flightmesh.connectors.virtual import VirtualConnector
from flightmesh.governance import check_policies, policies_applied
from flightmesh.governance.audit import AuditLog, AuditRecord, audit_product, touched
from flightmesh.governance.identity import JwtVerifier, check_credentials
from flightmesh.mesh import (
    AuthenticationError,
    CancelScope,
    Catalog,
    DescriptorError,
    EngineUnavailable,
    FlightmeshError,
    MeshSpec,
    Principal,
    QueryCancelled,
    QueryError,
    Settings,
    load_descriptor,
)
from flightmesh.planner import Plan, PlanningContext, Statement, parse_statement, plan_statement

from .catalog_builder import build_catalog, describe_product, review_engine_account
from .execute import Executor

__all__ = ["MeshRuntime", "Prepared"]

log = logging.getLogger(__name__)

_RETRY_UNAVAILABLE_SECONDS = 5.0
# What clients see of a product refused for its engine account (the server log has the findings).
_REFUSED_ACCOUNT = "its engine account may do more than read the product's tables (see the server log)"


@dataclass(frozen=True)
class Prepared:
    """A checked statement, ready to be bound and run any number of times."""

    sql: str
    statement: Statement
    parameter_schema: pa.Schema
    schema: pa.Schema                   # the result schema (with NULL parameters, if any)
    default_schema: str | None = None


class MeshRuntime:
    def __init__(self, spec: MeshSpec) -> None:
        self.audit = AuditLog.from_spec(spec.audit, spec.settings)
        system = audit_product(spec)
        if system is not None:  # flightmesh.audit, for the roles of governance.audit.read
            spec = replace(spec, products={**spec.products, system.name: system})
        self.spec = spec
        self.settings: Settings = spec.settings
        self.connectors: dict[str, Connector] = {
            name: open_connector(product, self.settings) for name, product in spec.products.items()
            if product is not system
        }
        if system is not None:
            self.connectors[system.name] = VirtualConnector(system.name, {"audit": self.audit.table})
        # Problems the descriptor's owner should see but that do not stop the mesh (flightmesh check prints them).
        self.warnings: list[str] = []
        self._reviewed: set[str] = set()   # products whose engine account was reviewed
        self._lock = threading.Lock()
        try:
            self._catalog = build_catalog(spec, self.connectors)
            problems = check_policies(self._catalog)
            for name in spec.products:
                if name not in self._catalog.unavailable:
                    problem = self._review_account(name)
                    if problem is not None:
                        problems.append(problem)
            if problems:
                raise DescriptorError(problems)
        except BaseException:
            self._close_connectors()
            raise
        self._owners: dict[int, Principal] = {}  # id(plan) -> who planned it (for the audit)
        self._jwt = JwtVerifier.from_spec(spec.auth.jwt) if spec.auth.jwt is not None else None
        self.executor = Executor(self.settings)
        self._plans: OrderedDict[Hashable, Plan] = OrderedDict()
        self._last_retry = time.monotonic()

    @classmethod
    def open(cls, descriptor: str | Path | MeshSpec) -> MeshRuntime:
        spec = descriptor if isinstance(descriptor, MeshSpec) else load_descriptor(descriptor)
        return cls(spec)

    # -- catalog -----------------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The current catalog; products that were unreachable are retried every few seconds."""
        catalog = self._catalog
        if catalog.unavailable and time.monotonic() - self._last_retry > _RETRY_UNAVAILABLE_SECONDS:
            self._last_retry = time.monotonic()
            for product in list(catalog.unavailable):
                self.refresh(product)
        return self._catalog

    def refresh(self, product: str) -> Catalog:
        """Ask ``product``'s engine again for its tables (after an outage or a schema change)."""
        spec = self.spec.products[product]
        try:
            tables, problems = describe_product(spec, self.connectors[product])
        except EngineUnavailable as error:
            with self._lock:
                if self._catalog.unavailable.get(product) != error.detail:
                    self._catalog = self._catalog.replaced(product, None, unavailable=error.detail)
            return self._catalog
        for problem in problems:
            log.warning("%s", problem)
        if product not in self._reviewed:  # unreachable at start (or refused): its account is reviewed now
            refused = self._review_account(product)
            if product not in self._reviewed:  # gone again while being asked: left unavailable
                return self._catalog
            if refused is not None:  # the server is up: the product stays unavailable, the rest serves
                self._reviewed.discard(product)  # asked again at the next retry: fixed grants need no restart
                with self._lock:
                    if self._catalog.unavailable.get(product) != _REFUSED_ACCOUNT:
                        log.error("%s", refused)
                        self._catalog = self._catalog.replaced(product, None, unavailable=_REFUSED_ACCOUNT)
                return self._catalog
        with self._lock:
            self._catalog = self._catalog.replaced(product, tables)
            self._plans.clear()
        return self._catalog

    def _review_account(self, product: str) -> str | None:
        """Review ``product``'s engine account once; the refusal as a descriptor problem, if any.

        ``engine.allow_privileged`` makes a refusal a warning. An engine that cannot be asked
        leaves the product unavailable and unreviewed: it is reviewed when it comes back.
        """
        try:
            review = review_engine_account(self.spec.products[product], self.connectors[product])
        except EngineUnavailable as error:
            log.warning("product %s is unavailable: %s", product, error.internal or error.detail)
            with self._lock:
                if self._catalog.unavailable.get(product) != error.detail:
                    self._catalog = self._catalog.replaced(product, None, unavailable=error.detail)
            return None
        self._reviewed.add(product)
        if review is None:
            return None
        if review.allowed:
            log.warning("%s", review.problem)
            self.warnings.append(review.problem)
            return None
        return review.problem

    # -- identities --------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> Principal:
        """The principal for these credentials; AuthenticationError (the same one) for any mismatch."""
        started = time.perf_counter()
        try:
            check_credentials(self.spec.users, username, password)
        except AuthenticationError as error:
            elapsed = (time.perf_counter() - started) * 1000.0
            self.audit.write(AuditRecord(kind="authentication", user=username, outcome="refused",
                                         error=str(error), duration_ms=elapsed))
            raise
        return self._principal(username)

    def authenticate_jwt(self, token: str) -> Principal:
        """The principal of an identity-provider token (``auth.jwt``); AuthenticationError otherwise."""
        started = time.perf_counter()
        try:
            if self._jwt is None:
                raise AuthenticationError("invalid or expired token; authenticate again")
            return self._jwt.principal(token, self.spec.users)
        except AuthenticationError as error:
            elapsed = (time.perf_counter() - started) * 1000.0
            self.audit.write(AuditRecord(kind="authentication", user=None, outcome="refused",
                                         error=str(error), duration_ms=elapsed))
            raise

    def audit_refusal(self, user: str | None, reason: str) -> None:
        """Record a refused authentication the runtime did not see itself (e.g. a bad bearer token)."""
        self.audit.write(AuditRecord(kind="authentication", user=user, outcome="refused", error=reason,
                                     duration_ms=0.0))

    def principal_for(self, username: str) -> Principal | None:
        """The current principal for a user named in a still-valid token (None if removed)."""
        return self._principal(username) if username in self.spec.users else None

    def _principal(self, username: str) -> Principal:
        user = self.spec.users[username]
        return Principal(name=username, roles=frozenset(user.roles), attributes=dict(user.attributes))

    # -- queries -----------------------------------------------------------------------------------

    def prepare(self, sql: str, principal: Principal, *, default_schema: str | None = None) -> Prepared:
        started = time.perf_counter()
        try:
            statement = self._parse(sql)
            nulls = [None] * statement.parameter_count
            plan = self._plan(statement, sql, principal, nulls, default_schema)
            schema = self.executor.describe(plan)
        except FlightmeshError as error:
            self._refused(sql, principal, error, started)
            raise
        parameters = pa.schema([pa.field(str(index), pa.null()) for index in range(statement.parameter_count)])
        return Prepared(sql=sql, statement=statement, parameter_schema=parameters, schema=schema,
                        default_schema=default_schema)

    def bind(self, prepared: Prepared, principal: Principal, parameters: Sequence[Any] = ()) -> Plan:
        started = time.perf_counter()
        try:
            plan = self._plan(prepared.statement, prepared.sql, principal, list(parameters),
                              prepared.default_schema)
            self.executor.describe(plan)
        except FlightmeshError as error:
            self._refused(prepared.sql, principal, error, started)
            raise
        return plan

    def execute(self, plan: Plan, cancel: CancelScope | None = None) -> pa.RecordBatchReader:
        return self._audited(plan, self._owners.get(id(plan)), cancel)

    def query(self, sql: str, principal: Principal, parameters: Sequence[Any] = (), *,
              cancel: CancelScope | None = None, default_schema: str | None = None) -> pa.RecordBatchReader:
        """Plan and run one statement (no prepare round trip)."""
        started = time.perf_counter()
        cancel = cancel or CancelScope()
        if cancel.deadline is None:  # planning counts in the query's time limit
            cancel.deadline = time.monotonic() + self.settings.query_timeout_seconds
        try:
            statement = self._parse(sql)
            plan = self._plan(statement, sql, principal, list(parameters), default_schema, cancel)
        except FlightmeshError as error:
            self._refused(sql, principal, error, started)
            raise
        return self._audited(plan, principal, cancel)

    def _parse(self, sql: str) -> Statement:
        return parse_statement(sql, self.spec.sql_dialect, max_chars=self.settings.max_statement_chars,
                               max_nodes=self.settings.max_statement_nodes)

    # -- audit -------------------------------------------------------------------------------------

    def _refused(self, sql: str, principal: Principal, error: FlightmeshError, started: float) -> None:
        self.audit.write(AuditRecord.for_principal(
            principal, kind="query", statement=sql, outcome="refused", error=str(error),
            duration_ms=(time.perf_counter() - started) * 1000.0))

    def _audited(self, plan: Plan, principal: Principal | None,
                 cancel: CancelScope | None) -> pa.RecordBatchReader:
        """Run ``plan``; write its audit record when the stream ends, however it ends."""
        started = time.perf_counter()
        products, tables = touched(table for fragment in plan.fragments for table in fragment.tables)
        policies = tuple(policies_applied(self.catalog, principal, tables)) if principal is not None else ()

        def record(outcome: str, rows: int | None, error: BaseException | None = None) -> None:
            self.audit.write(AuditRecord.for_principal(
                principal, kind="query", statement=plan.sql, products=products, tables=tables,
                policies=policies, rows=rows, outcome=outcome,
                error=str(error) if error is not None else None,
                duration_ms=(time.perf_counter() - started) * 1000.0))

        try:
            reader = self.executor.execute(plan, cancel)
        except BaseException as error:
            record(_outcome(error), None, error)
            raise

        def batches() -> Iterator[pa.RecordBatch]:
            rows = 0
            outcome, failure = "closed early", None
            try:
                for batch in reader:
                    rows += batch.num_rows
                    yield batch
                outcome = "ok"
            except GeneratorExit:
                raise
            except BaseException as error:
                outcome, failure = _outcome(error), error
                raise
            finally:
                record(outcome, rows, failure)

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def _plan(self, statement: Statement, sql: str, principal: Principal, parameters: list[Any],
              default_schema: str | None, cancel: CancelScope | None = None) -> Plan:
        catalog = self.catalog
        key = (sql, self.spec.sql_dialect, default_schema, principal.policy_key(), catalog.version,
               tuple(_hashable(value) for value in parameters))
        with self._lock:
            cached = self._plans.get(key)
            if cached is not None:
                self._plans.move_to_end(key)
                return cached
        context = PlanningContext(catalog=catalog, connectors=self.connectors, dialect=self.spec.sql_dialect,
                                  default_schema=default_schema, cancel=cancel,
                                  deadline=cancel.deadline if cancel is not None else None)
        plan = plan_statement(statement, sql, principal, context, parameters)
        # Plans are cached per policy context, which includes the name: one owner per plan.
        self._owners[id(plan)] = principal
        weakref.finalize(plan, self._owners.pop, id(plan), None)
        if self.settings.plan_cache_size > 0:
            with self._lock:
                self._plans[key] = plan
                while len(self._plans) > self.settings.plan_cache_size:
                    self._plans.popitem(last=False)
        return plan

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self.executor.close()
        self._close_connectors()
        self.audit.close()

    def _close_connectors(self) -> None:
        for connector in self.connectors.values():
            try:
                connector.close()
            except Exception:
                log.exception("closing a connector failed")

    def __enter__(self) -> MeshRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _outcome(error: BaseException) -> str:
    if isinstance(error, QueryCancelled):
        return "cancelled"
    if isinstance(error, (QueryError, AuthenticationError)):
        return "refused"
    return "failed"


def _hashable(value: Any) -> Hashable:
    return (type(value).__name__, repr(value))
