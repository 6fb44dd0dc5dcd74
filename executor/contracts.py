"""Data contracts at run time: drift against the engines' schemas, quality checks on a schedule.

``ContractMonitor`` watches the mesh the runtime serves (one ``MeshState`` getter, so a reload
is followed without telling it):

* **Drift** is a function of the catalog (the engines' schemas as last described) and the
  contracts: computed once per catalog, so at open, after every schema refresh that changed a
  schema (a new catalog), and after a reload. New drift is logged as a warning. ``check_plan``
  refuses a plan reading a drifting table of an enforced contract (``ContractViolation``, a
  QueryError naming product, table and what drifted); plans are cached per catalog version, so a
  cached plan was checked against the same drift.
* **Quality rules and latency SLAs** run inside the product's engine (``executor.contract_checks``)
  every ``settings.contract_check_seconds`` on a thread of their own, and on demand (``check``,
  which the admin action ``refresh`` calls after describing the engines again). A rule's last
  result is kept while the rule stays the same across reloads; a changed rule is pending again.
* ``reports()`` gives what ``mesh.contracts`` and ``mesh.quality`` show (``governance.contract_tables``).
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

import pyarrow as pa

from flightmesh.connectors import Connector
from flightmesh.governance.contract_tables import ContractReport, RuleResult, drift_for
from flightmesh.mesh import Catalog, CatalogTable, EngineError, FlightmeshError, MeshSpec, Principal, ProductSpec
from flightmesh.mesh.contract_drift import Drift, table_drift
from flightmesh.mesh.contract_model import FreshnessRule, QualityRule
from flightmesh.mesh.contracts import ContractViolation, column_specs
from flightmesh.planner import Plan

from .contract_checks import (
    ContractRuleError,
    compile_freshness,
    compile_rule,
    measure,
    measure_freshness,
)
from .schema_refresh import SchemaRefresher

__all__ = ["ContractMonitor", "contract_problems", "with_contract_columns"]

log = logging.getLogger(__name__)

Rule = QualityRule | FreshnessRule
DriftMap = dict[str, dict[str, tuple[Drift, ...] | None]]   # product -> contract table -> drift


def contract_problems(spec: MeshSpec, connectors: Mapping[str, Connector]) -> list[str]:
    """Descriptor problems of the contracts' SQL rules (they must read only their product, in the
    closed language), found when the mesh opens or reloads, before anything is served."""
    problems = []
    for product in spec.products.values():
        contract, connector = product.contract, connectors.get(product.name)
        if contract is None or connector is None:
            continue
        for rule in contract.quality:
            if rule.kind != "sql":
                continue
            try:
                compile_rule(rule, product, {}, connector, spec.sql_dialect, spec.settings.max_generated_values)
            except ContractRuleError as error:
                problems.append(f"{rule.origin}: the contract's SQL rule is refused: {error}")
    return problems


def with_contract_columns(spec: MeshSpec, product: str, tables: Mapping[str, CatalogTable]) -> dict[str, CatalogTable]:
    """``tables`` (one product's, as described) with its contract's column descriptions, tags and
    classifications (``mesh.contracts.column_specs``): discovery shows them, tag rules mask by them."""
    contract = spec.products[product].contract if product in spec.products else None
    if contract is None:
        return dict(tables)
    protective = {rule.tag for rule in spec.tag_masks}
    return {name: replace(table, columns=column_specs(contract, name, table.columns, table.schema.names, protective))
            for name, table in tables.items()}


class ContractMonitor:
    def __init__(self, catalog: Callable[[], Catalog], connectors: Callable[[], Mapping[str, Connector]],
                 interval: float) -> None:
        self._catalog = catalog
        self._connectors = connectors
        self._lock = threading.Lock()
        self._checking = threading.Lock()          # one round of checks at a time
        self._drift: tuple[Catalog, DriftMap, datetime.datetime] | None = None
        self._results: dict[tuple[str, str], tuple[Rule, RuleResult]] = {}   # (product, rule key)
        self.scheduler = SchemaRefresher(self.check_all, interval, name="contract checks")
        for product in catalog().spec.products.values():
            if product.contract is None:
                continue
            for entry in product.contract.not_evaluated:
                log.info("product %s: data contract %s: %s", product.name, product.contract.file, entry)
        self.drift()  # at open: logged, and enforced from the first query
        self.scheduler.start()

    # -- drift -----------------------------------------------------------------------------------

    def drift(self) -> DriftMap:
        catalog = self._catalog()
        known = self._drift
        if known is not None and known[0] is catalog:
            return known[1]
        found: DriftMap = {}
        for product in catalog.spec.products.values():
            if product.contract is None:
                continue
            dialect = self._dialect(product.name)
            tables = {t.name: t for t in catalog.all_tables() if t.product == product.name}
            found[product.name] = {
                promised.name: None if product.name in catalog.unavailable
                else tuple(table_drift(promised, tables.get(promised.name), dialect))
                for promised in product.contract.tables
            }
        with self._lock:
            previous = self._drift[1] if self._drift is not None else {}
            self._drift = (catalog, found, _now())
        for name, by_table in found.items():
            for table, drift in by_table.items():
                if drift and previous.get(name, {}).get(table) != drift:
                    enforced = catalog.spec.products[name].contract
                    log.warning("product %s: table %s drifts from its data contract%s: %s", name, table,
                                " (enforced: refused)" if enforced and enforced.enforce else "",
                                "; ".join(item.text for item in drift))
        return found

    def warnings(self) -> list[str]:
        """The drift found, as ``flightmesh check`` prints it."""
        catalog = self._catalog()
        lines = []
        for product, by_table in self.drift().items():
            contract = catalog.spec.products[product].contract
            assert contract is not None
            for table, drift in by_table.items():
                if drift:
                    lines.append(f"{contract.file}: product {product}, table {table} drifts from the contract"
                                 f"{' (enforced: refused)' if contract.enforce else ''}: "
                                 + "; ".join(item.text for item in drift))
        return lines

    def check_plan(self, plan: Plan, principal: Principal) -> None:
        """Refuse ``plan`` if it reads a drifting table of an enforced contract; the error names only
        the differences in columns ``principal`` may see."""
        catalog = self._catalog()
        drift = self.drift()
        for fragment in plan.fragments:
            for name in fragment.tables:
                product, _, table = name.partition(".")
                spec = catalog.spec.products.get(product)
                if spec is None or spec.contract is None or not spec.contract.enforce:
                    continue
                found = drift.get(product, {}).get(table)
                if found:
                    told = drift_for(catalog, principal, product, table, found)
                    raise ContractViolation(product, table, [item.text for item in told]
                                            or ["its schema differs from the contract"])

    # -- quality rules and SLAs ------------------------------------------------------------------------

    def check_all(self) -> list[str]:
        """Check every contract's rules; the products checked (for the scheduler's log)."""
        catalog = self._catalog()
        return [name for name, product in catalog.spec.products.items()
                if product.contract is not None and self.check(name)]

    def check(self, product: str) -> bool:
        """Run ``product``'s rules in its engine now; False when it has no contract or is unavailable."""
        catalog, connectors = self._catalog(), self._connectors()
        spec = catalog.spec.products.get(product)
        connector = connectors.get(product)
        if spec is None or spec.contract is None or connector is None or product in catalog.unavailable:
            return False
        self.drift()
        tables = {t.name: t for t in catalog.all_tables() if t.product == product}
        timeout = catalog.spec.settings.fragment_timeout_seconds
        with self._checking:
            rules: tuple[Rule, ...] = (*spec.contract.quality, *spec.contract.freshness)
            for rule in rules:
                result = self._run(rule, spec, catalog, tables, connector, timeout)
                with self._lock:
                    self._results[(product, rule.key)] = (rule, result)
                if result.status == "fail":
                    log.warning("product %s: contract rule %s failed: %s", product, rule.name, result.detail)
        return True

    def _run(self, rule: Rule, product: ProductSpec, catalog: Catalog, tables: Mapping[str, CatalogTable],
             connector: Connector, timeout: float) -> RuleResult:
        pending = _pending(rule)
        try:
            if isinstance(rule, FreshnessRule):
                tree = compile_freshness(rule, product, tables, connector)
                field = tables[rule.table].field_named(rule.column)
                kind = field.type if field is not None else pa.timestamp("us")
                measured = measure_freshness(rule, tree, connector, timeout, _now(), kind)
            else:
                tree = compile_rule(rule, product, tables, connector, catalog.spec.sql_dialect,
                                    catalog.spec.settings.max_generated_values)
                measured = measure(rule, tree, connector, timeout)
        except ContractRuleError as error:
            return replace(pending, status="error", detail=str(error), checked_at=_now())
        except FlightmeshError as error:
            if isinstance(error, EngineError):
                log.warning("product %s: contract rule %s could not run: %s", product.name, rule.name,
                            error.internal or error.detail)
                detail = error.detail
            else:
                detail = str(error)
            return replace(pending, status="error", detail=f"could not be measured: {detail}", checked_at=_now())
        return replace(pending, status="pass" if measured.passed else "fail", measured=measured.value,
                       detail=measured.detail, checked_at=_now())

    def reports(self) -> list[ContractReport]:
        catalog = self._catalog()
        drift = self.drift()
        checked_at = self._drift[2] if self._drift is not None else _now()
        with self._lock:
            results = dict(self._results)
        reports = []
        for name, product in catalog.spec.products.items():
            contract = product.contract
            if contract is None:
                continue
            rows = []
            rules: tuple[Rule, ...] = (*contract.quality, *contract.freshness)
            for rule in rules:
                kept = results.get((name, rule.key))
                rows.append(kept[1] if kept is not None and kept[0] == rule else _pending(rule))
            reports.append(ContractReport(product=name, contract=contract, drift=drift.get(name, {}),
                                          drift_checked_at=checked_at, results=tuple(rows)))
        return reports

    def _dialect(self, product: str) -> str:
        connector = self._connectors().get(product)
        return connector.capabilities.dialect if connector is not None else "duckdb"

    def stop(self) -> None:
        self.scheduler.stop()


def _pending(rule: Rule) -> RuleResult:
    if isinstance(rule, FreshnessRule):
        return RuleResult(table=rule.table, column=rule.column, rule=rule.name, kind="latency",
                          threshold=f"newest value at most {rule.written} old", status="pending",
                          dimension="timeliness", detail="not checked yet")
    return RuleResult(table=rule.table, column=rule.column, rule=rule.name, kind=rule.kind,
                      threshold=rule.threshold.text() + (" percent" if rule.unit == "percent" else ""),
                      status="pending", dimension=rule.dimension, severity=rule.severity, detail="not checked yet",
                      columns=rule.columns)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
