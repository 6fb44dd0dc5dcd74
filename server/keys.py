"""GetPrimaryKeys, GetImportedKeys, GetExportedKeys, GetCrossReference for one principal.

Answered from the keys the catalog holds (``CatalogTable.keys``: declared in the descriptor or
read from the engine when the catalog was built); no engine is asked here. What the principal
may not see is left out as if it did not exist: a key of a table it may not read, a foreign key
into (or out of) such a table, and any key with a column its policies deny (a partial
composite key would misstate the key, so the whole key goes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from flightmesh.governance import visible_schema
from flightmesh.mesh import Catalog, CatalogTable, Principal
from flightmesh.mesh.constraints import ForeignKey

from . import schemas
from .proto import FlightSql_pb2 as sql

__all__ = ["KeyService"]

KeyCommand = (sql.CommandGetPrimaryKeys | sql.CommandGetImportedKeys | sql.CommandGetExportedKeys
              | sql.CommandGetCrossReference)


class KeyService:
    """The four key commands over one catalog and principal."""

    def answer(self, catalog: Catalog, principal: Principal, command: KeyCommand) -> pa.RecordBatch:
        view = _View(catalog, principal)
        if isinstance(command, sql.CommandGetPrimaryKeys):
            return _rows(schemas.PRIMARY_KEYS, view.primary_keys(command))
        if isinstance(command, sql.CommandGetImportedKeys):
            found = [(table, key) for table in view.tables(command.catalog if command.HasField("catalog") else None,
                                                           command.db_schema if command.HasField("db_schema") else None,
                                                           command.table)
                     for key in view.foreign_keys(table)]
            return _rows(schemas.IMPORTED_KEYS, view.key_rows(found, order="pk"))
        if isinstance(command, sql.CommandGetExportedKeys):
            targets = {(t.product.lower(), t.name.lower()) for t in view.tables(
                command.catalog if command.HasField("catalog") else None,
                command.db_schema if command.HasField("db_schema") else None, command.table)}
            found = [(table, key) for table in view.visible for key in view.foreign_keys(table)
                     if (key.product.lower(), key.table.lower()) in targets]
            return _rows(schemas.EXPORTED_KEYS, view.key_rows(found, order="fk"))
        targets = {(t.product.lower(), t.name.lower()) for t in view.tables(
            command.pk_catalog if command.HasField("pk_catalog") else None,
            command.pk_db_schema if command.HasField("pk_db_schema") else None, command.pk_table)}
        found = [(table, key) for table in view.tables(
                     command.fk_catalog if command.HasField("fk_catalog") else None,
                     command.fk_db_schema if command.HasField("fk_db_schema") else None, command.fk_table)
                 for key in view.foreign_keys(table) if (key.product.lower(), key.table.lower()) in targets]
        return _rows(schemas.CROSS_REFERENCE, view.key_rows(found, order="fk"))


class _View:
    """The catalog's tables as one principal sees them, with each one's visible column names."""

    def __init__(self, catalog: Catalog, principal: Principal) -> None:
        self.catalog = catalog
        self.visible = list(catalog.tables_for(principal))
        self._columns = {
            (table.product.lower(), table.name.lower()):
                {name.lower() for name in visible_schema(table, principal, catalog.spec).names}
            for table in self.visible
        }

    def tables(self, catalog: str | None, schema: str | None, table: str) -> list[CatalogTable]:
        # Absent catalog or schema: any. Names compare without case, as SQL compares them.
        if catalog is not None and catalog.lower() != self.catalog.name.lower():
            return []
        return [t for t in self.visible if t.name.lower() == table.lower()
                and (schema is None or t.product.lower() == schema.lower())]

    def shows(self, product: str, table: str, columns: tuple[str, ...]) -> bool:
        visible = self._columns.get((product.lower(), table.lower()))
        return visible is not None and all(column.lower() in visible for column in columns)

    def foreign_keys(self, table: CatalogTable) -> list[ForeignKey]:
        return [key for key in table.keys.foreign_keys
                if self.shows(table.product, table.name, key.columns)
                and self.shows(key.product, key.table, key.references)]

    def primary_keys(self, command: sql.CommandGetPrimaryKeys) -> list[list[object]]:
        rows: list[list[object]] = []
        for table in self.tables(command.catalog if command.HasField("catalog") else None,
                                 command.db_schema if command.HasField("db_schema") else None, command.table):
            columns = table.keys.primary_key
            if not columns or not self.shows(table.product, table.name, columns):
                continue
            rows += [[self.catalog.name, table.product, table.name, self._spelled(table, column), sequence,
                      table.keys.primary_key_name] for sequence, column in enumerate(columns, start=1)]
        # The spec's order: catalog, schema, table, key name, key sequence.
        return sorted(rows, key=lambda row: (str(row[1]), str(row[2]), str(row[5] or ""), f"{row[4]:010d}"))

    def key_rows(self, found: list[tuple[CatalogTable, ForeignKey]], order: str) -> list[list[object]]:
        rows: list[list[object]] = []
        for table, key in found:
            target = self._table(key.product, key.table)
            if target is None:
                continue
            pk_name = target.keys.primary_key_name if _same(target.keys.primary_key, key.references) else None
            for sequence, (column, referenced) in enumerate(zip(key.columns, key.references, strict=True), start=1):
                rows.append([self.catalog.name, target.product, target.name, self._spelled(target, referenced),
                             self.catalog.name, table.product, table.name, self._spelled(table, column),
                             sequence, key.name, pk_name, key.update_rule, key.delete_rule])
        # Imported keys are ordered by the referenced table; exported keys and cross references
        # by the referencing one; then key name and sequence.
        def sort_key(row: list[object]) -> tuple[str, str, str, str]:
            product, name = (row[1], row[2]) if order == "pk" else (row[5], row[6])
            return (str(product), str(name), str(row[9] or ""), f"{row[8]:010d}")
        return sorted(rows, key=sort_key)

    def _table(self, product: str, table: str) -> CatalogTable | None:
        for candidate in self.visible:
            if candidate.product.lower() == product.lower() and candidate.name.lower() == table.lower():
                return candidate
        return None

    @staticmethod
    def _spelled(table: CatalogTable, column: str) -> str:
        """The column as the table's schema spells it (GetTables lists it so)."""
        field = table.field_named(column)
        return field.name if field is not None else column


def _same(left: tuple[str, ...], right: tuple[str, ...]) -> bool:
    return [c.lower() for c in left] == [c.lower() for c in right]


def _rows(schema: pa.Schema, rows: Iterator[list[object]] | list[list[object]]) -> pa.RecordBatch:
    columns: list[list[object]] = [[] for _ in schema]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return pa.RecordBatch.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)], schema=schema)
