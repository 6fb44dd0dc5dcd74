"""Name resolution: every table reference becomes a catalog table, or the query fails.

``resolve_tables`` rewrites each reference to its canonical quoted form ``"product"."table" AS
alias`` and records which ``CatalogTable`` it is (``table_key``). A name that does not resolve
— missing, or in a product the principal may not read — raises UnknownTable with the name as
written, so the two cases cannot be told apart. Table functions (``read_csv(...)``,
``generate_series(...)``, a quoted file path) never resolve: they are refused here.

``qualify_query`` then runs sqlglot's qualification (stars expanded, every column bound to a
table, unknown columns refused) against a schema holding only the tables this query names.
Names are case-insensitive in the mesh whatever dialect the client writes: qualification
normalizes them the DuckDB way (quoted or not, backticks or double quotes), so ``"Orders"``,
`` `orders` `` and ``ORDERS`` are the same table in every dialect.

Errors help without telling more than the principal may know: an unknown table or column comes
with the closest visible names (``planner/suggest.py``: granted tables, columns not denied), and
a column two tables have is reported as ambiguous, naming them, not as missing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema, normalize_name

from flightmesh.governance.policies import denied_columns
from flightmesh.mesh import (
    Catalog,
    CatalogTable,
    ForbiddenFunction,
    Principal,
    UnknownColumn,
    UnknownTable,
    UnsupportedQuery,
)
from flightmesh.mesh.sqltypes import sql_type

from .suggest import MAX_SUGGESTIONS, closest, did_you_mean, phrase

__all__ = ["TABLE_KEY", "Resolution", "arrow_to_sql_type", "qualify_query", "resolve_tables", "table_key"]

TABLE_KEY = "flightmesh.table"  # meta key on exp.Table nodes: "product.table" of the CatalogTable


def table_key(node: exp.Expr) -> str | None:
    """The catalog key of a resolved table node, or None for anything else."""
    if isinstance(node, exp.Table):
        value = node.meta.get(TABLE_KEY)
        return value if isinstance(value, str) else None
    return None


@dataclass
class Resolution:
    """The catalog tables a query names, by key."""

    tables: dict[str, CatalogTable] = field(default_factory=dict)
    # For error messages only: the columns the principal may see per key (denied ones left
    # out), and which key each alias (lower-cased) stands for.
    visible: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    # The sqlglot schema of ``tables``, built once per run: qualification and every type
    # annotation read the same one (normalizing a MappingSchema is a cost per build).
    _schema: tuple[frozenset[str], MappingSchema] | None = field(default=None, repr=False, compare=False)

    def of(self, node: exp.Expr) -> CatalogTable | None:
        key = table_key(node)
        return self.tables.get(key) if key else None

    def schema(self) -> MappingSchema:
        """The query's tables as a sqlglot schema (mesh names, DuckDB types), kept while they stay."""
        keys = frozenset(self.tables)
        if self._schema is None or self._schema[0] != keys:
            self._schema = (keys, _schema_of(self.mapping()))
        return self._schema[1]

    def mapping(self) -> dict[str, dict[str, dict[str, str]]]:
        """product -> table -> column -> SQL type, for the query's tables."""
        mapping: dict[str, dict[str, dict[str, str]]] = {}
        for table in self.tables.values():
            mapping.setdefault(table.product, {})[table.name] = {
                item.name: arrow_to_sql_type(item.type) for item in table.schema}
        return mapping


