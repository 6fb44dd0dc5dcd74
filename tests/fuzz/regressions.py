"""Shrunk differential-fuzz failures, kept as regression cases (run by test_regressions.py).

Each case is the minimal query the shrinker (shrink.py) reduced a failing random query to,
with its class (what kind of bug, on which engine) and whether it was still open at the last
run. ``open=True`` cases are strict xfails: when a fix lands they pass, the test says so, and
the case is closed here (``open=False``) and its class dropped from ``known_open.KNOWN_OPEN``.
The findings behind them (what the mesh returned, the oracle's answer, the fragment sent) are
in the project's issue 10 note; ``benchmarks/differential_fuzz.py`` finds and shrinks new ones.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REGRESSIONS", "Regression"]


@dataclass(frozen=True)
class Regression:
    id: str
    sql: str
    klass: str        # the class, the engine, and what went wrong
    open: bool = False
    eager: bool = False   # shows only with dynamic filters and pre-aggregation forced on (mesh.EAGER)


REGRESSIONS: tuple[Regression, ...] = (
    # -- closed: found by the fuzzer, fixed since (issue 10 items 1-3) ------------------------------
    Regression("mariadb-join-on-string",
               "SELECT t2.k AS c1 FROM maria.m1 AS t1 INNER JOIN maria.m1 AS t2 ON t1.s = t2.s",
               "collation/MariaDB: join inside MariaDB matched 'Berlin' with 'berlin ' (34 rows for 22)"),
    Regression("mariadb-not-like", "SELECT t1.id AS c0 FROM maria.m2 AS t1 WHERE t1.s NOT LIKE 'str%'",
               "collation/MariaDB: LIKE folded case and accents ('STRASSE', 'Straße' matched 'str%')"),
    Regression("mariadb-ilike-escape", "SELECT t1.n AS c0 FROM maria.m1 AS t1 WHERE t1.s ILIKE 'a\\%b'",
               "function semantics/MariaDB: backslash is LIKE's default escape there, a plain character in DuckDB"),
    Regression("mariadb-distinct-string", "SELECT DISTINCT t1.s AS c0 FROM maria.m1 AS t1",
               "collation/MariaDB: DISTINCT merged case/accent/trailing-space variants"),
    Regression("mariadb-count-distinct-string", "SELECT count(DISTINCT t1.s) AS c0 FROM maria.m1 AS t1",
               "collation/MariaDB: count(DISTINCT s) 17 for 22"),
    Regression("mariadb-group-by-string", "SELECT t1.s AS c0, count(*) AS c1 FROM maria.m1 AS t1 GROUP BY t1.s",
               "collation/MariaDB: GROUP BY merged case/accent variants"),
    Regression("mariadb-min-max-string", "SELECT max(t1.s) AS c0, min(t1.s) AS c1 FROM maria.m1 AS t1",
               "collation/MariaDB: min/max by the case-insensitive collation"),
    Regression("mariadb-order-by-string", "SELECT t1.s AS c0 FROM maria.m1 AS t1 ORDER BY c0 NULLS FIRST",
               "collation/MariaDB: ORDER BY in the case-insensitive collation"),
    Regression("mariadb-in-list-string",
               "SELECT t1.s AS c0 FROM maria.m1 AS t1 WHERE t1.s IN ('berlin', 'straße')",
               "collation/MariaDB: IN matched 'Berlin', 'STRASSE'"),
    Regression("mariadb-less-than-string", "SELECT t1.s AS c0 FROM maria.m1 AS t1 WHERE t1.s < 'b'",
               "collation/MariaDB: < in the case-insensitive collation"),
    Regression("sqlite-like-case", "SELECT t1.s LIKE '%n' AS c0 FROM lite.s2 AS t1",
               "function semantics/SQLite: LIKE folds ASCII case ('BERLIN' LIKE '%n')"),
    Regression("mariadb-date-plus-int", "SELECT t1.day + 1 AS c1 FROM maria.m2 AS t1",
               "result type/MariaDB: date + 1 is a number there (QueryError: int64 is not date32)"),
    Regression("mariadb-date-minus-int", "SELECT CAST(t1.ts AS DATE) - 1 AS c0 FROM maria.m2 AS t1",
               "result type/MariaDB: date - 1 is a number there"),
    Regression("mariadb-timestamp-literal-fraction",
               "SELECT CAST('2024-02-29 12:34:56.123456' AS TIMESTAMP) AS c0 FROM maria.m1 AS t2",
               "function semantics/MariaDB: CAST AS DATETIME dropped the microseconds"),
    Regression("mariadb-extract-isodow",
               "SELECT EXTRACT(ISODOW FROM CAST('2024-02-29' AS DATE)) AS c1 FROM maria.m1 AS t1",
               "internal error/MariaDB: EXTRACT(ISODOW) pushed, the engine rejected it"),
    Regression("postgresql-min-boolean", "SELECT MIN(NOT NULL) AS c1 FROM pg.p2 AS t1",
               "internal error/PostgreSQL: MIN(boolean) pushed, PostgreSQL has no min(boolean)"),
    Regression("postgresql-monthname", "SELECT MONTHNAME(t2.day) AS c0 FROM pg.p2 AS t2",
               "internal error/PostgreSQL: MONTHNAME pushed verbatim"),
    Regression("postgresql-window-over-aggregate", "SELECT AVG(COUNT(*)) OVER () AS c2 FROM pg.p1 AS t1",
               "internal error/PostgreSQL: window over an aggregate failed to compile"),
    Regression("postgresql-intdiv-by-zero", "SELECT t1.k // t1.k AS c1 FROM pg.p1 AS t1",
               "opaque engine error/PostgreSQL: division by zero came back as EngineError, not a QueryError"),
    Regression("duckdb-conversion-literal", "SELECT t1.n AS c0 FROM duck.d1 AS t1 WHERE t1.n = 'abc'",
               "opaque engine error/DuckDB: 'abc' for an INTEGER was EngineError (ConversionException)"),
    Regression("sqlite-decimal-stored-as-integer", "SELECT t1.m AS c0 FROM lite.s2 AS t1 LIMIT 1",
               "result type/SQLite: a DECIMAL column whose first rows hold whole numbers (stored as INTEGER, "
               "what SQLite's NUMERIC affinity does to '1.00') is typed int64 and refused"),
    Regression("mariadb-ceil-decimal", "SELECT MIN(CEIL(t1.m)) AS c1 FROM maria.m1 AS t1",
               "result type/MariaDB: MIN(CEIL(decimal)) is an integer there (QueryError: int64 is not decimal)"),
    Regression("mariadb-date-diff-month",
               "SELECT DATE_DIFF('MONTH', t1.day, CAST('2023-01-01' AS DATE)) AS c1 FROM maria.m2 AS t1",
               "function semantics/MariaDB: date_diff('month'/'year') rendered as DATEDIFF, a count of days"),
    Regression("mariadb-cast-varchar-to-boolean",
               "SELECT CAST('t' AS BOOLEAN) AS c0, CAST('false' AS BOOLEAN) AS c1 FROM maria.m1 AS t1",
               "casts/MariaDB: CAST('t' AS BOOLEAN) rendered CAST('t' AS SIGNED), which is 0 (false)"),
    Regression("mariadb-cast-double-to-boolean", "SELECT CAST(t1.d AS BOOLEAN) AS c0 FROM maria.m1 AS t1",
               "casts/MariaDB: CAST(0.1 AS BOOLEAN) rendered CAST AS SIGNED, which rounds 0.1 to 0 (false)"),
    Regression("sqlite-all-null-date", "SELECT t1.day AS c0 FROM lite.s2 AS t1 WHERE t1.day IS NULL",
               "result type/SQLite: a DATE column whose rows are all NULL comes back typed int64 and is refused"),
    Regression("sqlite-string-literal-for-integer", "SELECT t1.c AS c0 FROM lite.s2 AS t1 WHERE t1.k = 'abc'",
               "literal conversion/SQLite: 'abc' for an INTEGER column answered 0 rows; the mesh dialect refuses it"),
    Regression("mariadb-string-literal-for-integer", "SELECT t1.c AS c2 FROM maria.m2 AS t1 WHERE t1.id = 'abc'",
               "literal conversion/MariaDB: 'abc' for a BIGINT column answers 0 rows; the mesh dialect refuses it"),
    Regression("mariadb-string-literal-for-timestamp",
               "SELECT t1.id AS c0 FROM maria.m1 AS t1 WHERE t1.ts = 'abc'",
               "literal conversion/MariaDB: 'abc' for a DATETIME column answers 0 rows; the mesh dialect refuses it"),
    Regression("mariadb-modulo-by-zero", "SELECT t1.id % t1.n AS c0 FROM maria.m1 AS t1",
               "division by zero/MariaDB: x % 0 is NULL there; the mesh dialect raises"),
    Regression("mariadb-intdiv-by-zero", "SELECT t1.k // 0 AS c0 FROM maria.m1 AS t1",
               "division by zero/MariaDB: x DIV 0 is NULL there; the mesh dialect raises"),
    Regression("full-join-after-inner-join",
               "SELECT t2.k AS c0 FROM maria.m1 AS t1 INNER JOIN maria.m1 AS t2 ON t1.n = t2.k "
               "AND 'STRASSE' <= LOWER(t2.s) FULL JOIN maria.m1 AS t3 ON t3.n = t2.n",
               "refused construct: UnsupportedQuery 'this combination of joins across engines' for a FULL JOIN "
               "after an INNER JOIN, all inside MariaDB"),
    Regression("sqlite-cast-to-boolean",
               "SELECT DISTINCT CAST(LENGTH(t2.c) AS BOOLEAN) AS c1 FROM lite.s2 AS t2",
               "casts/SQLite: CAST(x AS BOOLEAN) rendered CAST(x AS INTEGER): DISTINCT sees 0, 1, 2 (4 rows for 3)"),
    Regression("postgresql-cast-bigint-to-boolean", "SELECT CAST(t1.id AS BOOLEAN) AS c0 FROM pg.p2 AS t1",
               "internal error/PostgreSQL: CAST(BIGINT AS BOOLEAN) pushed, PostgreSQL casts only integer (int4) "
               "to boolean"),
    Regression("postgresql-cast-double-to-boolean", "SELECT CAST(t1.d AS BOOLEAN) AS c0 FROM pg.p1 AS t1",
               "internal error/PostgreSQL: CAST(double AS BOOLEAN) pushed, PostgreSQL has no such cast"),
    Regression("postgresql-collation-mismatch",
               "SELECT t1.n AS c0 FROM pg.p1 AS t1 WHERE t1.s > UPPER(t1.s)",
               "internal error/PostgreSQL: the binary-collation rendering compares COLLATE \"C\" with "
               "UPPER(...) COLLATE \"C.utf8\": PostgreSQL refuses the collation mismatch"),
    Regression("sqlite-monthname", "SELECT MONTHNAME(t1.day) AS c0 FROM lite.s2 AS t1",
               "internal error/SQLite: MONTHNAME pushed, SQLite has no such function"),
    Regression("postgresql-group-by-string-constant",
               "SELECT 'e' AS c0, count(*) AS c1 FROM pg.p2 AS t1 GROUP BY 'e'",
               "internal error/PostgreSQL: GROUP BY a string constant pushed; PostgreSQL refuses a non-integer "
               "constant in GROUP BY"),
    Regression("mariadb-like-on-expression",
               "SELECT t1.d AS c0 FROM maria.m2 AS t1 WHERE LPAD(t1.s, 6, '*') LIKE '%e%'",
               "collation/MariaDB: LIKE on a computed string keeps the case/accent-insensitive collation "
               "(10 rows for 7)"),
    Regression("mariadb-order-by-expression",
               "SELECT REPLACE(t2.c, 'e', 'E') AS c0 FROM maria.m1 AS t2 ORDER BY c0 ASC",
               "collation/MariaDB: ORDER BY a computed string sorts 'é' with 'E'"),
    Regression("mariadb-order-by-not", "SELECT NOT (t1.b) AS c0 FROM maria.m1 AS t1 ORDER BY c0 ASC",
               "rendering/MariaDB: the NULL-ordering key CASE WHEN NOT (b) IS NULL parses as NOT ((b) IS NULL) "
               "there: NULLs sort first"),
    Regression("postgresql-cast-date-difference-to-boolean",
               "SELECT CAST((t1.day - t1.day) AS BOOLEAN) AS c0 FROM pg.p1 AS t1",
               "internal error/PostgreSQL: CAST(CAST(d1 - d2 AS BIGINT) AS BOOLEAN) pushed (the <> 0 rendering "
               "misses a date difference); PostgreSQL has no bigint to boolean cast"),
    Regression("nested-join-tree",
               "SELECT t1.id AS c0 FROM duck.d1 AS t0 INNER JOIN (pg.p1 AS t1 LEFT JOIN pg.p2 AS t2 "
               "ON t1.k = t2.k) ON t1.k = t0.k",
               "internal error/planner: a parenthesized join tree is not split into fragments; the residual names "
               "pg.p1 itself (QueryError: Table pg.p1 does not exist)"),
    # -- open at the last run (strict xfails; their classes are in known_open.KNOWN_OPEN) ----------
    Regression("mariadb-order-by-constant", "SELECT 2 AS c2 FROM maria.m1 AS t1 ORDER BY c2 DESC NULLS FIRST",
               "rendering/MariaDB: ORDER BY a constant output is rendered ORDER BY ..., 2 DESC, a position there "
               "(EngineError: not valid SQL)"),
    Regression("mariadb-not-in-comparison",
               "SELECT t1.k AS c0 FROM maria.m1 AS t1 WHERE (t1.b <= NOT (t1.s > 'é'))",
               "rendering/MariaDB: b <= NOT (...) without parentheses around the NOT; NOT binds looser there "
               "(EngineError: not valid SQL)"),
    Regression("postgresql-cast-division-to-varchar", "SELECT CAST(t1.m / t1.k AS VARCHAR) AS c0 FROM pg.p1 AS t1",
               "casts/PostgreSQL: CAST(double AS TEXT) of a division pushed: 'Infinity', '0' for 'inf', '0.0' "
               "(a bare double column is cast in the residual)"),
    Regression("mariadb-pre-aggregation-rollup", "SELECT COUNT(*) AS c2 FROM maria.m2 AS t1 GROUP BY ROLLUP (t1.s)",
               "rewrite + collation/MariaDB: pre-aggregation pushes GROUP BY s to MariaDB without the binary "
               "collation (14 rows for 17)", eager=True),
    Regression("mariadb-pre-aggregation-join",
               "SELECT AVG(t2.k) AS c2 FROM lite.s1 AS t1 INNER JOIN maria.m2 AS t2 ON t1.s = t2.s",
               "rewrite + collation/MariaDB: the pre-aggregated MariaDB side groups by s in its collation before "
               "the cross-engine join (avg 4.0 for 4.33)", eager=True),
    Regression("nested-join-tree-under-left-join",
               "SELECT t2.b AS c0, sum(t3.k) AS c1 FROM files.f1 AS t1 LEFT JOIN (maria.m1 AS t2 INNER JOIN pg.p1 "
               "AS t3 ON t2.k = t3.k) ON t1.k = t2.k GROUP BY t2.b",
               "refused construct: UnsupportedQuery 'a parenthesized join tree is supported as the right side of an "
               "inner join ...; write the joins without parentheses' for a tree under a LEFT JOIN", open=True),
)
