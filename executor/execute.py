"""Running a plan: fragments on their engines, concurrently; the residual in the merge DuckDB.

``bind(plan)`` fixes the exact result schema before any row moves (prepared statements and
FlightInfo announce it) into a ``BoundPlan``; ``execute(bound)`` then streams batches cast to
exactly that schema.
A plan with one fragment and no residual streams straight from its engine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import pyarrow as pa

from flightmesh.connectors import FragmentQuery, cast_batches
from flightmesh.connectors.engine_errors import duckdb_failure, mesh_error
from flightmesh.mesh import CancelScope, DataError, FlightmeshError, Principal, QueryCancelled, QueryError, Settings
from flightmesh.planner import EXPLAIN_SCHEMA, LATE_ORDINAL, LATE_TOP, Fragment, Plan

from . import tracing
from .bound import BoundPlan, bound_plan
from .client_errors import for_client
from .deadlines import DEADLINES, Deadline
from .keys import KeyFilterRun
from .merge import MergeEngine, register_input
from .merge_route import Route
from .merge_spark import delegated_merge
from .prefetch import InlineRead, Prefetch
from .privacy_release import release, released_schema
from .query_context import publish_progress, query_id_of

__all__ = ["Executor", "FragmentStats"]

log = logging.getLogger(__name__)


@dataclass
class FragmentStats:
    rows: int = 0
    ms: float = 0.0
    sql: str = ""
    partition_rows: list[int] = field(default_factory=list)   # a partitioned read: rows of each range


@dataclass
class _Run:
    """One execution's moving parts, so they can all be stopped together."""

    cancel: CancelScope
    prefetches: dict[str, Prefetch | InlineRead] = field(default_factory=dict)
    partition_reads: list[Prefetch] = field(default_factory=list)   # the ranges of partitioned fragments
    stats: dict[str, FragmentStats] = field(default_factory=dict)
    cursor: duckdb.DuckDBPyConnection | None = None
    release: Callable[[], None] | None = None   # gives the merge instance back (MergeEngine.lease)
    timer: Deadline | None = None
    merge_span: Any = None   # the flightmesh.merge span while the merge runs (tracing on)

    def failure(self) -> BaseException | None:
        """The error that stopped the run: the root cause, not the cancellations it triggered."""
        reads = [*self.prefetches.values(), *self.partition_reads]
        failures = [p.failure for p in reads if p.failure is not None]
        causes = [f for f in failures if not isinstance(f, QueryCancelled)]
        chosen = causes or failures
        return chosen[0] if chosen else None

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.cursor is not None:
            try:
                self.cursor.interrupt()
                self.cursor.close()
            except duckdb.Error:
                pass
        if self.release is not None:
            self.release()
        for prefetch in self.prefetches.values():
            prefetch.close()
        for read in list(self.partition_reads):
            read.close()
        span, self.merge_span = self.merge_span, None
        tracing.end_span(span)


