"""Seeded random analytical queries over the fuzz mesh, in the mesh dialect (DuckDB SQL).

``QueryGenerator(seed).query()`` returns a ``Generated``: the SQL and its *features*, the
(construct, engine) pairs it applies (``("like", "mysql")``: a LIKE over a MariaDB column). Every
query is valid DuckDB over the oracle's schemas; its result is deterministic (LIMIT only under
an ORDER BY of every output column, windows only with ranks or RANGE frames that ties cannot
change, no order-dependent aggregate), so any difference from the oracle is a bug.

Output columns are always aliased ``c0, c1, ...``: engines name ``count(*)`` differently, and
the oracle's comparer checks names.

What is generated (weights in ``_SHAPES`` and in each ``_kind`` method):

- expressions of seven type families (int, decimal, double, string, bool, date, timestamp):
  arithmetic incl. ``//``, ``/`` and ``%`` of negatives and by zero, round (also to negative
  places), casts to and from VARCHAR/BOOLEAN/DATE/TIMESTAMP, string functions (upper/lower on
  'straße', substr with negative starts, trim, concat and ``||`` with NULL), GREATEST/LEAST,
  date_trunc/extract/date arithmetic, CASE, COALESCE/NULLIF;
- predicates: comparisons, IN lists, LIKE/ILIKE, BETWEEN, IS [NOT] NULL, AND/OR/NOT, subqueries
  (IN, EXISTS, scalar), rarely a comparison the oracle refuses (``n = 'abc'``: both must error);
- inner/left/full joins inside one engine and across engines, on like-typed columns;
- aggregates (count, count DISTINCT, sum, avg of integers, min/max incl. strings and booleans)
  with GROUP BY and HAVING; DISTINCT; windows; CTEs; UNION [ALL]/INTERSECT/EXCEPT; ORDER BY with
  NULLS FIRST/LAST;
- the constructs of issue 10 item 2 that have one answer: GROUP BY ALL, QUALIFY, ROLLUP/CUBE/
  GROUPING SETS, VALUES as a statement and in FROM, a recursive CTE (windows over aggregates and
  set operations with ALL are above).

``KNOWN_OPEN`` (known_open.py) names the bug classes still open, each with the (construct, engine) features
that provoke it and its shrunk regression case (kept as a strict xfail in regressions.py). A
generator made with ``avoid=KNOWN_OPEN`` draws again when a query has such a feature and counts
it in ``skipped``: the CI seed steers around open bugs explicitly, never silently.
"""


from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .data import TABLES
from .expressions import BARE, KINDS, NUMERIC, ExpressionGenerator, Scope, Source, table_source
from .known_open import KNOWN_OPEN, KnownOpen, hits

__all__ = ["KNOWN_OPEN", "Generated", "KnownOpen", "QueryGenerator"]


@dataclass
class Generated:
    sql: str
    features: frozenset[tuple[str, str]]

    def hits(self, known: dict[str, KnownOpen]) -> list[str]:
        """The known-open classes this query would provoke."""
        return hits(self.features, known)


