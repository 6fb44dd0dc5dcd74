"""One scope walk for types and the column binding: ``annotate_and_bind`` equals ``annotate`` then
``bind_columns`` (each building the scopes itself), the oracle being those two on a copy."""

from __future__ import annotations

from sqlglot import exp

from flightmesh.planner.annotate import annotate, annotate_and_bind
from flightmesh.planner.binding import bind_columns
from tests.planner.test_annotate_partial import _qualified, _resolution, _types

# Aliases repeat across scopes (the subquery's "i" is not the outer one), a derived table, a
# division (the mesh's double) and an aggregate.
SQL = ('SELECT "i"."name" AS "n", "d"."total" / 3 AS "share" FROM "shop"."items" AS "i" '
       'JOIN (SELECT "i"."id" AS "id", SUM("i"."price") AS "total" FROM "shop"."items" AS "i" '
       'GROUP BY "i"."id") AS "d" ON "d"."id" = "i"."id" '
       'WHERE "i"."price" > (SELECT AVG("i"."price") AS "a" FROM "shop"."items" AS "i")')


def _sources(tree: exp.Expr, source_of: object) -> list[tuple[str, str | None]]:
    assert callable(source_of)
    return [(column.sql(), None if (found := source_of(column)) is None else found.sql()[:40])
            for column in tree.find_all(exp.Column)]


def test_types_and_binding_equal_the_two_walks_apart() -> None:
    resolution = _resolution()
    shared = _qualified(SQL)
    apart = shared.copy()
    binding = annotate_and_bind(shared, resolution)
    annotate(apart, resolution)
    assert binding is not None
    assert _types(shared) == _types(apart)
    assert any(type_ is not None for _, type_ in _types(shared))
    shared_sources = _sources(shared, binding.source_of)
    assert shared_sources == _sources(apart, bind_columns(apart).source_of)
    assert all(source is not None for _, source in shared_sources)
