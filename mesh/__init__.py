"""The vocabulary of flightmesh: the descriptor, the catalog, principals and the error tree."""

from .cancel import CancelScope
from .catalog import Catalog, CatalogTable
from .descriptor import (
    ENGINE_KINDS,
    AccessSpec,
    AuditSpec,
    AuthSpec,
    ColumnSpec,
    DenyColumnSpec,
    EngineSpec,
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
    load_descriptor,
)
from .errors import *  # noqa: F403 - the error tree is part of the vocabulary
from .errors import __all__ as _errors_all
from .principal import Principal
from .settings import DOCS as SETTINGS_DOCS
from .settings import Settings

__all__ = [
    "ENGINE_KINDS",
    "SETTINGS_DOCS",
    "AccessSpec",
    "AuditSpec",
    "AuthSpec",
    "CancelScope",
    "Catalog",
    "CatalogTable",
    "ColumnSpec",
    "DenyColumnSpec",
    "EngineSpec",
    "JwtSpec",
    "MaskSpec",
    "MeshSpec",
    "PoliciesSpec",
    "Principal",
    "ProductSpec",
    "RowFilterSpec",
    "Settings",
    "TableSpec",
    "TagMaskSpec",
    "TlsSpec",
    "UserSpec",
    "load_descriptor",
    *_errors_all,
]
