"""What every connector is: the ``Connector`` protocol and its declared ``Capabilities``.

A connector talks to one product's engine. It never sees a client's SQL: the planner hands it a
``FragmentQuery`` whose text sqlglot rendered from a checked AST in the connector's dialect.

What an engine can and cannot do is class data (``Capabilities``), asked through one method,
``supports`` — in the spirit of Ibis' backend capabilities and Trino's pushdown negotiation: the
planner offers a piece of a query, and what the engine does not declare stays in the residual.

Features only some engines have are declared protocols too, checked with ``isinstance``, never
looked up by name: ``HasDistinctEstimates`` (SQLite's ``sqlite_stat1``), ``RefreshableStatistics``
(cached row estimates: PostgreSQL, MariaDB/MySQL), ``EngineAccount`` (engines read under an
account whose privileges are reviewed at open: PostgreSQL, MariaDB/MySQL), ``HasConstraints``
(primary and foreign keys the engine declares, read once when the catalog is built: DuckDB,
SQLite, PostgreSQL, MariaDB/MySQL). ``estimate_rows`` is
part of ``Connector`` itself: every engine answers, None when it cannot tell.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, runtime_checkable

import pyarrow as pa
from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from flightmesh.mesh import CancelScope, ProductSpec, QueryError, Settings
from flightmesh.mesh.constraints import EngineConstraints

__all__ = [
    "Capabilities",
    "Connector",
    "ConnectorKind",
    "Difference",
    "EngineAccount",
    "FragmentQuery",
    "HasConstraints",
    "HasDistinctEstimates",
    "KeyDelivery",
    "Pushdown",
    "RefreshableStatistics",
    "cast_batches",
]


class Pushdown(enum.Enum):
    """Kinds of work a planner may push into an engine."""

    FILTER = "filter"
    PROJECTION = "projection"
    JOIN = "join"                    # inner and cross joins
    OUTER_JOIN = "outer_join"        # LEFT / RIGHT / FULL
    AGGREGATE = "aggregate"          # GROUP BY, HAVING, aggregate functions
    DISTINCT = "distinct"
    LIMIT = "limit"
    TOP_N = "top_n"                  # ORDER BY ... LIMIT n
    ORDER = "order"                  # ORDER BY without LIMIT
    WINDOW = "window"
    SUBQUERY = "subquery"            # scalar, IN, EXISTS; correlated included
    # A subquery reading a column of the query around it. An engine that runs it once per outer
    # row (no decorrelation, no cache of results per outer value) lacks this: SQLite.
    CORRELATED_SUBQUERY = "correlated_subquery"
    SET_OPERATION = "set_operation"  # UNION / INTERSECT / EXCEPT
    CTE = "cte"                      # WITH


class KeyDelivery(enum.Enum):
    """How an engine takes the join keys of dynamic filtering."""

    NONE = "none"                    # no dynamic filtering
    LITERALS = "literals"            # IN (1, 2, ...) or BETWEEN, rendered into the SQL
    KEY_TABLE = "key_table"          # an Arrow table registered beside the query (embedded engines)


@dataclass(frozen=True)
class Difference:
    """One place where an engine computes something other than what the mesh dialect means.

    ``kind`` is the sqlglot class it concerns; ``when`` tells, for one node of that class whose
    types the planner annotated (``node.type``, mesh types; ``connectors.typed`` reads them), whether
    this node is affected (None: every node of the class). ``reason`` says what the engine does
    instead, for EXPLAIN notes and the tests that verify each declared difference on the engine.
    A fragment containing an affected node keeps that node in the residual (DuckDB, the mesh's
    own semantics), unless the engine's ``faithful`` rendering already made it mean the same.
    """

    kind: type[exp.Expr]
    reason: str
    when: Callable[[exp.Expr], bool] | None = None

    def affects(self, node: exp.Expr) -> bool:
        return isinstance(node, self.kind) and (self.when is None or self.when(node))


@dataclass(frozen=True)
class Capabilities:
    """What one kind of engine can run. Declared per connector class, never discovered by trial."""

    dialect: str                                            # a sqlglot dialect name
    pushdown: frozenset[Pushdown] = frozenset(Pushdown)
    # sqlglot expression classes the engine cannot evaluate (beyond what sqlglot itself refuses
    # to render for the dialect): a fragment containing one keeps that expression in the residual.
    missing: frozenset[type[exp.Expression]] = frozenset()
    key_delivery: KeyDelivery = KeyDelivery.LITERALS
    # the engine's results carry its own types (True), or only the declared column types
    # can be trusted and results must be cast to the planner's expected schema (SQLite)
    typed_results: bool = True
    # the engine's planner picks join order from index-able predicates (nested-loop engines:
    # SQLite, MySQL). A weak key filter (a few keys on a low-cardinality column) can then steer
    # it onto a much worse plan, so such filters are sent in a form no index can serve.
    index_driven: bool = False
    # rows are stored in primary-key order (InnoDB): a range over the key's leading column reads
    # contiguous rows, so a key filter on that column is never weak, however few keys it has.
    clustered_primary_key: bool = False
    # What grouping one input row costs the engine (GROUP BY, SELECT DISTINCT, agg(DISTINCT)), in
    # units of shipping that row to the merge instead: 0 for hash aggregation, cheap beside the
    # transfer; more where the engine sorts every input row into a temporary B-tree (SQLite).
    # planner/grouping_place.py then groups in the merge DuckDB when that costs less.
    grouping_row_cost: float = 0.0
    # IN-lists of up to this many literals cost the engine little (MariaDB sorts a constant list
    # and binary-searches it): a key filter sends that many as literals even where the mesh's
    # dynamic_filter_max_literal_keys is lower (0: the setting alone decides).
    literal_keys: int = 0
    # The engine may read one fragment as disjoint ranges of an integer key of one of its tables,
    # each on its own connection at the same time (planner/partition.py). Declared only where two
    # ranges measurably beat one read: the engine's work must spread over connections, and the
    # driver must release the GIL while it reads (SQLite: ADBC steps the statement outside it).
    partitioned_reads: bool = False
    # The engine tests the WHERE conjuncts its indexes do not consume in the order written, each
    # on the rows the earlier ones kept, choosing no order by cost (SQLite): the planner lists
    # cheap comparisons first (planner/rules/filter_order.py).
    filters_in_written_order: bool = False
    # An uncorrelated scalar subquery is a scan of its own, even over the table the query around
    # it reads with the same filters (PostgreSQL: an InitPlan), and one scan with a window over
    # the rows measurably costs less: planner/rules/scalar_window.py computes it that way.
    scalar_subquery_rescans: bool = False
    # mesh data types the engine's dialect has no type for: sqlglot prints their names as they
    # are (``CAST(x AS UTINYINT)``), which the engine refuses or, SQLite, reads by its affinity
    # rules. A fragment casting to one keeps the cast in the residual.
    missing_types: frozenset[DType] = frozenset()
    # Semantic differences on typed nodes (``Difference``): the engine can evaluate the node but
    # would answer differently from the mesh dialect. Verified on the real engine, one test each.
    differences: tuple[Difference, ...] = ()
    # A rewrite of a fragment's engine tree (engine names, annotated types) applied just before
    # rendering, that makes the engine compute what the mesh dialect means where a plain rendering
    # would not (MariaDB: a binary, no-pad collation on string comparisons). None: no rewrite.
    faithful: Callable[[exp.Expr], exp.Expr] | None = None

    def supports(self, feature: Pushdown | exp.Expr | type[exp.Expr]) -> bool:
        """Can this engine take ``feature``: a kind of pushdown, or an expression (class or node)?

        A node (not a class) is also checked against the declared ``differences``, which read the
        types the planner annotated on it.
        """
        if isinstance(feature, Pushdown):
            return feature in self.pushdown
        if isinstance(feature, exp.DataType) and feature.this in self.missing_types:
            return False
        cls = feature if isinstance(feature, type) else type(feature)
        if any(issubclass(cls, missing) for missing in self.missing):
            return False
        if isinstance(feature, exp.Expr):
            return not any(difference.affects(feature) for difference in self.differences)
        return True

    def difference(self, node: exp.Expr) -> Difference | None:
        """The first declared difference affecting ``node``, or None."""
        return next((difference for difference in self.differences if difference.affects(node)), None)


@dataclass(frozen=True)
class FragmentQuery:
    """One statement for one engine, already rendered in its dialect."""

    sql: str
    # schema the planner expects; connectors with typed_results=False cast to it
    expected_schema: pa.Schema | None = None
    # dynamic-filter keys for KEY_TABLE engines: name used in the SQL -> one-column table
    key_tables: Mapping[str, pa.Table] = field(default_factory=dict)
    timeout_seconds: float | None = None
    # the planner's estimate of the fragment's rows (None: unknown); a connector may read a tiny
    # result a cheaper way (MariaDB: on its control connection, connectors/mysql_inline.py)
    estimated_rows: float | None = None
    # Called once the statement holds its engine connection, before it runs. A connector that
    # leases connections calls it: the ranges of a partitioned read (executor/execute.py) take
    # their connections in order, and a statement that runs up to its first batch inside
    # ``execute`` (SQLite, MariaDB) would otherwise make the next range wait for that whole batch.
    on_connection: Callable[[], None] | None = field(default=None, compare=False)


@runtime_checkable
class Connector(Protocol):
    """One product's engine. Implementations are thread-safe: fragments run concurrently."""

    capabilities: ClassVar[Capabilities]
    product: str

    def identity(self) -> str:
        """Fragments of connectors with equal identities may be merged into one statement.

        Include everything that decides what a statement can see: the engine's address and
        database, and the credentials used. Two products in one DuckDB file are one identity;
        two PostgreSQL databases, or one database under two users, are two.
        """
        ...

    def table_names(self) -> list[str]:
        """The tables and views the engine has, as sources a descriptor may name."""
        ...

    def describe(self, source: str) -> pa.Schema:
        """The Arrow schema of ``source``; field names spelled as the engine spells them.

        Raises UnknownTable when the engine has no such table, EngineUnavailable when it
        cannot be reached.
        """
        ...

    def table_expression(self, source: str) -> exp.Table:
        """How a fragment names ``source`` in this engine's dialect."""
        ...

    def estimate_rows(self, source: str) -> int | None:
        """A cheap row-count estimate for the planner, or None when the engine cannot tell."""
        ...

    def result_schema(self, query: FragmentQuery) -> pa.Schema:
        """The schema ``execute(query)`` will produce, without producing rows."""
        ...

    def execute(self, query: FragmentQuery, cancel: CancelScope) -> pa.RecordBatchReader:
        """Run ``query``; stream the result. ``cancel`` interrupts the engine's query.

        The reader's schema equals ``result_schema(query)``. Failures, also while streaming,
        raise EngineError/EngineUnavailable naming the product, QueryCancelled or QueryTimeout.
        """
        ...

    def close(self) -> None: ...


