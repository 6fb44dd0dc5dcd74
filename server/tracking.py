"""The runtime's query tracker (admission, running queries, history, kill), as the server reaches it.

``MeshRuntime`` owns one (``executor.query_tracker``), so ``flightmesh.queries`` and
``flightmesh.query_history`` show what this server runs. A runtime without one (the tests'
doubles, another embedding) gets a private tracker with its history in a temporary file.
"""

from __future__ import annotations

from flightmesh.executor.query_tracker import QueryTracker

from .runtime import Runtime

__all__ = ["tracker_of"]


def tracker_of(runtime: Runtime) -> QueryTracker:
    found = getattr(runtime, "tracker", None)
    if isinstance(found, QueryTracker):
        return found
    spec = runtime.spec
    private = QueryTracker(lambda: runtime.settings, None, lambda: tuple(spec.auth.admin_roles))
    setattr(runtime, "tracker", private)  # noqa: B010 - one per runtime (not part of the Runtime protocol)
    return private
