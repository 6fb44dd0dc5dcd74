"""The catalog: the mesh as the planner sees it, with each table's Arrow schema.

A ``Catalog`` is immutable. It is built from a ``MeshSpec`` plus the schemas the products'
engines reported; when an engine comes back or a table changes, a new catalog with a higher
``version`` replaces the old one (plans are cached per version).

Visibility is deny-by-default: a product is visible to a principal only through one of its
``access.read`` roles, and an invisible table is reported exactly like a missing one. The
exception is flightmesh's discovery schemas (``mesh``, ``information_schema``: ``access.public``),
which every principal may name; they are not data products, so ``products_for`` and
``tables_for`` (what a principal may read, and unqualified names) leave them out, and their rows
are filtered per principal where they are produced (``governance.discovery``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from .constraints import TableKeys
from .descriptor import ColumnSpec, MeshSpec, ProductSpec, TableSpec
from .errors import EngineUnavailable, UnknownTable
from .principal import Principal
from .statistics import ColumnStatistics, TableStatistics

__all__ = ["Catalog", "CatalogTable"]


@dataclass(frozen=True)
class CatalogTable:
    """One output table of one product, as its engine reports it."""

    product: str                     # product name as written in the descriptor
    name: str                        # table name as written in the descriptor
    spec: TableSpec
    schema: pa.Schema                # field names exactly as the engine spells them
    row_estimate: int | None = None
    columns: Mapping[str, ColumnSpec] = field(default_factory=dict)  # descriptor column specs (tags)
    keys: TableKeys = field(default_factory=TableKeys)  # declared, else the engine's (mesh.constraints)
    # The engine's statistics, read when the catalog is built and on the statistics schedule
    # (``statistics_refresh_seconds``); None when the engine keeps none.
    statistics: TableStatistics | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.product}.{self.name}"

    def field_named(self, name: str) -> pa.Field | None:
        """Case-insensitive column lookup, as SQL resolves unquoted names."""
        lowered = name.lower()
        for item in self.schema:
            if item.name.lower() == lowered:
                return item
        return None

    def column_statistics(self, column: str) -> ColumnStatistics | None:
        return self.statistics.column(column) if self.statistics is not None else None

    def tags_of(self, column: str) -> tuple[str, ...]:
        lowered = column.lower()
        for name, spec in self.columns.items():
            if name.lower() == lowered:
                return spec.tags
        return ()


class Catalog:
    def __init__(
        self,
        spec: MeshSpec,
        tables: Mapping[str, Mapping[str, CatalogTable]],
        unavailable: Mapping[str, str] | None = None,
        version: int = 1,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.version = version
        self._tables = {product: dict(by_name) for product, by_name in tables.items()}
        self.unavailable = dict(unavailable or {})
        self._products_by_lower = {name.lower(): product for name, product in spec.products.items()}

    # -- products ------------------------------------------------------------------------------

    def products_for(self, principal: Principal) -> list[ProductSpec]:
        """Data products the principal may read, in descriptor order (public schemas excluded)."""
        return [p for p in self.spec.products.values() if _grants(p, principal)]

    def product(self, name: str, principal: Principal) -> ProductSpec | None:
        """The product called ``name`` (case-insensitive) if the principal may read it."""
        product = self._products_by_lower.get(name.lower())
        if product is None or not (product.access.public or _grants(product, principal)):
            return None
        return product

    # -- tables --------------------------------------------------------------------------------

    def lookup(self, product: str, table: str, principal: Principal) -> CatalogTable:
        """Resolve ``product.table`` for ``principal``; raise UnknownTable if missing or not granted.

        A granted product whose engine was unreachable at the last refresh raises
        EngineUnavailable: the principal may know the product exists, so naming it leaks nothing.
        """
        spec = self.product(product, principal)
        if spec is None:
            raise UnknownTable(f"{product}.{table}")
        if spec.name in self.unavailable:
            if any(name.lower() == table.lower() for name in spec.tables):
                raise EngineUnavailable(spec.name, self.unavailable[spec.name])
            raise UnknownTable(f"{product}.{table}")
        for name, entry in self._tables.get(spec.name, {}).items():
            if name.lower() == table.lower():
                return entry
        raise UnknownTable(f"{product}.{table}")

    def tables_for(self, principal: Principal) -> Iterator[CatalogTable]:
        """Every table the principal may read, in descriptor order."""
        for product in self.products_for(principal):
            yield from self._tables.get(product.name, {}).values()

    def all_tables(self) -> Iterator[CatalogTable]:
        for by_name in self._tables.values():
            yield from by_name.values()

    def replaced(
        self,
        product: str,
        tables: Mapping[str, CatalogTable] | None,
        unavailable: str | None = None,
    ) -> Catalog:
        """A new catalog (version + 1) with one product's tables or availability changed."""
        new_tables = dict(self._tables)
        new_unavailable = dict(self.unavailable)
        if unavailable is not None:
            new_unavailable[product] = unavailable
        else:
            new_unavailable.pop(product, None)
            new_tables[product] = dict(tables or {})
        return Catalog(self.spec, new_tables, new_unavailable, self.version + 1)


def _grants(product: ProductSpec, principal: Principal) -> bool:
    """Reads the product: fully (``access.read``) or in its privacy mode only (``privacy.for``,
    where the planner lets through only the aggregates that mode allows: governance.privacy)."""
    privacy = product.privacy
    return principal.has_any(product.access.read) or (privacy is not None and principal.has_any(privacy.for_roles))
