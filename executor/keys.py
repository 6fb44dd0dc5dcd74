"""Dynamic filtering at run time: a probe fragment waits for its build fragments' join keys.

A build fragment reads its whole result on its own thread and publishes it. A probe fragment,
before it starts, waits (at most ``dynamic_filter_wait_seconds``) for the keys of each of its
builds and adds them to its own statement — as a registered Arrow table for embedded engines,
as an IN-list of literals up to ``dynamic_filter_max_literal_keys``, or as a BETWEEN range above
that. Keys are added around the fragment (``SELECT * FROM (fragment) WHERE key IN ...``), which
every engine pushes down, so the fragment's own SQL stays as the planner wrote it.
"""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from flightmesh.connectors import FragmentQuery, KeyDelivery
from flightmesh.mesh import CancelScope, Settings
from flightmesh.planner import Fragment, KeyFilter, Plan
from flightmesh.planner.render import render
from flightmesh.planner.statement import literal

__all__ = ["KeyFilterRun"]

_WEAK_KEYS = 64          # without statistics: this few keys usually come from a small dimension
_WEAK_SHARE = 0.1        # with statistics: keys covering more than this share of values are weak


def _weak(keys: int, distinct: int | None) -> bool:
    """Would an index-driven engine do better to ignore this filter when choosing its plan?"""
    if distinct is not None:
        return keys > _WEAK_SHARE * distinct
    return keys <= _WEAK_KEYS


def _inner_column(tree: exp.Query, output: str) -> tuple[exp.Select, exp.Column] | None:
    """Where a filter on output ``output`` can go inside the fragment: (SELECT, its column).

    A plain SELECT (no LIMIT, window, or set operation) whose output is a column it reads
    directly takes the filter in its own WHERE; with GROUP BY, only for a grouping column. When
    that column comes from a derived table, the filter goes down into it, as deep as it can:
    engines do not always push a filter past subqueries (DuckDB does not past decorrelated
    EXISTS), and a filter on the innermost rows is the same filter. None: the caller wraps.
    """
    if not isinstance(tree, exp.Select) or tree.args.get("limit") or tree.args.get("offset"):
        return None
    if any(isinstance(node, exp.Window) for node in tree.expressions for node in node.walk()):
        return None
    for projection in tree.expressions:
        if projection.alias_or_name != output:
            continue
        column = projection.this if isinstance(projection, exp.Alias) else projection
        if not isinstance(column, exp.Column):
            return None
        group = tree.args.get("group")
        if group is not None and not any(column == key for key in group.expressions):
            return None
        derived = next((item for item in _from_items(tree) if isinstance(item, exp.Subquery)
                        and item.alias_or_name == column.table), None)
        if derived is not None and isinstance(derived.this, exp.Query):
            deeper = _inner_column(derived.this, column.name)
            if deeper is not None:
                return deeper
        return tree, column
    return None


