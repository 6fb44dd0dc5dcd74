"""What the discovery tables share: their declared shape, and the tables a principal may read.

``readable_tables`` is the one place the discovery schemas (``governance.discovery``,
``governance.information_schema``) ask what a principal may see: the catalog's visibility, then
the table's policy — denied columns gone, masked ones flagged, as ``visible_schema`` types them for
GetTables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa

from flightmesh.mesh import Catalog, CatalogTable, Principal

from .policies import PolicyError, TablePolicy, policy_for, visible_schema

__all__ = ["Readable", "Rows", "SystemTable", "column_description", "joined", "readable_tables"]

# A discovery table's rows for one principal, as dicts keyed by column name.
Rows = Callable[[Catalog, Principal], Iterator[dict[str, object]]]


@dataclass(frozen=True)
class SystemTable:
    """One discovery table: its columns (name, type, description) and what it holds."""

    name: str
    description: str
    columns: tuple[tuple[str, pa.DataType, str], ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, kind) for name, kind, _ in self.columns])


# -- what a principal may see ----------------------------------------------------------------------


@dataclass(frozen=True)
class Readable:
    """One table as ``principal`` may read it: its policy and visible columns (masked or not)."""

    table: CatalogTable
    policy: TablePolicy
    columns: tuple[tuple[pa.Field, bool], ...]   # visible field (as typed for the principal), masked


def readable_tables(catalog: Catalog, principal: Principal, *, system: bool = False) -> Iterator[Readable]:
    """The tables ``principal`` may read, in descriptor order; with ``system``, the public schemas' too.

    A table whose policy cannot be applied is skipped: it is served to nobody.
    """
    tables = list(catalog.tables_for(principal))
    if system:
        tables += [t for t in catalog.all_tables() if catalog.spec.products[t.product].access.public]
    for table in tables:
        try:
            policy = policy_for(table, principal, catalog.spec)
        except PolicyError:
            continue
        masked = {name for name, mask in policy.columns if mask is not None}
        visible = visible_schema(table, principal, catalog.spec)
        yield Readable(table, policy, tuple((field, field.name in masked) for field in visible))


def joined(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(items)


def column_description(table: CatalogTable, column: str) -> str | None:
    lowered = column.lower()
    for name, spec in table.columns.items():
        if name.lower() == lowered:
            return spec.description or None
    return None


