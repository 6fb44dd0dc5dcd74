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
        self.applied: dict[str, list[str]] = {}  # probe -> how each filter was applied (for EXPLAIN ANALYZE)

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
        conditions: list[exp.Expression] = []
        key_tables: dict[str, pa.Table] = {}
        notes: list[str] = []
        for key_filter in self.filters.get(fragment.name, []):
            keys = self._keys(key_filter)
            if keys is None:
                notes.append(f"{key_filter.build}: no keys in time")
                continue
            column = exp.column(key_filter.probe_column, table="keyed", quoted=True)
            delivery = fragment.connector.capabilities.key_delivery
            if len(keys) == 0:
                conditions.append(exp.false())
                notes.append(f"{key_filter.build}: no keys, nothing can match")
            elif delivery == KeyDelivery.KEY_TABLE:
                name = f"__keys_{fragment.name}_{len(key_tables)}"
                key_tables[name] = pa.table({"key": keys})
                keys_query = exp.select(exp.column("key", quoted=True)).from_(exp.table_(exp.to_identifier(name, quoted=True)))
                conditions.append(exp.In(this=column, query=exp.Subquery(this=keys_query)))
                notes.append(f"{key_filter.build}: {len(keys)} keys as a table")
            elif delivery == KeyDelivery.LITERALS and len(keys) <= self.settings.dynamic_filter_max_literal_keys:
                conditions.append(exp.In(this=column, expressions=[literal(v) for v in keys.to_pylist()]))
                notes.append(f"{key_filter.build}: {len(keys)} keys as IN-list")
            elif delivery == KeyDelivery.LITERALS:
                bounds = pc.min_max(keys)
                conditions.append(exp.Between(this=column, low=literal(bounds["min"].as_py()),
                                              high=literal(bounds["max"].as_py())))
                notes.append(f"{key_filter.build}: {len(keys)} keys as a range")
        self.applied[fragment.name] = notes
        expected = schema
        if not conditions:
            return FragmentQuery(fragment.sql, expected_schema=expected, timeout_seconds=timeout)
        wrapped = exp.select("*").from_(exp.Subquery(this=fragment.tree.copy(),
                                                     alias=exp.TableAlias(this=exp.to_identifier("keyed"))))
        wrapped = wrapped.where(exp.and_(*conditions, copy=False), copy=False)
        sql = render(wrapped, fragment.dialect)
        return FragmentQuery(sql, expected_schema=expected, key_tables=key_tables, timeout_seconds=timeout)

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
