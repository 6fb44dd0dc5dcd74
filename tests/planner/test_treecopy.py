"""``copy_tree``: a copy as sqlglot's, except that the nodes' inferred types are shared."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types

from flightmesh.planner.treecopy import copy_tree

SQL = ("SELECT a.x + 1 AS y, CAST(b.z AS INT) AS z, [1, 2][1] AS e FROM a JOIN b ON a.i = b.i "
       "WHERE a.x IN (SELECT 1) AND b.s LIKE 'p%' ORDER BY y LIMIT 3")


def _tree() -> exp.Expr:
    tree = annotate_types(sqlglot.parse_one(SQL, read="duckdb"),
                          schema={"a": {"x": "INT", "i": "INT"}, "b": {"z": "TEXT", "i": "INT", "s": "TEXT"}})
    for node in tree.find_all(exp.Table):
        node.meta["flightmesh.table"] = f"p.{node.name}"
        node.meta["labels"] = ["kept apart"]
    return tree


def test_the_copy_equals_sqlglots_copy() -> None:
    tree = _tree()
    ours, theirs = copy_tree(tree), tree.copy()
    assert ours == theirs and ours.sql("duckdb") == theirs.sql("duckdb") == tree.sql("duckdb")
    assert ours.parent is None
    for original, copied, reference in zip(tree.walk(), ours.walk(), theirs.walk(), strict=True):
        assert copied is not original and type(copied) is type(original)
        assert copied.type == reference.type  # the same type as sqlglot's copy carries
        assert copied.meta == reference.meta
        assert (copied.arg_key, copied.index) == (reference.arg_key, reference.index)
        for child in copied.iter_expressions():
            assert child.parent is copied


def test_types_are_shared_and_everything_else_is_not() -> None:
    tree = _tree()
    copied = copy_tree(tree)
    pairs = list(zip(tree.walk(), copied.walk(), strict=True))
    assert all(c._type is o._type for o, c in pairs)
    table, table_copy = next((o, c) for o, c in pairs if isinstance(o, exp.Table))
    table_copy.meta["labels"].append("changed")  # a mutable meta value is copied, not shared
    table_copy.set("alias", exp.TableAlias(this=exp.to_identifier("other")))
    assert table.meta["labels"] == ["kept apart"] and table.alias != "other"
    # A copy rendered with copy=False (the generator may rewrite it) leaves the original as it was.
    before = tree.sql("sqlite")
    copy_tree(tree).sql(dialect="sqlite", copy=False)
    assert tree.sql("sqlite") == before