class ConnectorKind(Protocol):
    """A connector class: how ``connectors.open_connector`` builds every engine kind."""

    capabilities: Capabilities

    def from_spec(self, product: ProductSpec, settings: Settings) -> Connector:
        """The connector for ``product``'s ``engine:`` block; its options, else ``settings``."""
        ...


# -- optional features: declared, checked with isinstance ------------------------------------


@runtime_checkable
class HasDistinctEstimates(Protocol):
    """An engine that can estimate a column's distinct values (for weak-key-filter decisions)."""

    def distinct_estimate(self, source: str, column: str) -> int | None:
        """Distinct values of ``column`` of ``source``, from the engine's statistics; else None."""
        ...


@runtime_checkable
class HasStatementSlots(Protocol):
    """An engine whose connections are a bounded pool: how many statements may run at once."""

    @property
    def statement_slots(self) -> int:
        """Statements that may hold a connection at once (a partitioned read takes at most these
        less the plan's other fragments on the engine: planner/partition.py)."""
        ...


@runtime_checkable
class HasConstraints(Protocol):
    """An engine that declares primary and foreign keys flightmesh can report as the tables' keys."""

    def constraints(self, source: str) -> EngineConstraints:
        """The keys of ``source``; its foreign keys name referenced tables as the engine does.

        Asked once per table when the catalog is built, never while answering a client.
        """
        ...


