"""Sessions: the current catalog and schema of a connection, and closing it.

A session is keyed by the caller's bearer token (``Caller.session``): ADBC and JDBC keep one
token per connection. The options clients set are ``catalog`` (the mesh; JDBC's ``catalog`` URL
property) and ``schema`` (a product, through ADBC's ``adbc_current_db_schema``); anything else is
answered INVALID_NAME per option, as the protocol asks, instead of failing the call.

The session actions carry bare Flight.proto messages (not ``Any``), in both directions.
"""

from __future__ import annotations

import threading

from flightmesh.mesh import Catalog, Principal

from .messages import session as messages

__all__ = ["Sessions"]

CATALOG, SCHEMA = "catalog", "schema"
_Error = messages.SetSessionOptionsResult


class Sessions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._options: dict[str, dict[str, str]] = {}

    def current_schema(self, session: str) -> str | None:
        with self._lock:
            return self._options.get(session, {}).get(SCHEMA)

    def set_options(
        self, session: str, request: messages.SetSessionOptionsRequest, catalog: Catalog, principal: Principal
    ) -> messages.SetSessionOptionsResult:
        result = messages.SetSessionOptionsResult()
        changes: dict[str, str | None] = {}
        for name, value in request.session_options.items():
            kind = value.WhichOneof("option_value")
            if name not in (CATALOG, SCHEMA):
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
        result = messages.GetSessionOptionsResult()
        for name, value in options.items():
            result.session_options[name].string_value = value
        return result

    def close(self, session: str) -> messages.CloseSessionResult:
        with self._lock:
            self._options.pop(session, None)
        return messages.CloseSessionResult(status=messages.CloseSessionResult.CLOSED)
