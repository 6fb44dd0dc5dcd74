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

``KNOWN_OPEN`` names the bug classes still open, each with the (construct, engine) features
that provoke it and its shrunk regression case (kept as a strict xfail in regressions.py). A
generator made with ``avoid=KNOWN_OPEN`` draws again when a query has such a feature and counts
it in ``skipped``: the CI seed steers around open bugs explicitly, never silently.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .data import CATEGORIES, COLUMNS, STRINGS, TABLES, FuzzTable

__all__ = ["KNOWN_OPEN", "Generated", "KnownOpen", "QueryGenerator"]

KINDS = ("int", "decimal", "double", "string", "bool", "date", "timestamp")
NUMERIC = ("int", "decimal", "double")
ENGINE_OF = {table.qualified: table.engine for table in TABLES}


@dataclass(frozen=True)
class KnownOpen:
    """An open bug class: the features that provoke it and the regression case that shows it."""

    features: frozenset[tuple[str, str]]   # (construct, engine); engine "*" matches any
    regression: str                        # the id of its case in regressions.py
    note: str
    all_of: bool = False                   # provoked only by all the features together (else any one)


def _open(regression: str, note: str, *features: tuple[str, str], all_of: bool = False) -> KnownOpen:
    return KnownOpen(frozenset(features), regression, note, all_of)


# The classes still open at the last run, each with its shrunk case in regressions.py (a strict
# xfail there). A fix that lands makes that xfail pass: then the entry goes, and the CI seed
# fuzzes the construct again.
KNOWN_OPEN: dict[str, KnownOpen] = {
    "MariaDB collation on computed strings": _open(
        "mariadb-like-on-expression", "LIKE and ORDER BY on an expression keep the case-insensitive collation",
        ("like-expr", "mysql"), ("order:string-expr", "mysql")),
    "NULL ordering of a boolean expression on MariaDB": _open(
        "mariadb-order-by-not", "CASE WHEN NOT (b) IS NULL reads as NOT ((b) IS NULL): NULLs sort first",
        ("order:bool-expr", "mysql")),
    "CAST(date - date AS BOOLEAN) on PostgreSQL": _open(
        "postgresql-cast-date-difference-to-boolean", "CAST(CAST(d1 - d2 AS BIGINT) AS BOOLEAN) pushed; no such cast",
        ("date-diff", "postgresql"), ("cast-int-bool", "postgresql"), all_of=True),
    "nested join trees": _open(
        "nested-join-tree", "tables inside a parenthesized join are left in the residual, unsplit",
        ("nested-join", "*")),
}


@dataclass
class Generated:
    sql: str
    features: frozenset[tuple[str, str]]

    def hits(self, known: dict[str, KnownOpen]) -> list[str]:
        """The known-open classes this query would provoke."""
        found = []
        for name, open_class in known.items():
            matched = [any(_matches(pattern, feature) for feature in self.features) for pattern in open_class.features]
            if all(matched) if open_class.all_of else any(matched):
                found.append(name)
        return found


def _matches(pattern: tuple[str, str], feature: tuple[str, str]) -> bool:
    """``("like", "mysql")`` matches itself; ``"*"`` any construct or engine; ``"cast-*"`` a prefix."""
    construct, engine = pattern
    if engine not in ("*", feature[1]):
        return False
    if construct.endswith("*"):
        return feature[0].startswith(construct[:-1])
    return construct == feature[0]


@dataclass
class Source:
    """Something in a FROM clause: its SQL, its alias, its columns with their kinds and engines."""

    sql: str
    alias: str
    columns: list[tuple[str, str]]        # (name, kind)
    engines: frozenset[str]

    def refs(self, kind: str) -> list[str]:
        return [f"{self.alias}.{name}" for name, k in self.columns if k == kind]


@dataclass
class Scope:
    sources: list[Source] = field(default_factory=list)

    def columns(self, kind: str) -> list[tuple[str, frozenset[str]]]:
        return [(ref, source.engines) for source in self.sources for ref in source.refs(kind)]


