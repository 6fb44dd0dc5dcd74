"""The base of the server engines' connectors: one pool of connections, leased the same way.

PostgreSQL, MariaDB/MySQL and Flight SQL connectors all talk to their engine over pooled
connections (``pool.ConnectionPool``) and need the same four things around them, which used
to be written out in each:

- **a lease that is a context manager** (``with self._lease() as connection``) for short calls
  (catalog queries, schemas): returned on success, discarded when the block raised, since a
  connection a driver failed on may be in any state;
- **a stale-connection check** (``_check``, e.g. MySQL's ping) on every lease: an idle
  connection the engine dropped (restart, idle timeout) is discarded and one fresh connection
  tried, so one restart costs no query;
- **the mesh's errors**: a pool that stayed busy is ``QueryTimeout``; a driver error inside a
  lease is the connector's ``_error`` (EngineUnavailable, EngineError, ...);
- **leases that outlive the call** for streaming fragments (``_acquire`` / ``_release``): the
  stream gives the connection back when it ends, broken unless it was read to its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Generic, TypeVar

from flightmesh.mesh import CancelScope, QueryTimeout

from .base import FragmentQuery
from .pool import ConnectionPool, PoolTimeout

__all__ = ["PooledConnector"]

C = TypeVar("C")


class PooledConnector(Generic[C]):
    """Connection handling shared by the server engines; subclasses add their protocol."""

    # Errors the driver raises on a connection; inside ``_lease`` they become ``_error(error)``.
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, product: str, *, pool_size: int, timeout_seconds: float | None) -> None:
        self.product = product
        self.timeout_seconds = timeout_seconds
        self._pool: ConnectionPool[C] = ConnectionPool(self._open, self._close, pool_size)

    # -- what a subclass provides ----------------------------------------------------------------

    def _open(self) -> C:
        """A new connection; raises the mesh's EngineUnavailable when the engine refuses it."""
        raise NotImplementedError

    def _close(self, connection: C) -> None:
        raise NotImplementedError

    def _check(self, connection: C) -> None:
        """Raise one of ``driver_errors`` if an idle connection went stale. Default: trust it."""

    def _error(self, error: BaseException) -> BaseException:
        """The mesh's error for a driver error."""
        raise NotImplementedError

    @property
    def statement_slots(self) -> int:
        """How many statements may hold a connection at once: a partitioned read takes at most
        these less the plan's other fragments here (planner/partition.py)."""
        return self._pool.size

    # -- leases ----------------------------------------------------------------------------------

    def _fragment_timeout(self, query: FragmentQuery) -> float | None:
        return query.timeout_seconds if query.timeout_seconds is not None else self.timeout_seconds

    def _acquire(self, timeout: float | None, cancel: CancelScope | None = None) -> C:
        """A checked connection for the caller alone, until ``_release``. A cancel stops the wait."""
        should_stop = cancel.check if cancel is not None else None
        for fresh_try in (False, True):
            try:
                connection = self._pool.acquire(timeout, should_stop=should_stop)
            except PoolTimeout:
                raise QueryTimeout(f"product {self.product}: no free engine connection in time") from None
            try:
                self._check(connection)
                return connection
            except self.driver_errors as error:
                self._pool.release(connection, broken=True)
                if fresh_try:
                    raise self._error(error) from None
        raise AssertionError("unreachable")

    def _release(self, connection: C, *, broken: bool = False) -> None:
        self._pool.release(connection, broken=broken)

    @contextmanager
    def _lease(self, *, reuse: bool = True) -> Iterator[C]:
        """``with self._lease() as connection`` for a short call, within the connector's timeout.

        The connection goes back to the pool when the block ends normally (unless ``reuse`` is
        False: the block changed the session); it is discarded when the block raised. Driver
        errors raised in the block become ``_error(error)``.
        """
        connection = self._acquire(self.timeout_seconds)
        broken = True
        try:
            yield connection
            broken = not reuse
        except self.driver_errors as error:
            raise self._error(error) from None
        finally:
            self._pool.release(connection, broken=broken)

    def close(self) -> None:
        self._pool.close()  # connections still streaming are closed when their stream ends
