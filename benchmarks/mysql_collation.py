"""What the exact string rendering costs on MariaDB, and what narrowing by the index wins back.

A table of ``--rows`` rows (an indexed VARCHAR ``s`` of ``--distinct`` values in mixed case, an
INT ``n``) in a scratch database on the local MariaDB (127.0.0.1:3306, root). Each statement runs
on the engine directly (PyMySQL, whole result fetched), interleaved, ``--runs`` times; medians:

- ``plain``: the statement as sqlglot renders it, under the column's collation (wrong answers:
  case-, accent- and trailing-space-insensitive), the baseline of the old pushdown;
- ``exact``: every string operand wrapped ``CAST(x AS CHAR CHARACTER SET utf8mb4) COLLATE
  utf8mb4_nopad_bin``, no narrowing;
- ``narrowed``: what flightmesh sends (connectors/mysql_semantics.py ``faithful``): equality, IN,
  LIKE 'prefix%' and equality joins keep the raw comparison first, so the index serves them.

    .venv/bin/python benchmarks/mysql_collation.py [--rows 200000] [--distinct 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable

import pymysql
import sqlglot
from sqlglot import exp

from flightmesh.connectors import mysql_collation, mysql_semantics

QUERIES = {
    "equality": "SELECT count(*) AS c FROM t WHERE s = 'Key0042'",
    "in_list": "SELECT count(*) AS c FROM t WHERE s IN ('Key0042', 'key0043', 'KEY0044')",
    "like_prefix": "SELECT count(*) AS c FROM t WHERE s LIKE 'Key004%'",
    "join": "SELECT count(*) AS c FROM u JOIN t ON u.s = t.s",
    "range": "SELECT count(*) AS c FROM t WHERE s < 'Key0100'",
    "group_by": "SELECT s, count(*) AS c FROM t GROUP BY s",
    "order_limit": "SELECT s, n FROM t ORDER BY s LIMIT 10",
}


def _typed(sql: str) -> exp.Expr:
    """The query parsed, with the types the planner would annotate (s is VARCHAR, n INT)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    for node in tree.walk():
        if isinstance(node, exp.Column):
            node.type = exp.DataType.build("varchar" if node.name == "s" else "int")
    return tree


def renderings(sql: str) -> dict[str, str]:
    plain = _typed(sql).sql("mysql")
    narrowed = mysql_semantics.faithful(_typed(sql)).sql("mysql")
    keep = mysql_collation._narrowed  # the same rewrite, narrowing switched off
    mysql_collation._narrowed = lambda exact_node, plain_node: exact_node  # type: ignore[assignment]
    try:
        exact = mysql_semantics.faithful(_typed(sql)).sql("mysql")
    finally:
        mysql_collation._narrowed = keep
    return {"plain": plain, "exact": exact, "narrowed": narrowed}


def _load(cursor: pymysql.cursors.Cursor, rows: int, distinct: int) -> None:
    cursor.execute("CREATE TABLE t (id INT PRIMARY KEY, s VARCHAR(40), n INT, KEY (s)) DEFAULT CHARSET = utf8mb4")
    cursor.execute("CREATE TABLE u (s VARCHAR(40), KEY (s)) DEFAULT CHARSET = utf8mb4")
    spellings = ("Key{:04d}", "key{:04d}", "KEY{:04d}", "Key{:04d} ")
    batch = []
    for index in range(rows):
        value = index % distinct
        batch.append((index, spellings[(index // distinct) % 4].format(value), index % 97))
        if len(batch) == 10_000:
            cursor.executemany("INSERT INTO t VALUES (%s, %s, %s)", batch)
            batch = []
    if batch:
        cursor.executemany("INSERT INTO t VALUES (%s, %s, %s)", batch)
    cursor.executemany("INSERT INTO u VALUES (%s)", [(f"Key{value:04d}",) for value in range(0, distinct, 50)])
    cursor.execute("ANALYZE TABLE t, u")
    cursor.fetchall()


def _run(cursor: pymysql.cursors.Cursor, statement: str) -> list[tuple[object, ...]]:
    cursor.execute(statement)
    return list(cursor.fetchall())


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    name = f"flightmesh_bench_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True, charset="utf8mb4")
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        connection = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True, charset="utf8mb4",
                                     database=name)
        with connection.cursor() as cursor:
            _load(cursor, args.rows, args.distinct)
            print(f"MariaDB {connection.get_server_info()}, {args.rows} rows, {args.distinct} distinct keys, "
                  f"{args.runs} runs, load {os.getloadavg()[0]:.1f}")
            print(f"{'query':<12} {'plain ms':>9} {'exact ms':>9} {'narrowed ms':>12}  rows plain/narrowed")
            for label, sql in QUERIES.items():
                statements = renderings(sql)

                answers = {kind: _run(cursor, statement) for kind, statement in statements.items()}  # warm-up
                times: dict[str, list[float]] = {kind: [] for kind in statements}
                for round_ in range(args.runs):
                    order = list(statements)[round_ % 3:] + list(statements)[:round_ % 3]
                    for kind in order:
                        times[kind].append(_timed(lambda statement=statements[kind]: _run(cursor, statement)))
                medians = {kind: statistics.median(values) for kind, values in times.items()}
                shape = f"{_shape(answers['plain'])}/{_shape(answers['narrowed'])}"
                print(f"{label:<12} {medians['plain']:>9.1f} {medians['exact']:>9.1f} {medians['narrowed']:>12.1f}  "
                      f"{shape}")
        connection.close()
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def _shape(rows: list[tuple[object, ...]]) -> str:
    return str(rows[0][0]) if len(rows) == 1 else f"{len(rows)} rows"


if __name__ == "__main__":
    main()