def _table_source(table: FuzzTable, alias: str) -> Source:
    return Source(table.qualified, alias, [(c.name, c.kind) for c in COLUMNS], frozenset({table.engine}))


_INT_LITERALS = ("0", "1", "2", "3", "5", "10", "(-1)", "(-2)", "(-3)", "(-7)")
_DOUBLE_LITERALS = ("CAST(2.5 AS DOUBLE)", "CAST(-2.5 AS DOUBLE)", "CAST(0.5 AS DOUBLE)", "CAST(0 AS DOUBLE)",
                    "1.5e0", "CAST(0.1 AS DOUBLE)")
_DECIMAL_LITERALS = ("2.50", "0.00", "1.00", "-0.50", "3.35", "10.05")
_DATE_LITERALS = ("DATE '1970-01-01'", "DATE '2000-02-29'", "DATE '1969-12-31'", "DATE '2024-02-29'",
                  "DATE '2024-12-31'", "CAST('2023-01-01' AS DATE)")
_TS_LITERALS = ("TIMESTAMP '2024-02-29 12:34:56.123456'", "TIMESTAMP '1970-01-01 00:00:00'",
                "TIMESTAMP '1969-12-31 23:59:59.5'", "CAST('2000-01-01 00:00:00.000001' AS TIMESTAMP)")
_PATTERNS = ("'b%'", "'B%'", "'%e%'", "'%E%'", "'%n'", "'%n '", "'_e%'", "'str%'", "'STR%'", "'%ü%'", "'%Ü%'",
             "'caf_'", "'a\\%b'", "''", "'%'", "'z%'")
_DATE_PARTS = ("year", "month", "day", "quarter", "dow", "doy", "week", "isodow", "epoch")
_TS_PARTS = (*_DATE_PARTS, "hour", "minute", "second", "microsecond")
_TRUNC_UNITS = ("year", "quarter", "month", "week", "day")
_TS_TRUNC_UNITS = (*_TRUNC_UNITS, "hour", "minute", "second")


