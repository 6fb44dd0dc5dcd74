"""Who is asking: an authenticated user or token, with roles and attributes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[str] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def has_any(self, roles: tuple[str, ...] | frozenset[str] | None) -> bool:
        """True when the principal holds at least one of ``roles``."""
        return bool(roles) and not self.roles.isdisjoint(roles or ())

    def policy_key(self) -> tuple[Any, ...]:
        """Everything a policy may depend on: two principals with equal keys get equal plans."""
        return (self.name, tuple(sorted(self.roles)), tuple(sorted((k, repr(v)) for k, v in self.attributes.items())))
