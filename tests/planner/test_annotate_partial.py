"""Annotating again only what rules built: the result equals annotating the whole tree afresh.

``annotate(tree, resolution, only_missing=True)`` keeps the types the whole query's annotation
gave and infers only nodes without one. The oracle is sqlglot's full inference of the same tree
(``annotate(..., only_missing=False)`` on a copy): every value node must end with the same type.
"""

from __future__ import annotations

import pyarrow as pa
import sqlglot
from sqlglot import exp

from flightmesh.mesh import CatalogTable
from flightmesh.mesh.specs import TableSpec
from flightmesh.planner.annotate import annotate
from flightmesh.planner.resolve import TABLE_KEY, Resolution


def _resolution() -> Resolution:
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("price", pa.decimal128(15, 2))])
    table = CatalogTable("shop", "items", TableSpec(name="items", source="items"), schema)
    return Resolution(tables={"shop.items": table})


def _qualified(sql: str) -> exp.Expr:
    tree = sqlglot.parse_one(sql, read="duckdb")
    for node in tree.find_all(exp.Table):
        node.meta[TABLE_KEY] = "shop.items"
    return tree


def _types(tree: exp.Expr) -> list[tuple[str, str | None]]:
    return [(node.sql("duckdb"), node.type.sql("duckdb") if node.type else None) for node in tree.walk()
            if not isinstance(node, (exp.Identifier, exp.Table, exp.TableAlias, exp.Select, exp.From, exp.Where))]


def test_a_new_node_under_a_typed_parent_is_typed_and_so_are_its_ancestors() -> None:
    resolution = _resolution()
    tree = _qualified('SELECT "i"."price" + 1 AS "p" FROM "shop"."items" AS "i" WHERE "i"."id" > 0')
    annotate(tree, resolution)
    plus = tree.find(exp.Add)
    assert plus is not None and plus.is_type("DECIMAL")
    # A rule swaps the literal for a string function: the sum's type must follow (DECIMAL + ... is
    # no longer what it was), though the sum itself still has its old type.
    plus.set("expression", exp.Length(this=exp.column("name", table="i", quoted=True)))
    annotate(tree, resolution, only_missing=True)
    fresh = tree.copy()
    for node in fresh.walk():
        node.type = None
    annotate(fresh, resolution)
    assert _types(tree) == _types(fresh)


def test_nothing_untyped_leaves_the_tree_as_it_was() -> None:
    resolution = _resolution()
    tree = _qualified('SELECT "i"."name" AS "n" FROM "shop"."items" AS "i" WHERE "i"."id" = 1 AND "i"."id" < 9')
    annotate(tree, resolution)
    before = _types(tree)
    where = tree.args["where"]
    # What placement builds over typed parts: an AND chain, parentheses, an alias.
    where.set("this", exp.and_(exp.paren(where.this.copy(), copy=False), exp.true(), copy=False))
    annotate(tree, resolution, only_missing=True)
    assert all(kind is not None for _, kind in _types(tree))
    assert [item for item in _types(tree) if item in before]  # the old nodes kept theirs
