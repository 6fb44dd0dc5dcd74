"""``mesh.contracts`` and ``mesh.quality``: the products' data contracts and how the data meets them.

The executor checks the contracts (``executor.contracts``) and hands the outcome here as
``ContractReport`` values; this module turns them into one principal's rows:

* ``mesh.contracts`` — one row per table a contract describes: the contract's id, version,
  status and owner, whether it is enforced, and the table's schema status (``ok``, ``drift``,
  ``refused`` when enforced and drifting, ``unknown`` while the product is unavailable);
* ``mesh.quality`` — one row per check: the schema check of each table (``kind = 'schema'``),
  each quality rule and each latency SLA, with its threshold, status (``pass``, ``fail``,
  ``error``, ``pending`` before the first check), the measure and when it was taken.

Who sees what: a product's rows go to its readers (``access.read``) and to the administrators
(``auth.admin_roles``), nobody else. A reader is held to the table's policies, as in the other
discovery tables: nothing about a column denied to them (not its checks, not its drift), nothing
about a table served to nobody; and the measure of a check over a table with a row filter or a
denied column for them is NULL, since a count over every row would tell how many rows the filter
hides (pass or fail is still shown: it is the contract's promise, not the data).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import pyarrow as pa

from flightmesh.mesh import Catalog, Principal, ProductSpec
from flightmesh.mesh.contract_drift import Drift
from flightmesh.mesh.contract_model import ContractSpec

from .system_tables import SystemTable, readable_tables

__all__ = ["CONTRACT_TABLES", "ContractReport", "RuleResult", "contract_rows", "drift_for"]

_S, _I, _B, _F = pa.string(), pa.int64(), pa.bool_(), pa.float64()
_TS = pa.timestamp("us", tz="UTC")

CONTRACT_TABLES = (
    SystemTable("contracts", "One row per table a data contract describes, for the products you may read", (
        ("product", _S, "the product"),
        ("table_name", _S, "the table the contract describes"),
        ("contract_id", _S, "the contract's id"),
        ("contract_name", _S, "the contract's name"),
        ("contract_version", _S, "the contract's version"),
        ("contract_status", _S, "the contract's status (proposed, active, deprecated, ...)"),
        ("owner", _S, "the contract's owner"),
        ("enforced", _B, "true: a table that drifts from the contract is refused"),
        ("schema_status", _S, "ok, drift, refused (enforced and drifting) or unknown (product unavailable)"),
        ("drift", _S, "what differs from the contract, joined by '; ' (NULL: nothing)"),
        ("rules", _I, "quality rules and SLAs checked on the table"),
        ("failing", _I, "of those, how many failed at their last check"),
        ("checked_at", _TS, "when the rules were last checked (NULL: not yet)"),
    )),
    SystemTable("quality", "One row per contract check of the products you may read: schema, quality rules, SLAs", (
        ("product", _S, "the product"),
        ("table_name", _S, "the table checked"),
        ("column_name", _S, "the column checked (NULL: the table)"),
        ("rule", _S, "the rule's name in the contract"),
        ("kind", _S, "schema, rowCount, nullValues, missingValues, invalidValues, duplicateValues, sql or latency"),
        ("dimension", _S, "the contract's data-quality dimension"),
        ("severity", _S, "the contract's severity"),
        ("threshold", _S, "what must hold, as the contract says it"),
        ("status", _S, "pass, fail, error (could not be measured) or pending (not checked yet)"),
        ("passed", _B, "true when the check passed (NULL: not known)"),
        ("measured", _F, "the measure: a count, a percentage, an age in seconds (NULL: hidden or none)"),
        ("detail", _S, "the outcome in words"),
        ("checked_at", _TS, "when it was checked"),
    )),
)


@dataclass(frozen=True)
class RuleResult:
    """One quality rule's or SLA's last outcome."""

    table: str
    column: str | None
    rule: str
    kind: str
    threshold: str
    status: str                        # pass, fail, error, pending
    measured: float | None = None
    detail: str = ""
    dimension: str = ""
    severity: str = ""
    checked_at: datetime.datetime | None = None
    columns: tuple[str, ...] = ()      # further columns the check reads (duplicateValues over several)


@dataclass(frozen=True)
class ContractReport:
    product: str
    contract: ContractSpec
    drift: Mapping[str, tuple[Drift, ...] | None]   # per contract table; None: unknown (unavailable)
    drift_checked_at: datetime.datetime
    results: tuple[RuleResult, ...]


def contract_rows(table: str, catalog: Catalog, principal: Principal,
                  reports: Callable[[], list[ContractReport]]) -> Iterator[dict[str, object]]:
    """``principal``'s rows of ``mesh.<table>`` (contracts or quality)."""
    admin = bool(set(catalog.spec.auth.admin_roles) & principal.roles)
    views = _Views(catalog, principal, admin)
    for report in reports():
        product = catalog.spec.products.get(report.product)
        if product is None or not (admin or principal.has_any(product.access.read)):
            continue
        yield from (_contracts if table == "contracts" else _quality)(report, product, views)


