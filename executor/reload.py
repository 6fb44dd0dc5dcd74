"""What a reload of the descriptor did: applied or refused, and what changed.

``MeshRuntime.reload`` builds the new mesh whole (descriptor, connectors, catalog, policy checks)
before anything is swapped; ``Reload`` is its outcome, answered to the ``reload`` action and
written to the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flightmesh.mesh import Catalog, MeshSpec

__all__ = ["Reload", "changes_between"]


@dataclass(frozen=True)
class Reload:
    applied: bool
    problems: list[str] = field(default_factory=list)      # the descriptor report, when refused
    # {"products": {"added": [...], "removed": [...], "changed": [...]}, "tables": ..., "users": ...}
    changes: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def summary(self) -> str:
        if not self.applied:
            return "; ".join(self.problems)
        parts = [f"{kind} {what}: {', '.join(names)}" for kind, by in self.changes.items()
                 for what, names in by.items() if names]
        return "; ".join(parts) or "nothing changed"

    def changed(self, kind: str) -> tuple[str, ...]:
        return tuple(name for names in self.changes.get(kind, {}).values() for name in names)

    def as_json(self) -> dict[str, Any]:
        if not self.applied:
            return {"reloaded": False, "problems": self.problems}
        return {"reloaded": True, "changes": self.changes, "summary": self.summary()}


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(name for name in set(old) & set(new) if old[name] != new[name]),
    }


def changes_between(old_spec: MeshSpec, old: Catalog, new_spec: MeshSpec,
                    new: Catalog) -> dict[str, dict[str, list[str]]]:
    """Products, tables (as the engines describe them) and users added, removed or changed."""
    def tables(catalog: Catalog) -> dict[str, Any]:
        return {table.qualified_name: (table.spec, table.schema, table.columns) for table in catalog.all_tables()}

    return {
        "products": _diff(old_spec.products, new_spec.products),
        "tables": _diff(tables(old), tables(new)),
        "users": _diff(old_spec.users, new_spec.users),
    }