def resolve_tables(
    tree: exp.Expr,
    catalog: Catalog,
    principal: Principal,
    *,
    default_schema: str | None = None,
) -> Resolution:
    """Resolve every table reference of ``tree`` in place. See the module docstring."""
    resolution = Resolution()

    def lookup(node: exp.Table) -> CatalogTable:
        try:
            return _lookup(node)
        except UnknownTable as error:
            raise UnknownTable(error.name, _table_hint(error.name, catalog, principal)) from None

    def _lookup(node: exp.Table) -> CatalogTable:
        parts = [part.name for part in node.parts]
        written = ".".join(parts)
        if len(parts) == 3:
            if parts[0].lower() != catalog.name.lower():
                raise UnknownTable(written)
            parts = parts[1:]
        if len(parts) == 2:
            return catalog.lookup(parts[0], parts[1], principal)
        if len(parts) != 1:
            raise UnknownTable(written)
        if default_schema:
            return catalog.lookup(default_schema, parts[0], principal)
        matches = [t for t in catalog.tables_for(principal) if t.name.lower() == parts[0].lower()]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(sorted(t.qualified_name for t in matches))
            raise UnknownTable(f"{written} (ambiguous: qualify it as one of {names})")
        raise UnknownTable(written)

    def visit(node: exp.Expr, ctes: frozenset[str]) -> None:
        if isinstance(node, exp.Query) and node.args.get("with_") is not None:
            with_ = node.args["with_"]
            visible = ctes
            for cte in with_.expressions:
                name = cte.alias_or_name.lower()
                visit(cte.this, visible | {name} if with_.args.get("recursive") else visible)
                visible = visible | {name}
            for key, value in node.args.items():
                if key != "with_":
                    _visit_value(value, visible)
            return
        if isinstance(node, exp.Table):
            _resolve_table(node, ctes)
            return
        for value in node.args.values():
            _visit_value(value, ctes)

    def _visit_value(value: object, ctes: frozenset[str]) -> None:
        if isinstance(value, exp.Expr):
            visit(value, ctes)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, exp.Expr):
                    visit(item, ctes)

    def _resolve_table(node: exp.Table, ctes: frozenset[str]) -> None:
        if not isinstance(node.this, exp.Identifier):
            name = node.this.sql_name() if isinstance(node.this, exp.Func) else type(node.this).__name__
            raise ForbiddenFunction(f"table function {name.lower()} is not allowed; query mesh tables")
        for value in node.args.values():  # e.g. a table sample or joined hints: nothing to resolve
            if isinstance(value, exp.Query):
                visit(value, ctes)
        if not node.db and node.name.lower() in ctes:
            return
        table = lookup(node)
        key = f"{table.product}.{table.name}"
        resolution.tables[key] = table
        if key not in resolution.visible:
            denied = denied_columns(table, principal, catalog.spec)
            resolution.visible[key] = tuple(f.name for f in table.schema if f.name.lower() not in denied)
        alias = node.alias or node.name
        resolution.aliases[alias.lower()] = key
        node.set("catalog", None)
        node.set("db", exp.to_identifier(table.product, quoted=True))
        node.set("this", exp.to_identifier(table.name, quoted=True))
        if not node.alias:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        node.meta[TABLE_KEY] = key

    visit(tree, frozenset())
    return resolution


def _schema_of(mapping: dict[str, dict[str, dict[str, str]]]) -> MappingSchema:
    """``MappingSchema(mapping, normalize=True)``, with each name normalized once per process.

    sqlglot normalizes a schema's names by parsing each as an identifier, on every build; the
    names are the catalog's, the same from query to query. Lookups then need no normalizing
    either: qualification has normalized every name of the tree first.
    """
    if not all(columns for tables in mapping.values() for columns in tables.values()):
        return MappingSchema(dict(mapping), dialect=_MESH_NAMES, normalize=True)  # sqlglot's own error
    normalized: dict[str, dict[str, dict[str, exp.DataType | str]]] = {}
    for product, tables in mapping.items():
        into = normalized.setdefault(_normalized(product, True), {})
        for table, columns in tables.items():
            named = into.setdefault(_normalized(table, True), {})
            for column, kind in columns.items():
                named[_normalized(column, False)] = _column_type(kind)
    return MappingSchema(dict(normalized), dialect=_MESH_NAMES, normalize=False)


@functools.lru_cache(maxsize=512)
def _column_type(kind: str) -> exp.DataType | str:
    """The type ``MappingSchema`` would parse from ``kind`` on first lookup, parsed once per process.

    A schema parses each type name anew (``DataType.from_str``) for every schema built, one per
    query; a catalog has a handful of type names. One ``DataType`` per name is shared by every
    query's columns, as one schema already shares it by all its columns: types are values that
    sqlglot and the planner replace, never change in place (``planner/treecopy.py``). A name
    sqlglot cannot build stays text, so the schema raises its own error where it did.
    """
    dialect = Dialect.get_or_raise(_MESH_NAMES)
    try:
        parsed = exp.DataType.from_str(kind, dialect=dialect, udt=dialect.SUPPORTS_USER_DEFINED_TYPES)
        parsed.transform(dialect.normalize_identifier, copy=False)  # as MappingSchema._to_data_type
    except AttributeError:
        return kind
    return parsed


@functools.lru_cache(maxsize=65536)
def _normalized(name: str, is_table: bool) -> str:
    """A schema name as ``MappingSchema(normalize=True)`` stores it, in the mesh's way."""
    return normalize_name(name, dialect=_MESH_NAMES, is_table=is_table, normalize=True).name


