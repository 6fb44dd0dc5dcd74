"""The mesh descriptor: the typed model of ``mesh.yaml`` and the loader that validates it.

``load_descriptor(path)`` returns a ``MeshSpec`` or raises ``DescriptorError`` listing every
mistake as ``file:line: key.path: what was expected``. It refuses rather than guesses: unknown
keys, duplicate keys, unset ``${ENV_VAR}``s, files that do not exist and SQL that does not parse
are all errors, so a server never starts half-configured.

Products may also live one per file in ``products/<name>.yaml`` beside the descriptor; such a
file holds the product's keys directly and its name is the file's stem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot.errors import ParseError

from .errors import DescriptorError
from .settings import Settings
from .yaml_source import LocatedDict, LocatedList, YamlProblem, read_yaml

__all__ = [
    "ENGINE_KINDS",
    "AccessSpec",
    "AuditSpec",
    "AuthSpec",
    "ColumnSpec",
    "DenyColumnSpec",
    "EngineSpec",
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
SERVER_ENGINES = ("postgresql", "mysql", "flightsql")
ENGINE_KINDS = FILE_ENGINES + SERVER_ENGINES

# Keys each engine kind accepts, beyond ``kind``. Required ones are listed first in _REQUIRED.
_ENGINE_KEYS: dict[str, frozenset[str]] = {
    "duckdb": frozenset({"path", "timeout_seconds"}),
    "sqlite": frozenset({"path", "timeout_seconds"}),
    "parquet": frozenset({"path", "timeout_seconds"}),
    "postgresql": frozenset({"uri", "password", "pool_size", "timeout_seconds"}),
    "mysql": frozenset({"uri", "password", "pool_size", "timeout_seconds"}),
    "flightsql": frozenset(
        {"uri", "username", "password", "token", "tls_root_certs", "tls_skip_verify", "pool_size",
         "timeout_seconds"}
    ),
}
_REQUIRED = {"duckdb": "path", "sqlite": "path", "parquet": "path", "postgresql": "uri", "mysql": "uri",
             "flightsql": "uri"}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_SCHEMAS = frozenset({"information_schema", "pg_catalog", "system", "flightmesh"})
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# JWT algorithms by key kind (governance.identity enforces the same split when verifying).
_ASYMMETRIC_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
_HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")


@dataclass(frozen=True)
class EngineSpec:
    kind: str
    path: Path | None = None          # absolute, for file engines
    uri: str | None = None            # for server engines
    options: Mapping[str, Any] = field(default_factory=dict)  # every other key, env-substituted
    origin: str = ""                  # "mesh.yaml:12" for error messages


@dataclass(frozen=True)
class TableSpec:
    name: str
    source: str                       # the engine's name for it (or a file/glob for parquet)
    description: str = ""
    origin: str = ""


@dataclass(frozen=True)
class ColumnSpec:
    tags: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class AccessSpec:
    read: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowFilterSpec:
    table: str
    where: str                        # SQL condition over the table's own columns (mesh dialect)
    for_roles: tuple[str, ...] | None = None  # None: applies to everyone


@dataclass(frozen=True)
class MaskSpec:
    table: str
    column: str
    with_: str                        # SQL expression; may use the column
    except_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class DenyColumnSpec:
    table: str
    column: str
    except_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class PoliciesSpec:
    row_filters: tuple[RowFilterSpec, ...] = ()
    masks: tuple[MaskSpec, ...] = ()
    deny_columns: tuple[DenyColumnSpec, ...] = ()


@dataclass(frozen=True)
class ProductSpec:
    name: str
    engine: EngineSpec
    tables: Mapping[str, TableSpec]
    domain: str = ""
    owner: str = ""
    description: str = ""
    access: AccessSpec = AccessSpec()
    columns: Mapping[str, Mapping[str, ColumnSpec]] = field(default_factory=dict)
    policies: PoliciesSpec = PoliciesSpec()
    origin: str = ""


@dataclass(frozen=True)
class TagMaskSpec:
    tag: str
    with_: str
    except_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserSpec:
    name: str
    roles: tuple[str, ...] = ()
    password: str | None = None       # plain (demos; usually from ${ENV})
    password_hash: str | None = None  # argon2/bcrypt hash
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JwtSpec:
    """``auth.jwt``: bearer tokens from an external identity provider (exactly one key source)."""

    issuer: str
    audience: str
    public_key_file: Path | None = None   # PEM; absolute
    jwks_file: Path | None = None         # a JWK Set document; absolute
    secret: str | None = None             # shared HMAC secret, usually ${ENV}
    algorithms: tuple[str, ...] = ()      # default: all the key kind allows
    roles_claim: str = "roles"            # dotted path into the claims
    username_claim: str = "sub"


@dataclass(frozen=True)
class TlsSpec:
    """``auth.tls``: the server's certificate; ``client_ca_file`` turns on mutual TLS."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


