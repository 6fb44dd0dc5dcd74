"""The residual on a Spark Connect cluster: ``settings.merge_engine: {kind: spark | sail, uri: sc://...}``.

What runs where does not change: every fragment still runs in its product's engine with the
product's policies inside, so the cluster only ever sees rows the principal may see. Only the
residual moves. Per query:

1. ``route_residual`` decides whether the residual means the same on Spark (``merge_route``);
   if not, it runs in the embedded DuckDB as without this setting, and EXPLAIN says why.
2. Each fragment's stream is written as Parquet into the exchange (``exchange``), concurrently.
3. The residual, rendered in Spark SQL over those files, runs through the ``spark`` connector's
   driver (adbc-driver-spark: no JVM, no PySpark in the server), whose cancel sends Spark
   Connect's Interrupt: a cancelled or timed-out query stops the job on the cluster.
4. The result is cast to the mesh's types (the schema ``bind`` announced from DuckDB's typing of
   the residual), and the query's exchange folder is removed when it ends, fails or is cancelled.

Errors: the cluster's messages can quote values and the exchange's paths, so they go to the log
only (``internal``); the client gets the reason class, named as the merge's ("product merge").
Memory of a delegated merge is the cluster's; the server holds no fragment whole (batches are
written as they arrive). Admission control counts a delegated query as any other.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Protocol

import pyarrow as pa

from flightmesh.connectors import FragmentQuery
from flightmesh.connectors.engine_errors import mesh_error
from flightmesh.connectors.spark import SparkConnector, spark_failure
from flightmesh.mesh import CancelScope, DataError, EngineError, EngineUnavailable, FlightmeshError, Settings

from .exchange import Exchange
from .merge_route import Route, route_residual
from .sail_embedded import EmbeddedSail

__all__ = ["DelegatedMerge", "SparkMerge", "delegated_merge"]

log = logging.getLogger(__name__)

_ROUTES_KEPT = 256
_MERGE = "merge"


class DelegatedMerge(Protocol):
    """A merge engine other than the embedded DuckDB (which stays the fallback and the typer)."""

    kind: str

    def route(self, residual: str, schemas: Mapping[str, pa.Schema]) -> Route: ...

    def run(self, route: Route, readers: Mapping[str, Callable[[], pa.RecordBatchReader]],
            cancel: CancelScope) -> tuple[pa.RecordBatchReader, Callable[[], None]]: ...

    def close(self) -> None: ...


def delegated_merge(settings: Settings) -> DelegatedMerge | None:
    """The merge engine ``settings.merge_engine`` names, or None for the embedded DuckDB."""
    choice = settings.merge_engine
    if not choice.delegated:
        return None
    embedded = EmbeddedSail(choice.mode, choice.workers) if choice.mode else None
    try:
        return SparkMerge(choice.kind, embedded.uri if embedded is not None else choice.uri,
                          exchange=choice.exchange, token=choice.token or None, tls=choice.tls,
                          pool_size=settings.pool_size, embedded=embedded)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise


class SparkMerge:
    def __init__(self, kind: str, uri: str, *, exchange: str = "", token: str | None = None,
                 tls: bool | None = None, pool_size: int = 4, embedded: EmbeddedSail | None = None) -> None:
        self.kind = kind
        self._embedded = embedded  # a Sail this mesh started (mode: ...), stopped at close
        self._connector = SparkConnector(_MERGE, uri, token=token, tls=tls, pool_size=pool_size)
        self._exchange = Exchange(exchange)
        self._routes: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], Route] = OrderedDict()
        self._lock = threading.Lock()

    def route(self, residual: str, schemas: Mapping[str, pa.Schema]) -> Route:
        """Where ``residual`` runs; decided once per residual and fragment schemas."""
        key = (residual, tuple(sorted((name, str(schema)) for name, schema in schemas.items())))
        with self._lock:
            known = self._routes.get(key)
            if known is not None:
                self._routes.move_to_end(key)
                return known
        decided = route_residual(residual, schemas, self.kind)
        with self._lock:
            self._routes[key] = decided
            while len(self._routes) > _ROUTES_KEPT:
                self._routes.popitem(last=False)
        return decided

    def run(self, route: Route, readers: Mapping[str, Callable[[], pa.RecordBatchReader]],
            cancel: CancelScope) -> tuple[pa.RecordBatchReader, Callable[[], None]]:
        """The residual's result from the cluster, and the function that removes its exchange files."""
        exchange = self._exchange.query()
        try:
            locations = exchange.write({name: readers[name] for name in route.fragments}, cancel)
            reader = self._connector.execute(FragmentQuery(route.spark_sql(locations)), cancel)
        except FlightmeshError as error:
            exchange.remove()
            raise _as_merge_error(error) from None
        except BaseException:
            exchange.remove()
            raise
        return pa.RecordBatchReader.from_batches(reader.schema, _translated(reader)), exchange.remove

    def close(self) -> None:
        self._connector.close()
        self._exchange.close()
        if self._embedded is not None:
            self._embedded.stop()


def _translated(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except FlightmeshError as error:
        raise _as_merge_error(error) from None
    except (OSError, pa.ArrowException) as error:
        # The driver's stream can fail with a bare I/O error mid-read (Sail's local-cluster retry of
        # a failed task): classified by its error class, its text kept for the log only.
        log.warning("spark merge engine failed: %s", str(error).split("\n")[0])
        raise _as_merge_error(mesh_error(_MERGE, spark_failure(str(error)), str(error))) from None


def _as_merge_error(error: FlightmeshError) -> FlightmeshError:
    """The connector names its product ("merge"); a data error of the merge is the merge's, as in DuckDB."""
    if isinstance(error, DataError) and error.product == _MERGE:
        return DataError("the query failed while combining products", error.reason, internal=error.internal)
    if isinstance(error, EngineUnavailable):
        return EngineUnavailable(_MERGE, "cannot reach the Spark merge engine (settings.merge_engine)",
                                 internal=error.internal)
    if isinstance(error, EngineError) and error.product == _MERGE:
        return EngineError(_MERGE, "the Spark merge engine failed the combined query", internal=error.internal)
    return error
