"""The mesh descriptor: the typed model of ``mesh.yaml`` and the loader that validates it.

``load_descriptor(path)`` returns a ``MeshSpec`` or raises ``DescriptorError`` listing every
mistake as ``file:line: key.path: what was expected``. It refuses rather than guesses: unknown
keys, duplicate keys, unset ``${ENV_VAR}``s, files that do not exist and SQL that does not parse
are all errors, so a server never starts half-configured.

Products may also live one per file in ``products/<name>.yaml`` beside the descriptor; such a
file holds the product's keys directly, its name is the file's stem, and the paths in it are
relative to it (to ``products/``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlglot

from .contracts import enrich, read_contract
from .descriptor_access import AccessReader
from .descriptor_discovery import DISCOVERY_SCHEMAS, read_freshness
from .descriptor_keys import KeysReader
from .descriptor_privacy import read_privacy, read_state
from .errors import DescriptorError
from .settings import Settings
from .specs import (
    AccessSpec,
    AuditSpec,
    AuthSpec,
    ColumnSpec,
    DenyColumnSpec,
    EngineSpec,
    ForeignKeySpec,
    JwtSpec,
    MaskSpec,
    MeshSpec,
    PoliciesSpec,
    ProductSpec,
    RowFilterSpec,
    TableSpec,
    TagMaskSpec,
    TlsSpec,
    UserSpec,
)
from .yaml_reader import kind_of
from .yaml_source import LocatedDict, YamlProblem, read_yaml

__all__ = [
    "ENGINE_KINDS",
    "AccessSpec",
    "AuditSpec",
    "AuthSpec",
    "ColumnSpec",
    "DenyColumnSpec",
    "EngineSpec",
    "ForeignKeySpec",
    "JwtSpec",
    "MaskSpec",
    "MeshSpec",
    "PoliciesSpec",
    "ProductSpec",
    "RowFilterSpec",
    "TableSpec",
    "TagMaskSpec",
    "TlsSpec",
    "UserSpec",
    "load_descriptor",
]

FILE_ENGINES = ("duckdb", "sqlite", "parquet")
SERVER_ENGINES = ("postgresql", "mysql", "flightsql", "spark")
ENGINE_KINDS = FILE_ENGINES + SERVER_ENGINES

# Keys each engine kind accepts, beyond ``kind``. Required ones are listed first in _REQUIRED.
_ENGINE_KEYS: dict[str, frozenset[str]] = {
    "duckdb": frozenset({"path", "timeout_seconds"}),
    "sqlite": frozenset({"path", "timeout_seconds"}),
    "parquet": frozenset({"path", "timeout_seconds"}),
    "postgresql": frozenset({"uri", "password", "pool_size", "timeout_seconds", "allow_privileged"}),
    "mysql": frozenset({"uri", "password", "pool_size", "timeout_seconds", "allow_privileged"}),
    "flightsql": frozenset(
        {"uri", "username", "password", "token", "tls_root_certs", "tls_skip_verify", "pool_size",
         "timeout_seconds", "dialect"}
    ),
    "spark": frozenset({"uri", "token", "user_id", "tls", "session_id", "pool_size", "timeout_seconds"}),
}
# Server engines whose account has more rights than reading are refused at open unless this is true
# (then only warned about): see connectors/privileges.py. Spark's ``tls`` is a switch too.
_BOOLEAN_ENGINE_KEYS = frozenset({"allow_privileged", "tls"})
_REQUIRED = {"duckdb": "path", "sqlite": "path", "parquet": "path", "postgresql": "uri", "mysql": "uri",
             "flightsql": "uri", "spark": "uri"}

_RESERVED_SCHEMAS = frozenset({"information_schema", "pg_catalog", "system", "flightmesh"}) | DISCOVERY_SCHEMAS


def load_descriptor(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> MeshSpec:
    """Load and validate ``path``. Raises ``DescriptorError`` with every problem found."""
    reader = _Reader(Path(path).resolve(), os.environ if env is None else env)
    spec = reader.read()
    if reader.problems:
        raise DescriptorError(reader.problems)
    assert spec is not None
    return spec


class _Reader(AccessReader, KeysReader):
    """Walks the parsed YAML, collecting problems instead of stopping at the first one."""

    # -- the document ------------------------------------------------------------------------

    def read(self) -> MeshSpec | None:
        root = self.load(self.path)
        if root is None:
            return None
        self.only_keys(root, {"mesh", "products", "users", "governance", "settings", "auth", "state"}, "")
        mesh = self.mapping(root, "mesh", "mesh", required=True) or LocatedDict()
        self.only_keys(mesh, {"name", "sql_dialect", "description"}, "mesh")
        name = self.string(mesh, "name", "mesh.name", required=True) or "mesh"
        self.identifier(name, self.at(mesh, "name", "mesh.name"), "mesh")
        dialect = self.string(mesh, "sql_dialect", "mesh.sql_dialect") or "duckdb"
        if dialect not in sqlglot.Dialect.classes:
            self.problem(self.at(mesh, "sql_dialect", "mesh.sql_dialect"),
                         f"unknown SQL dialect {dialect!r}; expected one of sqlglot's, e.g. duckdb, postgres, trino")
            dialect = "duckdb"
        self.dialect = dialect

        products = self.products(root)
        self.check_references(products)
        users = self.users(root)
        tag_masks, audit = self.governance(root)
        settings = self.settings(root)
        auth = self.auth(root)
        return MeshSpec(
            name=name, sql_dialect=dialect, description=self.string(mesh, "description", "mesh.description") or "",
            products=products, users=users, tag_masks=tag_masks, settings=settings, source=self.path,
            auth=auth, audit=audit, state=read_state(self, root),
        )

    def load(self, path: Path) -> LocatedDict | None:
        self.file = str(path.relative_to(self.base)) if path.is_relative_to(self.base) else str(path)
        try:
            root = read_yaml(path)
        except OSError as error:
            self.problem(self.file, f"cannot read: {error.strerror or error}")
            return None
        except YamlProblem as problem:
            self.problem(f"{self.file}:{problem.line}" if problem.line else self.file, problem.message)
            return None
        if not isinstance(root, LocatedDict):
            self.problem(self.file, f"expected a mapping at the top, got {kind_of(root)}")
            return None
        return root

    def products(self, root: LocatedDict) -> dict[str, ProductSpec]:
        result: dict[str, ProductSpec] = {}
        seen: dict[str, str] = {}
        top_file = self.file
        section = self.mapping(root, "products", "products") or LocatedDict()
        main_base = self.base
        # (file, parent, node, name, the folder the product's paths are relative to)
        sources: list[tuple[str, LocatedDict, LocatedDict, str, Path]] = [
            (top_file, section, node, name, main_base) for name, node in section.items()
        ]
        folder = self.base / "products"
        if folder.is_dir():
            for product_file in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
                node = self.load(product_file)
                if node is not None:
                    holder = LocatedDict({product_file.stem: node})
                    holder.key_lines = {product_file.stem: 1}
                    sources.append((self.file, holder, node, product_file.stem, product_file.parent))
        for file, parent, node, name, base in sources:
            self.file = file
            self.base = base  # paths in products/<name>.yaml are relative to that file
            path = f"products.{name}"
            where = self.at(parent, name, path)
            if not self.identifier(name, where, "product"):
                continue
            if name.lower() in _RESERVED_SCHEMAS:
                self.problem(where, f"{name!r} is reserved; choose another product name")
                continue
            if name.lower() in seen:
                self.problem(where, f"product {name!r} is defined twice (also at {seen[name.lower()]})")
                continue
            seen[name.lower()] = where
            if not isinstance(node, LocatedDict):
                self.problem(where, f"expected a mapping, got {kind_of(node)}")
                continue
            product = self.product(name, node, path, where)
            if product is not None:
                result[name] = product
        self.file = top_file
        self.base = main_base
        if not result and not self.problems:
            self.problem(f"{self.file}: products", "the mesh has no products; expected at least one")
        return result

    def product(self, name: str, node: LocatedDict, path: str, where: str) -> ProductSpec | None:
        self.only_keys(
            node, {"domain", "owner", "description", "engine", "tables", "access", "columns", "policies", "tags",
                   "freshness", "contract", "privacy"}, path
        )
        engine = self.engine(node, f"{path}.engine")
        tables = self.tables(node, path, engine)
        access_node = self.mapping(node, "access", f"{path}.access")
        read: tuple[str, ...] = ()
        if access_node is not None:
            self.only_keys(access_node, {"read"}, f"{path}.access")
            read = self.names(access_node, "read", f"{path}.access.read") or ()
        columns = self.columns(node, path, tables)
        policies = self.policies(node, path, tables)
        if engine is None:
            return None
        contract = read_contract(self, node, path, tables)
        return enrich(ProductSpec(
            name=name, engine=engine, tables=tables,
            domain=self.string(node, "domain", f"{path}.domain") or "",
            owner=self.string(node, "owner", f"{path}.owner") or "",
            description=self.string(node, "description", f"{path}.description") or "",
            access=AccessSpec(read=read), columns=columns, policies=policies, origin=where,
            tags=self.names(node, "tags", f"{path}.tags") or (), freshness=read_freshness(self, node, path),
            contract=contract, privacy=read_privacy(self, node, path, tables),
        ))

    def engine(self, product: LocatedDict, path: str) -> EngineSpec | None:
        node = self.mapping(product, "engine", path, required=True)
        if node is None:
            return None
        kind = self.string(node, "kind", f"{path}.kind", required=True)
        if kind is None:
            return None
        if kind not in ENGINE_KINDS:
            self.problem(self.at(node, "kind", f"{path}.kind"),
                         f"unknown engine kind {kind!r}; expected one of {', '.join(ENGINE_KINDS)}")
            return None
        self.only_keys(node, _ENGINE_KEYS[kind] | {"kind"}, path)
        required = _REQUIRED[kind]
        value = self.string(node, required, f"{path}.{required}", required=True)
        if value is None:
            return None
        options: dict[str, Any] = {}
        for key in sorted(_ENGINE_KEYS[kind] - {required}):
            if key not in node:
                continue
            raw = node[key]
            if key in _BOOLEAN_ENGINE_KEYS and not isinstance(raw, bool):
                self.problem(self.at(node, key, f"{path}.{key}"), f"expected true or false, got {kind_of(raw)}")
            elif isinstance(raw, (bool, int, float)):
                options[key] = raw
            else:
                options[key] = self.string(node, key, f"{path}.{key}")
        origin = self.at(node, "kind", path)
        if kind in FILE_ENGINES:
            file_path = (self.base / value).resolve()
            if not file_path.exists():
                self.problem(self.at(node, "path", f"{path}.path"),
                             f"{value} does not exist (resolved to {file_path})")
            elif kind != "parquet" and not file_path.is_file():
                self.problem(self.at(node, "path", f"{path}.path"), f"{value} is not a file")
            return EngineSpec(kind=kind, path=file_path, options=options, origin=origin)
        return EngineSpec(kind=kind, uri=value, options=options, origin=origin)

    def tables(self, product: LocatedDict, path: str, engine: EngineSpec | None) -> dict[str, TableSpec]:
        node = self.mapping(product, "tables", f"{path}.tables", required=True)
        result: dict[str, TableSpec] = {}
        if node is None:
            return result
        if not node:
            self.problem(self.at(product, "tables", f"{path}.tables"), "expected at least one table")
        seen: set[str] = set()
        for name, table in node.items():
            tpath = f"{path}.tables.{name}"
            where = self.at(node, name, tpath)
            if not self.identifier(name, where, "table"):
                continue
            if name.lower() in seen:
                self.problem(where, f"table {name!r} is listed twice (names are case-insensitive)")
                continue
            seen.add(name.lower())
            if table is None:
                table = LocatedDict()
            if not isinstance(table, LocatedDict):
                self.problem(where, f"expected a mapping (or nothing), got {kind_of(table)}")
                continue
            self.only_keys(table, {"source", "description", "tags", "primary_key", "foreign_keys"}, tpath)
            primary_key, foreign_keys = self.table_keys(table, tpath)
            source = self.string(table, "source", f"{tpath}.source")
            if source is None:
                source = f"{name}.parquet" if engine is not None and engine.kind == "parquet" else name
            result[name] = TableSpec(
                name=name, source=source, description=self.string(table, "description", f"{tpath}.description") or "",
                tags=self.names(table, "tags", f"{tpath}.tags") or (),
                origin=where, primary_key=primary_key, foreign_keys=foreign_keys,
            )
        return result

    def columns(self, product: LocatedDict, path: str,
                tables: Mapping[str, TableSpec]) -> dict[str, dict[str, ColumnSpec]]:
        node = self.mapping(product, "columns", f"{path}.columns")
        result: dict[str, dict[str, ColumnSpec]] = {}
        if node is None:
            return result
        for table, columns in node.items():
            tpath = f"{path}.columns.{table}"
            if table not in tables:
                self.problem(self.at(node, table, tpath), f"no table {table!r} in this product")
                continue
            if not isinstance(columns, LocatedDict):
                self.problem(self.at(node, table, tpath), f"expected a mapping of columns, got {kind_of(columns)}")
                continue
            result[table] = {}
            for column, spec in columns.items():
                cpath = f"{tpath}.{column}"
                spec = spec if spec is not None else LocatedDict()
                if not isinstance(spec, LocatedDict):
                    self.problem(self.at(columns, column, cpath), f"expected a mapping, got {kind_of(spec)}")
                    continue
                self.only_keys(spec, {"tags", "description"}, cpath)
                result[table][column] = ColumnSpec(
                    tags=self.names(spec, "tags", f"{cpath}.tags") or (),
                    description=self.string(spec, "description", f"{cpath}.description") or "",
                    origin=self.at(columns, column, cpath),
                )
        return result

    def policies(self, product: LocatedDict, path: str, tables: Mapping[str, TableSpec]) -> PoliciesSpec:
        """``policies``: each entry's table must be the product's; columns are checked at open.

        Fail closed: an entry whose meaning would be "protect nobody" by accident is refused
        rather than loaded (``for: []``, an empty column name). An empty ``except`` is allowed:
        it exempts nobody.
        """
        node = self.mapping(product, "policies", f"{path}.policies")
        if node is None:
            return PoliciesSpec()
        ppath = f"{path}.policies"
        self.only_keys(node, {"row_filters", "masks", "deny_columns"}, ppath)
        names: dict[str, str] = {}  # lower-cased policy name -> where it is defined
        row_filters: list[RowFilterSpec] = []
        for item, ipath in self.items(node, "row_filters", ppath, {"name", "table", "where", "for"}):
            name = self.policy_name(item, ipath, names)
            table = self.table_ref(item, ipath, tables)
            where = self.string(item, "where", f"{ipath}.where", required=True)
            self.sql(where, self.at(item, "where", f"{ipath}.where"), self.parse_condition)
            for_roles = self.names(item, "for", f"{ipath}.for")
            if for_roles == ():  # would apply to nobody: a filter silently switched off
                self.problem(self.at(item, "for", f"{ipath}.for"),
                             "expected at least one role (omit 'for' to apply the filter to everyone)")
            if table and where:
                row_filters.append(RowFilterSpec(table, where, for_roles, name=name,
                                                 origin=self.entry_at(item, ipath)))
        masks: list[MaskSpec] = []
        for item, ipath in self.items(node, "masks", ppath, {"name", "table", "column", "with", "except"}):
            name = self.policy_name(item, ipath, names)
            table = self.table_ref(item, ipath, tables)
            column = self.column_ref(item, ipath)
            with_ = self.string(item, "with", f"{ipath}.with", required=True)
            self.sql(with_, self.at(item, "with", f"{ipath}.with"), self.parse_expression)
            if table and column and with_:
                masks.append(MaskSpec(table, column, with_, self.names(item, "except", f"{ipath}.except") or (),
                                      name=name, origin=self.entry_at(item, ipath)))
        denies: list[DenyColumnSpec] = []
        for item, ipath in self.items(node, "deny_columns", ppath, {"name", "table", "column", "except"}):
            name = self.policy_name(item, ipath, names)
            table = self.table_ref(item, ipath, tables)
            column = self.column_ref(item, ipath)
            if table and column:
                denies.append(DenyColumnSpec(table, column, self.names(item, "except", f"{ipath}.except") or (),
                                             name=name, origin=self.entry_at(item, ipath)))
        return PoliciesSpec(tuple(row_filters), tuple(masks), tuple(denies))

    def table_ref(self, item: LocatedDict, path: str, tables: Mapping[str, TableSpec]) -> str | None:
        table = self.string(item, "table", f"{path}.table", required=True)
        if table is not None and table not in tables:
            self.problem(self.at(item, "table", f"{path}.table"), f"no table {table!r} in this product")
            return None
        return table

    def column_ref(self, item: LocatedDict, path: str) -> str | None:
        """The entry's ``column``; whether the engine's table has it is checked when the mesh opens."""
        column = self.string(item, "column", f"{path}.column", required=True)
        if column is not None and not column.strip():
            self.problem(self.at(item, "column", f"{path}.column"), "expected a column name")
            return None
        return column

    def policy_name(self, item: LocatedDict, path: str, seen: dict[str, str]) -> str | None:
        """The entry's optional ``name`` (shown by EXPLAIN): an identifier unique within the product."""
        if "name" not in item:
            return None
        where = self.at(item, "name", f"{path}.name")
        name = self.string(item, "name", f"{path}.name", required=True)
        if name is None or not self.identifier(name, where, "policy"):
            return None
        if name.lower() in seen:
            self.problem(where, f"policy name {name!r} is used twice in this product (also at {seen[name.lower()]})")
            return None
        seen[name.lower()] = where
        return name

    def entry_at(self, item: LocatedDict, path: str) -> str:
        return f"{self.file}:{item.line}: {path}" if item.line else f"{self.file}: {path}"


    def settings(self, root: LocatedDict) -> Settings:
        node = self.mapping(root, "settings", "settings")
        if node is None:
            return Settings()
        accepted = {}
        for key, value in node.items():
            if isinstance(value, dict):  # merge_engine: its token may be a ${ENV_VAR}
                value = {name: self.substitute(item, self.at(value, name, f"settings.{key}.{name}"))
                         if isinstance(item, str) else item for name, item in value.items()}
            why = Settings.check(key, value)
            if why is not None:
                self.problem(self.at(node, key, f"settings.{key}"), why)
            else:
                accepted[key] = value
        return Settings.from_mapping(accepted)