@dataclass(frozen=True)
class AuthSpec:
    token_secret: str | None = None       # HMAC key of bearer tokens (>= 32 bytes); random per start if unset
    allow_plaintext_passwords: bool = False  # Basic credentials without TLS off loopback
    jwt: JwtSpec | None = None
    tls: TlsSpec | None = None


@dataclass(frozen=True)
class AuditSpec:
    """``governance.audit``: where the JSON lines go and who may query ``flightmesh.audit``."""

    file: Path | None = None              # appended to; absolute
    read: tuple[str, ...] = ()            # roles that may query flightmesh.audit (none: nobody)
    keep: int = 10_000                    # most recent records kept in memory for SQL


@dataclass(frozen=True)
class MeshSpec:
    name: str
    products: Mapping[str, ProductSpec]
    users: Mapping[str, UserSpec] = field(default_factory=dict)
    sql_dialect: str = "duckdb"
    description: str = ""
    tag_masks: tuple[TagMaskSpec, ...] = ()
    settings: Settings = field(default_factory=Settings)
    source: Path | None = None
    auth: AuthSpec = AuthSpec()
    audit: AuditSpec = AuditSpec()


def load_descriptor(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> MeshSpec:
    """Load and validate ``path``. Raises ``DescriptorError`` with every problem found."""
    reader = _Reader(Path(path).resolve(), os.environ if env is None else env)
    spec = reader.read()
    if reader.problems:
        raise DescriptorError(reader.problems)
    assert spec is not None
    return spec


class _Reader:
    """Walks the parsed YAML, collecting problems instead of stopping at the first one."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.base = path.parent
        self.env = env
        self.problems: list[str] = []
        self.file = path.name
        self.dialect = "duckdb"

    # -- reporting ---------------------------------------------------------------------------

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def at(self, node: Any, key: str | int, path: str) -> str:
        line = None
        if isinstance(node, LocatedDict):
            line = node.key_lines.get(str(key), node.line)
        elif isinstance(node, LocatedList) and isinstance(key, int) and key < len(node.item_lines):
            line = node.item_lines[key]
        return f"{self.file}:{line}: {path}" if line else f"{self.file}: {path}"

    # -- typed getters -------------------------------------------------------------------------

    def mapping(self, parent: Any, key: str, path: str, *, required: bool = False) -> LocatedDict | None:
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            if required:
                self.problem(self.at(parent, key, path), "is required (a mapping)")
            return None
        if not isinstance(value, LocatedDict):
            self.problem(self.at(parent, key, path), f"expected a mapping, got {_kind(value)}")
            return None
        return value

    def string(self, parent: Any, key: str, path: str, *, required: bool = False) -> str | None:
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            if required:
                self.problem(self.at(parent, key, path), "is required (a string)")
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problem(self.at(parent, key, path), f"expected a string, got {_kind(value)}")
            return None
        return self.substitute(value, self.at(parent, key, path))

    def names(self, parent: Any, key: str, path: str) -> tuple[str, ...] | None:
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(self.at(parent, key, path), f"expected a list of names, got {_kind(value)}")
            return None
        return tuple(value)

    def only_keys(self, node: LocatedDict, allowed: frozenset[str] | set[str], path: str) -> None:
        for key in node:
            if key not in allowed:
                self.problem(
                    self.at(node, key, f"{path}.{key}" if path else key),
                    f"unknown key; expected one of {', '.join(sorted(allowed))}",
                )

    def substitute(self, value: str, where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.env:
                self.problem(where, f"environment variable {name} is not set")
                return ""
            return self.env[name]

        return _ENV.sub(replace, value)

    def sql(self, text: str | None, where: str, parse: Callable[[str], Any]) -> None:
        if text is None:
            return
        try:
            parse(text)
        except ParseError as error:
            detail = error.errors[0]["description"] if error.errors else str(error)
            self.problem(where, f"not valid SQL ({self.dialect}): {detail}")

    def identifier(self, name: str, where: str, what: str) -> bool:
        if not _NAME.match(name):
            self.problem(where, f"{what} name {name!r} must be letters, digits and _ (not starting with a digit)")
            return False
        return True

    # -- the document ------------------------------------------------------------------------

    def read(self) -> MeshSpec | None:
        root = self.load(self.path)
        if root is None:
            return None
        self.only_keys(root, {"mesh", "products", "users", "governance", "settings", "auth"}, "")
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
        users = self.users(root)
        tag_masks, audit = self.governance(root)
        settings = self.settings(root)
        auth = self.auth(root)
        return MeshSpec(
            name=name, sql_dialect=dialect, description=self.string(mesh, "description", "mesh.description") or "",
            products=products, users=users, tag_masks=tag_masks, settings=settings, source=self.path,
            auth=auth, audit=audit,
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
            self.problem(self.file, f"expected a mapping at the top, got {_kind(root)}")
            return None
        return root

    def products(self, root: LocatedDict) -> dict[str, ProductSpec]:
        result: dict[str, ProductSpec] = {}
        seen: dict[str, str] = {}
        top_file = self.file
        section = self.mapping(root, "products", "products") or LocatedDict()
        sources: list[tuple[str, LocatedDict, LocatedDict, str]] = [
            (top_file, section, node, name) for name, node in section.items()
        ]
        folder = self.base / "products"
        if folder.is_dir():
            for product_file in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
                node = self.load(product_file)
                if node is not None:
                    holder = LocatedDict({product_file.stem: node})
                    holder.key_lines = {product_file.stem: 1}
                    sources.append((self.file, holder, node, product_file.stem))
        for file, parent, node, name in sources:
            self.file = file
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
                self.problem(where, f"expected a mapping, got {_kind(node)}")
                continue
            product = self.product(name, node, path, where)
            if product is not None:
                result[name] = product
        self.file = top_file
        if not result and not self.problems:
            self.problem(f"{self.file}: products", "the mesh has no products; expected at least one")
        return result

    def product(self, name: str, node: LocatedDict, path: str, where: str) -> ProductSpec | None:
        self.only_keys(
            node, {"domain", "owner", "description", "engine", "tables", "access", "columns", "policies"}, path
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
        return ProductSpec(
            name=name, engine=engine, tables=tables,
            domain=self.string(node, "domain", f"{path}.domain") or "",
            owner=self.string(node, "owner", f"{path}.owner") or "",
            description=self.string(node, "description", f"{path}.description") or "",
            access=AccessSpec(read=read), columns=columns, policies=policies, origin=where,
        )

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
            if isinstance(raw, (bool, int, float)):
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
                self.problem(where, f"expected a mapping (or nothing), got {_kind(table)}")
                continue
            self.only_keys(table, {"source", "description"}, tpath)
            source = self.string(table, "source", f"{tpath}.source")
            if source is None:
                source = f"{name}.parquet" if engine is not None and engine.kind == "parquet" else name
            result[name] = TableSpec(
                name=name, source=source, description=self.string(table, "description", f"{tpath}.description") or "",
                origin=where,
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
                self.problem(self.at(node, table, tpath), f"expected a mapping of columns, got {_kind(columns)}")
                continue
            result[table] = {}
            for column, spec in columns.items():
                cpath = f"{tpath}.{column}"
                spec = spec if spec is not None else LocatedDict()
                if not isinstance(spec, LocatedDict):
                    self.problem(self.at(columns, column, cpath), f"expected a mapping, got {_kind(spec)}")
                    continue
                self.only_keys(spec, {"tags", "description"}, cpath)
                result[table][column] = ColumnSpec(
                    tags=self.names(spec, "tags", f"{cpath}.tags") or (),
                    description=self.string(spec, "description", f"{cpath}.description") or "",
                )
        return result

    def policies(self, product: LocatedDict, path: str, tables: Mapping[str, TableSpec]) -> PoliciesSpec:
        node = self.mapping(product, "policies", f"{path}.policies")
        if node is None:
            return PoliciesSpec()
        ppath = f"{path}.policies"
        self.only_keys(node, {"row_filters", "masks", "deny_columns"}, ppath)
        row_filters: list[RowFilterSpec] = []
        for item, ipath in self.items(node, "row_filters", ppath, {"table", "where", "for"}):
            table = self.table_ref(item, ipath, tables)
            where = self.string(item, "where", f"{ipath}.where", required=True)
            self.sql(where, self.at(item, "where", f"{ipath}.where"), self.parse_condition)
            if table and where:
                row_filters.append(RowFilterSpec(table, where, self.names(item, "for", f"{ipath}.for")))
        masks: list[MaskSpec] = []
        for item, ipath in self.items(node, "masks", ppath, {"table", "column", "with", "except"}):
            table = self.table_ref(item, ipath, tables)
            column = self.string(item, "column", f"{ipath}.column", required=True)
            with_ = self.string(item, "with", f"{ipath}.with", required=True)
            self.sql(with_, self.at(item, "with", f"{ipath}.with"), self.parse_expression)
            if table and column and with_:
                masks.append(MaskSpec(table, column, with_, self.names(item, "except", f"{ipath}.except") or ()))
        denies: list[DenyColumnSpec] = []
        for item, ipath in self.items(node, "deny_columns", ppath, {"table", "column", "except"}):
            table = self.table_ref(item, ipath, tables)
            column = self.string(item, "column", f"{ipath}.column", required=True)
            if table and column:
                denies.append(DenyColumnSpec(table, column, self.names(item, "except", f"{ipath}.except") or ()))
        return PoliciesSpec(tuple(row_filters), tuple(masks), tuple(denies))

    def items(self, node: LocatedDict, key: str, path: str, allowed: set[str]) -> list[tuple[LocatedDict, str]]:
        value = node.get(key)
        if value is None:
            return []
        if not isinstance(value, LocatedList):
            self.problem(self.at(node, key, f"{path}.{key}"), f"expected a list, got {_kind(value)}")
            return []
        result = []
        for index, item in enumerate(value):
            ipath = f"{path}.{key}[{index}]"
            if not isinstance(item, LocatedDict):
                self.problem(self.at(value, index, ipath), f"expected a mapping, got {_kind(item)}")
                continue
            self.only_keys(item, allowed, ipath)
            result.append((item, ipath))
        return result

    def table_ref(self, item: LocatedDict, path: str, tables: Mapping[str, TableSpec]) -> str | None:
        table = self.string(item, "table", f"{path}.table", required=True)
        if table is not None and table not in tables:
            self.problem(self.at(item, "table", f"{path}.table"), f"no table {table!r} in this product")
            return None
        return table

    def parse_condition(self, text: str) -> Any:
        return sqlglot.parse_one(text, read=self.dialect, into=sqlglot.exp.Condition)

    def parse_expression(self, text: str) -> Any:
        return sqlglot.parse_one(text, read=self.dialect, into=sqlglot.exp.Condition)

    def users(self, root: LocatedDict) -> dict[str, UserSpec]:
        node = self.mapping(root, "users", "users")
        result: dict[str, UserSpec] = {}
        if node is None:
            return result
        for name, user in node.items():
            path = f"users.{name}"
            where = self.at(node, name, path)
            if not isinstance(user, LocatedDict):
                self.problem(where, f"expected a mapping, got {_kind(user)}")
                continue
            self.only_keys(user, {"password", "password_hash", "roles", "attributes"}, path)
            password = self.string(user, "password", f"{path}.password")
            password_hash = self.string(user, "password_hash", f"{path}.password_hash")
            if password is not None and password_hash is not None:
                self.problem(where, "give password or password_hash, not both")
            if password_hash is not None and not password_hash.startswith("$argon2"):
                self.problem(self.at(user, "password_hash", f"{path}.password_hash"),
                             "expected an argon2 hash ($argon2id$...); write one with "
                             "python -m flightmesh.governance.identity")
            attributes: Mapping[str, Any] = self.mapping(user, "attributes", f"{path}.attributes") or {}
            result[name] = UserSpec(
                name=name, roles=self.names(user, "roles", f"{path}.roles") or (),
                password=password, password_hash=password_hash, attributes=dict(attributes),
            )
        return result

    def governance(self, root: LocatedDict) -> tuple[tuple[TagMaskSpec, ...], AuditSpec]:
        node = self.mapping(root, "governance", "governance")
        if node is None:
            return (), AuditSpec()
        self.only_keys(node, {"tag_masks", "audit"}, "governance")
        result = []
        for item, ipath in self.items(node, "tag_masks", "governance", {"tag", "with", "except"}):
            tag = self.string(item, "tag", f"{ipath}.tag", required=True)
            with_ = self.string(item, "with", f"{ipath}.with", required=True)
            self.sql(with_, self.at(item, "with", f"{ipath}.with"), self.parse_expression)
            if tag and with_:
                result.append(TagMaskSpec(tag, with_, self.names(item, "except", f"{ipath}.except") or ()))
        return tuple(result), self.audit(node)

    def audit(self, governance: LocatedDict) -> AuditSpec:
        node = self.mapping(governance, "audit", "governance.audit")
        if node is None:
            return AuditSpec()
        path = "governance.audit"
        self.only_keys(node, {"file", "read", "keep"}, path)
        file = self.string(node, "file", f"{path}.file")
        keep = node.get("keep", 10_000)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            self.problem(self.at(node, "keep", f"{path}.keep"), f"expected a whole number >= 0, got {keep!r}")
            keep = 10_000
        resolved = None
        if file is not None:
            resolved = (self.base / file).resolve()
            if not resolved.parent.is_dir():
                self.problem(self.at(node, "file", f"{path}.file"),
                             f"folder {resolved.parent} does not exist")
        return AuditSpec(file=resolved, read=self.names(node, "read", f"{path}.read") or (), keep=keep)

    def auth(self, root: LocatedDict) -> AuthSpec:
        node = self.mapping(root, "auth", "auth")
        if node is None:
            return AuthSpec()
        self.only_keys(node, {"token_secret", "allow_plaintext_passwords", "jwt", "tls"}, "auth")
        secret = self.string(node, "token_secret", "auth.token_secret")
        if secret is not None and len(secret.encode()) < 32:
            self.problem(self.at(node, "token_secret", "auth.token_secret"),
                         "expected at least 32 bytes (e.g. from `openssl rand -hex 32`)")
        plaintext = node.get("allow_plaintext_passwords", False)
        if not isinstance(plaintext, bool):
            self.problem(self.at(node, "allow_plaintext_passwords", "auth.allow_plaintext_passwords"),
                         f"expected true or false, got {plaintext!r}")
            plaintext = False
        return AuthSpec(token_secret=secret, allow_plaintext_passwords=plaintext, jwt=self.jwt(node),
                        tls=self.tls(node))

    def existing_file(self, node: LocatedDict, key: str, path: str) -> Path | None:
        value = self.string(node, key, path)
        if value is None:
            return None
        resolved = (self.base / value).resolve()
        if not resolved.is_file():
            self.problem(self.at(node, key, path), f"{value} is not a file (resolved to {resolved})")
        return resolved

    def jwt(self, auth: LocatedDict) -> JwtSpec | None:
        node = self.mapping(auth, "jwt", "auth.jwt")
        if node is None:
            return None
        path = "auth.jwt"
        self.only_keys(node, {"issuer", "audience", "public_key_file", "jwks_file", "secret", "algorithms",
                              "roles_claim", "username_claim"}, path)
        issuer = self.string(node, "issuer", f"{path}.issuer", required=True)
        audience = self.string(node, "audience", f"{path}.audience", required=True)
        public_key = self.existing_file(node, "public_key_file", f"{path}.public_key_file")
        jwks = self.existing_file(node, "jwks_file", f"{path}.jwks_file")
        secret = self.string(node, "secret", f"{path}.secret")
        if sum(value is not None for value in (public_key, jwks, secret)) != 1:
            self.problem(self.at(auth, "jwt", path),
                         "expected exactly one of public_key_file, jwks_file, secret")
        algorithms = self.names(node, "algorithms", f"{path}.algorithms") or ()
        allowed = _HMAC_ALGORITHMS if secret is not None else _ASYMMETRIC_ALGORITHMS
        for algorithm in algorithms:
            if algorithm not in allowed:
                self.problem(self.at(node, "algorithms", f"{path}.algorithms"),
                             f"{algorithm!r} cannot be used with this key; "
                             f"expected one of {', '.join(allowed)}")
        if issuer is None or audience is None:
            return None
        return JwtSpec(issuer=issuer, audience=audience, public_key_file=public_key, jwks_file=jwks,
                       secret=secret, algorithms=algorithms,
                       roles_claim=self.string(node, "roles_claim", f"{path}.roles_claim") or "roles",
                       username_claim=self.string(node, "username_claim", f"{path}.username_claim") or "sub")

    def tls(self, auth: LocatedDict) -> TlsSpec | None:
        node = self.mapping(auth, "tls", "auth.tls")
        if node is None:
            return None
        self.only_keys(node, {"cert_file", "key_file", "client_ca_file"}, "auth.tls")
        if "cert_file" not in node or "key_file" not in node:
            self.problem(self.at(auth, "tls", "auth.tls"), "expected cert_file and key_file")
        cert = self.existing_file(node, "cert_file", "auth.tls.cert_file")
        key = self.existing_file(node, "key_file", "auth.tls.key_file")
        client_ca = self.existing_file(node, "client_ca_file", "auth.tls.client_ca_file")
        if cert is None or key is None:
            return None
        return TlsSpec(cert_file=cert, key_file=key, client_ca_file=client_ca)

    def settings(self, root: LocatedDict) -> Settings:
        node = self.mapping(root, "settings", "settings")
        if node is None:
            return Settings()
        accepted = {}
        for key, value in node.items():
            why = Settings.check(key, value)
            if why is not None:
                self.problem(self.at(node, key, f"settings.{key}"), why)
            else:
                accepted[key] = value
        return Settings.from_mapping(accepted)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    return f"{type(value).__name__} {value!r}"
