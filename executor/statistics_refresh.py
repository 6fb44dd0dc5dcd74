"""The statistics schedule: every ``settings.statistics_refresh_seconds`` the engines' statistics
are read again (``connectors/*_stats.py``) and swapped into the catalog, on a background thread
(``SchemaRefresher`` runs it, named "statistics refresh").

Queries never wait for it: they plan with the statistics already in the catalog. A new catalog
(and so a cleared plan cache) comes only from a change that could move a plan: a row count or a
distinct count off by more than ``_FACTOR``, a range bound or NULL fraction that moved, or a
statistic that appeared or vanished. Sampled estimates wobble at every ANALYZE; plans should not.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from flightmesh.connectors import RefreshableStatistics
from flightmesh.connectors.stats import CachedTableStatistics, HasTableStatistics
from flightmesh.mesh import CatalogTable, EngineError
from flightmesh.mesh.statistics import ColumnStatistics, TableStatistics

from .catalog_state import CatalogState

__all__ = ["material_change", "refresh_statistics"]

log = logging.getLogger(__name__)

_FACTOR = 1.5


def refresh_statistics(state: CatalogState) -> list[str]:
    """Read every product's statistics again; the products whose catalog entry changed."""
    changed = []
    catalog = state.catalog
    for product, spec in state.spec.products.items():
        connector = state.connectors.get(product)
        if connector is None or spec.engine.kind == "virtual" or product in catalog.unavailable:
            continue
        if isinstance(connector, RefreshableStatistics):
            connector.refresh_statistics()
        elif isinstance(connector, CachedTableStatistics):
            connector.forget_table_statistics()
        tables = {table.name: table for table in catalog.all_tables() if table.product == product}
        fresh: dict[str, CatalogTable] = {}
        for name, table in tables.items():
            try:
                rows = connector.estimate_rows(table.spec.source)
                statistics = connector.table_statistics(table.spec.source, table.schema) \
                    if isinstance(connector, HasTableStatistics) else None
            except EngineError as error:
                log.info("product %s: statistics of %s not refreshed: %s", product, name, error)
                rows, statistics = table.row_estimate, table.statistics
            except Exception:
                log.exception("product %s: refreshing the statistics of %s failed", product, name)
                rows, statistics = table.row_estimate, table.statistics
            fresh[name] = replace(table, row_estimate=rows, statistics=statistics)
        if any(material_change(tables[name], fresh[name]) for name in tables) \
                and state.update_statistics(product, fresh):
            changed.append(product)
    return changed


def material_change(old: CatalogTable, new: CatalogTable) -> bool:
    """Could the new statistics move a plan? (See the module docstring.)"""
    if _count_moved(old.row_estimate, new.row_estimate):
        return True
    before, after = old.statistics or TableStatistics(), new.statistics or TableStatistics()
    if _count_moved(before.rows, after.rows) or set(before.columns) != set(after.columns):
        return True
    return any(_column_moved(before.columns[name], after.columns[name]) for name in after.columns)


def _column_moved(old: ColumnStatistics, new: ColumnStatistics) -> bool:
    if _count_moved(old.distinct, new.distinct) or old.min != new.min or old.max != new.max:
        return True
    if (old.null_fraction is None) != (new.null_fraction is None):
        return True
    return old.null_fraction is not None and new.null_fraction is not None \
        and abs(old.null_fraction - new.null_fraction) > 0.05


def _count_moved(old: int | None, new: int | None) -> bool:
    if old is None or new is None:
        return old != new
    low, high = sorted((max(old, 1), max(new, 1)))
    return high > low * _FACTOR
