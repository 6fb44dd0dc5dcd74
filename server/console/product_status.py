"""What the catalog page shows about one product beside its tables, for the viewer: its data
contract (``mesh.contracts``), the latest result of each contract check (``mesh.quality``) and, for
a product the viewer reads in privacy mode, the remaining budget and when it resets
(``mesh.privacy_budget``).

The rows are those producers' own, computed for the viewer as a query of those tables would be
(``governance.discovery``): a product the viewer may not read has none, a check over a column
denied to them is absent, a measure that would tell how many rows a row filter hides is NULL. The
runtime's contract monitor and privacy ledger feed them exactly as they feed the SQL tables.

Each part is read on its own, so a failure of one (the state store holding the ledger is down, a
contract report cannot be built) is shown in its place while the others, and the rest of the
page, still work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from flightmesh.executor.system_schemas import SystemSchemas
from flightmesh.governance.discovery import discovery_tables
from flightmesh.mesh import Principal

from ..runtime import Runtime

__all__ = ["mesh_tables", "product_status"]

# (the part's name in the answer, the mesh table it is read from)
_PARTS = (("contracts", "contracts"), ("quality", "quality"), ("privacy", "privacy_budget"))


def mesh_tables(runtime: Runtime, principal: Principal) -> dict[str, Callable[[], pa.Table]]:
    """``principal``'s producers of the ``mesh`` tables, fed by the runtime's contract monitor and
    privacy ledger when it has them (a runtime without, e.g. another embedding: no contracts, no spending)."""
    schemas = getattr(runtime, "system_schemas", None)
    if isinstance(schemas, SystemSchemas):
        return discovery_tables("mesh", runtime.catalog, principal, schemas.contract_reports,
                                schemas.privacy_budgets)
    return discovery_tables("mesh", runtime.catalog, principal)


def product_status(runtime: Runtime, principal: Principal, product: str,
                   failed: Callable[[BaseException], dict[str, Any]],
                   plain: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """``{"contracts": [...], "quality": [...], "privacy": {...} | None}`` for ``product``; a part
    that could not be read is ``{"error": ...}`` as ``failed`` words it."""
    tables = mesh_tables(runtime, principal)
    answer: dict[str, Any] = {"product": product}
    for part, table in _PARTS:
        try:
            rows = [plain(row) for row in tables[table]().to_pylist() if row["product"] == product]
        except Exception as error:
            answer[part] = failed(error)
            continue
        answer[part] = (rows[0] if rows else None) if part == "privacy" else rows
    return answer
