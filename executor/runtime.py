"""The mesh at run time: descriptor, connectors, catalog, planner and executor behind one object.

This is the embedded mode (a notebook needs no server) and what the Flight SQL server wraps::

    mesh = MeshRuntime.open("mesh.yaml")
    alice = mesh.authenticate("alice", "...")
    table = mesh.query("SELECT ... FROM sales.orders JOIN crm.customers ...", alice).read_all()

Prepared statements: ``prepare`` checks the SQL and announces the result schema (computed with
NULL parameters); ``bind`` plans for concrete parameter values; ``execute`` streams. Plans are
cached under (SQL, dialect, session schema, the principal's policy context, catalog version,
parameters), so a statement executed again skips planning. ``dialect`` is what the client writes
(a session's ``sql_dialect``); None means the mesh's ``mesh.sql_dialect``.

Every query and every refusal (including failed authentication) is written to the audit log
(``flightmesh.governance.audit``) when its stream ends, so embedded use is audited like the server.

``MeshRuntime`` is a facade: each job is a part with one concept — ``Identities`` (who is
asking), ``CatalogState`` (the catalog and connectors, refreshed and swapped atomically),
``PlanCache`` (bound plans), ``audited`` (the audit around runs) and the ``Executor``.
``bind`` returns a ``BoundPlan``: a finished value (schemas, principal, applied policies) that
is cached and never written to.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from flightmesh.connectors import Connector
from flightmesh.governance.audit import AuditLog, AuditRecord, audit_product
from flightmesh.governance.privacy import check_privacy
from flightmesh.mesh import (
    CancelScope,
    Catalog,
    DescriptorError,
    FlightmeshError,
    MeshSpec,
    Principal,
    Settings,
    UnknownColumn,
    load_descriptor,
)
from flightmesh.planner import Plan, PlanningContext, Statement, parse_statement, plan_statement

from .audited import audited, refused
from .bound import BoundPlan
from .catalog_state import CatalogState, open_connectors
from .contracts import ContractMonitor
from .execute import Executor
from .identities import Identities
from .ops_schema import OperationsSchema
from .plan_cache import PlanCache, plan_key
from .privacy_gate import BudgetHold, PrivacyGate
from .query_tracker import QueryTracker
from .reload import Reload, changes_between
from .schema_refresh import SchemaRefresher
from .state_store import state_change_problem
from .statistics_refresh import refresh_statistics
from .system_schemas import SystemSchemas

__all__ = ["MeshRuntime", "Prepared"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """A checked statement, ready to be bound and run any number of times."""

    sql: str
    statement: Statement
    parameter_schema: pa.Schema
    schema: pa.Schema                   # the result schema (with NULL parameters, if any)
    default_schema: str | None = None
    dialect: str | None = None          # what the SQL is written in; None: the mesh's default
    # (plan cache key, bound plan) of a statement without parameters, as preparing planned it
    planned: tuple[Any, BoundPlan] | None = field(default=None, compare=False, repr=False)


class MeshRuntime:
    def __init__(self, spec: MeshSpec, *, allow_unavailable: bool = False,
                 descriptor: Path | None = None) -> None:
        self.descriptor = descriptor          # what ``reload`` reads again (None: built from a MeshSpec)
        self.allow_unavailable = allow_unavailable
        self._reload_lock = threading.Lock()
        # Connectors of meshes replaced by a reload: queries that started on them may still be
        # streaming (their plans hold them), so they are closed with the runtime, not at the swap.
        self._retired: list[dict[str, Connector]] = []
        self.audit = AuditLog.from_spec(spec.audit, spec.settings)
        self.system_schemas = SystemSchemas()
        # Admission, running queries, history and kill (the server drives them; flightmesh.queries shows them).
        self.tracker = QueryTracker(lambda: self.settings, spec.state, lambda: tuple(self.spec.auth.admin_roles),
                                    max_sql_chars=spec.settings.audit_statement_max_chars)
        self.operations = OperationsSchema(self.tracker)
        self.system_schemas.operations = self.operations.bound
        self.spec, self.catalogs, self.settings, self.identities = self._assemble(spec, allow_unavailable)
        self.executor = Executor(self.settings)
        self.privacy = PrivacyGate(self.spec.state)   # the budget ledger of privacy-mode queries
        self.system_schemas.privacy_budgets = self.privacy.lookup
        self.plans = PlanCache(self.settings.plan_cache_size)
        # Memory hygiene only: plans are keyed by catalog version, so older ones are unreachable.
        self.catalogs.on_change(lambda state: self.plans.clear())
        # Engine schema changes are picked up every settings.schema_refresh_seconds (0: only on demand).
        # Data contracts: drift checked against each catalog, rules run every settings.contract_check_seconds.
        self.contracts = ContractMonitor(lambda: self.catalogs.catalog, lambda: self.catalogs.connectors,
                                         self.settings.contract_check_seconds)
        self.system_schemas.contract_reports = self.contracts.reports
        self.schema_refresher = SchemaRefresher(lambda: self.catalogs.refresh_all(),
                                                self.settings.schema_refresh_seconds, after=self.contracts.drift)
        self.schema_refresher.start()
        # Engine statistics read again every settings.statistics_refresh_seconds; planning only reads the catalog's.
        self.statistics_refresher = SchemaRefresher(lambda: refresh_statistics(self.catalogs),
                                                    self.settings.statistics_refresh_seconds, name="statistics refresh")
        self.statistics_refresher.start()

    def _assemble(self, spec: MeshSpec, allow_unavailable: bool) -> tuple[MeshSpec, CatalogState, Settings,
                                                                            Identities]:
        """The spec with its system products, its connectors and catalog (validated), its identities."""
        system = audit_product(spec)
        # flightmesh: queries and query_history, rows per principal; audit too, for governance.audit.read
        operations = self.operations.product(system, self.audit.table, tuple(spec.audit.read))
        spec = replace(spec, products={**spec.products, operations.name: operations})
        # mesh and information_schema: readable by every principal, rows computed per plan's principal
        spec = replace(spec, products={**spec.products, **{p.name: p for p in self.system_schemas.products}})
        connectors = open_connectors(spec, system, self.audit)
        connectors.update(self.system_schemas.connectors)
        connectors[operations.name] = self.operations.unbound
        try:
            catalogs = CatalogState(spec, connectors, allow_unavailable=allow_unavailable)
            problems = check_privacy(catalogs.catalog)  # the privacy mode's columns, as the engines have them
            if problems:
                raise DescriptorError(problems)
        except BaseException:
            self._close_engines(connectors)
            raise
        return spec, catalogs, spec.settings, Identities(spec, self.audit)

    @classmethod
    def open(cls, descriptor: str | Path | MeshSpec, *, allow_unavailable: bool = False) -> MeshRuntime:
        """Load the descriptor and reach every engine; DescriptorError if anything is missing.

        A declared table or column an engine lacks always refuses the mesh. An engine that
        cannot be reached refuses it too, unless ``allow_unavailable``: then its product is
        marked unavailable (``catalog.unavailable``, metadata) and retried by later queries.
        """
        if isinstance(descriptor, MeshSpec):
            return cls(descriptor, allow_unavailable=allow_unavailable)
        return cls(load_descriptor(descriptor), allow_unavailable=allow_unavailable, descriptor=Path(descriptor))

    # -- reload ------------------------------------------------------------------------------------

    def reload(self, by: Principal | None = None) -> Reload:
        """Read the descriptor again and swap the new mesh in, or refuse it and keep the running one.

        The new mesh is validated as at open (descriptor, engines, catalog, policies); a broken one
        is refused with the same report (``Reload.problems``). A good one replaces spec, settings,
        identities, catalog and connectors together; queries already planned finish on the
        connectors and policies they were planned with. Every reload is audited with what changed.
        """
        started = time.perf_counter()
        with self._reload_lock:
            if self.descriptor is None:
                outcome = Reload(False, problems=["this mesh was not opened from a descriptor file"])
            else:
                try:
                    loaded = load_descriptor(self.descriptor)
                    moved = state_change_problem(self.spec.state, loaded.state)  # restart-only
                    if moved is not None:
                        raise DescriptorError([moved])
                    spec, catalogs, settings, identities = self._assemble(loaded, self.allow_unavailable)
                except DescriptorError as error:
                    outcome = Reload(False, problems=error.problems)
                else:
                    outcome = Reload(True, changes=changes_between(self.spec, self.catalog, spec, catalogs.catalog))
                    # Plans are cached per catalog version: the new one continues the numbering.
                    catalogs.catalog.version = self.catalog.version + 1
                    catalogs.on_change(lambda state: self.plans.clear())
                    retired = self.catalogs
                    # One attribute each; queries read the catalog and its connectors as one state.
                    self.identities = identities
                    self.spec, self.settings = spec, settings
                    self.catalogs = catalogs
                    self.plans.clear()
                    self._retired.append({name: connector for name, connector in retired.connectors.items()
                                          if name not in self.system_schemas.connectors})
        elapsed = (time.perf_counter() - started) * 1000.0
        if outcome.applied:  # what changed, in words and as the products and tables touched
            record = AuditRecord.for_principal(by, kind="reload", outcome="ok", statement=outcome.summary(),
                                               products=outcome.changed("products"),
                                               tables=outcome.changed("tables"), duration_ms=elapsed)
        else:
            record = AuditRecord.for_principal(by, kind="reload", outcome="refused", error=outcome.summary(),
                                               duration_ms=elapsed)
        self.audit.write(record)
        if outcome.applied:
            log.warning("mesh reloaded from %s: %s", self.descriptor, outcome.summary())
            self.contracts.drift()  # the new mesh's contracts against its engines: drift logged now
        else:
            log.error("reload of %s refused, the running mesh is unchanged:\n  %s", self.descriptor,
                      "\n  ".join(outcome.problems))
        return outcome

    # -- catalog -----------------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        """The current catalog (no I/O: unreachable products are retried by ``retry_unavailable``)."""
        return self.catalogs.catalog

    @property
    def connectors(self) -> dict[str, Connector]:
        return self.catalogs.connectors

    @property
    def warnings(self) -> list[str]:
        """Problems the descriptor's owner should see but that do not stop the mesh."""
        return self.catalogs.warnings + self.contracts.warnings()

    def refresh(self, product: str | None = None) -> Catalog:
        """Ask ``product``'s engine (None: every product's) again for its tables, after an outage or a
        schema change; the catalog is swapped (and cached plans dropped) only if something changed."""
        if product is None:
            self.catalogs.refresh_all()
            return self.catalog
        return self.catalogs.refresh(product)

    def refresh_schemas(self, product: str | None = None) -> list[str]:
        """``refresh``, answering the products whose tables changed (the admin action ``refresh``).
        KeyError for a product the mesh does not have.

        The refreshed products' data contracts are checked again too, against the schemas just
        described: one verb for "look at the engines again", whether for a schema or for the data."""
        catalogs = self.catalogs
        if product is None:
            changed = catalogs.refresh_all()
            self.contracts.check_all()
            return changed
        named = next((name for name in catalogs.spec.products if name.lower() == product.lower()), None)
        if named is None:
            raise KeyError(product)
        before = catalogs.catalog
        changed = [named] if catalogs.refresh(named) is not before else []
        self.contracts.check(named)
        return changed

    def retry_unavailable(self) -> Catalog:
        """Ask unreachable products again (at most every few seconds); every query calls this."""
        return self.catalogs.retry_unavailable()

    # -- identities --------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> Principal:
        """The principal for these credentials; AuthenticationError (the same one) for any mismatch."""
        return self.identities.authenticate(username, password)

    def authenticate_jwt(self, token: str) -> Principal:
        """The principal of an identity-provider token (``auth.jwt``); AuthenticationError otherwise."""
        return self.identities.authenticate_jwt(token)

    def audit_refusal(self, user: str | None, reason: str) -> None:
        """Record a refused authentication the runtime did not see itself (e.g. a bad bearer token)."""
        self.identities.audit_refusal(user, reason)

    def principal_for(self, username: str) -> Principal | None:
        """The current principal for a user named in a still-valid token (None if removed)."""
        return self.identities.principal_for(username)

    # -- queries -----------------------------------------------------------------------------------

    def prepare(self, sql: str, principal: Principal, *, default_schema: str | None = None,
                dialect: str | None = None) -> Prepared:
        started = time.perf_counter()
        dialect = dialect or self.spec.sql_dialect
        try:
            statement = self._parse(sql, dialect)
            nulls = [None] * statement.parameter_count
            key, bound = self._bound_keyed(statement, sql, principal, nulls, default_schema, dialect)
        except FlightmeshError as error:
            refused(self.audit, sql, principal, error, started)
            raise
        parameters = pa.schema([pa.field(str(index), pa.null()) for index in range(statement.parameter_count)])
        # With no parameters the plan made here is the statement's own: ``bind`` reuses it.
        planned = (key, bound) if statement.parameter_count == 0 else None
        return Prepared(sql=sql, statement=statement, parameter_schema=parameters, schema=bound.schema,
                        default_schema=default_schema, dialect=dialect, planned=planned)

    def bind(self, prepared: Prepared, principal: Principal, parameters: Sequence[Any] = ()) -> BoundPlan:
        started = time.perf_counter()
        try:
            if not parameters and prepared.planned is not None:
                # Preparing a statement without parameters planned it: that plan is reused under the
                # plan cache's own key computed now (policy context, catalog version, text, dialect,
                # schema), i.e. exactly when a cache hit would hand it out, also with the cache off.
                # Without this, each cold GetFlightInfo (and EXPLAIN) planned its statement twice.
                planned_key, planned = prepared.planned
                key, found = self._cached(prepared.sql, principal, [], prepared.default_schema,
                                          prepared.dialect or self.spec.sql_dialect)
                if key == planned_key:
                    if found is None:  # evicted (or the cache is off): kept again, as a planning would
                        self.plans.put(key, planned)
                        found = planned
                    return found
            return self._bound(prepared.statement, prepared.sql, principal, list(parameters),
                               prepared.default_schema, prepared.dialect or self.spec.sql_dialect)
        except FlightmeshError as error:
            refused(self.audit, prepared.sql, principal, error, started)
            raise

    def execute(self, plan: BoundPlan, cancel: CancelScope | None = None,
                hold: BudgetHold | None = None) -> pa.RecordBatchReader:
        """``hold``: the plan's privacy budget, reserved by ``hold_budgets`` (None: reserved now)."""
        return audited(self.audit, plan.plan, plan.principal, plan.policies,
                       lambda: self.privacy.run(plan, lambda: self.executor.execute(plan, cancel), hold))

    def hold_budgets(self, plans: Sequence[Any]) -> list[BudgetHold | None]:
        """Reserve the privacy budget of ``plans`` before their stream's schema is sent (it says what
        remains); a hold is given back unless its plan released (``BudgetHold.give_back``)."""
        return self.privacy.hold_all(plans)

    def query(self, sql: str, principal: Principal, parameters: Sequence[Any] = (), *,
              cancel: CancelScope | None = None, default_schema: str | None = None,
              dialect: str | None = None) -> pa.RecordBatchReader:
        """Plan and run one statement (no prepare round trip)."""
        started = time.perf_counter()
        dialect = dialect or self.spec.sql_dialect
        cancel = cancel or CancelScope()
        if cancel.deadline is None:  # planning counts in the query's time limit
            cancel.deadline = time.monotonic() + self.settings.query_timeout_seconds
        try:
            statement = self._parse(sql, dialect, owned=True)  # planned at most once, here
            key, found = self._cached(sql, principal, list(parameters), default_schema, dialect)
            plan = found.plan if found is not None else \
                self._plan(statement, sql, principal, list(parameters), default_schema, dialect, cancel)
        except FlightmeshError as error:
            refused(self.audit, sql, principal, error, started)
            raise
        if found is not None:
            return self.execute(found, cancel)

        def bind_and_run() -> pa.RecordBatchReader:
            # Typing the result asks the engines: its failures are this run's, audited as such.
            bound = self._bind_plan(key, plan, principal)
            return self.privacy.run(bound, lambda: self.executor.execute(bound, cancel))

        return audited(self.audit, plan, principal, plan.policy_labels(), bind_and_run)

    def _parse(self, sql: str, dialect: str, owned: bool = False) -> Statement:
        return parse_statement(sql, dialect, max_chars=self.settings.max_statement_chars,
                               max_nodes=self.settings.max_statement_nodes, owned=owned)

    def _cached(self, sql: str, principal: Principal, parameters: list[Any],
                default_schema: str | None, dialect: str) -> tuple[Any, BoundPlan | None]:
        catalog = self.catalogs.retry_unavailable()  # the explicit retry: queries pay for it, reads never
        # The same text means different things in different dialects (`||`, quotes): both key it.
        key = plan_key(sql, dialect, default_schema, principal.policy_key(), catalog.version,
                       parameters)
        return key, self.plans.get(key)

    def _bound(self, statement: Statement, sql: str, principal: Principal, parameters: list[Any],
               default_schema: str | None, dialect: str) -> BoundPlan:
        return self._bound_keyed(statement, sql, principal, parameters, default_schema, dialect)[1]

    def _bound_keyed(self, statement: Statement, sql: str, principal: Principal, parameters: list[Any],
                     default_schema: str | None, dialect: str) -> tuple[Any, BoundPlan]:
        key, found = self._cached(sql, principal, parameters, default_schema, dialect)
        if found is not None:
            return key, found
        plan = self._plan(statement, sql, principal, parameters, default_schema, dialect)
        return key, self._bind_plan(key, plan, principal)

    def _bind_plan(self, key: Any, plan: Plan, principal: Principal) -> BoundPlan:
        # Plans are cached per policy context, which includes the name: one principal per plan.
        bound = self.executor.bind(plan, principal)
        self.plans.put(key, bound)
        return bound

    def _plan(self, statement: Statement, sql: str, principal: Principal, parameters: list[Any],
              default_schema: str | None, dialect: str, cancel: CancelScope | None = None) -> Plan:
        state = self.catalogs.state  # one load: a reload swaps catalog and connectors together
        context = PlanningContext(catalog=state.catalog, connectors=state.connectors, dialect=dialect,
                                  default_schema=default_schema, cancel=cancel,
                                  deadline=cancel.deadline if cancel is not None else None)
        context = self.system_schemas.bind(context, principal)  # this principal's discovery rows
        try:
            plan = plan_statement(statement, sql, principal, context, parameters)
        except UnknownColumn as error:
            raise self._vanished(error) from None
        self.contracts.check_plan(plan, principal)  # an enforced contract's drifting table is refused, not served
        return plan

    def _vanished(self, error: UnknownColumn) -> UnknownColumn:
        """``error``, naming the product, table and column when an engine refresh lost that column."""
        found = self.catalogs.vanished_tables(error.name)
        if not found:
            return error
        product, table, fate = found[0]
        named = next((t for t in self.catalog.all_tables()
                      if t.product.lower() == product and t.name.lower() == table), None)
        where = named.qualified_name if named is not None else f"{product}.{table}"
        return UnknownColumn(error.name, where, hint=f"the engine of product {where.split('.')[0]} no longer has "
                             f"column {error.name} in table {where} ({fate})")

    # -- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self.schema_refresher.stop()
        self.statistics_refresher.stop()
        self.contracts.stop()
        self.executor.close()
        self.privacy.close()
        self.tracker.close()
        for retired in self._retired:
            _close_all(retired)
        _close_all(self.connectors)
        self.audit.close()

    def _close_engines(self, connectors: dict[str, Connector]) -> None:
        """Close the connectors of a mesh that was not opened (the shared system schemas stay)."""
        _close_all({name: connector for name, connector in connectors.items()
                    if connector is not self.system_schemas.connectors.get(name)})

    def __enter__(self) -> MeshRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_all(connectors: dict[str, Connector]) -> None:
    for connector in connectors.values():
        try:
            connector.close()
        except Exception:
            log.exception("closing a connector failed")
