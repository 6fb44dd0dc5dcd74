"""SHOW and DESCRIBE, as the queries over ``information_schema`` they stand for.

::

    SHOW SCHEMAS                 (or SHOW DATABASES)  the schemas you may read, discovery ones included
    SHOW TABLES                                       every product table you may read
    SHOW TABLES FROM crm         (or IN crm)          the tables of one schema (none if you may not read it)
    DESCRIBE crm.customers       (or DESC)            its columns as you see them, in order

They are rewritten before parsing into plain SELECTs (``show_as_query``), so they go through the
planner like any query: answered from the catalog by the discovery schemas, filtered for the
principal (a hidden product or a denied column is absent), never touching a product's engine.
The rewrite is written in SQL every dialect reads the same (no quoted identifiers, names compared
as lower-case string literals), and only names made of letters, digits and ``_`` are accepted, so
nothing the client wrote reaches the query text but such a name.
"""

from __future__ import annotations

import re

__all__ = ["show_as_query"]

_NAME = r'(?:[A-Za-z_][A-Za-z0-9_]*|"[A-Za-z_][A-Za-z0-9_]*"|`[A-Za-z_][A-Za-z0-9_]*`)'
_END = r"\s*;?\s*$"
_SHOW_SCHEMAS = re.compile(r"^\s*show\s+(?:schemas|databases)" + _END, re.IGNORECASE)
_SHOW_TABLES = re.compile(rf"^\s*show\s+tables(?:\s+(?:from|in)\s+(?:({_NAME})\s*\.\s*)?({_NAME}))?" + _END,
                          re.IGNORECASE)
_DESCRIBE = re.compile(rf"^\s*(?:describe|desc)\s+(?:table\s+)?((?:{_NAME}\s*\.\s*){{0,2}}{_NAME})" + _END,
                       re.IGNORECASE)
_DATA_TABLES = "table_type = 'BASE TABLE'"


def show_as_query(sql: str) -> str:
    """``sql`` itself, or the SELECT a SHOW / DESCRIBE statement stands for."""
    if _SHOW_SCHEMAS.match(sql):
        return "SELECT schema_name, schema_comment FROM information_schema.schemata ORDER BY schema_name"
    match = _SHOW_TABLES.match(sql)
    if match is not None:
        catalog, schema = match.group(1), match.group(2)
        if schema is None:
            return (f"SELECT table_schema, table_name, table_comment FROM information_schema.tables "
                    f"WHERE {_DATA_TABLES} ORDER BY table_schema, table_name")
        where = [_equals("table_schema", schema)] + ([_equals("table_catalog", catalog)] if catalog else [])
        return (f"SELECT table_name, table_type, table_comment FROM information_schema.tables "
                f"WHERE {' AND '.join(where)} ORDER BY table_name")
    match = _DESCRIBE.match(sql)
    if match is not None:
        parts = [part.strip() for part in match.group(1).split(".")]
        where = [_equals(column, part) for column, part in
                 zip(("table_catalog", "table_schema", "table_name")[-len(parts):], parts, strict=True)]
        if len(parts) == 1:  # unqualified: a product's table of that name, not a discovery table
            where.append("table_schema NOT IN ('mesh', 'information_schema')")
        return (f"SELECT column_name, data_type, is_nullable, column_comment FROM information_schema.columns "
                f"WHERE {' AND '.join(where)} ORDER BY table_schema, table_name, ordinal_position")
    return sql


def _equals(column: str, name: str) -> str:
    # Names are case-insensitive in the mesh, quoted or not; ``name`` holds only [A-Za-z0-9_].
    bare = name.strip('"`').lower()
    return f"lower({column}) = '{bare}'"
