"""Publishing in one command: read an engine's tables, write the product descriptor for them.

``introspect(kind, product, uri=..., path=...)`` builds the product's connector the way the mesh
does (``open_connector`` on a synthetic ``ProductSpec``), lists the engine's tables
(``table_names``), reads each one's columns (``describe``), keys (``HasConstraints``) and the
comments the engine keeps (PostgreSQL ``obj_description``/``col_description``, MariaDB/MySQL
``TABLE_COMMENT``/``COLUMN_COMMENT``, DuckDB ``duckdb_tables().comment``, Spark ``DESCRIBE TABLE
EXTENDED``; SQLite, Parquet and Flight SQL engines have none). ``descriptor_yaml`` writes it as ``products/<name>.yaml``
expects it: deterministic (tables and columns sorted), strings quoted where YAML would read them
as something else, column types as comments, ``access: {read: []}`` left for the owner.

A password found in a URI is never written: the descriptor reads it from ``${<PRODUCT>_PASSWORD}``;
a Spark Connect token likewise from ``${<PRODUCT>_TOKEN}``. A Spark engine's tables are its catalog
tables and global views (``global_temp.orders``), written with that ``source``.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import pyarrow as pa

from flightmesh.mesh import ProductSpec, Settings
from flightmesh.mesh.specs import EngineSpec

from . import open_connector
from .base import Connector, HasConstraints

__all__ = ["IntrospectedColumn", "IntrospectedProduct", "IntrospectedTable", "descriptor_yaml", "introspect"]

FILE_KINDS = ("duckdb", "sqlite", "parquet")
SERVER_KINDS = ("postgresql", "mysql", "flightsql", "spark")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})


@dataclass(frozen=True)
class IntrospectedColumn:
    name: str
    type: str                         # the Arrow type, as flightmesh serves it
    nullable: bool = True
    description: str = ""


@dataclass(frozen=True)
class IntrospectedForeignKey:
    columns: tuple[str, ...]
    table: str                        # the referenced table's exposed name in this product
    references: tuple[str, ...]


@dataclass(frozen=True)
class IntrospectedTable:
    name: str                         # the exposed name (an identifier)
    source: str                       # the engine's name for it
    columns: tuple[IntrospectedColumn, ...]
    description: str = ""
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[IntrospectedForeignKey, ...] = ()
    # engine keys into tables this descriptor does not publish (filtered out): written as comments
    dropped_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class IntrospectedProduct:
    name: str
    kind: str
    engine: dict[str, str]            # the descriptor's engine block, kind first
    tables: tuple[IntrospectedTable, ...]
    notes: tuple[str, ...] = field(default=())


def introspect(kind: str, product: str, *, uri: str | None = None, path: Path | None = None,
               tables: Sequence[str] = (), username: str | None = None,
               password: str | None = None, token: str | None = None) -> IntrospectedProduct:
    """Read ``kind``'s engine at ``uri`` or ``path``; ``tables``: globs on table names (see ``_matches``).

    Raises ValueError for a usage mistake, and what the connector raises (EngineUnavailable,
    EngineError) when the engine cannot be read.
    """
    if kind not in FILE_KINDS + SERVER_KINDS:
        raise ValueError(f"unknown engine kind {kind!r}; expected one of {', '.join(FILE_KINDS + SERVER_KINDS)}")
    if token is not None and kind != "spark":
        raise ValueError("--token is for a spark engine; others take --password")
    if not _NAME.match(product):
        raise ValueError(f"product name {product!r} must be letters, digits and _ (not starting with a digit)")
    variable = f"{product.upper()}_PASSWORD"
    engine: dict[str, str] = {"kind": kind}
    options: dict[str, Any] = {}
    notes: list[str] = []
    if kind in FILE_KINDS:
        if path is None or uri is not None:
            raise ValueError(f"a {kind} engine takes --path (a {'folder' if kind == 'parquet' else 'file'})")
        resolved = path.resolve()
        if not resolved.exists():
            raise ValueError(f"{path} does not exist")
        engine["path"] = str(resolved)
        spec_path: Path | None = resolved
        spec_uri = None
    else:
        if uri is None or path is not None:
            raise ValueError(f"a {kind} engine takes --uri")
        if kind == "spark" and (not uri.startswith("sc://") or ";" in uri):
            # Spark Connect's ``sc://host:port/;token=...`` parameters would put a secret in the file
            raise ValueError("a spark engine takes --uri sc://host:port (a token goes in --token)")
        spec_path = None
        spec_uri, in_uri = _without_password(uri)
        engine["uri"] = spec_uri
        if kind == "flightsql" and username:
            engine["username"] = username
            options["username"] = username
        secret = password if password is not None else in_uri
        if secret is not None:
            options["password"] = secret
            engine["password"] = f"${{{variable}}}"
            notes.append(f"the password is read from ${{{variable}}}: set it before check or serve")
        if token is not None:
            options["token"] = token
            engine["token"] = f"${{{product.upper()}_TOKEN}}"
            notes.append(f"the token is read from ${{{product.upper()}_TOKEN}}: set it before check or serve")
    sources = _parquet_sources(resolved) if kind == "parquet" else []
    spec = ProductSpec(name=product, engine=EngineSpec(kind=kind, path=spec_path, uri=spec_uri, options=options),
                       tables={})
    connector = _connector(spec, sources)
    try:
        listed = sorted(set(connector.table_names()), key=lambda name: (name.count("."), name.lower()))
        names = _exposed_names(listed, kind)
        chosen = [source for source in listed if not tables or _matches(source, names[source], tables)]
        by_source = {source.lower(): names[source] for source in chosen}
        result = [_table(connector, kind, source, names[source], by_source)
                  for source in sorted(chosen, key=lambda source: names[source].lower())]
    finally:
        connector.close()
    return IntrospectedProduct(product, kind, engine, tuple(result), tuple(notes))


def _matches(source: str, name: str, globs: Sequence[str]) -> bool:
    """A glob matches the engine's name (``billing.invoices``), its table part or the exposed name."""
    candidates = {source.lower(), source.rpartition(".")[2].lower(), name.lower()}
    return any(fnmatch.fnmatchcase(candidate, glob.lower()) for glob in globs for candidate in candidates)


