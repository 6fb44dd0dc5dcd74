"""The web console: a login page, the catalog, a SQL editor and plans as pictures, at ``/`` of the
HTTP side port (``server/http.py``), over the same runtime, identities, policies and audit as Flight SQL.

``Console(runtime, operations)`` answers the side port's requests that are not ``/health`` or
``/metrics``: the static page (``static/``), and the JSON API under ``/api/`` (``api.py``).
"""

from __future__ import annotations

from .routes import Console

__all__ = ["Console"]
