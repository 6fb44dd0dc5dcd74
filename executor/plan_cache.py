"""Bound plans by everything that decides them, least recently used first out.

The key is (SQL, dialect, session schema, the principal's policy context, catalog version,
parameters): a plan is never shared across policy contexts, and a catalog change makes every
older entry unreachable (``clear`` then frees them at once). Values are ``BoundPlan``s, which
nobody writes to, so handing the same object to concurrent queries is safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

from .bound import BoundPlan

__all__ = ["PlanCache", "plan_key"]


def plan_key(sql: str, dialect: str, default_schema: str | None, policy_key: Hashable, catalog_version: Hashable,
             parameters: Sequence[Any]) -> Hashable:
    return (sql, dialect, default_schema, policy_key, catalog_version, tuple(_hashable(v) for v in parameters))


def _hashable(value: Any) -> Hashable:
    return (type(value).__name__, repr(value))


class PlanCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._plans: OrderedDict[Hashable, BoundPlan] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> BoundPlan | None:
        with self._lock:
            found = self._plans.get(key)
            if found is not None:
                self._plans.move_to_end(key)
            return found

    def put(self, key: Hashable, bound: BoundPlan) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._plans[key] = bound
            while len(self._plans) > self.size:
                self._plans.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()

    def __len__(self) -> int:
        return len(self._plans)
