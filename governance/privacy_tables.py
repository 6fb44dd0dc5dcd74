"""``mesh.privacy_budget``: for you, per product you read in privacy mode, what is left and when it resets.

Rows are computed when the table is read (never cached), from the ledger of the state store:
the runtime hands in ``BudgetLookup``, which answers (spent, period, resets at) for one principal
and product. A principal sees only their own budgets, and only of the products they read in
privacy mode; a full reader has no row (no budget applies to them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pyarrow as pa

from flightmesh.mesh import Catalog, Principal, ProductSpec

from .privacy import reads_in_privacy_mode
from .system_tables import SystemTable

__all__ = ["PRIVACY_BUDGET_TABLE", "BudgetLookup", "privacy_budget_rows", "privacy_summary"]

# (principal name, product) -> (epsilon spent this period, the period's key, when it resets or None)
BudgetLookup = Callable[[str, ProductSpec], tuple[float, str, datetime | None]]

_S, _F = pa.string(), pa.float64()

PRIVACY_BUDGET_TABLE = SystemTable("privacy_budget", "For you, per product you read in privacy mode: your budget", (
    ("product", _S, "the product"),
    ("epsilon_per_query", _F, "what one released query costs"),
    ("budget", _F, "epsilon per period"),
    ("per", _S, "the period: day, week, month (calendar, UTC) or total"),
    ("period", _S, "the current period (2026-12-01, 2026-W49, 2026-12, total)"),
    ("spent", _F, "epsilon spent in the current period"),
    ("remaining", _F, "epsilon left in the current period"),
    ("queries_left", pa.int64(), "released queries the remaining budget pays for"),
    ("resets_at", pa.timestamp("us", tz="UTC"), "when the next period starts (NULL: never)"),
))


def privacy_budget_rows(catalog: Catalog, principal: Principal, lookup: BudgetLookup) -> Iterator[dict[str, object]]:
    for product in catalog.products_for(principal):
        privacy = product.privacy
        if privacy is None or not reads_in_privacy_mode(product, principal):
            continue
        spent, period, resets = lookup(principal.name, product)
        remaining = max(0.0, privacy.budget_epsilon - spent)
        yield {
            "product": product.name, "epsilon_per_query": privacy.epsilon_per_query,
            "budget": privacy.budget_epsilon, "per": privacy.per, "period": period, "spent": spent,
            "remaining": remaining,
            # whole nano-epsilons, as the ledger counts, so 1.0 / 0.05 is 20 and not 19
            "queries_left": round(remaining * 1e9) // round(privacy.epsilon_per_query * 1e9),
            "resets_at": resets,
        }


def privacy_summary(product: ProductSpec, tables: int) -> str:
    """``mesh.my_access``'s sentence for a product read in privacy mode."""
    privacy = product.privacy
    assert privacy is not None
    count = f"{tables} table" + ("" if tables == 1 else "s")
    return (f"privacy mode of {count}: noisy aggregates only (COUNT, SUM, AVG), epsilon "
            f"{privacy.epsilon_per_query:g} per query of {privacy.budget_epsilon:g} per {privacy.per}; "
            "see mesh.privacy_budget")
