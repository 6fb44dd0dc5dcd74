"""The one place where flightmesh errors become Flight statuses.

The error tree lives in ``flightmesh.mesh.errors``; this module maps it (DESIGN.md §6)::

    QueryError (SqlSyntaxError, UnsupportedQuery, ...)  -> INVALID_ARGUMENT  (pyarrow.ArrowInvalid)
    DataError (conversion, overflow, division by zero)  -> INVALID_ARGUMENT, str(error); error.internal is logged
    NotFound (UnknownTable, UnknownColumn)               -> NOT_FOUND         (pyarrow.ArrowKeyError)
    AuthenticationError                                 -> UNAUTHENTICATED
    AccessDenied, ReadOnlyViolation,
      PrivacyBudgetExhausted                            -> UNAUTHORIZED      (gRPC PERMISSION_DENIED)
    EngineUnavailable                                   -> UNAVAILABLE
    ServerBusy (admission control; names the limit)     -> UNAVAILABLE
    EngineError                                         -> INTERNAL, str(error); error.internal is logged
    QueryTimeout                                        -> TIMED_OUT         (gRPC DEADLINE_EXCEEDED)
    QueryCancelled                                      -> CANCELLED
    BadRequest (a malformed protocol message)           -> INVALID_ARGUMENT
    NotImplementedError                                 -> UNIMPLEMENTED
    anything else                                       -> INTERNAL, a generic message with an
                                                           incident id; the full error is logged

Why the raising is done so carefully: for an exception that is not a ``FlightError``, pyarrow
appends ``traceback.format_exception(...)`` of the exception to the status message the client
sees — every frame it passed through, and every chained exception with *its* frames and message.
An engine's own message may hold row values a principal must not see, so each handler is wrapped
by ``flight_errors`` (or ``guarded`` for streams), which converts the error and raises the
converted one *outside* the ``except`` block with ``from None``: the client then sees the message
and one frame of this module, nothing chained.

That one frame still names a server file, and pyarrow sends it too: for a Python exception it
raises INVALID_ARGUMENT, NOT_FOUND or UNIMPLEMENTED with a ``PythonErrorDetail``, whose text
(``traceback.format_exception`` of the exception, looked up on the ``traceback`` module at each
call) becomes the status *Detail*. FlightError statuses carry only their code name. So every
exception this module hands to pyarrow is marked (``_CLIENT_FACING``), and ``format_exception``
is wrapped once at import: for a marked exception it answers the status name alone, for anything
else it is the standard function, unchanged. The server log keeps the full error: it is written
before conversion, with ``traceback.print_exception`` (logging), which the wrapper does not touch.
"""

from __future__ import annotations

import functools
import logging
import secrets
import traceback
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.flight as flight

from flightmesh.mesh import (
    AccessDenied,
    AuthenticationError,
    DataError,
    EngineError,
    EngineUnavailable,
    FlightmeshError,
    NotFound,
    PrivacyBudgetExhausted,
    QueryCancelled,
    QueryError,
    QueryTimeout,
)
from flightmesh.mesh.errors import ServerBusy

__all__ = ["BadRequest", "flight_errors", "guarded", "log", "to_flight_error", "with_query_id"]

log = logging.getLogger("flightmesh.server")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


class BadRequest(Exception):
    """A request that breaks the protocol (malformed command, wrong message): INVALID_ARGUMENT.

    Server-side only: below the server, every error is part of the mesh error tree.
    """


# Most specific first: NotFound is a QueryError, EngineUnavailable an EngineError.
_STATUS_OF: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (NotFound, pa.ArrowKeyError),
    (QueryError, pa.ArrowInvalid),
    (BadRequest, pa.ArrowInvalid),
    (AuthenticationError, flight.FlightUnauthenticatedError),
    (AccessDenied, flight.FlightUnauthorizedError),
    (PrivacyBudgetExhausted, flight.FlightUnauthorizedError),
    (EngineUnavailable, flight.FlightUnavailableError),
    (EngineError, flight.FlightInternalError),
    (QueryTimeout, flight.FlightTimedOutError),
    (QueryCancelled, flight.FlightCancelledError),
    # Not RESOURCE_EXHAUSTED: pyarrow's Flight server has no exception for it (its Python statuses
    # are these), and UNAVAILABLE is the code clients and load balancers retry.
    (ServerBusy, flight.FlightUnavailableError),
)


