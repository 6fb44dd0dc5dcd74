"""The one place where flightmesh errors become Flight statuses.

The error tree lives in ``flightmesh.mesh.errors``; this module maps it (DESIGN.md §6)::

    QueryError (SqlSyntaxError, UnsupportedQuery, ...)  -> INVALID_ARGUMENT  (pyarrow.ArrowInvalid)
    NotFound (UnknownTable, UnknownColumn)               -> NOT_FOUND         (pyarrow.ArrowKeyError)
    AuthenticationError                                 -> UNAUTHENTICATED
    AccessDenied, ReadOnlyViolation,
      PrivacyBudgetExhausted                            -> UNAUTHORIZED      (gRPC PERMISSION_DENIED)
    EngineUnavailable                                   -> UNAVAILABLE
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
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.flight as flight

from flightmesh.mesh import (
    AccessDenied,
    AuthenticationError,
    EngineError,
    EngineUnavailable,
    FlightmeshError,
    NotFound,
    PrivacyBudgetExhausted,
    QueryCancelled,
    QueryError,
    QueryTimeout,
)

__all__ = ["BadRequest", "flight_errors", "guarded", "log", "to_flight_error"]

log = logging.getLogger("flightmesh.server")

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


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
)


def to_flight_error(error: BaseException) -> BaseException:
    """The exception to raise to the client for ``error``; logs what the client must not see."""
    if isinstance(error, flight.FlightError):
        return error  # type: ignore[no-any-return]
    if isinstance(error, NotImplementedError):
        return NotImplementedError(str(error) or "not implemented by flightmesh")
    if isinstance(error, EngineError) and error.internal:
        log.warning("product %s: %s (engine said: %s)", error.product, error.detail, error.internal)
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
