"""The typed model of the mesh descriptor: what ``load_descriptor`` returns.

Every class is frozen: a loaded mesh is a value. Field comments say what each key means; the
descriptor's reference is README.md ("Publishing a product" and "Governance").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract_model import ContractSpec
from .descriptor_privacy import PrivacySpec, StateSpec
from .settings import Settings

__all__ = [
    "AccessSpec",
    "AuditSpec",
    "AuthSpec",
    "ColumnSpec",
    "DenyColumnSpec",
    "EngineSpec",
    "ForeignKeySpec",
    "FreshnessSpec",
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
]


@dataclass(frozen=True)
class EngineSpec:
    kind: str
    path: Path | None = None          # absolute, for file engines
    uri: str | None = None            # for server engines
    options: Mapping[str, Any] = field(default_factory=dict)  # every other key, env-substituted
    origin: str = ""                  # "mesh.yaml:12" for error messages

    @property
    def allow_privileged(self) -> bool:
        """``allow_privileged``: serve even if the engine account may do more than read (a warning)."""
        return self.options.get("allow_privileged") is True


@dataclass(frozen=True)
class ForeignKeySpec:
    """One ``foreign_keys`` entry: ``columns`` of this table reference ``columns`` of another."""

    columns: tuple[str, ...]
    product: str                      # the referenced table's product (this one when unqualified)
    table: str                        # the referenced table, as the descriptor names it
    references: tuple[str, ...]       # the referenced columns, in the same order as ``columns``
    origin: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    source: str                       # the engine's name for it (or a file/glob for parquet)
    description: str = ""
    tags: tuple[str, ...] = ()        # free labels for discovery (mesh.tables); no policy reads them
    origin: str = ""
    # Keys the Flight SQL key commands report. None: not declared, so the engine's own
    # constraints are read (when its connector HasConstraints); () declares that there are none.
    primary_key: tuple[str, ...] | None = None
    foreign_keys: tuple[ForeignKeySpec, ...] | None = None


@dataclass(frozen=True)
class ColumnSpec:
    tags: tuple[str, ...] = ()
    description: str = ""
    origin: str = ""                  # "mesh.yaml:30: products.crm.columns.customers.email"


@dataclass(frozen=True)
class AccessSpec:
    read: tuple[str, ...] = ()
    # Every principal may read, roles or not. Not a descriptor key: only flightmesh's own
    # discovery schemas (mesh, information_schema) are public, and they filter their rows.
    public: bool = False


@dataclass(frozen=True)
class FreshnessSpec:
    """A product's declared freshness promise (``freshness: 24h`` or ``{max_age: 24h, note: ...}``).

    Declared, not measured: discovery shows it so consumers know what the owner promises.
    """

    max_age: str = ""                 # as written: "90m", "24h", "7d"
    max_age_seconds: int | None = None
    note: str = ""                    # free text, e.g. "loaded nightly at 02:00 UTC"


# The three policy entries. ``name`` is the entry's optional ``name:`` key, an identifier unique
# within the product that EXPLAIN shows (governance.policies.TablePolicy.display); ``origin`` is
# where the entry is written ("mesh.yaml:20: products.crm.policies.masks[0]"), for the problems
# found when the mesh opens.


@dataclass(frozen=True)
class RowFilterSpec:
    table: str
    where: str                        # SQL condition over the table's own columns (mesh dialect)
    for_roles: tuple[str, ...] | None = None  # None: applies to everyone; never empty (refused at load)
    name: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class MaskSpec:
    table: str
    column: str
    with_: str                        # SQL expression; may use the column
    except_roles: tuple[str, ...] = ()
    name: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class DenyColumnSpec:
    table: str
    column: str
    except_roles: tuple[str, ...] = ()
    name: str | None = None
    origin: str = ""


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
    tags: tuple[str, ...] = ()        # free labels for discovery (mesh.products)
    freshness: FreshnessSpec | None = None
    contract: ContractSpec | None = None  # ``contract:``, an ODCS v3 document (mesh.contracts)
    privacy: PrivacySpec | None = None    # ``privacy:``, the differential-privacy mode (governance.privacy)


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
    # roles that administer the mesh: see policy text in EXPLAIN, revoke other users' tokens
    admin_roles: tuple[str, ...] = ()


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
    state: StateSpec = field(default_factory=StateSpec)  # ``state:``: the privacy ledger (executor.state_store)
