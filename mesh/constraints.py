"""Primary and foreign keys of the catalog's tables, as the Flight SQL key commands report them.

A table's keys come from its descriptor entry (``primary_key``, ``foreign_keys``) or, for what
the entry does not declare, from the engine's own constraints, read once when the catalog is
built. Either way they are stated in the mesh's names: a foreign key points at a *catalog* table
(product, table), never at an engine table, so an engine key into a table no product exposes is
dropped. Keys are documentation for clients (DBeaver's diagrams, SQLAlchemy reflection).

The planner relies on one kind only: a single-column primary key the *engine* reported (not one
the descriptor declares, which nothing enforces) in an engine that enforces primary keys as
unique and NOT NULL (PostgreSQL, MariaDB/MySQL, DuckDB; not SQLite, whose keys may be NULL).
Late materialization (planner/rules/late_rows.py) takes such a key as identifying one row, so
the table's other columns depend on it. That is safe because the engine refuses any row that
would break it; a key dropped after the catalog was read is seen at the next schema refresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from .specs import ProductSpec, TableSpec

__all__ = [
    "NO_ACTION",
    "EngineConstraints",
    "EngineForeignKey",
    "ForeignKey",
    "TableKeys",
    "check_keys",
    "resolve_keys",
    "rule_code",
]

# UpdateDeleteRules of FlightSql.proto. Declared keys say NO_ACTION: the mesh is read-only and
# nothing it serves cascades.
_RULES = {"CASCADE": 0, "RESTRICT": 1, "SET NULL": 2, "NO ACTION": 3, "SET DEFAULT": 4}
NO_ACTION = _RULES["NO ACTION"]


def rule_code(rule: str | None) -> int:
    """An engine's referential action (``'SET NULL'``, ``'set_null'``, ``'a'``...) as the spec's code."""
    if not rule:
        return NO_ACTION
    return _RULES.get(rule.upper().replace("_", " ").strip(), NO_ACTION)


@dataclass(frozen=True)
class EngineForeignKey:
    """A foreign key as an engine reports it: the referenced table by the engine's name."""

    columns: tuple[str, ...]
    referenced: str                   # "customers" or "public.customers"
    referenced_columns: tuple[str, ...]
    name: str | None = None
    update_rule: int = NO_ACTION
    delete_rule: int = NO_ACTION


@dataclass(frozen=True)
class EngineConstraints:
    """What ``HasConstraints.constraints(source)`` returns."""

    primary_key: tuple[str, ...] = ()
    primary_key_name: str | None = None
    foreign_keys: tuple[EngineForeignKey, ...] = ()


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    product: str                      # the referenced catalog table
    table: str
    references: tuple[str, ...]
    name: str | None = None
    update_rule: int = NO_ACTION
    delete_rule: int = NO_ACTION
    origin: str = ""                  # where the descriptor declares it ("" when read from the engine)


@dataclass(frozen=True)
class TableKeys:
    primary_key: tuple[str, ...] = ()
    primary_key_name: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()


def resolve_keys(product: ProductSpec, table: TableSpec, engine: EngineConstraints | None) -> TableKeys:
    """``table``'s keys: what its entry declares, the engine's ``engine`` constraints for the rest."""
    engine = engine or EngineConstraints()
    if table.primary_key is not None:
        primary_key, pk_name = table.primary_key, (f"{table.name}_pkey" if table.primary_key else None)
    else:
        primary_key, pk_name = engine.primary_key, engine.primary_key_name
    if table.foreign_keys is not None:
        foreign_keys = tuple(
            ForeignKey(key.columns, _declared_product(product, key.product), key.table, key.references,
                       name=f"{table.name}_{'_'.join(key.columns)}_fkey", origin=key.origin)
            for key in table.foreign_keys
        )
    else:
        foreign_keys = tuple(_exposed(product, engine.foreign_keys))
    return TableKeys(primary_key, pk_name, foreign_keys)


def _declared_product(product: ProductSpec, name: str) -> str:
    return product.name if name.lower() == product.name.lower() else name


def _exposed(product: ProductSpec, keys: Iterable[EngineForeignKey]) -> Iterable[ForeignKey]:
    """Engine keys restated in the mesh's names; keys into tables the product does not expose go."""
    for key in keys:
        target = _table_with_source(product, key.referenced)
        if target is not None:
            yield ForeignKey(key.columns, product.name, target, key.referenced_columns, name=key.name,
                             update_rule=key.update_rule, delete_rule=key.delete_rule)


def _table_with_source(product: ProductSpec, referenced: str) -> str | None:
    wanted = referenced.lower()
    bare = wanted.rsplit(".", 1)[-1]
    for name, spec in product.tables.items():
        source = spec.source.lower()
        # A descriptor may name a table with or without its schema ("public.customers", "customers").
        if source == wanted or ("." not in source and source == bare) or source.rsplit(".", 1)[-1] == wanted:
            return name
    return None


def check_keys(tables: Iterable[tuple[TableSpec, pa.Schema, TableKeys]],
               schemas: Mapping[tuple[str, str], pa.Schema]) -> list[str]:
    """Problems with declared keys once the engines' schemas are known: unknown columns.

    ``schemas`` maps (product, table), lower-cased, to the schemas of every table described; a
    reference into a product that could not be described is not checked (it is retried later).
    """
    problems: list[str] = []
    for spec, schema, keys in tables:
        if spec.primary_key:
            problems += _unknown(spec.primary_key, schema, f"{spec.origin}.primary_key", spec.name)
        for key in keys.foreign_keys:
            if not key.origin:
                continue
            problems += _unknown(key.columns, schema, key.origin.rsplit(".references", 1)[0] + ".columns",
                                 spec.name)
            target = schemas.get((key.product.lower(), key.table.lower()))
            if target is not None:
                problems += _unknown(key.references, target, key.origin.rsplit(".table", 1)[0] + ".columns",
                                     f"{key.product}.{key.table}")
    return problems


def _unknown(columns: Sequence[str], schema: pa.Schema, where: str, table: str) -> list[str]:
    names = {name.lower() for name in schema.names}
    return [f"{where}: table {table} has no column {column!r}" for column in columns
            if column.lower() not in names]