def _table_hint(written: str, catalog: Catalog, principal: Principal) -> str:
    """Visible tables close to ``written``: by qualified name, or by table name if unqualified."""
    visible = list(catalog.tables_for(principal))
    if written.count(".") == 2:
        return did_you_mean(written, [f"{catalog.name}.{t.qualified_name}" for t in visible])
    if "." in written:
        return did_you_mean(written, [t.qualified_name for t in visible])
    # Unqualified: compare table names, and show them qualified so the client can write them so.
    close = {name.lower() for name in closest(written, [t.name for t in visible])}
    return phrase([t.qualified_name for t in visible if t.name.lower() in close][:MAX_SUGGESTIONS])


# Client dialects differ in how they fold names (Snowflake upper-cases, PostgreSQL folds only
# unquoted ones); the mesh does not: every identifier is case-insensitive, as in DuckDB.
_MESH_NAMES = "duckdb"


def qualify_query(tree: exp.Expr, resolution: Resolution, dialect: str,
                  extra: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None) -> exp.Expr:
    """sqlglot qualification against only the resolved tables; unknown columns raise UnknownColumn.

    ``dialect`` is the client's; names are normalized the mesh's way whatever it is.
    """
    if extra:
        mapping = resolution.mapping()
        for product, tables in extra.items():
            for name, extra_columns in tables.items():
                mapping.setdefault(product, {})[name] = dict(extra_columns)
        schema = MappingSchema(dict(mapping), dialect=_MESH_NAMES, normalize=True)
    else:
        schema = resolution.schema()
    try:
        return qualify(
            tree, schema=schema, dialect=_MESH_NAMES, validate_qualify_columns=True, quote_identifiers=True,
            identify=True, expand_stars=True, isolate_tables=False,
        )
    except OptimizeError as error:
        others = [name for tables in (extra or {}).values() for columns in tables.values() for name in columns]
        raise _column_error(str(error), resolution, others) from None


# sqlglot's messages: Column '"x"' could not be resolved[ for table: '"t"'] / Unknown column: x /
# Ambiguous column ...; names arrive normalized (lower-case) and maybe quoted.
_UNRESOLVED = re.compile(r"Column '([^']+)' could not be resolved(?: for table: '([^']+)')?")
_UNKNOWN = re.compile(r"Unknown column: (\S+)")
_AMBIGUOUS = re.compile(r"Ambiguous column '?([^'\s.]+)")


def _column_error(message: str, resolution: Resolution, extra_columns: Sequence[str] = ()) -> Exception:
    text = message.replace('"', "").split(". Line")[0]
    table: str | None = None
    if match := _UNRESOLVED.search(text):
        name, table = match.group(1), match.group(2)
    elif match := _UNKNOWN.search(text) or _AMBIGUOUS.search(text):
        name = match.group(1)
    else:
        return UnsupportedQuery(f"cannot resolve the query's names: {text}")
    if table is None:
        holders = _holders(name, resolution)
        if len(holders) > 1:
            both = "both have it" if len(holders) == 2 else "all have it"
            listed = ", ".join(holders[:-1]) + f" and {holders[-1]}"
            return UnsupportedQuery(f"column {name} is ambiguous: {listed} {both}; qualify it with a table name")
        candidates = [column for columns in resolution.visible.values() for column in columns]
        return UnknownColumn(name, hint=did_you_mean(name, [*candidates, *extra_columns]))
    key = resolution.aliases.get(table.lower())
    return UnknownColumn(name, table, hint=did_you_mean(name, resolution.visible.get(key, ()) if key else ()))


def _holders(name: str, resolution: Resolution) -> list[str]:
    """The query's tables that have a visible column ``name``, as the client would write them."""
    by_alias = sorted((alias, key) for alias, key in resolution.aliases.items()
                      if name.lower() in (column.lower() for column in resolution.visible.get(key, ())))
    keys = sorted({key for _, key in by_alias})
    if len(keys) == len(by_alias):
        return keys
    return [f"{key} ({alias})" for alias, key in by_alias]  # a self-join: the aliases tell them apart


@functools.lru_cache(maxsize=512)  # a catalog has few distinct column types; each is looked up per column
def arrow_to_sql_type(data_type: pa.DataType) -> str:
    """A SQL type name (DuckDB's spelling) for an Arrow type; "UNKNOWN" when there is none."""
    return sql_type(data_type) or "UNKNOWN"