def _connector(spec: ProductSpec, parquet_sources: list[str]) -> Connector:
    if spec.engine.kind == "parquet":
        from .parquet import ParquetConnector

        assert spec.engine.path is not None
        return ParquetConnector(spec.name, spec.engine.path, parquet_sources)
    return open_connector(spec, Settings())


def _without_password(uri: str) -> tuple[str, str | None]:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri, None
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host)), unquote(parts.password)


def _parquet_sources(folder: Path) -> list[str]:
    """The tables of a Parquet folder: its ``*.parquet`` files and the sub-folders holding some."""
    if folder.is_file():
        return [folder.name]
    sources = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if (entry.is_file() and entry.suffix == ".parquet") or (entry.is_dir() and any(entry.rglob("*.parquet"))):
            sources.append(entry.name)
    return sources


def _exposed_names(sources: list[str], kind: str) -> dict[str, str]:
    """An identifier per source: the bare table name, ``schema_table`` when the bare one is taken."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for source in sources:
        base = source.removesuffix(".parquet") if kind == "parquet" else source
        bare = _identifier(base.rpartition(".")[2])
        name = bare if bare.lower() not in taken else _identifier(base)
        number = 2
        while name.lower() in taken:
            name, number = f"{_identifier(base)}_{number}", number + 1
        taken.add(name.lower())
        names[source] = name
    return names


def _identifier(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return name if name and not name[0].isdigit() else f"t_{name}"


def _table(connector: Connector, kind: str, source: str, name: str, by_source: dict[str, str]) -> IntrospectedTable:
    schema = connector.describe(source)
    table_comment, column_comments = _comments(connector, kind, source)
    columns = tuple(IntrospectedColumn(f.name, _type_name(f.type), f.nullable, column_comments.get(f.name, ""))
                    for f in schema)
    primary: tuple[str, ...] = ()
    foreign: list[IntrospectedForeignKey] = []
    dropped: list[str] = []
    if isinstance(connector, HasConstraints):
        constraints = connector.constraints(source)
        primary = constraints.primary_key
        for key in constraints.foreign_keys:
            target = by_source.get(key.referenced.lower())
            if target is None:
                dropped.append(f"({', '.join(key.columns)}) references {key.referenced} "
                               f"({', '.join(key.referenced_columns)}), a table not published here")
                continue
            foreign.append(IntrospectedForeignKey(key.columns, target, key.referenced_columns))
    return IntrospectedTable(name, source, columns, table_comment, primary,
                             tuple(sorted(foreign, key=lambda key: (key.columns, key.table))), tuple(dropped))


def _type_name(arrow_type: pa.DataType) -> str:
    return str(arrow_type)


def _comments(connector: Connector, kind: str, source: str) -> tuple[str, dict[str, str]]:
    """The engine's comment on ``source`` and on its columns (empty where it keeps none)."""
    rows: list[tuple[Any, ...]]
    if kind == "duckdb":
        from .duckdb import DuckDBConnector

        assert isinstance(connector, DuckDBConnector)
        table = connector.table_expression(source)
        cursor = connector._cursor()
        where = "database_name = current_database() AND schema_name = $1 AND {name} = $2"
        names = [table.db or "main", table.name]
        found = cursor.execute(
            f"SELECT comment FROM duckdb_tables() WHERE {where.format(name='table_name')} "
            f"UNION ALL SELECT comment FROM duckdb_views() WHERE {where.format(name='view_name')}",
            names).fetchall()
        rows = cursor.execute(f"SELECT column_name, comment FROM duckdb_columns() "
                              f"WHERE {where.format(name='table_name')}", names).fetchall()
    elif kind == "postgresql":
        from .postgresql import PostgreSQLConnector

        assert isinstance(connector, PostgreSQLConnector)
        regclass = connector._regclass(source)
        found = connector._rows("SELECT obj_description(to_regclass($1), 'pg_class')", (regclass,))
        rows = connector._rows("SELECT a.attname::text, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
                               "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                               (regclass,))
    elif kind == "mysql":
        from .mysql import MySQLConnector

        assert isinstance(connector, MySQLConnector)
        where, parameters = connector._where_table(source)
        found = connector._rows(f"SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE {where} "
                                "AND TABLE_TYPE <> 'VIEW'", parameters)
        rows = connector._rows(f"SELECT COLUMN_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS WHERE {where}",
                               parameters)
    elif kind == "spark":
        return _spark_comments(connector, source)
    else:
        return "", {}
    table_comment = str(found[0][0] or "") if found else ""
    return table_comment.strip(), {str(column): str(comment).strip() for column, comment in rows if comment}


def _spark_comments(connector: Connector, source: str) -> tuple[str, dict[str, str]]:
    """From ``DESCRIBE TABLE EXTENDED``: a row per column (name, type, comment), then a section
    ``# Detailed Table Information`` whose ``Comment`` row is the table's. An engine that cannot
    describe a view this way (Sail) simply has no comments."""
    from flightmesh.mesh import EngineError

    from .spark import SparkConnector, _rows

    assert isinstance(connector, SparkConnector)
    sql = f"DESCRIBE TABLE EXTENDED {connector.table_expression(source).sql('spark')}"
    try:
        with connector._lease() as connection:
            rows = _rows(connection, sql)
    except EngineError:
        return "", {}
    columns: dict[str, str] = {}
    table_comment = ""
    detailed = False
    for row in rows:
        name = str(row[0] or "").strip()
        if name.startswith("#"):
            detailed = detailed or name.lower().startswith("# detailed")
            continue
        comment = str(row[2] or "").strip() if len(row) > 2 else ""
        if detailed:
            if name.lower() == "comment":
                table_comment = str(row[1] or "").strip()
        elif name and comment:
            columns[name] = comment
    return table_comment, columns


# -- writing ---------------------------------------------------------------------------------------


def quote(text: str) -> str:
    """``text`` as a YAML scalar: plain when YAML reads it back as that string, else double-quoted."""
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _flow(items: Sequence[str]) -> str:
    return "[" + ", ".join(quote(item) for item in items) + "]"


def descriptor_yaml(product: IntrospectedProduct, *, command: str = "") -> str:
    """The product's descriptor, for ``products/<name>.yaml`` (the file's name is the product's)."""
    lines = [f"# Product {product.name}: {len(product.tables)} table(s) read from its {product.kind} engine"
             + (f" by\n#   {command}" if command else "") + ".",
             "# Edit freely: add domain, owner, description, tags; drop what should not be published.",
             "# Column types are those flightmesh serves; descriptions are the engine's comments."]
    lines += [f"# Note: {note}." for note in product.notes]
    lines.append("engine:")
    lines += [f"  {key}: {quote(value)}" for key, value in product.engine.items()]
    lines.append("tables:")
    for table in product.tables:
        lines.append(f"  {table.name}:")
        # the descriptor's default source: the table's name, ``<name>.parquet`` in a Parquet folder
        default = f"{table.name}.parquet" if product.kind == "parquet" else table.name
        if table.source != default:
            lines.append(f"    source: {quote(table.source)}")
        if table.description:
            lines.append(f"    description: {quote(table.description)}")
        if table.primary_key:
            lines.append(f"    primary_key: {_flow(table.primary_key)}")
        if table.foreign_keys:
            lines.append("    foreign_keys:")
            lines += [f"      - {{columns: {_flow(key.columns)}, references: {{table: {quote(key.table)}, "
                      f"columns: {_flow(key.references)}}}}}" for key in table.foreign_keys]
        lines += [f"    # not published, so not declared: {dropped}" for dropped in table.dropped_keys]
        if not (table.source != default or table.description or table.primary_key or table.foreign_keys):
            lines[-1 - len(table.dropped_keys)] += " {}"
        width = max((len(column.name) for column in table.columns), default=0)
        lines += [f"    #   {column.name.ljust(width)}  {column.type}{'' if column.nullable else ' not null'}"
                  for column in table.columns]
    described = [table for table in product.tables if any(column.description for column in table.columns)]
    if described:
        lines.append("columns:")
        for table in described:
            lines.append(f"  {table.name}:")
            lines += [f"    {quote(column.name)}: {{description: {quote(column.description)}}}"
                      for column in sorted(table.columns, key=lambda column: column.name.lower())
                      if column.description]
    lines += ["access:",
              "  # Who may read this product: deny by default. Name the roles, e.g. read: [analyst].",
              "  read: []"]
    return "\n".join(lines) + "\n"