class Executor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.merge = MergeEngine(settings)
        # settings.merge_engine other than duckdb: residuals that mean the same on Spark run there;
        # the embedded DuckDB still types every plan and runs the residuals that stay.
        self.delegate = delegated_merge(settings)
        # Told of every fragment that ends (its products, seconds in its engine, the engine's error or
        # None); the server's metrics listen here. Cancellations and early closes are not errors.
        self.fragment_observers: list[Callable[[tuple[str, ...], float, BaseException | None], None]] = []

    # -- binding ---------------------------------------------------------------------------------

    def bind(self, plan: Plan, principal: Principal | None = None) -> BoundPlan:
        """``plan`` with the exact schemas ``execute`` will stream (every field nullable).

        Asks the engines (and the merge engine) for types over empty inputs: done once per plan,
        the result cached by the runtime; nothing is written to ``plan``.
        """
        try:
            return self._bind(plan, principal)
        except DataError as error:  # as the client reads it: its own literal quoted, the product named
            raise for_client(error, plan) from None

    def _bind(self, plan: Plan, principal: Principal | None) -> BoundPlan:
        policies = plan.policy_labels()
        if plan.explain == "plan":
            return bound_plan(plan, schema=EXPLAIN_SCHEMA, result_schema=EXPLAIN_SCHEMA, fragment_schemas={},
                              principal=principal, policies=policies)
        schemas = {fragment.name: self.fragment_schema(fragment) for fragment in plan.fragments}
        raw = schemas[plan.fragments[0].name] if plan.residual is None else self.merge.schema_of(plan.residual, schemas)
        if plan.late is not None:  # the result is the late join's: the residual's rows, numbered, and the late read
            top = raw.append(pa.field(LATE_ORDINAL, pa.int64()))
            late = plan.late.fragment
            raw = self.merge.schema_of(plan.late.final, {LATE_TOP: top, late: schemas[late]})
        result = _announced(raw, plan.output_names)
        # A privacy-mode plan streams its release; its result schema stays the exact aggregate's.
        shown = released_schema(plan.privacy, result) if plan.privacy is not None else result
        return bound_plan(plan, schema=EXPLAIN_SCHEMA if plan.explain == "analyze" else shown, result_schema=result,
                          fragment_schemas=schemas, principal=principal, policies=policies)

    def fragment_schema(self, fragment: Fragment) -> pa.Schema:
        expected = None
        if fragment.typing_sql is not None:
            expected = self.merge.schema_of(fragment.typing_sql, dict(fragment.typing_tables))
            expected = pa.schema([pa.field(name, item.type) for name, item in zip(fragment.output, expected,
                                                                                   strict=True)])
        schema = fragment.connector.result_schema(FragmentQuery(fragment.sql, expected_schema=expected))
        return pa.schema([pa.field(item.name, item.type) for item in schema])

    # -- execution ---------------------------------------------------------------------------------

    def execute(self, bound: BoundPlan, cancel: CancelScope | None = None) -> pa.RecordBatchReader:
        """Stream the plan's result. Errors, also mid-stream, are the mesh's error types."""
        plan, schema = bound.plan, bound.schema
        cancel = cancel or CancelScope()
        if cancel.deadline is None:
            cancel.deadline = time.monotonic() + self.settings.query_timeout_seconds
        if plan.explain == "plan":
            batch = _explain_batch(plan, None, route=self._route(bound))
            return pa.RecordBatchReader.from_batches(schema, iter([batch]))
        run = _Run(cancel=cancel)
        publish_progress(cancel, run.stats)  # flightmesh.queries reads the fragments' counters live
        remaining = max(0.0, cancel.deadline - time.monotonic())
        run.timer = DEADLINES.after(remaining, lambda: cancel.cancel(timed_out=True))  # one thread for all queries
        try:
            batches = self._batches(bound, run)
            if plan.privacy is not None:  # read whole (a few cells), noised, then streamed
                exact = pa.Table.from_batches(list(_guarded(batches, run, bound.result_schema, plan)),
                                              schema=bound.result_schema)
                return release(plan.privacy, exact, schema).to_reader()
            if plan.explain == "analyze":
                started = time.perf_counter()
                total = sum(batch.num_rows for batch in batches)
                elapsed = (time.perf_counter() - started) * 1000.0
                analyzed = _explain_batch(plan, run.stats, total, elapsed, query_id_of(cancel),
                                          route=self._route(bound))
                run.close()
                return pa.RecordBatchReader.from_batches(schema, iter([analyzed]))
        except DataError as error:
            run.close()
            raise for_client(error, plan) from None
        except BaseException:
            run.close()
            raise
        return pa.RecordBatchReader.from_batches(schema, _guarded(batches, run, schema, plan))

    def _batches(self, bound: BoundPlan, run: _Run) -> Iterator[pa.RecordBatch]:
        plan, fragment_schemas = bound.plan, bound.fragment_schemas
        keys = KeyFilterRun(bound.key_slots, self.settings, run.cancel)
        # One fragment expected to answer within one batch: read on this thread, no read-ahead (prefetch).
        small = plan.residual is None and len(plan.fragments) == 1 and \
            plan.fragments[0].estimate is not None and plan.fragments[0].estimate <= self.settings.batch_rows
        late = plan.late.fragment if plan.late is not None else None
        for fragment in plan.fragments:
            run.stats[fragment.name] = FragmentStats(sql=fragment.sql)
            if fragment.name == late:
                continue  # started once the residual's keys are known (_late_join)
            run.prefetches[fragment.name] = (InlineRead if small else Prefetch)(
                fragment.name, self._opener(fragment, fragment_schemas[fragment.name], keys, run),
                fragment_schemas[fragment.name], run.cancel,
            )
        if plan.residual is None:
            only = run.prefetches[plan.fragments[0].name]
            return cast_batches(only.batches(), bound.result_schema)
        route = self._route(bound)
        if route is not None and route.delegated:
            return self._delegated(route, bound, run)
        run.cursor, run.release = self.merge.lease()  # an instance of its own: its own memory limit
        run.merge_span = tracing.start_span("flightmesh.merge", run.cancel, **{"flightmesh.engine": "duckdb"})
        cursor = run.cursor
        run.cancel.on_cancel(cursor.interrupt)
        try:
            sizes = dict(plan.merge_rows)
            for name, prefetch in run.prefetches.items():
                if plan.fragment(name).keys_only:
                    continue  # it only lends keys: the residual does not read it
                # A registered stream can be scanned once; a fragment the residual reads twice is
                # materialized first.
                register_input(cursor, name, prefetch.table() if name in plan.materialize else prefetch.reader(),
                               sizes.get(name))
            if plan.late is not None:
                reader = self._late_join(bound, run, keys, cursor)
            else:
                reader = cursor.sql(plan.residual).to_arrow_reader(self.settings.batch_rows)
        except duckdb.Error as error:  # also: interrupted because a fragment already failed
            raise _merge_error(error, run) from None
        except QueryCancelled:  # a materialized fragment stopped because another one failed
            raise run.failure() or QueryCancelled("the query was cancelled") from None
        return cast_batches(_read(reader, run), bound.result_schema)

    def _late_join(self, bound: BoundPlan, run: _Run, keys: KeyFilterRun,
                   cursor: duckdb.DuckDBPyConnection) -> pa.RecordBatchReader:
        """The residual's (few) rows first, then the late read for their keys, then the join back."""
        plan = bound.plan
        assert plan.late is not None and plan.residual is not None
        top = cursor.sql(plan.residual).to_arrow_table()
        top = top.append_column(LATE_ORDINAL, pa.array(range(top.num_rows), pa.int64()))
        keys.publish(LATE_TOP, top)
        fragment = plan.fragment(plan.late.fragment)
        schema = bound.fragment_schemas[fragment.name]
        run.prefetches[fragment.name] = InlineRead(fragment.name, self._opener(fragment, schema, keys, run), schema,
                                                   run.cancel)
        cursor.register(LATE_TOP, top)
        cursor.register(fragment.name, run.prefetches[fragment.name].table())
        return cursor.sql(plan.late.final).to_arrow_reader(self.settings.batch_rows)

    def _route(self, bound: BoundPlan) -> Route | None:
        """Where the residual runs when a merge engine other than DuckDB is set (None: not set)."""
        plan = bound.plan
        if self.delegate is None or plan.residual is None or plan.late is not None:
            return None  # a late read joins back in the embedded DuckDB
        schemas = dict(bound.fragment_schemas) or {f.name: self.fragment_schema(f) for f in plan.fragments}
        return self.delegate.route(plan.residual, schemas)

    def _delegated(self, route: Route, bound: BoundPlan, run: _Run) -> Iterator[pa.RecordBatch]:
        assert self.delegate is not None
        readers = {name: prefetch.reader for name, prefetch in run.prefetches.items()
                   if not bound.plan.fragment(name).keys_only}
        try:
            reader, run.release = self.delegate.run(route, readers, run.cancel)  # release: the exchange files
        except FlightmeshError as error:  # a fragment's own failure first, not the cancellations it caused
            raise run.failure() or error from None
        return cast_batches(iter(reader), bound.result_schema)

    def _opener(self, fragment: Fragment, schema: pa.Schema, keys: KeyFilterRun, run: _Run):  # type: ignore[no-untyped-def]
        timeout = self.settings.fragment_timeout_seconds

        def open_reader() -> pa.RecordBatchReader:
            started = time.perf_counter()
            span = tracing.fragment_span(run.cancel, fragment)
            try:
                if fragment.partitions:
                    reader = _partitioned(fragment, schema, keys, run, timeout)
                else:
                    query = keys.query_for(fragment, schema, timeout)
                    run.stats[fragment.name].sql = query.sql
                    reader = fragment.connector.execute(query, run.cancel)
                if fragment.name in keys.builds:
                    reader = keys.materialized(fragment.name, reader)
                if fragment.keys_only:  # published above; nothing reads its rows
                    run.stats[fragment.name].rows = sum(batch.num_rows for batch in reader)
                    reader = pa.RecordBatchReader.from_batches(schema, iter(()))
            except BaseException as error:
                if fragment.name in keys.builds:
                    keys.publish(fragment.name, None)  # probes stop waiting for it
                self._observe(fragment, started, error)
                tracing.end_span(span, error)
                raise

            def counted() -> Iterator[pa.RecordBatch]:
                failure: BaseException | None = None
                try:
                    for batch in reader:
                        run.stats[fragment.name].rows += batch.num_rows
                        yield batch
                except BaseException as error:
                    failure = error
                    raise
                finally:
                    run.stats[fragment.name].ms = (time.perf_counter() - started) * 1000.0
                    self._observe(fragment, started, failure)
                    tracing.end_span(span, failure, **{"flightmesh.rows": run.stats[fragment.name].rows})
                    failure = None  # no cycle frame -> error -> traceback -> frame keeping the reader alive

            return pa.RecordBatchReader.from_batches(schema, counted())

        return open_reader

    def _observe(self, fragment: Fragment, started: float, error: BaseException | None) -> None:
        if isinstance(error, (GeneratorExit, QueryCancelled)):
            error = None
        for observer in list(self.fragment_observers):
            observer(fragment.products, time.perf_counter() - started, error)

    def close(self) -> None:
        self.merge.close()
        if self.delegate is not None:
            self.delegate.close()