class _Views:
    """What one principal may see of each table: hidden columns, and whether measures are hidden."""

    def __init__(self, catalog: Catalog, principal: Principal, admin: bool) -> None:
        self.admin = admin
        self.hidden: dict[tuple[str, str], set[str]] = {}
        self.restricted: set[tuple[str, str]] = set()
        self.readable: set[tuple[str, str]] = set()
        self.known = {(table.product, table.name) for table in catalog.all_tables()}
        if admin:
            return
        for readable in readable_tables(catalog, principal):
            key = (readable.table.product, readable.table.name)
            self.readable.add(key)
            visible = {field.name.lower() for field, _ in readable.columns}
            product = catalog.spec.products[readable.table.product]
            denied = {deny.column.lower() for deny in product.policies.deny_columns
                      if deny.table == readable.table.name and not principal.has_any(deny.except_roles)}
            self.hidden[key] = {name.lower() for name in readable.table.schema.names} - visible | denied
            if any(label.startswith(("row_filter ", "deny ")) for label in readable.policy.applied):
                self.restricted.add(key)

    def table_visible(self, product: str, table: str) -> bool:
        # Tables the engine no longer has are not in the catalog: their rows show for the product's readers.
        return self.admin or (product, table) in self.readable or (product, table) not in self.known

    def column_visible(self, product: str, table: str, column: str | None) -> bool:
        return self.admin or column is None or column.lower() not in self.hidden.get((product, table), set())

    def measure_visible(self, product: str, table: str, kind: str) -> bool:
        if kind == "sql":  # a rule's own query may read any of the product's tables and columns
            return self.admin or not any(key[0] == product for key in self.restricted)
        return self.admin or (product, table) not in self.restricted


def drift_for(catalog: Catalog, principal: Principal, product: str, table: str,
              drift: tuple[Drift, ...]) -> tuple[Drift, ...]:
    """The part of ``drift`` that ``principal`` may be told about (an error message names it)."""
    views = _Views(catalog, principal, bool(set(catalog.spec.auth.admin_roles) & principal.roles))
    return tuple(item for item in drift if views.column_visible(product, table, item.column))


def _visible_drift(report: ContractReport, table: str, views: _Views) -> tuple[Drift, ...] | None:
    drift = report.drift.get(table)
    if drift is None:
        return None
    return tuple(item for item in drift if views.column_visible(report.product, table, item.column))


def _contracts(report: ContractReport, product: ProductSpec, views: _Views) -> Iterator[dict[str, object]]:
    contract = report.contract
    for promised in contract.tables:
        if not views.table_visible(report.product, promised.name):
            continue
        drift = _visible_drift(report, promised.name, views)
        results = [r for r in report.results if r.table == promised.name
                   and views.column_visible(report.product, promised.name, r.column)]
        checked = [r.checked_at for r in results if r.checked_at is not None]
        status = "unknown" if drift is None else ("ok" if not drift else ("refused" if contract.enforce else "drift"))
        yield {
            "product": report.product, "table_name": promised.name, "contract_id": contract.id or None,
            "contract_name": contract.name or None, "contract_version": contract.version or None,
            "contract_status": contract.status or None, "owner": contract.owner or product.owner or None,
            "enforced": contract.enforce, "schema_status": status,
            "drift": "; ".join(item.text for item in drift) if drift else None,
            "rules": len(results), "failing": sum(1 for r in results if r.status == "fail"),
            "checked_at": max(checked) if checked else None,
        }


def _quality(report: ContractReport, product: ProductSpec, views: _Views) -> Iterator[dict[str, object]]:
    for promised in report.contract.tables:
        if not views.table_visible(report.product, promised.name):
            continue
        drift = _visible_drift(report, promised.name, views)
        yield {
            "product": report.product, "table_name": promised.name, "column_name": None, "rule": "schema",
            "kind": "schema", "dimension": "conformity", "severity": "error" if report.contract.enforce else None,
            "threshold": "matches the contract's schema",
            "status": "error" if drift is None else ("pass" if not drift else "fail"),
            "passed": None if drift is None else not drift, "measured": None if drift is None else float(len(drift)),
            "detail": ("the product is unavailable" if drift is None else
                       "; ".join(item.text for item in drift) or "the table matches the contract"),
            "checked_at": report.drift_checked_at,
        }
    for result in report.results:
        if not views.table_visible(report.product, result.table) or not all(
                views.column_visible(report.product, result.table, column)
                for column in (result.column, *result.columns)):
            continue
        yield {
            "product": report.product, "table_name": result.table, "column_name": result.column,
            "rule": result.rule, "kind": result.kind, "dimension": result.dimension or None,
            "severity": result.severity or None, "threshold": result.threshold, "status": result.status,
            "passed": {"pass": True, "fail": False}.get(result.status),
            "measured": result.measured if views.measure_visible(report.product, result.table, result.kind) else None,
            "detail": result.detail or None, "checked_at": result.checked_at,
        }
