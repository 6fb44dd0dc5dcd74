"""Dynamic filtering at run time: a probe fragment waits for its build fragments' join keys.

A build fragment reads its whole result on its own thread and publishes it. A probe fragment,
before it starts, waits (at most ``dynamic_filter_wait_seconds``) for the keys of each of its
builds and hands them to its ``KeySlots`` (``flightmesh.planner.key_slots``), prepared when the
plan was bound: where the keys go and in which form is decided there, so this module only
collects key arrays — it neither reads nor writes any SQL tree.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from flightmesh.connectors import FragmentQuery
from flightmesh.mesh import CancelScope, Settings
from flightmesh.planner import Fragment, KeyFilter
from flightmesh.planner.key_slots import KeySlots

__all__ = ["KeyFilterRun"]


class KeyFilterRun:
    """One execution's key exchange: builds publish their results, probes wait for them."""

    def __init__(self, slots: Mapping[str, KeySlots], settings: Settings, cancel: CancelScope) -> None:
        self.settings = settings
        self.cancel = cancel
        self.slots = slots
        self.builds = {key_filter.build for slot in slots.values() for key_filter in slot.filters}
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
        slots = self.slots.get(fragment.name)
        if slots is None:
            return FragmentQuery(fragment.sql, expected_schema=schema, timeout_seconds=timeout,
                                 estimated_rows=fragment.estimate)
        keys = [self._keys(key_filter) for key_filter in slots.filters]
        keyed = slots.statement(keys, max_literal_keys=self.settings.dynamic_filter_max_literal_keys)
        if not keyed.keyed:
            return FragmentQuery(fragment.sql, expected_schema=schema, timeout_seconds=timeout,
                                 estimated_rows=fragment.estimate)
        return FragmentQuery(keyed.sql, expected_schema=schema, key_tables=dict(keyed.key_tables),
                             timeout_seconds=timeout, estimated_rows=fragment.estimate)

    def _keys(self, key_filter: KeyFilter) -> pa.Array | None:
        """The build's distinct non-null keys; None when they came too late or are too many."""
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