def _partitioned(fragment: Fragment, schema: pa.Schema, keys: KeyFilterRun, run: _Run,
                 timeout: float) -> pa.RecordBatchReader:
    """The union of a partitioned fragment's ranges, each read on its own connection and thread.

    Each range is a ``Prefetch`` of its own: it reads ahead into a small queue, and its failure
    cancels the run's scope, so its siblings (and every other fragment) stop with it and the
    query ends with that range's typed error. The ranges are handed on one after the other; the
    later ones read ahead meanwhile, up to their queues' bound.

    Range i+1 asks for its connection only once range i has one: a range holding a connection
    then always has every earlier range holding one or done, so the range being handed on holds
    one and finishes, however busy the engine's pool. Without the order, queries whose later
    ranges took the last connections would wait for ever on their first ones.
    """
    stats = run.stats[fragment.name]
    parts = fragment.partition_fragments()
    stats.partition_rows = [0] * len(parts)
    statements: list[str] = [""] * len(parts)

    connected = [threading.Event() for _ in parts]

    def opener(index: int, part: Fragment) -> Callable[[], pa.RecordBatchReader]:
        def open_part() -> pa.RecordBatchReader:
            try:
                while index > 0 and not connected[index - 1].wait(0.05):
                    run.cancel.check()
                # The next range may ask once this one holds its connection, not once
                # ``execute`` returns: SQLite and MariaDB run a statement up to its first batch
                # there, which would have each range wait for the one before to do its work.
                query = replace(keys.query_for(part, schema, timeout), on_connection=connected[index].set)
                statements[index] = query.sql
                stats.sql = ";\n".join(statements)
                reader = part.connector.execute(query, run.cancel)
            finally:
                connected[index].set()   # failed, or a connector that does not call on_connection

            def counted() -> Iterator[pa.RecordBatch]:
                for batch in reader:
                    stats.partition_rows[index] += batch.num_rows
                    yield batch

            return pa.RecordBatchReader.from_batches(schema, counted())
        return open_part

    reads = [Prefetch(part.name, opener(index, part), schema, run.cancel) for index, part in enumerate(parts)]
    run.partition_reads.extend(reads)   # their failures are the run's, and closing the run stops them

    def union() -> Iterator[pa.RecordBatch]:
        try:
            for read in reads:
                yield from read.batches()
        except QueryCancelled:
            # A later range failed and cancelled the scope while an earlier one was handed on:
            # the query ends with that range's own error, not the cancellation it caused.
            cause = next((read.failure for read in reads
                          if read.failure is not None and not isinstance(read.failure, QueryCancelled)), None)
            if cause is not None:
                raise cause from None
            raise
        finally:
            for read in reads:
                read.close()

    return pa.RecordBatchReader.from_batches(schema, union())