@runtime_checkable
class RefreshableStatistics(Protocol):
    """An engine whose row estimates are cached; ``refresh_statistics`` forgets them."""

    def refresh_statistics(self, source: str | None = None) -> None:
        """Forget the cached estimates of ``source``, or of every table (None)."""
        ...


@runtime_checkable
class EngineAccount(Protocol):
    """A connector that reads its engine under an account (postgresql, mysql)."""

    def excess_privileges(self) -> list[str]:
        """What the account may do beyond reading tables; empty when it may do nothing more.

        Raises EngineUnavailable when the engine cannot be asked, EngineError when it refuses.
        ``connectors.privileges`` holds the reviews.
        """
        ...


def cast_batches(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Cast each batch to ``schema`` (names taken from ``schema``); one vectorised cast per column."""
    for batch in batches:
        if batch.schema.equals(schema):
            yield batch
            continue
        columns = [
            column if column.type == target.type else _cast(column, target.type)
            for column, target in zip(batch.columns, schema, strict=True)
        ]
        yield pa.RecordBatch.from_arrays(columns, schema=schema)


def _cast(column: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_null(target):
        # Typed as NULL by the planner (``CASE ... THEN NULL END``): every value is NULL whatever
        # the engine's driver guessed, and Arrow has no cast from other types to null.
        return pa.nulls(len(column))
    if column.null_count == len(column):
        # A driver that guesses types from values (SQLite) types a column of NULLs as it likes.
        return pa.nulls(len(column), target)
    try:
        if pa.types.is_integer(column.type) and pa.types.is_decimal(target):
            # A DECIMAL stored as INTEGER (SQLite keeps 3.00 as 3): Arrow casts an int64 only to
            # a decimal with room for every int64, so through one, then down with overflow checked.
            return column.cast(pa.decimal128(38, target.scale)).cast(target, safe=True)
        return column.cast(target, safe=False)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        # Arrow's message may quote the value that failed (a row the client may not see): the
        # client learns the types only.
        raise QueryError(f"the engine's {column.type} values cannot be converted to {target}, the type the "
                         "query has in the mesh dialect") from None
