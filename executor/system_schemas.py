"""The discovery schemas at run time: ``mesh`` and ``information_schema`` bound per principal and plan.

The seam: the rows of a discovery table depend on who asks, while a connector is shared by every
query. So the runtime holds one *unbound* virtual connector per discovery schema — it describes
the tables (the catalog is built from it) but refuses to run — and each plan gets, in its
``PlanningContext``, connectors bound to that plan's catalog and principal, whose snapshot
functions compute the principal's rows when a fragment runs (``governance.discovery``).

Why this cannot leak: a bound connector lives inside the plan it was planned with, and plans are
cached under the principal's policy context (its name, roles and attributes) and the catalog
version — a cached plan, and so its connector, is only ever run for the principal it was planned
for, over the catalog it was planned against. Rows are produced at execution, never cached, and
only for the tables a fragment reads. A plan restored from its serialized form resolves the
runtime's unbound connectors, which refuse instead of answering for nobody in particular.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import pyarrow as pa

from flightmesh.connectors import Connector, FragmentQuery
from flightmesh.connectors.virtual import VirtualConnector
from flightmesh.governance.contract_tables import ContractReport
from flightmesh.governance.discovery import MESH_TABLES, discovery_tables, system_products
from flightmesh.governance.information_schema import INFORMATION_SCHEMA_TABLES
from flightmesh.governance.privacy_tables import BudgetLookup
from flightmesh.mesh import CancelScope, Catalog, Principal, ProductSpec, QueryError
from flightmesh.planner import PlanningContext

__all__ = ["SystemSchemas"]


class _Unbound(VirtualConnector):
    """Describes the discovery tables (empty) for the catalog; never runs a fragment."""

    def execute(self, query: FragmentQuery, cancel: CancelScope) -> pa.RecordBatchReader:
        raise QueryError(f"the {self.product} tables are computed per principal; this plan was not bound to one")


class SystemSchemas:
    """The discovery products and their connectors; ``bind`` adds a principal's to a planning context."""

    def __init__(self) -> None:
        self.products: list[ProductSpec] = system_products()
        shapes = {"mesh": MESH_TABLES, "information_schema": INFORMATION_SCHEMA_TABLES}
        self.connectors: dict[str, VirtualConnector] = {
            name: _Unbound(name, {t.name: _empty(t.schema) for t in tables}) for name, tables in shapes.items()
        }
        # The operations schema's connectors for a principal (flightmesh.queries ...); the runtime sets them.
        self.operations: Callable[[Principal], dict[str, Connector]] | None = None
        # The data contracts' outcome (mesh.contracts, mesh.quality); the runtime sets its monitor's.
        self.contract_reports: Callable[[], list[ContractReport]] = list
        # mesh.privacy_budget's ledger look-up; the runtime sets its privacy gate's.
        self.privacy_budgets: BudgetLookup | None = None

    def bound(self, catalog: Catalog, principal: Principal) -> dict[str, Connector]:
        """Connectors serving ``principal``'s rows of ``catalog``, on the shared private DuckDB."""
        return {name: connector.with_tables(discovery_tables(name, catalog, principal, self.contract_reports,
                                                             self.privacy_budgets))
                for name, connector in self.connectors.items()}

    def bind(self, context: PlanningContext, principal: Principal) -> PlanningContext:
        connectors: Mapping[str, Connector] = {**context.connectors, **self.bound(context.catalog, principal),
                                               **(self.operations(principal) if self.operations else {})}
        return replace(context, connectors=connectors)


def _empty(schema: pa.Schema) -> Callable[[], pa.Table]:
    return lambda: schema.empty_table()
