"""What the server needs from the runtime, as a Protocol.

``flightmesh.executor.MeshRuntime`` provides all of it. The server is written against this
protocol so that it never depends on how planning and execution are done, and so the contract is
written down in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pyarrow as pa

from flightmesh.mesh import CancelScope, Catalog, MeshSpec, Principal, Settings

__all__ = ["BoundPlan", "PreparedQuery", "Runtime"]


# Members are read-only properties: the runtime's values may be frozen dataclasses (a protocol
# attribute would require them to be writable).
class PreparedQuery(Protocol):
    """A parsed, resolved, policy-checked statement, not yet bound to parameter values."""

    @property
    def sql(self) -> str: ...

    @property
    def parameter_schema(self) -> pa.Schema:
        """Fields "0", "1", ... one per positional parameter."""
        ...

    @property
    def schema(self) -> pa.Schema:
        """The result schema; with parameters, computed with NULLs bound."""
        ...


class BoundPlan(Protocol):
    @property
    def schema(self) -> pa.Schema:
        """Exactly the schema of the stream ``Runtime.execute`` returns."""
        ...


class Runtime(Protocol):
    @property
    def spec(self) -> MeshSpec: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def catalog(self) -> Catalog:
        """The current catalog; replaced (not mutated) when products change."""
        ...

    def refresh_schemas(self, product: str | None = None) -> list[str]:
        """Describe ``product``'s (None: every product's) tables again; the products that changed.
        KeyError for a product the mesh does not have."""
        ...

    def authenticate(self, username: str, password: str) -> Principal:
        """Raises AuthenticationError."""
        ...

    def authenticate_jwt(self, token: str) -> Principal:
        """An identity provider's token (``auth.jwt``); raises AuthenticationError."""
        ...

    def principal_for(self, username: str) -> Principal | None: ...

    def audit_refusal(self, user: str | None, reason: str) -> None:
        """Record a refused authentication the runtime did not see itself."""
        ...

    def prepare(self, sql: str, principal: Principal, *, default_schema: str | None = None,
                dialect: str | None = None) -> PreparedQuery:
        """Raises QueryError subclasses, NotFound, ReadOnlyViolation, ...

        ``default_schema`` is the product unqualified table names resolve in (the session's);
        ``dialect`` the SQL dialect ``sql`` is written in (the session's; None: the mesh's).
        """
        ...

    def bind(self, prepared: Any, principal: Principal, parameters: Sequence[Any] = ()) -> BoundPlan:
        """Raises ParameterError when the parameters do not fit."""
        ...

    def execute(self, plan: Any, cancel: CancelScope | None = None, hold: Any = None) -> pa.RecordBatchReader:
        """Errors, also while streaming, are flightmesh.mesh errors. ``hold``: from ``hold_budgets``."""
        ...

    def hold_budgets(self, plans: Sequence[Any]) -> list[Any]:
        """Reserve the privacy budget of ``plans`` (one hold or None each) before their DoGet's
        schema is sent; never raises: a refusal is raised when its plan is executed."""
        ...

    def reload(self, by: Principal | None = None) -> Any:
        """Read the descriptor again: swapped in, or refused with its report. ``as_json()``: the reply."""
        ...

    def close(self) -> None: ...