class QueryGenerator(ExpressionGenerator):
    def __init__(self, seed: int, *, avoid: dict[str, KnownOpen] | None = None) -> None:
        super().__init__(seed)
        self.avoid = avoid or {}
        self.skipped: dict[str, int] = {}

    # -- the public face ---------------------------------------------------------------------------

    def query(self) -> Generated:
        """The next query (drawn again, and counted in ``skipped``, while it hits ``avoid``)."""
        while True:
            self._reset()
            shape = self._weighted(_SHAPES)
            sql = shape(self)
            generated = Generated(sql, frozenset(self._expanded()))
            found = generated.hits(self.avoid)
            if not found:
                return generated
            for name in found:
                self.skipped[name] = self.skipped.get(name, 0) + 1

    def _expanded(self) -> set[tuple[str, str]]:
        """Features of literals only (engine "*") may run in any engine the query reads."""
        scanned = {engine for construct, engine in self._features if construct == "scan"}
        features = {f for f in self._features if f[1] != "*"}
        for construct, engine in self._features:
            if engine == "*":
                features |= {(construct, e) for e in scanned} or {(construct, "*")}
        return features

    def from_clause(self, scope: Scope, *, joins: int) -> str:
        first = table_source(self._table(), self._alias())
        scope.sources.append(first)
        self._features.add(("scan", next(iter(first.engines))))
        sql = f"{first.sql} AS {first.alias}"
        for _ in range(joins):
            sql += " " + self._join(scope)
        return sql

    def _join(self, scope: Scope) -> str:
        r = self.rng
        if r.random() < 0.06:
            return self._nested_join(scope)
        left = r.choice(scope.sources)
        if r.random() < 0.5:  # prefer a table on the same engine: joins pushed inside it
            same = [t for t in TABLES if t.engine in left.engines] or list(TABLES)
            table = r.choice(same)
        else:
            table = self._table()
        right = table_source(table, self._alias())
        kind = r.choice(("INNER", "INNER", "LEFT", "LEFT", "FULL"))
        key_kind = r.choices(("int", "string", "date", "bool"), weights=(8, 3, 1, 1))[0]
        left_col = r.choice(left.refs(key_kind))
        right_col = r.choice(right.refs(key_kind))
        engines = left.engines | right.engines
        placement = "same" if len(engines) == 1 else "cross"
        if placement == "cross" and key_kind == "string":
            for engine in engines:
                self._features.add(("join-cross-on-string", engine))
        if kind == "FULL" and len(scope.sources) > 1:
            for engine in engines:
                self._features.add(("join-full-after-join", engine))
        for engine in engines:
            self._features.add((f"join-{kind.lower()}-{placement}:{key_kind}", engine))
        condition = f"{left_col} = {right_col}"
        if r.random() < 0.25:
            extra_scope = Scope([left, right])
            condition += f" AND {self.predicate(extra_scope, 1)}"
        scope.sources.append(right)
        self._features.add(("scan", table.engine))
        return f"{kind} JOIN {right.sql} AS {right.alias} ON {condition}"

    def _nested_join(self, scope: Scope) -> str:
        """``JOIN (b JOIN c ON ..) ON ..``: a join tree on the right of a join."""
        r = self.rng
        left = r.choice(scope.sources)
        inner = [table_source(self._table(), self._alias()) for _ in range(2)]
        inner_kind = r.choice(("INNER", "LEFT"))
        outer_kind = r.choice(("INNER", "LEFT"))
        for source in inner:
            self._features.add(("scan", next(iter(source.engines))))
            self._features.add(("nested-join", next(iter(source.engines))))
            if outer_kind == "LEFT":
                self._features.add(("nested-join-under-left", next(iter(source.engines))))
        scope.sources += inner
        return (f"{outer_kind} JOIN ({inner[0].sql} AS {inner[0].alias} {inner_kind} JOIN {inner[1].sql} AS "
                f"{inner[1].alias} ON {inner[0].alias}.k = {inner[1].alias}.k) ON {left.alias}.k = {inner[0].alias}.k")

    # -- clauses --------------------------------------------------------------------------------------

    def where(self, scope: Scope) -> str:
        r = self.rng
        roll = r.random()
        if roll < 0.12:
            return f" WHERE {self._subquery_predicate(scope)}"
        if roll < 0.75:
            return f" WHERE {self.predicate(scope)}"
        return ""

    def _subquery_predicate(self, scope: Scope) -> str:
        r = self.rng
        inner_table = self._table()
        inner = table_source(inner_table, self._alias())
        inner_scope = Scope([inner])
        self._features.add(("scan", inner_table.engine))
        choice = r.randrange(3)
        if choice == 0:
            kind = r.choices(("int", "string", "date"), weights=(5, 3, 1))[0]
            outer = self.expr(scope, kind, 0)
            column = r.choice(inner.refs(kind))
            where = f" WHERE {self.predicate(inner_scope, 1)}" if r.random() < 0.5 else ""
            negated = r.choice(("", "NOT "))
            if negated:  # NOT IN over a NULL is a trap worth fuzzing, but keep it decidable
                where = f" WHERE {column} IS NOT NULL" if r.random() < 0.5 else where
            return self._tag(f"in-subquery:{kind}",
                             lambda: f"{outer} {negated}IN (SELECT {column} FROM {inner.sql} AS {inner.alias}{where})")
        if choice == 1:
            outer_key = self._column(scope, "int") or self.literal("int")
            correlated = f"{inner.alias}.k = {outer_key}"
            extra = f" AND {self.predicate(inner_scope, 1)}" if r.random() < 0.5 else ""
            return self._tag("exists", lambda: f"{r.choice(('', 'NOT '))}EXISTS (SELECT 1 FROM {inner.sql} AS "
                                               f"{inner.alias} WHERE {correlated}{extra})")
        kind = r.choice((*NUMERIC, "date"))
        column = r.choice(inner.refs(kind))
        outer = self.expr(scope, kind, 0)
        return self._tag(f"scalar-subquery:{kind}",
                         lambda: f"{outer} {r.choice(('<', '>=', '='))} (SELECT {r.choice(('min', 'max'))}({column}) "
                                 f"FROM {inner.sql} AS {inner.alias})")

    def order_limit(self, outputs: list[tuple[str, str]], scope: Scope, *, allow_limit: bool = True) -> str:
        """ORDER BY some outputs (NULLS FIRST/LAST); a LIMIT only when every output is ordered."""
        r = self.rng
        if r.random() < 0.45:
            return ""
        names = [name for name, _ in outputs]
        total = r.random() < 0.5
        chosen = list(names) if total else r.sample(names, r.randint(1, len(names)))
        r.shuffle(chosen)
        terms = []
        for name in chosen:
            kind = dict(outputs)[name]
            if kind == "string":
                self._scope_feature(scope, "order:string")
            if name in self._constants:
                self._scope_feature(scope, "order:constant")
            if kind in ("string", "bool") and name in self._computed:
                self._features |= {(f"order:{kind}-expr", engine) for engine in self._computed[name]}
            terms.append(f"{name}{r.choice(('', ' ASC', ' DESC'))}{r.choice(('', '', ' NULLS FIRST', ' NULLS LAST'))}")
        sql = " ORDER BY " + ", ".join(terms)
        if allow_limit and set(chosen) == set(names) and r.random() < 0.6:
            sql += f" LIMIT {r.choice((1, 3, 5, 10))}"
        return sql

    # -- query shapes -------------------------------------------------------------------------------

    def _projection(self, scope: Scope, count: int) -> tuple[list[str], list[tuple[str, str]]]:
        items, outputs = [], []
        for index in range(count):
            kind = self.rng.choice(KINDS)
            sql, engines = self._capture(lambda kind=kind: self._output(scope, kind, lambda: self.expr(scope, kind)))
            if not BARE.match(sql):
                self._computed[f"c{index}"] = engines
            elif not re.match(r"t\d+\.", sql):
                self._constants.add(f"c{index}")
            items.append(f"{sql} AS c{index}")
            outputs.append((f"c{index}", kind))
        return items, outputs

    def _output(self, scope: Scope, kind: str, build: Callable[[], str]) -> str:
        """An output column; decimals, dates and timestamps are noted: engines type them differently."""
        if kind in ("decimal", "date", "timestamp"):
            return self._tag("typed-output", build)
        return build()

    def plain(self) -> str:
        scope = Scope()
        joins = self.rng.choice((0, 0, 1, 1, 2))
        self._risky = joins == 0
        source = self.from_clause(scope, joins=joins)
        items, outputs = self._projection(scope, self.rng.randint(1, 4))
        distinct = ""
        if self.rng.random() < 0.2:
            distinct = "DISTINCT "
            for _, kind in outputs:
                self._scope_feature(scope, f"distinct:{kind}")
        return (f"SELECT {distinct}{', '.join(items)} FROM {source}{self.where(scope)}"
                f"{self.order_limit(outputs, scope)}")

    def grouped(self) -> str:
        r = self.rng
        scope = Scope()
        joins = r.choice((0, 0, 1, 1, 2))
        self._risky = joins == 0
        source = self.from_clause(scope, joins=joins)
        items, outputs, groups = [], [], []
        for _index in range(r.choice((0, 1, 1, 2))):
            kind = r.choice(KINDS)
            expression = self.expr(scope, kind, r.choice((0, 0, 1)))
            if not re.search(r"\bt\d+\.", expression):  # a literal key would be a position (GROUP BY 2)
                continue
            self._scope_feature(scope, f"group:{kind}")
            groups.append(expression)
            items.append(f"{expression} AS c{len(items)}")
            outputs.append((f"c{len(outputs)}", kind))
        for _ in range(r.randint(1, 3)):
            name = f"c{len(items)}"
            items.append(f"{self._output(scope, 'decimal', lambda: self.aggregate(scope))} AS {name}")
            outputs.append((name, "double"))
        group_by = f" GROUP BY {', '.join(groups)}" if groups else ""
        having = ""
        if groups and r.random() < 0.35:
            measure = r.choice(("count(*)", f"count({self.expr(scope, r.choice(KINDS), 0)})",
                                f"sum({self.expr(scope, 'int', 1)})",
                                f"count(DISTINCT {self.expr(scope, 'string', 0)})"))
            having = f" HAVING {measure} {r.choice(('>', '>=', '<'))} {r.choice(('1', '2', '0'))}"
        return (f"SELECT {', '.join(items)} FROM {source}{self.where(scope)}{group_by}{having}"
                f"{self.order_limit(outputs, scope)}")

    def windowed(self) -> str:
        r = self.rng
        scope = Scope()
        source = self.from_clause(scope, joins=r.choice((0, 0, 1)))
        items, outputs = self._projection(scope, r.randint(1, 2))
        partition = self._column(scope, r.choice(("int", "string", "bool"))) or "1"
        order_kind = r.choice(("int", "decimal", "date", "string"))
        order = self._column(scope, order_kind) or "1"
        if order_kind == "string":
            self._scope_feature(scope, "window-order:string")
        functions = ["rank()", "dense_rank()", "count(*)", f"sum({self.expr(scope, 'int', 0)})",
                     f"min({self.expr(scope, r.choice(KINDS), 0)})", f"avg({self.expr(scope, 'int', 0)})"]
        function = r.choice(functions)
        if function in ("rank()", "dense_rank()"):
            over = f"PARTITION BY {partition} ORDER BY {order}{r.choice(('', ' DESC NULLS FIRST', ' NULLS FIRST'))}"
        else:
            over = r.choice((f"PARTITION BY {partition}", "", f"PARTITION BY {partition} ORDER BY {order}"))
        self._scope_feature(scope, "window")
        name = f"c{len(items)}"
        items.append(f"{function} OVER ({over}) AS {name}")
        outputs.append((name, "int"))
        return f"SELECT {', '.join(items)} FROM {source}{self.where(scope)}{self.order_limit(outputs, scope)}"

    def window_over_aggregate(self) -> str:
        r = self.rng
        scope = Scope()
        source = self.from_clause(scope, joins=r.choice((0, 1)))
        kind = r.choice(("int", "string", "bool"))
        group = self.expr(scope, kind, 0)
        if not re.search(r"\bt\d+\.", group):
            if kind == "int":  # GROUP BY 2 would name the second output column
                group = self._column(scope, "int") or "t1.k"
            else:
                self._scope_feature(scope, "group-by-constant")
        measure = self.expr(scope, "int", 0)
        self._scope_feature(scope, "window-over-aggregate")
        self._scope_feature(scope, f"group:{kind}")
        function = r.choice((f"sum(sum({measure})) OVER ()", "count(*) OVER ()", "rank() OVER (ORDER BY count(*))",
                             "avg(count(*)) OVER ()"))
        return (f"SELECT {group} AS c0, count(*) AS c1, {function} AS c2 FROM {source}{self.where(scope)} "
                f"GROUP BY {group}{self.order_limit([('c0', kind), ('c1', 'int'), ('c2', 'int')], scope)}")

    def with_cte(self) -> str:
        r = self.rng
        inner_scope = Scope()
        inner_from = self.from_clause(inner_scope, joins=r.choice((0, 1)))
        items, outputs = self._projection(inner_scope, r.randint(2, 3))
        cte = f"WITH q AS (SELECT {', '.join(items)} FROM {inner_from}{self.where(inner_scope)})"
        source = Source("q", self._alias(), outputs, frozenset(e for s in inner_scope.sources for e in s.engines))
        scope = Scope([source])
        if r.random() < 0.4:
            joined = table_source(self._table(), self._alias())
            kind = next((k for _, k in outputs if joined.refs(k)), None)
            join = ""
            if kind is not None:
                left = r.choice(source.refs(kind))
                join = f" {r.choice(('INNER', 'LEFT'))} JOIN {joined.sql} AS {joined.alias} ON {left} = " \
                       f"{r.choice(joined.refs(kind))}"
                scope.sources.append(joined)
                self._scope_feature(scope, f"cte-join:{kind}")
            outer_items, outer_outputs = self._projection(scope, r.randint(1, 3))
            return (f"{cte} SELECT {', '.join(outer_items)} FROM q AS {source.alias}{join}"
                    f"{self.where(scope)}{self.order_limit(outer_outputs, scope)}")
        outer_items, outer_outputs = self._projection(scope, r.randint(1, 3))
        return f"{cte} SELECT {', '.join(outer_items)} FROM q AS {source.alias}{self.where(scope)}" \
               f"{self.order_limit(outer_outputs, scope)}"

    def set_operation(self) -> str:
        r = self.rng
        kinds = [r.choice(KINDS) for _ in range(r.randint(1, 2))]
        sides = []
        everything = Scope()
        for _ in range(2):
            scope = Scope()
            source = self.from_clause(scope, joins=r.choice((0, 0, 1)))
            items = [f"{self.expr(scope, kind, 1)} AS c{i}" for i, kind in enumerate(kinds)]
            sides.append(f"SELECT {', '.join(items)} FROM {source}{self.where(scope)}")
            everything.sources += scope.sources
        operation = r.choice(("UNION", "UNION ALL", "INTERSECT", "EXCEPT", "INTERSECT ALL", "EXCEPT ALL"))
        for kind in kinds:
            self._scope_feature(everything, f"setop:{kind}")
        outputs = [(f"c{i}", kind) for i, kind in enumerate(kinds)]
        return f"{sides[0]} {operation} {sides[1]}{self.order_limit(outputs, everything)}"


    def construct(self) -> str:
        """The read-only constructs of issue 10 item 2 that DuckDB answers deterministically."""
        r = self.rng
        which = r.choice(("group-by-all", "qualify", "rollup", "grouping-sets", "cube", "values", "values-join",
                          "recursive-cte"))
        scope = Scope()
        # VALUES and the recursive CTE are joined to one table (`JOIN a JOIN b ON .. ON ..` is another test)
        source = self.from_clause(scope, joins=0 if which.startswith(("values", "recursive")) else r.choice((0, 0, 1)))
        table = scope.sources[0]
        self._scope_feature(scope, f"construct:{which}")
        where = self.where(scope)
        if which == "group-by-all":
            kind = r.choice(("int", "string", "bool", "date"))
            key = self._column(scope, kind)
            outputs = [("c0", kind), ("c1", "int")]
            return (f"SELECT {key} AS c0, {self.aggregate(scope)} AS c1 FROM {source}{where} GROUP BY ALL"
                    f"{self.order_limit(outputs, scope)}")
        if which == "qualify":
            partition = self._column(scope, r.choice(("int", "string", "bool")))
            order = self._column(scope, r.choice(("int", "decimal", "date")))
            items, outputs = self._projection(scope, r.randint(1, 2))
            name = f"c{len(items)}"
            return (f"SELECT {', '.join(items)}, {r.choice(('rank()', 'dense_rank()'))} OVER (PARTITION BY "
                    f"{partition} ORDER BY {order}) AS {name} FROM {source}{where} QUALIFY {name} <= 2"
                    f"{self.order_limit([*outputs, (name, 'int')], scope)}")
        if which in ("rollup", "grouping-sets", "cube"):
            first = self._column(scope, r.choice(("int", "bool", "string")))
            second = self._column(scope, r.choice(("int", "bool", "date")))
            grouping = {"rollup": f"ROLLUP ({first}, {second})", "cube": f"CUBE ({first}, {second})",
                        "grouping-sets": f"GROUPING SETS (({first}), ({first}, {second}), ())"}[which]
            return (f"SELECT {first} AS c0, {second} AS c1, {self.aggregate(scope)} AS c2 FROM {source}{where} "
                    f"GROUP BY {grouping}")
        rows = ", ".join(f"({value}, {self.literal('string')})" for value in r.sample((0, 1, 2, 3, 5, -1), 3))
        if which == "values":
            return f"VALUES {rows}, (NULL, NULL)"
        if which == "values-join":
            return (f"SELECT v.x AS c0, v.y AS c1, {table.alias}.id AS c2 FROM (VALUES {rows}) AS v(x, y) "
                    f"{r.choice(('INNER', 'LEFT'))} JOIN {source} ON {table.alias}.k = v.x{where}")
        return (f"WITH RECURSIVE r(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM r WHERE x < 4) "
                f"SELECT r.x AS c0, count({table.alias}.id) AS c1 FROM r LEFT JOIN {source} ON {table.alias}.k = r.x"
                f"{where} GROUP BY r.x")


_SHAPES: tuple[tuple[int, Callable[[QueryGenerator], str]], ...] = (
    (30, QueryGenerator.plain),
    (30, QueryGenerator.grouped),
    (10, QueryGenerator.windowed),
    (3, QueryGenerator.window_over_aggregate),
    (12, QueryGenerator.with_cte),
    (12, QueryGenerator.set_operation),
    (6, QueryGenerator.construct),
)
