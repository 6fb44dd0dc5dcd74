"""Query constructs of the mesh dialect that only some engines compute as DuckDB means them.

``capability.takes`` asks whether an engine can run a piece; this asks the narrower question for
syntax that sqlglot prints for every dialect but that means something else (or nothing) in some
engines: a piece holding such a construct stays in the residual, where DuckDB computes it.

* ``TABLESAMPLE`` / ``USING SAMPLE``: sqlglot drops the clause for SQLite and MariaDB (all rows
  come back) and prints DuckDB's ``10 ROWS`` as PostgreSQL's ``(10)``, which is 10 percent there.
  Sampling always runs in the residual, over the sampled table's rows (``planner/split.py``).
* ``GROUPING SETS`` / ``ROLLUP`` / ``CUBE`` (and ``GROUPING()``): printed verbatim; SQLite has
  none of them and MariaDB only ``WITH ROLLUP``. DuckDB and PostgreSQL compute them alike.
* ``WITH RECURSIVE``: MariaDB types a recursive CTE's columns from its first part, so a string
  that grows while recursing fails ("Data too long for column", MariaDB 10.11); DuckDB widens it.
* ``LIMIT n%``: printed as ``LIMIT n PERCENT``, which no other engine reads; ``UNION [ALL] BY
  NAME`` is printed verbatim too.
* ``OFFSET`` without ``LIMIT``: MariaDB has no such clause (sqlglot prints it bare).
* ``x op ANY / ALL (subquery)``: SQLite has neither.
* ``ASOF`` and ``POSITIONAL`` joins: DuckDB's own, printed verbatim elsewhere.
* ``GROUP BY ALL`` and ``ORDER BY ALL`` are DuckDB's: ``rules/expand_all.py`` spells them out
  before any piece is offered; should one remain, it is held back from every other engine.
"""

from __future__ import annotations

from sqlglot import exp

__all__ = ["held_back", "is_sampled"]

_GROUPING_DIALECTS = frozenset({"duckdb", "postgres"})
_RECURSIVE_DIALECTS = frozenset({"duckdb", "postgres", "sqlite"})


def held_back(tree: exp.Expr, dialect: str) -> str | None:
    """The construct in ``tree`` that ``dialect``'s engine would not compute as the mesh does, or None."""
    for node in tree.walk():
        if isinstance(node, exp.TableSample):
            return "TABLESAMPLE"
        if isinstance(node, (exp.Rollup, exp.Cube, exp.GroupingSets, exp.Grouping)) \
                and dialect not in _GROUPING_DIALECTS:
            return "GROUPING SETS / ROLLUP / CUBE"
        if isinstance(node, exp.Group) and (node.args.get("all") or _old_grouping_args(node)):
            if node.args.get("all") and dialect != "duckdb":
                return "GROUP BY ALL"
            if _old_grouping_args(node) and dialect not in _GROUPING_DIALECTS:
                return "GROUPING SETS / ROLLUP / CUBE"
        if isinstance(node, exp.Ordered) and isinstance(node.this, exp.Var) and dialect != "duckdb":
            return "ORDER BY ALL"
        if isinstance(node, exp.With) and node.args.get("recursive") and dialect not in _RECURSIVE_DIALECTS:
            return "WITH RECURSIVE"
        if dialect == "duckdb":
            continue
        if isinstance(node, exp.SetOperation) and node.args.get("by_name"):
            return "UNION BY NAME"
        if isinstance(node, exp.LimitOptions) and node.args.get("percent"):
            return "LIMIT n%"
        if isinstance(node, exp.Join) and (node.args.get("method") or "").upper() in ("ASOF", "POSITIONAL"):
            return f"{node.args['method'].upper()} JOIN"
        if dialect == "mysql" and isinstance(node, exp.Select) and node.args.get("offset") is not None \
                and node.args.get("limit") is None:
            return "OFFSET without LIMIT"
        if dialect == "sqlite" and isinstance(node, (exp.Any, exp.All)):
            return "ANY / ALL (subquery)"
    return None


def is_sampled(node: exp.Expr) -> bool:
    """Does ``node`` (a FROM item or a SELECT) carry a sample clause of its own?"""
    return node.args.get("sample") is not None


def _old_grouping_args(group: exp.Group) -> bool:
    # Some sqlglot versions keep ROLLUP / CUBE / GROUPING SETS as arguments of the Group node.
    return any(group.args.get(key) for key in ("grouping_sets", "cube", "rollup"))