_CLIENT_FACING = "_flightmesh_client_facing"  # attribute marking an exception raised to pyarrow


def _client_facing(error: BaseException) -> BaseException:
    setattr(error, _CLIENT_FACING, True)
    return error


def _status_only(original: Callable[..., list[str]]) -> Callable[..., list[str]]:
    """``traceback.format_exception``, answering only the status name for a marked exception."""

    @functools.wraps(original)
    def format_exception(exc: Any, /, *args: Any, **kwargs: Any) -> list[str]:
        error = args[0] if args and isinstance(args[0], BaseException) else kwargs.get("value", exc)
        if isinstance(error, BaseException) and getattr(error, _CLIENT_FACING, False):
            return [_STATUS_NAMES.get(type(error), type(error).__name__)]
        return original(exc, *args, **kwargs)

    setattr(format_exception, _CLIENT_FACING, True)
    return format_exception


_STATUS_NAMES: dict[type[BaseException], str] = {
    pa.ArrowInvalid: "InvalidArgument", pa.ArrowKeyError: "NotFound", NotImplementedError: "NotImplemented",
}

if not getattr(traceback.format_exception, _CLIENT_FACING, False):  # once, also if imported twice
    traceback.format_exception = _status_only(traceback.format_exception)


def to_flight_error(error: BaseException) -> BaseException:
    """The exception to raise to the client for ``error``; logs what the client must not see.

    An error marked with its query's id (``with_query_id``) says the id at the end of its message,
    so the client can quote it (server log, flightmesh.queries, flightmesh.query_history, kill).
    """
    converted = _converted(error)
    query_id = getattr(error, _QUERY_ID, None)
    if query_id is not None and converted is not error:
        converted = type(converted)(f"{converted} (query id {query_id})")
    return _client_facing(converted)


_QUERY_ID = "_flightmesh_query_id"  # attribute: the id of the query an error ended


def with_query_id(error: E, query_id: str | None) -> E:
    """``error``, marked as ending query ``query_id`` (the first mark stays)."""
    if query_id is not None and getattr(error, _QUERY_ID, None) is None:
        setattr(error, _QUERY_ID, query_id)
    return error


def _converted(error: BaseException) -> BaseException:
    if isinstance(error, flight.FlightError):
        return error  # type: ignore[no-any-return]
    if isinstance(error, NotImplementedError):
        return NotImplementedError(str(error) or "not implemented by flightmesh")
    if isinstance(error, EngineError) and error.internal:
        log.warning("product %s: %s (engine said: %s)", error.product, error.detail, error.internal)
    if isinstance(error, DataError) and error.internal:
        log.warning("%s (engine said: %s)", error, error.internal)
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return status(str(error))
    if isinstance(error, FlightmeshError):
        # A subclass this table does not know yet: its message is written for the client, so
        # show it, but flag the gap in the log.
        log.warning("no Flight status mapped for %s; answering INTERNAL", type(error).__name__)
        return flight.FlightInternalError(str(error))  # type: ignore[no-any-return]
    incident = secrets.token_hex(4)
    log.error("unexpected error (incident %s)", incident, exc_info=error)
    return flight.FlightInternalError(  # type: ignore[no-any-return]
        f"internal error in flightmesh (incident {incident}); the server log has the details"
    )


def flight_errors(handler: Callable[P, R]) -> Callable[P, R]:
    """Wrap an RPC handler so every error leaves it as the Flight status ``to_flight_error`` picks."""

    @functools.wraps(handler)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            failure = to_flight_error(error)
        raise failure from None

    return call


def guarded(items: Iterator[T]) -> Iterator[T]:
    """``items`` with errors raised while iterating converted like ``flight_errors`` does."""
    try:
        yield from items
    except Exception as error:
        failure = to_flight_error(error)
    else:
        return
    raise failure from None
