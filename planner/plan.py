"""What the planner hands the executor: fragments, the residual, and how to explain them.

``Plan.explain_rows()`` is deterministic: the same query, principal and catalog give the same
rows, so EXPLAIN output can be compared against golden files.

A plan is a value (DESIGN.md §10): frozen, never written to after the planner returns it, and it
names the policies it applied (``policy_labels``). What only running engines can tell (the exact
schemas) is not part of it: the executor's ``BoundPlan`` pairs a plan with those.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pyarrow as pa
from sqlglot import exp

from flightmesh.connectors import Connector
from flightmesh.governance import POLICY_KEY
from flightmesh.governance.privacy import PrivacyRelease

__all__ = ["EXPLAIN_SCHEMA", "LATE_KEY", "LATE_ORDINAL", "LATE_TOP", "Fragment", "KeyFilter", "LateRead", "Partition",
           "Plan"]


@dataclass(frozen=True)
class Partition:
    """One key range of a fragment read in partitions (planner/partition.py): the fragment's
    statement with the range inside it, where the partitioned table is read."""

    sql: str
    tree: exp.Query
    range: str        # for EXPLAIN: ``"supplier"."s_suppkey" < 5001``


@dataclass(frozen=True)
class Fragment:
    """One statement for one engine, in its dialect, policies already inside."""

    name: str                          # how the residual reads it
    connector: Connector
    engine: str                        # descriptor kind: duckdb, postgresql, ...
    products: tuple[str, ...]
    tables: tuple[str, ...]            # "product.table" it reads
    sql: str                           # exactly what the engine runs (before dynamic filters)
    tree: exp.Query                    # the same, as an AST in the engine's names (for key filters)
    dialect: str
    output: tuple[str, ...]            # output column names
    estimate: float | None = None      # estimated output rows
    # For engines whose results carry no reliable types (SQLite): the fragment rendered for
    # DuckDB over empty tables of these schemas gives the types to cast to.
    typing_sql: str | None = None
    typing_tables: tuple[tuple[str, pa.Schema], ...] = ()
    # What EXPLAIN shows (planner.disclosure): the SQL with governed tables by name unless the
    # principal may read policy text, the policies applied by name, and whether the estimate is
    # hidden (it would tell how many rows a row filter hides).
    shown_sql: str | None = None
    policies: tuple[str, ...] = ()
    estimate_hidden: bool = False
    # Read as these disjoint key ranges, concurrently; their union is the fragment's result.
    # Empty: one read of ``sql``.
    partitions: tuple[Partition, ...] = ()
    # Run only to lend its keys to dynamic filters (planner.early_keys); the residual never reads it.
    keys_only: bool = False

    def partition_fragments(self) -> tuple[Fragment, ...]:
        """Each partition as a fragment of its own (named ``f0/1``, ``f0/2``, ...): what the
        executor runs and where each partition's dynamic-filter slots are prepared."""
        return tuple(replace(self, name=partition_name(self.name, index), sql=partition.sql, tree=partition.tree,
                             shown_sql=None, partitions=())
                     for index, partition in enumerate(self.partitions))


def partition_name(fragment: str, index: int) -> str:
    return f"{fragment}/{index + 1}"


@dataclass(frozen=True)
class KeyFilter:
    """Dynamic filtering: run ``build`` first, then restrict ``probe`` to its join keys."""

    build: str
    build_column: str
    probe: str
    probe_column: str
    # distinct values of the probe column in its engine, when the engine knows (index-driven
    # engines use it to tell a selective filter from a weak one)
    probe_distinct: int | None = None
    # the probe column leads the primary key of a table stored in that key's order: never weak
    probe_clustered: bool = False


LATE_TOP = "__late_top"        # how the late join reads the residual's (top-N) result
LATE_KEY = "__late_key"        # the residual's output carrying the late table's key
LATE_ORDINAL = "__late_ord"    # the executor numbers the residual's rows in this column


@dataclass(frozen=True)
class LateRead:
    """Late materialization (planner/rules/late_rows.py): wide columns read for the top rows only.

    The residual computes the query's top ``limit`` rows with ``LATE_KEY`` in place of one table's
    wide columns. Then ``fragment`` (that table's governed subquery, restricted to those keys like
    a dynamic filter) runs, and ``final`` (DuckDB, over ``LATE_TOP`` and ``fragment``) joins the
    columns back in the residual's row order. ``fragment`` is one of ``Plan.fragments``, started
    only once the residual's rows are known.
    """

    fragment: str
    key: str                       # the fragment's output holding the table's primary key
    final: str
    limit: int                     # LIMIT plus OFFSET of the query: at most this many keys

    @property
    def key_filter(self) -> KeyFilter:
        # A primary key: an index-driven engine should drive its plan from it (never weak).
        return KeyFilter(LATE_TOP, LATE_KEY, self.fragment, self.key, probe_clustered=True)


_TABLE_KEY = "flightmesh.table"                     # planner.resolve.TABLE_KEY (no import cycle)