def _read(reader: pa.RecordBatchReader, run: _Run) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (duckdb.Error, pa.ArrowException) as error:
            raise _merge_error(error, run) from None
        yield batch


def _guarded(batches: Iterator[pa.RecordBatch], run: _Run, schema: pa.Schema,
             plan: Plan) -> Iterator[pa.RecordBatch]:
    """Rename to the announced schema, check cancellation, and always clean up."""
    try:
        for batch in batches:
            run.cancel.check()
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
        run.cancel.check()
    except DataError as error:
        raise for_client(error, plan) from None
    except QueryCancelled:
        # A fragment (or one range of it) failed and cancelled the scope: its error, not ours.
        raise run.failure() or QueryCancelled("the query was cancelled") from None
    except FlightmeshError:
        raise
    except (duckdb.Error, pa.ArrowException) as error:
        raise _merge_error(error, run) from None
    finally:
        run.close()


def _merge_error(error: BaseException, run: _Run) -> BaseException:
    failure = run.failure()
    if failure is not None:
        return failure
    if isinstance(error, duckdb.InterruptException) or run.cancel.cancelled:
        try:
            run.cancel.check()
        except FlightmeshError as stopped:
            return stopped
    # DuckDB's messages quote the values that failed ("Could not convert string 'secret' to
    # INT32"), and those values may come from rows or columns a policy hides: the client gets the
    # kind of failure, the log the message.
    log.warning("merge engine failed: %s", str(error).split("\n")[0])
    classified = duckdb_failure(error)
    if classified.is_data:
        return mesh_error(None, classified, str(error))
    return QueryError(f"the query failed while combining products: {_merge_reason(error)}")


