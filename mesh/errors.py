"""The one error tree of flightmesh.

Every failure that reaches a user is one of these classes. The server maps them to Flight status
codes in exactly one place (``flightmesh.server.errors``); nothing below the server knows about
gRPC. The tree::

    FlightmeshError
    ├── DescriptorError          the mesh descriptor is wrong (file, key path, what was expected)
    ├── AuthenticationError      bad credentials, missing or invalid token        -> UNAUTHENTICATED
    ├── AccessDenied             authenticated, but not allowed to do this         -> UNAUTHORIZED
    │   └── ReadOnlyViolation    DDL/DML and other statements that would write     -> UNAUTHORIZED
    ├── QueryError               the client's query cannot be run as written       -> INVALID_ARGUMENT
    │   ├── SqlSyntaxError       does not parse; carries line and column
    │   ├── UnsupportedQuery     parses, but flightmesh cannot plan it
    │   ├── ForbiddenFunction    a function that is not on the allow-list (read_csv, pg_read_file...)
    │   ├── ParameterError       wrong number or type of bound parameters
    │   ├── DataError            an engine or the merge failed on a value: conversion, overflow,
    │   │                        division by zero, invalid date/time, string too long; names the
    │   │                        product and the reason class, quotes a value only when it is the
    │   │                        client's own literal (``connectors.engine_errors`` decides)
    │   └── NotFound             an object the principal cannot see               -> NOT_FOUND
    │       ├── UnknownTable     does not exist *or* is not granted: same message either way
    │       └── UnknownColumn    does not exist *or* is denied: same message either way
    ├── EngineError              a product's engine failed the fragment            -> INTERNAL
    │   └── EngineUnavailable    the engine cannot be reached; names the product    -> UNAVAILABLE
    ├── QueryTimeout             a deadline passed                                 -> TIMED_OUT
    ├── QueryCancelled           the client went away or cancelled                 -> CANCELLED
    ├── PrivacyBudgetExhausted   the differential-privacy budget is spent          -> UNAUTHORIZED
    └── ServerBusy               admission control refused the query (names the limit) -> UNAVAILABLE

Messages are written for the person who sent the query. They never contain a value from a row,
nor the name of an object the principal may not see.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "DataError",
    "DescriptorError",
    "EngineError",
    "EngineUnavailable",
    "FlightmeshError",
    "ForbiddenFunction",
    "NotFound",
    "ParameterError",
    "PrivacyBudgetExhausted",
    "QueryCancelled",
    "QueryError",
    "QueryTimeout",
    "ReadOnlyViolation",
    "ServerBusy",
    "SqlSyntaxError",
    "UnknownColumn",
    "UnknownTable",
    "UnsupportedQuery",
]


class FlightmeshError(Exception):
    """Base of every error flightmesh raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class DescriptorError(FlightmeshError):
    """The mesh descriptor is invalid. ``problems`` lists every mistake found, not only the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        head = "invalid mesh descriptor" if len(problems) != 1 else "invalid mesh descriptor:"
        body = "\n  ".join(problems)
        super().__init__(f"{head}\n  {body}" if len(problems) != 1 else f"{head} {body}")


class AuthenticationError(FlightmeshError):
    """Credentials are wrong or missing. Deliberately vague about which part was wrong."""


class AccessDenied(FlightmeshError):
    """The principal is known but may not do this."""


class ReadOnlyViolation(AccessDenied):
    """A statement that would change data or configuration: the mesh is read-only."""


class QueryError(FlightmeshError):
    """The query, as written, cannot be run."""


class SqlSyntaxError(QueryError):
    """The SQL does not parse. ``line`` and ``column`` are 1-based, as editors show them."""

    def __init__(self, detail: str, line: int | None = None, column: int | None = None) -> None:
        self.line = line
        self.column = column
        where = f" at line {line}, column {column}" if line is not None and column is not None else ""
        super().__init__(f"SQL syntax error{where}: {detail}")


class UnsupportedQuery(QueryError):
    """Valid SQL that flightmesh cannot plan (yet)."""


class ForbiddenFunction(QueryError):
    """A function or table function outside the allow-list."""


class ParameterError(QueryError):
    """Bound parameters do not fit the statement."""


class DataError(QueryError):
    """A value made the engine (or the merge engine) fail: the query asked for something its data
    cannot give, e.g. ``WHERE order_id = 'abc'`` on an integer column.

    ``reason`` names the reason class and the type ("a value could not be converted to
    INTEGER"); ``scope`` says where ("product sales", or the merge). ``quoted`` is the same reason
    quoting the failing value, and ``candidate`` that value: the engine showed it is a literal of
    the statement it ran, but that statement also holds policy literals, so the executor shows
    ``quoted`` only after matching ``candidate`` against the client's own literals
    (``with_client_value``). ``internal`` keeps the engine's message for the server log only.
    """

    def __init__(self, scope: str, reason: str, *, product: str | None = None, quoted: str | None = None,
                 candidate: str | None = None, internal: str | None = None) -> None:
        self.scope = scope
        self.reason = reason
        self.product = product
        self.quoted = quoted
        self.candidate = candidate
        self.internal = internal
        super().__init__(f"{scope}: {reason}")

    def with_client_value(self, client_literals: frozenset[str]) -> DataError:
        """This error quoting its value when the value is one of ``client_literals``; else itself."""
        if self.quoted is None or self.candidate is None or self.candidate not in client_literals:
            return self
        return DataError(self.scope, self.quoted, product=self.product, internal=self.internal)

    def in_product(self, product: str) -> DataError:
        """This error naming ``product``: the merge engine failed over that product's rows alone."""
        return DataError(f"product {product}", self.reason, product=product, quoted=self.quoted,
                         candidate=self.candidate, internal=self.internal)


class NotFound(QueryError):
    """An object that does not exist, or that the principal is not allowed to know about."""


class UnknownTable(NotFound):
    """``hint`` (e.g. "did you mean crm.customers?") may name only what the principal can see."""

    def __init__(self, name: str, hint: str = "") -> None:
        self.name = name
        super().__init__(f"table {name} does not exist" + (f"; {hint}" if hint else ""))


class UnknownColumn(NotFound):
    def __init__(self, name: str, table: str | None = None, hint: str = "") -> None:
        self.name = name
        self.table = table
        where = f" in {table}" if table else ""
        super().__init__(f"column {name} does not exist{where}" + (f"; {hint}" if hint else ""))


class EngineError(FlightmeshError):
    """A product's engine failed while running a fragment. ``product`` names the product.

    ``detail`` is safe to show the client. ``internal`` keeps the engine's own message for the
    server log only: engines echo row values in some errors (a failed cast, say), and those
    values may be hidden from the person asking.
    """

    def __init__(self, product: str, detail: str, *, internal: str | None = None) -> None:
        self.product = product
        self.detail = detail
        self.internal = internal
        super().__init__(f"product {product}: {detail}")


class EngineUnavailable(EngineError):
    """The engine of ``product`` cannot be reached (file gone, server down, credentials refused)."""

    def __init__(self, product: str, detail: str, *, internal: str | None = None) -> None:
        super().__init__(product, f"engine unavailable: {detail}", internal=internal)


class QueryTimeout(FlightmeshError):
    """A deadline passed; the engines' queries were cancelled."""


class QueryCancelled(FlightmeshError):
    """The client cancelled or went away; the engines' queries were cancelled."""


class PrivacyBudgetExhausted(FlightmeshError):
    """The principal's differential-privacy budget for a product is spent."""


class ServerBusy(FlightmeshError):
    """Admission control refused the query: a limit on running or queued queries is reached.

    Retryable, so the server answers UNAVAILABLE (the code load balancers and clients retry);
    the message names the setting whose limit was reached.
    """
