"""Random expressions, predicates and aggregates over a FROM clause's columns, with their features.

``ExpressionGenerator`` is the half of the query generator (generator.py) that writes values:
``expr(scope, kind)`` an expression of one of seven type families, ``predicate`` a condition,
``aggregate`` an aggregate call. Each construct it uses is recorded as a *feature* against the
engines of the columns it reads (``_tag``), which is what ``known_open.py`` matches.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .data import CATEGORIES, COLUMNS, STRINGS, TABLES, FuzzTable

__all__ = ["BARE", "KINDS", "NUMERIC", "ExpressionGenerator", "Scope", "Source", "table_source"]

KINDS = ("int", "decimal", "double", "string", "bool", "date", "timestamp")
NUMERIC = ("int", "decimal", "double")


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


def table_source(table: FuzzTable, alias: str) -> Source:
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


BARE = re.compile(r"^(t\d+\.\w+|'[^']*'|\(?-?[\d.]+\)?|TRUE|FALSE)$")  # a column or a literal


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class ExpressionGenerator:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._features: set[tuple[str, str]] = set()
        self._engines: set[str] = set()
        self._aliases = 0
        # Errors that depend on evaluation (x // 0, n = 'abc') only where every row is evaluated:
        # DuckDB skips what it proves empty (the other side of an empty join), so the oracle
        # answers where an engine that evaluates the rows fails, and neither is wrong.
        self._risky = False
        self._computed: dict[str, frozenset[str]] = {}  # output name -> engines, for computed outputs
        self._constants: set[str] = set()               # outputs that are literals

    def _reset(self) -> None:
        self._features = set()
        self._engines = set()
        self._aliases = 0
        self._risky = False
        self._computed = {}
        self._constants = set()

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
        if not BARE.match(operand):  # on a computed string, not a column: noted apart
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