def _merge_reason(error: BaseException) -> str:
    if isinstance(error, duckdb.ConversionException):
        return "a value could not be converted to the type the query asks for"
    if isinstance(error, duckdb.OutOfRangeException):
        return "a value is out of range for its type (overflow)"
    if isinstance(error, duckdb.OutOfMemoryException):
        return ("its merge needs more memory than the setting merge_memory_limit and more disk than "
                "merge_spill_limit allow; narrow the query (filters, fewer rows or columns) or raise those settings")
    if isinstance(error, duckdb.InvalidInputException):
        return "a function was given an invalid value"
    if isinstance(error, (duckdb.BinderException, duckdb.CatalogException, duckdb.ParserException)):
        return "the combined query is not valid SQL for the merge engine"
    return f"the merge engine failed ({type(error).__name__})"


def _announced(schema: pa.Schema, names: tuple[str, ...]) -> pa.Schema:
    # Every field nullable: engines disagree on nullability, and a stream that claimed NOT NULL
    # and then carried a null would break clients that trust the schema.
    if len(names) != len(schema):
        names = tuple(schema.names)
    return pa.schema([pa.field(name, item.type, nullable=True) for name, item in zip(names, schema, strict=True)])


def _explain_batch(plan: Plan, stats: dict[str, FragmentStats] | None, total: int | None = None,
                   elapsed: float | None = None, query_id: str | None = None,
                   route: Route | None = None) -> pa.RecordBatch:
    rows = plan.explain_rows()
    for row in rows:
        row["rows"] = None
        row["ms"] = None
        if stats is not None and row["kind"] == "fragment":
            stat = stats.get(str(row["name"]))
            if stat is not None:
                row["rows"], row["ms"] = stat.rows, round(stat.ms, 3)
                if plan.reveal_policies or not plan.fragment(str(row["name"])).policies:
                    row["sql"] = stat.sql  # as run, dynamic filters included; else the disclosed text
        if stats is not None and row["kind"] == "partition":
            whole, _, number = str(row["name"]).rpartition("/")
            stat = stats.get(whole)
            if stat is not None and number.isdigit() and int(number) <= len(stat.partition_rows):
                row["rows"] = stat.partition_rows[int(number) - 1]
        if row["kind"] == "residual" and route is not None:  # settings.merge_engine names another engine
            row["engine"] = f"{route.engine} (merge)"
            row["detail"] = route.reason
        if row["kind"] == "residual" and total is not None:
            row["rows"], row["ms"] = total, round(elapsed or 0.0, 3)
    rows.append({"step": len(rows) + 1, "kind": "planning", "name": "", "products": "", "engine": "", "sql": "",
                 "detail": "", "rows": None, "ms": round(plan.planning_ms, 3)})
    if query_id is not None:  # the id this run has in the server log, flightmesh.queries and query_history
        rows.append({"step": len(rows) + 1, "kind": "query", "name": query_id, "products": "", "engine": "",
                     "sql": "", "detail": "query id", "rows": None, "ms": None})
    return pa.RecordBatch.from_pylist(rows, schema=EXPLAIN_SCHEMA)