def _from_items(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    return ([from_.this] if from_ is not None else []) + [join.this for join in select.args.get("joins") or []]


class KeyFilterRun:
    def __init__(self, plan: Plan, settings: Settings, cancel: CancelScope) -> None:
        self.settings = settings
        self.cancel = cancel
        self.builds = {key_filter.build for key_filter in plan.key_filters}
        self.filters: dict[str, list[KeyFilter]] = {}
        for key_filter in plan.key_filters:
            self.filters.setdefault(key_filter.probe, []).append(key_filter)
        self._tables: dict[str, pa.Table | None] = {}
        self._ready = {name: threading.Event() for name in self.builds}

    # -- builds ----------------------------------------------------------------------------------

    def materialized(self, name: str, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """For a build fragment: read it whole, publish it, and hand on a reader over the copy."""
        try:
            table = reader.read_all()
        except BaseException:
            self.publish(name, None)
            raise
        self.publish(name, table)
        return pa.RecordBatchReader.from_batches(table.schema, iter(table.to_batches()))

    def publish(self, name: str, table: pa.Table | None) -> None:
        self._tables[name] = table
        self._ready[name].set()

    # -- probes ----------------------------------------------------------------------------------

    def query_for(self, fragment: Fragment, schema: pa.Schema, timeout: float) -> FragmentQuery:
        """The statement to run for ``fragment``, with whatever keys arrived in time."""
        tree = fragment.tree.copy()
        outer_conditions: list[exp.Expr] = []
        outer_joins: list[exp.Join] = []
        key_tables: dict[str, pa.Table] = {}
        notes: list[str] = []
        capabilities = fragment.connector.capabilities
        for key_filter in self.filters.get(fragment.name, []):
            keys = self._keys(key_filter)
            if keys is None:
                notes.append(f"{key_filter.build}: no keys in time, or too many")
                continue
            target = _inner_column(tree, key_filter.probe_column)
            inner = target[1] if target is not None else None
            column: exp.Expr = inner.copy() if inner is not None else exp.column(
                key_filter.probe_column, table="keyed", quoted=True)
            if len(keys) == 0:
                notes.append(f"{key_filter.build}: no keys, nothing can match")
                condition: exp.Expr = exp.false()
            elif capabilities.key_delivery == KeyDelivery.KEY_TABLE:
                # A join with the (distinct) keys, not IN (SELECT ...): DuckDB plans an IN-subquery
                # together with any EXISTS in the fragment, and can pick a plan quadratic in size.
                name = f"__keys_{fragment.name}_{len(key_tables)}"
                key_tables[name] = pa.table({"key": keys})
                alias = f"__k{len(key_tables) - 1}"
                # CROSS JOIN plus an equality in WHERE: the engine's join-order optimizer places
                # it freely (an ON after a comma list would bind to the last table only).
                join = exp.Join(this=exp.Table(this=exp.to_identifier(name, quoted=True),
                                               alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))),
                                kind="CROSS")
                condition = exp.EQ(this=column, expression=exp.column("key", table=alias, quoted=True))
                notes.append(f"{key_filter.build}: {len(keys)} keys joined as a table")
                (target[0].append("joins", join) if target is not None else outer_joins.append(join))
            elif capabilities.key_delivery == KeyDelivery.LITERALS:
                if capabilities.index_driven and _weak(len(keys), key_filter.probe_distinct):
                    # An expression, not the bare column: the engine may not drive its join order
                    # from a handful of keys on what is likely a low-cardinality column.
                    column = exp.Coalesce(this=column, expressions=[exp.Null()])
                condition = self._literal_condition(column, keys, notes, key_filter)
            else:
                continue
            if target is not None:
                where = target[0].args.get("where")
                combined = exp.and_(where.this, condition, copy=False) if where else condition
                target[0].set("where", exp.Where(this=combined))
            else:
                outer_conditions.append(condition)
        if outer_conditions or outer_joins:
            wrapped = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("keyed"))).from_(
                exp.Subquery(this=tree, alias=exp.TableAlias(this=exp.to_identifier("keyed"))))
            for join in outer_joins:
                wrapped.append("joins", join)
            if outer_conditions:
                wrapped = wrapped.where(exp.and_(*outer_conditions, copy=False), copy=False)
            tree = wrapped
        if not notes:
            return FragmentQuery(fragment.sql, expected_schema=schema, timeout_seconds=timeout)
        sql = render(tree, fragment.dialect)
        return FragmentQuery(sql, expected_schema=schema, key_tables=key_tables, timeout_seconds=timeout)

    def _literal_condition(self, column: exp.Expr, keys: pa.Array, notes: list[str],
                           key_filter: KeyFilter) -> exp.Expr:
        if len(keys) <= self.settings.dynamic_filter_max_literal_keys:
            notes.append(f"{key_filter.build}: {len(keys)} keys as IN-list")
            return exp.In(this=column, expressions=[literal(v) for v in keys.to_pylist()])
        bounds = pc.min_max(keys)
        notes.append(f"{key_filter.build}: {len(keys)} keys as a range")
        return exp.Between(this=column, low=literal(bounds["min"].as_py()), high=literal(bounds["max"].as_py()))

    def _keys(self, key_filter: KeyFilter) -> pa.Array | None:
        event = self._ready[key_filter.build]
        waited = 0.0
        while not event.wait(0.05):
            waited += 0.05
            self.cancel.check()
            if waited >= self.settings.dynamic_filter_wait_seconds:
                return None
        table = self._tables.get(key_filter.build)
        if table is None:
            return None
        column = table.column(key_filter.build_column)
        keys = pc.unique(pc.drop_null(column))
        if len(keys) > self.settings.dynamic_filter_max_keys:
            return None
        return keys