_BARE = re.compile(r"^(t\d+\.\w+|'[^']*'|\(?-?[\d.]+\)?|TRUE|FALSE)$")  # a column or a literal


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class QueryGenerator:
    def __init__(self, seed: int, *, avoid: dict[str, KnownOpen] | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.avoid = avoid or {}
        self.skipped: dict[str, int] = {}
        self._features: set[tuple[str, str]] = set()
        self._engines: set[str] = set()
        self._aliases = 0
        # Errors that depend on evaluation (x // 0, n = 'abc') only where every row is evaluated:
        # DuckDB skips what it proves empty (the other side of an empty join), so the oracle
        # answers where an engine that evaluates the rows fails, and neither is wrong.
        self._risky = False
        self._computed: dict[str, frozenset[str]] = {}  # output name -> engines, for computed outputs

    # -- the public face ---------------------------------------------------------------------------

    def query(self) -> Generated:
        """The next query (drawn again, and counted in ``skipped``, while it hits ``avoid``)."""
        while True:
            self._features = set()
            self._engines = set()
            self._aliases = 0
            self._risky = False
            self._computed = {}
            shape = self._weighted(_SHAPES)
            sql = shape(self)
            generated = Generated(sql, frozenset(self._expanded()))
            hits = generated.hits(self.avoid)
            if not hits:
                return generated
            for name in hits:
                self.skipped[name] = self.skipped.get(name, 0) + 1

    # -- helpers ------------------------------------------------------------------------------------

    def _expanded(self) -> set[tuple[str, str]]:
        """Features of literals only (engine "*") may run in any engine the query reads."""
        scanned = {engine for construct, engine in self._features if construct == "scan"}
        features = {f for f in self._features if f[1] != "*"}
        for construct, engine in self._features:
            if engine == "*":
                features |= {(construct, e) for e in scanned} or {(construct, "*")}
        return features

    def _weighted(self, options: Iterable[tuple[int, Callable[..., str]]]) -> Callable[..., str]:
        pairs = list(options)
        return self.rng.choices([f for _, f in pairs], weights=[w for w, _ in pairs])[0]

    def _alias(self) -> str:
        self._aliases += 1
        return f"t{self._aliases}"

    def _tag(self, construct: str, build: Callable[[], str]) -> str:
        """Build a sub-expression; record ``construct`` against the engines of the columns it reads."""
        outer, self._engines = self._engines, set()
        sql = build()
        for engine in self._engines or {"*"}:
            self._features.add((construct, engine))
        self._engines = outer | self._engines
        return sql

    def _scope_feature(self, scope: Scope, construct: str) -> None:
        """A clause-level construct (ORDER BY, DISTINCT, GROUP BY): recorded for every engine in scope."""
        for source in scope.sources:
            for engine in source.engines:
                self._features.add((construct, engine))

    def _column(self, scope: Scope, kind: str) -> str | None:
        found = scope.columns(kind)
        if not found:
            return None
        ref, engines = self.rng.choice(found)
        self._engines |= engines
        return ref

    def _table(self) -> FuzzTable:
        return self.rng.choice(TABLES)

    # -- expressions ---------------------------------------------------------------------------------

    def expr(self, scope: Scope, kind: str, depth: int = 2) -> str:
        if depth <= 0 or self.rng.random() < 0.35:
            column = self._column(scope, kind) if self.rng.random() < 0.8 else None
            return column if column is not None else self.literal(kind)
        return getattr(self, f"_{kind}")(scope, depth - 1)

    def literal(self, kind: str) -> str:
        rng = self.rng
        if kind == "int":
            return rng.choice(_INT_LITERALS)
        if kind == "decimal":
            return rng.choice(_DECIMAL_LITERALS)
        if kind == "double":
            return rng.choice(_DOUBLE_LITERALS)
        if kind == "string":
            return _quote(rng.choice(STRINGS + CATEGORIES))
        if kind == "bool":
            return rng.choice(("TRUE", "FALSE"))
        if kind == "date":
            return rng.choice(_DATE_LITERALS)
        return rng.choice(_TS_LITERALS)

    def _pick(self, scope: Scope, depth: int, options: list[tuple[int, str, Callable[[], str]]]) -> str:
        weights = [w for w, _, _ in options]
        _, construct, build = self.rng.choices(options, weights=weights)[0]
        return self._tag(construct, build)

    def _int(self, scope: Scope, d: int) -> str:
        e, r = self.expr, self.rng
        risky = 1 if self._risky else 0
        return self._pick(scope, d, [
            (4, "arith", lambda: f"({e(scope, 'int', d)} {r.choice(('+', '-', '*'))} {e(scope, 'int', d)})"),
            (3, "intdiv", lambda: f"({e(scope, 'int', d)} // {r.choice(_INT_LITERALS[1:])})"),
            (3, "mod", lambda: f"({e(scope, 'int', d)} % {r.choice(_INT_LITERALS[1:])})"),
            (risky, "intdiv0", lambda: f"({e(scope, 'int', d)} // {e(scope, 'int', d)})"),
            (risky, "mod0", lambda: f"({e(scope, 'int', d)} % {e(scope, 'int', d)})"),
            (2, "abs", lambda: f"abs({e(scope, 'int', d)})"),
            (1, "sign", lambda: f"sign({e(scope, 'int', d)})"),
            (2, "cast-double-int", lambda: f"CAST({e(scope, 'double', d)} AS BIGINT)"),
            (2, "cast-decimal-int", lambda: f"CAST({e(scope, 'decimal', d)} AS INTEGER)"),
            (2, "cast-bool-int", lambda: f"CAST({e(scope, 'bool', d)} AS INTEGER)"),
            (1, "cast-varchar-int", lambda: f"CAST(CAST({e(scope, 'int', d)} AS VARCHAR) AS INTEGER)"),
            (2, "length", lambda: f"length({e(scope, 'string', d)})"),
            (1, "strpos", lambda: f"strpos({e(scope, 'string', d)}, {self.literal('string')})"),
            (3, "extract", lambda: f"extract({r.choice(_DATE_PARTS[:-1])} FROM {e(scope, 'date', d)})"),
            (2, "extract-ts", lambda: f"extract({r.choice(_TS_PARTS[:-1])} FROM {e(scope, 'timestamp', d)})"),
            (2, "date-diff", lambda: f"({e(scope, 'date', d)} - {e(scope, 'date', d)})"),
            (1, "datediff", lambda: f"date_diff('{r.choice(('day', 'month', 'year'))}', "
                                    f"{e(scope, 'date', d)}, {e(scope, 'date', d)})"),
            (2, "greatest", lambda: f"{r.choice(('greatest', 'least'))}({e(scope, 'int', d)}, {e(scope, 'int', d)})"),
            (2, "case", lambda: f"CASE WHEN {e(scope, 'bool', d)} THEN {e(scope, 'int', d)} "
                                f"ELSE {e(scope, 'int', d)} END"),
            (2, "coalesce", lambda: f"coalesce({e(scope, 'int', d)}, {e(scope, 'int', d)})"),
            (1, "round-int", lambda: f"round({e(scope, 'int', d)}, {r.choice(('-1', '0', '1'))})"),
            (1, "negate", lambda: f"(-{e(scope, 'int', d)})"),
        ])

    def _decimal(self, scope: Scope, d: int) -> str:
        e, r = self.expr, self.rng
        return self._pick(scope, d, [
            (4, "arith", lambda: f"({e(scope, 'decimal', d)} {r.choice(('+', '-'))} {e(scope, 'decimal', d)})"),
            (2, "arith", lambda: f"({e(scope, 'decimal', d)} * {e(scope, 'int', d)})"),
            (3, "round-decimal", lambda: f"round({e(scope, 'decimal', d)}, {r.choice(('0', '1', '-1'))})"),
            (2, "abs", lambda: f"abs({e(scope, 'decimal', d)})"),
            (2, "cast-int-decimal", lambda: f"CAST({e(scope, 'int', d)} AS DECIMAL(10,2))"),
            (1, "cast-varchar-decimal", lambda: f"CAST(CAST({e(scope, 'decimal', d)} AS VARCHAR) AS DECIMAL(10,2))"),
            (2, "greatest", lambda: f"{r.choice(('greatest', 'least'))}({e(scope, 'decimal', d)}, "
                                    f"{e(scope, 'decimal', d)})"),
            (2, "coalesce", lambda: f"coalesce({e(scope, 'decimal', d)}, {self.literal('decimal')})"),
            (1, "floor", lambda: f"{r.choice(('floor', 'ceil'))}({e(scope, 'decimal', d)})"),
        ])

    def _double(self, scope: Scope, d: int) -> str:
        e, r = self.expr, self.rng
        return self._pick(scope, d, [
            (3, "arith", lambda: f"({e(scope, 'double', d)} {r.choice(('+', '-', '*'))} {e(scope, 'double', d)})"),
            (3, "div", lambda: f"({e(scope, 'int', d)} / {e(scope, 'int', d)})"),
            (2, "div", lambda: f"({e(scope, 'decimal', d)} / {e(scope, 'int', d)})"),
            (2, "div", lambda: f"({e(scope, 'double', d)} / {e(scope, 'double', d)})"),
            (1, "intdiv-double", lambda: f"({e(scope, 'double', d)} // {r.choice(('2', '3'))})"),
            (3, "round-double", lambda: f"round({e(scope, 'double', d)}{r.choice(('', ', 0', ', 1', ', -1'))})"),
            (2, "floor", lambda: f"{r.choice(('floor', 'ceil'))}({e(scope, 'double', d)})"),
            (2, "cast-int-double", lambda: f"CAST({e(scope, 'int', d)} AS DOUBLE)"),
            (2, "cast-decimal-double", lambda: f"CAST({e(scope, 'decimal', d)} AS DOUBLE)"),
            (1, "sqrt", lambda: f"sqrt(abs({e(scope, 'double', d)}))"),
            (1, "power", lambda: f"power({e(scope, 'double', d)}, 2)"),
            (2, "extract-epoch", lambda: f"extract(epoch FROM {e(scope, 'timestamp', d)})"),
            (1, "greatest", lambda: f"{r.choice(('greatest', 'least'))}({e(scope, 'double', d)}, "
                                    f"{e(scope, 'double', d)})"),
            (1, "abs", lambda: f"abs({e(scope, 'double', d)})"),
        ])

    def _string(self, scope: Scope, d: int) -> str:
        e, r = self.expr, self.rng
        start = r.choice(("1", "2", "-1", "-3", "0"))
        return self._pick(scope, d, [
            (3, "case-fold", lambda: f"{r.choice(('upper', 'lower'))}({e(scope, 'string', d)})"),
            (2, "trim", lambda: f"{r.choice(('trim', 'rtrim', 'ltrim'))}({e(scope, 'string', d)})"),
            (3, "substr", lambda: f"substr({e(scope, 'string', d)}, {start}{r.choice(('', ', 2', ', 1'))})"),
            (3, "concat-op", lambda: f"({e(scope, 'string', d)} || {e(scope, r.choice(KINDS), d)})"),
            (2, "concat", lambda: f"concat({e(scope, 'string', d)}, {e(scope, r.choice(KINDS), d)})"),
            (1, "left", lambda: f"{r.choice(('left', 'right'))}({e(scope, 'string', d)}, {r.choice(('1', '2'))})"),
            (1, "replace", lambda: f"replace({e(scope, 'string', d)}, 'e', 'E')"),
            (1, "reverse", lambda: f"reverse({e(scope, 'string', d)})"),
            (1, "lpad", lambda: f"lpad({e(scope, 'string', d)}, 6, '*')"),
            (2, "cast-int-varchar", lambda: f"CAST({e(scope, 'int', d)} AS VARCHAR)"),
            (2, "cast-decimal-varchar", lambda: f"CAST({e(scope, 'decimal', d)} AS VARCHAR)"),
            (2, "cast-double-varchar", lambda: f"CAST({e(scope, 'double', d)} AS VARCHAR)"),
            (2, "cast-bool-varchar", lambda: f"CAST({e(scope, 'bool', d)} AS VARCHAR)"),
            (2, "cast-date-varchar", lambda: f"CAST({e(scope, 'date', d)} AS VARCHAR)"),
            (2, "cast-ts-varchar", lambda: f"CAST({e(scope, 'timestamp', d)} AS VARCHAR)"),
            (1, "strftime", lambda: f"strftime({e(scope, 'date', d)}, '%Y-%m')"),
            (1, "monthname", lambda: f"monthname({e(scope, 'date', d)})"),
            (2, "greatest-string", lambda: f"{r.choice(('greatest', 'least'))}({e(scope, 'string', d)}, "
                                           f"{e(scope, 'string', d)})"),
            (2, "coalesce", lambda: f"coalesce({e(scope, 'string', d)}, {self.literal('string')})"),
            (1, "nullif", lambda: f"nullif({e(scope, 'string', d)}, '')"),
            (1, "case", lambda: f"CASE WHEN {e(scope, 'bool', d)} THEN {e(scope, 'string', d)} "
                                f"ELSE {e(scope, 'string', d)} END"),
        ])

    def _bool(self, scope: Scope, d: int) -> str:
        e, r = self.expr, self.rng
        kind = r.choice((*KINDS[:-1], "string", "string", "int"))
        comparison = r.choice(("=", "<>", "<", "<=", ">", ">="))

        def in_list() -> str:
            values = ", ".join(self.literal(kind) for _ in range(r.randint(1, 4)))
            return f"({e(scope, kind, d)} {r.choice(('IN', 'NOT IN'))} ({values}))"

        return self._pick(scope, d, [
            (6, f"compare:{kind}", lambda: f"({e(scope, kind, d)} {comparison} {e(scope, kind, d)})"),
            (3, f"in:{kind}", in_list),
            (3, "like", lambda: self._like(scope, d, r.choice(("LIKE", "NOT LIKE")))),
            (2, "ilike", lambda: self._like(scope, d, "ILIKE")),
            (2, f"between:{kind}", lambda: f"({e(scope, kind, d)} BETWEEN {self.literal(kind)} AND "
                                           f"{self.literal(kind)})"),
            (3, "is-null", lambda: f"({e(scope, r.choice(KINDS), d)} IS {r.choice(('', 'NOT '))}NULL)"),
            (3, "and-or", lambda: f"({e(scope, 'bool', d)} {r.choice(('AND', 'OR'))} {e(scope, 'bool', d)})"),
            (1, "not", lambda: f"NOT ({e(scope, 'bool', d)})"),
            (1, "cast-int-bool", lambda: f"CAST({e(scope, 'int', d)} AS BOOLEAN)"),
            (1, "cast-varchar-bool", lambda: f"CAST({_quote(r.choice(('true', 'false', 't', '0')))} AS BOOLEAN)"),
            (1, "starts-with", lambda: f"starts_with({e(scope, 'string', d)}, {r.choice(('b', 'B', 'str', 'Z'))!r})"),
        ])

    def _like(self, scope: Scope, d: int, operator: str) -> str:
        operand, engines = self._capture(lambda: self.expr(scope, "string", d))
        if not _BARE.match(operand):  # on a computed string, not a column: noted apart
            self._features |= {("like-expr", engine) for engine in engines}
        return f"({operand} {operator} {self.rng.choice(_PATTERNS)})"

    def _capture(self, build: Callable[[], str]) -> tuple[str, frozenset[str]]:
        """Build a sub-expression and tell the engines of the columns it reads."""
        outer, self._engines = self._engines, set()
        sql = build()
        engines = frozenset(self._engines)
        self._engines = outer | self._engines
        return sql, engines

    def _date(self, scope: Scope, d: int) -> str:
        e, r = self.expr, self.rng
        return self._pick(scope, d, [
            (3, "date-plus-int", lambda: f"({e(scope, 'date', d)} {r.choice(('+', '-'))} "
                                         f"{r.choice(('1', '7', '365'))})"),
            (2, "cast-ts-date", lambda: f"CAST({e(scope, 'timestamp', d)} AS DATE)"),
            (2, "cast-varchar-date", lambda: f"CAST({r.choice(_DATE_LITERALS[:-1]).split(' ')[1]} AS DATE)"),
            (1, "last-day", lambda: f"last_day({e(scope, 'date', d)})"),
            (1, "make-date", lambda: f"make_date(2024, {r.choice(('1', '2', '12'))}, {r.choice(('1', '29'))})"),
            (2, "greatest", lambda: f"{r.choice(('greatest', 'least'))}({e(scope, 'date', d)}, {e(scope, 'date', d)})"),
            (2, "coalesce", lambda: f"coalesce({e(scope, 'date', d)}, {self.literal('date')})"),
            (2, "date-trunc-date", lambda: f"CAST(date_trunc('{r.choice(_TRUNC_UNITS)}', "
                                           f"{e(scope, 'date', d)}) AS DATE)"),
        ])

    def _timestamp(self, scope: Scope, d: int) -> str:
        e, r = self.expr, self.rng
        return self._pick(scope, d, [
            (3, "date-trunc-ts", lambda: f"date_trunc('{r.choice(_TS_TRUNC_UNITS)}', {e(scope, 'timestamp', d)})"),
            (2, "date-trunc-date", lambda: f"date_trunc('{r.choice(_TRUNC_UNITS)}', {e(scope, 'date', d)})"),
            (2, "cast-date-ts", lambda: f"CAST({e(scope, 'date', d)} AS TIMESTAMP)"),
            (2, "interval", lambda: f"({e(scope, 'timestamp', d)} {r.choice(('+', '-'))} "
                                    f"INTERVAL {r.choice(('1 day', '1 month', '2 hour', '1 year'))!r})"),
            (1, "interval-date", lambda: f"({e(scope, 'date', d)} + INTERVAL {r.choice(('1 month', '1 day'))!r})"),
            (1, "cast-varchar-ts", lambda: f"CAST({r.choice(_TS_LITERALS[:-1]).split(' ', 1)[1]} AS TIMESTAMP)"),
            (2, "greatest", lambda: f"{r.choice(('greatest', 'least'))}({e(scope, 'timestamp', d)}, "
                                    f"{e(scope, 'timestamp', d)})"),
        ])

    def predicate(self, scope: Scope, depth: int = 2) -> str:
        if self._risky and self.rng.random() < 0.04:  # the oracle refuses this; the mesh must refuse it clearly
            return self._tag("bad-literal", lambda: f"({self._column(scope, 'int') or 'NULL'} = 'abc')")
        return self._bool(scope, depth)

    def aggregate(self, scope: Scope) -> str:
        r, e = self.rng, self.expr
        kind = r.choice(KINDS)
        options: list[tuple[int, str, Callable[[], str]]] = [
            (3, "count-star", lambda: "count(*)"),
            (3, f"count:{kind}", lambda: f"count({e(scope, kind, 1)})"),
            (3, f"count-distinct:{kind}", lambda: f"count(DISTINCT {e(scope, kind, 1)})"),
            (3, f"minmax:{kind}", lambda: f"{r.choice(('min', 'max'))}({e(scope, kind, 1)})"),
            (3, "sum-int", lambda: f"sum({e(scope, 'int', 1)})"),
            (2, "sum-decimal", lambda: f"sum({e(scope, 'decimal', 1)})"),
            (1, "sum-double", lambda: f"sum({e(scope, 'double', 1)})"),
            (3, "avg-int", lambda: f"avg({e(scope, 'int', 1)})"),
            (1, "avg-decimal", lambda: f"avg({e(scope, 'decimal', 1)})"),
            (1, "bool-and", lambda: f"{r.choice(('bool_and', 'bool_or'))}({e(scope, 'bool', 1)})"),
        ]
        return self._pick(scope, 1, options)

    # -- FROM ----------------------------------------------------------------------------------------

    def from_clause(self, scope: Scope, *, joins: int) -> str:
        first = _table_source(self._table(), self._alias())
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
        right = _table_source(table, self._alias())
        kind = r.choice(("INNER", "INNER", "LEFT", "LEFT", "FULL"))
        key_kind = r.choices(("int", "string", "date", "bool"), weights=(8, 3, 1, 1))[0]
        left_col = r.choice(left.refs(key_kind))
        right_col = r.choice(right.refs(key_kind))
        engines = left.engines | right.engines
        placement = "same" if len(engines) == 1 else "cross"
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
        inner = [_table_source(self._table(), self._alias()) for _ in range(2)]
        inner_kind = r.choice(("INNER", "LEFT"))
        outer_kind = r.choice(("INNER", "LEFT"))
        for source in inner:
            self._features.add(("scan", next(iter(source.engines))))
            self._features.add(("nested-join", next(iter(source.engines))))
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
        inner = _table_source(inner_table, self._alias())
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
            if not _BARE.match(sql):
                self._computed[f"c{index}"] = engines
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
            joined = _table_source(self._table(), self._alias())
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