@dataclass(frozen=True)
class Plan:
    sql: str                                   # as the client sent it
    fragments: tuple[Fragment, ...]
    residual: str | None                       # DuckDB SQL over the fragments; None: one fragment
    output_names: tuple[str, ...]              # result column names, as the client should see them
    key_filters: tuple[KeyFilter, ...] = ()
    explain: str | None = None                 # "plan" or "analyze": answer with the plan, not the data
    planning_ms: float = 0.0
    notes: tuple[str, ...] = ()                # pushdown decisions worth showing in EXPLAIN
    materialize: frozenset[str] = frozenset()  # fragments the residual reads more than once
    # (fragment, rows) the merge DuckDB is told of each stream (merge_sizes); () when not trusted
    merge_rows: tuple[tuple[str, int], ...] = ()
    shown_residual: str | None = None          # the residual as EXPLAIN shows it (disclosure)
    reveal_policies: bool = False              # planned for a principal who may read policy SQL
    privacy: PrivacyRelease | None = None      # a privacy-mode release: the executor adds the noise
    late: LateRead | None = None               # wide columns read for the top rows only

    def fragment(self, name: str) -> Fragment:
        for fragment in self.fragments:
            if fragment.name == name:
                return fragment
        raise KeyError(name)

    def policy_labels(self) -> tuple[str, ...]:
        """The audit labels of every policy the planner applied, as ``policies_applied`` orders them.

        Read from the tags the planner left on each governed subquery (``POLICY_KEY``), not by
        asking governance again: the audit names what this plan does, even if the descriptor
        changed since. Tables in sorted order, each table's labels in the order they applied.
        """
        by_table: dict[str, tuple[str, ...]] = {}
        for fragment in self.fragments:
            for node in fragment.tree.find_all(exp.Subquery):
                labels = node.meta.get(POLICY_KEY)
                if labels:
                    by_table.setdefault(governed_table(node), tuple(labels))
        ordered: list[str] = []
        for table in sorted(by_table):
            ordered += [label for label in by_table[table] if label not in ordered]
        return tuple(ordered)

    def explain_rows(self) -> list[dict[str, object]]:
        """The plan as rows: each fragment (product, engine, exact SQL), key filters, the residual."""
        rows: list[dict[str, object]] = []
        for fragment in self.fragments:
            shown_estimate = fragment.estimate is not None and not fragment.estimate_hidden
            rows.append({
                "step": len(rows) + 1, "kind": "fragment", "name": fragment.name,
                "products": ", ".join(fragment.products), "engine": fragment.engine,
                "sql": fragment.shown_sql if fragment.shown_sql is not None else fragment.sql,
                "detail": "; ".join(part for part in (
                    f"estimated rows: {round(fragment.estimate or 0)}" if shown_estimate else "",
                    "keys only: lends its keys early to a dynamic filter" if fragment.keys_only else "") if part),
            })
            for index, partition in enumerate(fragment.partitions):
                # The bounds come from the table's statistics: hidden with the estimate.
                shown_range = "a range of the table's key" if fragment.estimate_hidden else partition.range
                rows.append({"step": len(rows) + 1, "kind": "partition", "name": partition_name(fragment.name, index),
                             "products": ", ".join(fragment.products), "engine": fragment.engine, "sql": "",
                             "detail": f"partition {index + 1} of {len(fragment.partitions)}: {shown_range}"})
            for policy in fragment.policies:
                rows.append({"step": len(rows) + 1, "kind": "policy", "name": fragment.name,
                             "products": ", ".join(fragment.products), "engine": "", "sql": "",
                             "detail": f"{policy} applied"})
        for key_filter in self.key_filters:
            rows.append({
                "step": len(rows) + 1, "kind": "dynamic filter", "name": key_filter.probe, "products": "",
                "engine": "", "sql": "",
                "detail": f"{key_filter.probe}.{key_filter.probe_column} IN keys of "
                          f"{key_filter.build}.{key_filter.build_column} (when few enough)",
            })
        if self.residual is not None:
            rows.append({
                "step": len(rows) + 1, "kind": "residual", "name": "merge", "products": "",
                "engine": "duckdb (merge)",
                "sql": self.shown_residual if self.shown_residual is not None else self.residual, "detail": "",
            })
        if self.late is not None:
            late = self.late
            rows.append({
                "step": len(rows) + 1, "kind": "late read", "name": late.fragment, "products": "",
                "engine": "duckdb (merge)", "sql": late.final,
                "detail": f"{late.fragment}.{late.key} IN the keys of the residual's <= {late.limit} rows, "
                          "read after the residual and joined back in its order",
            })
        for note in self.notes:
            rows.append({"step": len(rows) + 1, "kind": "note", "name": "", "products": "", "engine": "",
                         "sql": "", "detail": note})
        return rows


def governed_table(subquery: exp.Subquery) -> str:
    """The catalog key ("crm.customers") of the table a policy subquery stands for ("" if unknown)."""
    for table in subquery.find_all(exp.Table):
        key = table.meta.get(_TABLE_KEY)
        if isinstance(key, str):
            return key
    return ""


EXPLAIN_SCHEMA = pa.schema([
    pa.field("step", pa.int64()),
    pa.field("kind", pa.string()),
    pa.field("name", pa.string()),
    pa.field("products", pa.string()),
    pa.field("engine", pa.string()),
    pa.field("sql", pa.string()),
    pa.field("detail", pa.string()),
    pa.field("rows", pa.int64()),
    pa.field("ms", pa.float64()),
])
