"""The SQL dialects a client may write in, chosen per connection (session option ``sql_dialect``).

The planner parses a statement in the client's dialect and then works on sqlglot's tree, which
is the same whichever dialect produced it; engines get SQL rendered in their own dialects. The
list is closed on purpose: each dialect here is one whose parser's output the closed language
(``governance/language.py``) has been exercised against (``tests/server/test_dialects.py``).
The mesh's own ``mesh.sql_dialect`` is always accepted too, whatever it is.
"""

from __future__ import annotations

__all__ = ["CLIENT_DIALECTS", "client_dialect"]

# sqlglot's name for each dialect, and the spellings clients use for it.
CLIENT_DIALECTS: dict[str, str] = {
    "duckdb": "duckdb",
    "trino": "trino",
    "postgres": "postgres",
    "postgresql": "postgres",
    "mysql": "mysql",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
}


def client_dialect(name: str, mesh_default: str) -> str | None:
    """sqlglot's name for the dialect a client asked for; None when flightmesh does not take it."""
    lowered = name.strip().lower()
    if lowered == mesh_default.lower():
        return mesh_default
    return CLIENT_DIALECTS.get(lowered)
