"""Reading a table's declared keys: ``primary_key`` and ``foreign_keys``.

```yaml
tables:
  orders:
    primary_key: [order_id]
    foreign_keys:
      - {columns: [customer_id], references: {table: crm.customers, columns: [customer_id]}}
```

What the descriptor alone can tell is checked here (shapes, equal column counts, the referenced
product and table exist); whether the columns exist is known only from the engines' schemas and
is checked when the mesh opens (``mesh.constraints.check_keys``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .specs import ForeignKeySpec, ProductSpec
from .yaml_reader import YamlReader
from .yaml_source import LocatedDict

__all__ = ["KeysReader"]


class KeysReader(YamlReader):
    """``primary_key`` / ``foreign_keys`` of one table entry, and the references across products."""

    def table_keys(
        self, table: LocatedDict, tpath: str
    ) -> tuple[tuple[str, ...] | None, tuple[ForeignKeySpec, ...] | None]:
        product = tpath.split(".")[1]  # tpath is products.<product>.tables.<table>; names are identifiers
        primary_key = None
        if "primary_key" in table:
            primary_key = self.key_columns(table, "primary_key", f"{tpath}.primary_key")
        foreign_keys = None
        if "foreign_keys" in table:
            entries = []
            for item, ipath in self.items(table, "foreign_keys", tpath, {"columns", "references"}):
                entry = self.foreign_key(item, ipath, product)
                if entry is not None:
                    entries.append(entry)
            foreign_keys = tuple(entries)
        return primary_key, foreign_keys

    def key_columns(self, node: LocatedDict, key: str, path: str) -> tuple[str, ...]:
        columns = self.names(node, key, path)
        if columns is None:
            if node.get(key) is None:  # absent or empty; a wrong kind was reported by names()
                self.problem(self.at(node, key, path), "expected a list of column names")
            return ()
        if not columns:
            self.problem(self.at(node, key, path), "expected at least one column")
        lowered = [column.lower() for column in columns]
        if len(set(lowered)) != len(lowered):
            self.problem(self.at(node, key, path), "a column is listed twice")
        return columns

    def foreign_key(self, item: LocatedDict, path: str, product: str) -> ForeignKeySpec | None:
        columns = self.key_columns(item, "columns", f"{path}.columns")
        references = self.mapping(item, "references", f"{path}.references", required=True)
        if references is None:
            return None
        rpath = f"{path}.references"
        self.only_keys(references, {"table", "columns"}, rpath)
        target = self.string(references, "table", f"{rpath}.table", required=True)
        referenced = self.key_columns(references, "columns", f"{rpath}.columns")
        if target is None or not columns or not referenced:
            return None
        if len(columns) != len(referenced):
            self.problem(self.at(references, "columns", f"{rpath}.columns"),
                         f"expected {len(columns)} column(s), as many as the key's columns")
            return None
        parts = target.split(".")
        if len(parts) > 2 or not all(parts):
            self.problem(self.at(references, "table", f"{rpath}.table"),
                         f"expected product.table or a table of this product, got {target!r}")
            return None
        target_product, target_table = (product, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        return ForeignKeySpec(columns, target_product, target_table, referenced,
                              origin=self.at(references, "table", f"{rpath}.table"))

    def check_references(self, products: Mapping[str, ProductSpec]) -> None:
        """Every ``references.table`` names a declared table (case-insensitive, as SQL names)."""
        by_lower = {name.lower(): product for name, product in products.items()}
        for product in products.values():
            for table in product.tables.values():
                for key in table.foreign_keys or ():
                    target = by_lower.get(key.product.lower())
                    if target is None:
                        self.problem(key.origin, f"no product {key.product!r} in the mesh")
                    elif not any(name.lower() == key.table.lower() for name in target.tables):
                        self.problem(key.origin, f"no table {key.table!r} in product {target.name}")
