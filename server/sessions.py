"""Sessions: the current catalog, schema and SQL dialect of a connection, and closing it.

A session is keyed by the caller's bearer token (``Caller.session``): ADBC and JDBC keep one
token per connection. The options clients set are ``catalog`` (the mesh; JDBC's ``catalog`` URL
property), ``schema`` (a product, through ADBC's ``adbc_current_db_schema``) and ``sql_dialect``
(what the client writes, ``mesh.dialects.CLIENT_DIALECTS``; ADBC sends it for the connection
option ``adbc.flight.sql.session.option.sql_dialect``); anything else is answered INVALID_NAME per
option, as the protocol asks, instead of failing the call. A value that is not one of the
option's is INVALID_VALUE. GetSessionOptions always reports ``catalog`` and ``sql_dialect``
(the mesh's default until the session sets one), so a client can read what its SQL is parsed as.

The session actions carry bare Flight.proto messages (not ``Any``), in both directions.
"""

from __future__ import annotations

import threading

from flightmesh.mesh import Catalog, Principal
from flightmesh.mesh.dialects import client_dialect

from .messages import session as messages

__all__ = ["Sessions"]

CATALOG, SCHEMA, SQL_DIALECT = "catalog", "schema", "sql_dialect"
_Error = messages.SetSessionOptionsResult


class Sessions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._options: dict[str, dict[str, str]] = {}

    def current_schema(self, session: str) -> str | None:
        with self._lock:
            return self._options.get(session, {}).get(SCHEMA)

    def current_dialect(self, session: str) -> str | None:
        """The dialect the session chose; None means the mesh's default."""
        with self._lock:
            return self._options.get(session, {}).get(SQL_DIALECT)

    def set_options(
        self, session: str, request: messages.SetSessionOptionsRequest, catalog: Catalog, principal: Principal
    ) -> messages.SetSessionOptionsResult:
        result = messages.SetSessionOptionsResult()
        changes: dict[str, str | None] = {}
        for name, value in request.session_options.items():
            kind = value.WhichOneof("option_value")
            if name not in (CATALOG, SCHEMA, SQL_DIALECT):
                result.errors[name].value = _Error.INVALID_NAME
            elif kind is None:
                changes[name] = None  # a valueless option unsets it
            elif kind != "string_value":
                result.errors[name].value = _Error.INVALID_VALUE
            elif name == CATALOG:
                if value.string_value.lower() == catalog.name.lower():
                    changes[name] = catalog.name
                else:
                    result.errors[name].value = _Error.INVALID_VALUE
            elif name == SQL_DIALECT:
                dialect = client_dialect(value.string_value, catalog.spec.sql_dialect)
                if dialect is None:
                    result.errors[name].value = _Error.INVALID_VALUE
                else:
                    changes[name] = dialect
            else:
                # A product the principal may not read is refused exactly like a missing one.
                product = catalog.product(value.string_value, principal)
                if product is None:
                    result.errors[name].value = _Error.INVALID_VALUE
                else:
                    changes[name] = product.name
        with self._lock:
            options = self._options.setdefault(session, {})
            for name, new in changes.items():
                if new is None:
                    options.pop(name, None)
                else:
                    options[name] = new
        return result

    def get_options(self, session: str, catalog: Catalog) -> messages.GetSessionOptionsResult:
        with self._lock:
            options = dict(self._options.get(session, {}))
        options.setdefault(CATALOG, catalog.name)
        options.setdefault(SQL_DIALECT, catalog.spec.sql_dialect)
        result = messages.GetSessionOptionsResult()
        for name, value in options.items():
            result.session_options[name].string_value = value
        return result

    def close(self, session: str) -> messages.CloseSessionResult:
        with self._lock:
            self._options.pop(session, None)
        return messages.CloseSessionResult(status=messages.CloseSessionResult.CLOSED)
