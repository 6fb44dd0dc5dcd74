"""Reading the keys an engine declares (``HasConstraints``), one catalog query per table.

Each reader turns its engine's catalog into rows of one shape, one row per key column in key
order — ``(kind, key name, column, referenced table, referenced column, on update, on delete)``
with kind ``"p"`` or ``"f"`` — and ``assemble`` builds the ``EngineConstraints`` from them. A
referenced table is named as a descriptor would name it: bare in the engine's default schema
(DuckDB ``main``, PostgreSQL's current schema, MariaDB's database), ``schema.table`` elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flightmesh.mesh.constraints import EngineConstraints, EngineForeignKey, rule_code

__all__ = ["assemble", "duckdb_rows", "mysql_rows", "postgresql_rows", "sqlite_rows"]

Rows = Callable[..., list[tuple[Any, ...]]]
KeyRow = tuple[str, str | None, str, str | None, str | None, str | None, str | None]


def assemble(rows: Iterable[KeyRow]) -> EngineConstraints:
    primary: list[str] = []
    primary_name: str | None = None
    foreign: dict[object, list[KeyRow]] = {}
    for index, row in enumerate(rows):
        if row[0] == "p":
            primary.append(row[2])
            primary_name = row[1]
        else:
            # Unnamed keys are told apart by their position (SQLite carries its key number as the name).
            foreign.setdefault(row[1] if row[1] is not None else index, []).append(row)
    keys = []
    for name, parts in foreign.items():
        referenced = parts[0][3]
        if referenced is None or any(part[4] is None for part in parts):
            continue
        keys.append(EngineForeignKey(
            tuple(part[2] for part in parts), referenced, tuple(str(part[4]) for part in parts),
            name=name if isinstance(name, str) and not name.isdigit() else None,
            update_rule=rule_code(parts[0][5]), delete_rule=rule_code(parts[0][6])))
    return EngineConstraints(tuple(primary), primary_name, tuple(keys))


def sqlite_rows(rows: Rows, source: str) -> list[KeyRow]:
    result: list[KeyRow] = [("p", None, name, None, None, None, None) for name, _ in
                            rows("SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (source,))]
    listed = rows('SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?) '
                  "ORDER BY id, seq", (source,))
    parent_keys: dict[str, list[str]] = {}
    for number, parent, column, target, on_update, on_delete in listed:
        if target is None:
            # REFERENCES parent without columns: the parent's primary key, in order.
            if parent not in parent_keys:
                parent_keys[parent] = [name for name, _ in rows(
                    "SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (parent,))]
            position = sum(1 for row in result if row[0] == "f" and row[1] == str(number))
            pk = parent_keys[parent]
            target = pk[position] if position < len(pk) else None
        result.append(("f", str(number), column, parent, target, on_update, on_delete))
    return result


def duckdb_rows(rows: Rows, schema: str, table: str) -> list[KeyRow]:
    listed = rows(
        "SELECT constraint_type, constraint_name, constraint_column_names, referenced_table, "
        "referenced_column_names FROM duckdb_constraints() WHERE database_name = current_database() "
        "AND schema_name = $1 AND table_name = $2 AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') "
        "ORDER BY constraint_index", [schema, table])
    result: list[KeyRow] = []
    for kind, name, columns, referenced, referenced_columns in listed:
        if kind == "PRIMARY KEY":
            result += [("p", name, column, None, None, None, None) for column in columns]
        else:
            # DuckDB keys reference a table of the same schema.
            target = referenced if schema == "main" else f"{schema}.{referenced}"
            result += [("f", name, column, target, other, None, None)
                       for column, other in _pairs(columns, referenced_columns)]
    return result


def postgresql_rows(rows: Rows, regclass: str) -> list[KeyRow]:
    listed = rows(
        "SELECT c.contype::text, c.conname::text, a.attname::text, "
        "CASE WHEN c.contype = 'f' THEN CASE WHEN n.nspname = current_schema() THEN r.relname::text "
        "ELSE n.nspname::text || '.' || r.relname::text END END, fa.attname::text, "
        "c.confupdtype::text, c.confdeltype::text "
        "FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, i) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
        "LEFT JOIN pg_class r ON r.oid = c.confrelid LEFT JOIN pg_namespace n ON n.oid = r.relnamespace "
        "LEFT JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[k.i] "
        "WHERE c.conrelid = to_regclass($1) AND c.contype IN ('p', 'f') "
        "ORDER BY c.contype DESC, c.conname, k.i", (regclass,))
    codes = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
    return [(kind, name, column, target, other, codes.get(update or ""), codes.get(delete or ""))
            for kind, name, column, target, other, update, delete in listed]


def mysql_rows(rows: Rows, where: str, parameters: tuple[str, ...]) -> list[KeyRow]:
    listed = rows(
        "SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, CASE WHEN k.REFERENCED_TABLE_SCHEMA = k.TABLE_SCHEMA "
        "THEN k.REFERENCED_TABLE_NAME ELSE CONCAT(k.REFERENCED_TABLE_SCHEMA, '.', k.REFERENCED_TABLE_NAME) END, "
        "k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE "
        f"FROM (SELECT * FROM information_schema.KEY_COLUMN_USAGE WHERE {where}) k "
        "LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.TABLE_SCHEMA "
        "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME "
        "WHERE k.CONSTRAINT_NAME = 'PRIMARY' OR k.REFERENCED_TABLE_NAME IS NOT NULL "
        "ORDER BY k.CONSTRAINT_NAME = 'PRIMARY' DESC, k.CONSTRAINT_NAME, k.ORDINAL_POSITION", parameters)
    return [("p" if name == "PRIMARY" else "f", None if name == "PRIMARY" else name, column,
             None if name == "PRIMARY" else target, other, update, delete)
            for name, column, target, other, update, delete in listed]


def _pairs(columns: Sequence[str], others: Sequence[str]) -> list[tuple[str, str | None]]:
    return [(column, others[i] if i < len(others) else None) for i, column in enumerate(columns)]
