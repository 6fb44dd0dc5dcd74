"""Hostile-input fuzzing: random statements from every construct sqlglot's parsers accept.

    python benchmarks/hostile_fuzz.py [--seed 1] [--count 2000]

Statements are built from every function name in the DuckDB, PostgreSQL, MySQL and SQLite
parsers' registries (sqlglot knows more than 900, most of them from other dialects), casts to
every sqlglot data type, PostgreSQL attribute notation on columns and values, and syntax that
engines read differently (COLLATE, TABLESAMPLE, LATERAL, UNNEST, lambdas, session variables),
with random arguments drawn from the table's columns and from literals, in random places of a
query (projection, WHERE, GROUP BY, a derived table, a join across products).

Each statement is sent through a real flightmesh server by ADBC, over the governed test mesh
(SQLite, DuckDB, Parquet and, when reachable, PostgreSQL products, with policies). A spy on
every connector records each statement an engine is asked to run; it is parsed back in the
engine's dialect and every node checked against the vetted language, independently of the
planner's own gate. Printed: statements sent, answered, refused (by error class), failed in
any other way (internal errors: bugs), fragments run, and fragments carrying an unvetted node
(the promise: 0).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

import sqlglot  # noqa: E402
from sqlglot import exp  # noqa: E402

# Tables of the governed mesh (tests/governance/govmesh.py) with columns by kind.
TABLES: dict[str, dict[str, list[str]]] = {
    "crm.customers": {"text": ["region", "status", "code", "phone"], "number": ["customer_id"]},
    "hr.employees": {"text": ["name", "region", "manager"], "number": ["emp_id", "salary"]},
    "sales.orders": {"text": ["region", "status"], "number": ["order_id", "customer_id", "amount"]},
    "finance.payments": {"text": ["region"], "number": ["payment_id", "customer_id", "amount"]},
}
LITERALS = ["1", "-2", "2.5", "'a'", "'/etc/hostname'", "NULL", "TRUE", "DATE '2024-02-29'",
            "TIMESTAMP '2024-01-01 10:00:00'", "INTERVAL 1 DAY", "[1, 2]", "{'k': 1}", "2e9", "1000000000"]
ESCAPES = ["pg_read_file", "pg_sleep", "current_setting", "pg_ls_dir", "dblink", "lo_import", "load_file",
           "sleep", "benchmark", "getenv", "read_csv", "glob", "load_extension", "sqlite_version", "version",
           "pg_terminate_backend", "pg_cancel_backend", "set_config", "query_to_xml", "txid_current"]
SYNTAX = [
    "({a}).{escape}", "CAST({a} AS {type})", "TRY_CAST({a} AS {type})", "{a}::{type}", "{a} COLLATE \"C\"",
    "({a} || {b})", "CASE WHEN {a} IS NULL THEN {b} END", "{a} IN ({b}, {a})", "{a} BETWEEN {b} AND {a}",
    "{a} LIKE {b} ESCAPE '!'", "(SELECT max({a}) FROM {t})", "EXISTS (SELECT 1 FROM {t} WHERE {a} = {b})",
    "list_transform([1, 2], x -> x + 1)", "@@{escape}", "{a}[1]", "({a}).{column}",
]
# What sqlglot's generators write themselves when rendering a vetted construct for an engine
# (DuckDB: LENGTH of a value of unknown type becomes CASE TYPEOF(x) WHEN 'BLOB' THEN
# OCTET_LENGTH(...); INITCAP(x, delimiters) becomes a LIST_TRANSFORM over REGEXP_EXTRACT_ALL with
# a lambda; SQLite: a TIMESTAMP literal becomes DATETIME('...')). They are the planner's text,
# not the client's; counted apart from unvetted nodes.
RENDERINGS: dict[str, frozenset[str]] = {
    "duckdb": frozenset({"typeof", "octet_length", "arraytostring", "array_to_string", "transform",
                         "list_transform", "lambda", "regexplike", "regexpextractall", "regexp_matches",
                         "regexp_extract_all"}),
    "sqlite": frozenset({"datetime", "date", "time"}),
}
# What the engines' faithful renderings (connectors/*_semantics.py) add so an engine compares
# strings as the mesh dialect does: a fixed collation, and for MariaDB a cast to utf8mb4 text.
# Engine SQL, not the mesh language: unwrapped to their operand before the check.
FAITHFUL_COLLATIONS = frozenset({"binary", "c", "c.utf8", "utf8mb4_nopad_bin"})
TYPES = [t.value for t in exp.DataType.Type] + ["regclass", "regrole", "oid", "customers", "vault_secrets"]


def function_names() -> list[str]:
    names: set[str] = set()
    for dialect in ("duckdb", "postgres", "mysql", "sqlite"):
        names |= set(sqlglot.Dialect.get_or_raise(dialect).parser_class.FUNCTIONS)
    return sorted(names)


@dataclass
class Counts:
    sent: int = 0
    answered: int = 0
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)
    fragments: int = 0
    unvetted: list[tuple[str, str]] = field(default_factory=list)
    rendered: collections.Counter[str] = field(default_factory=collections.Counter)
    engine_rejected: int = 0   # an engine's own error (a type mismatch) answered INTERNAL: issue 10
    classes: set[str] = field(default_factory=set)


def statements(seed: int, count: int) -> Iterator[str]:
    rng = random.Random(seed)
    names = function_names()
    for index in range(count):
        table = rng.choice(sorted(TABLES))
        columns = TABLES[table]
        pool = columns["text"] + columns["number"] + LITERALS

        def arg(pool: list[str] = pool) -> str:
            return rng.choice(pool)

        if index % 3 == 0 or rng.random() < 0.3:
            template = rng.choice(SYNTAX)
            expression = template.format(a=arg(), b=arg(), t=table, type=rng.choice(TYPES),
                                         escape=rng.choice(ESCAPES), column=rng.choice(columns["text"]))
        else:
            name = rng.choice(names + ESCAPES)
            expression = f"{name}({', '.join(arg() for _ in range(rng.randint(0, 3)))})"
        place = rng.randrange(5)
        if place == 0:
            yield f"SELECT {expression} AS v FROM {table} LIMIT 5"
        elif place == 1:
            yield f"SELECT count(*) FROM {table} WHERE ({expression}) IS NOT NULL"
        elif place == 2:
            yield f"SELECT {expression} AS v, count(*) FROM {table} GROUP BY 1 LIMIT 5"
        elif place == 3:
            yield f"SELECT v FROM (SELECT {expression} AS v FROM {table}) AS d LIMIT 5"
        else:
            other = rng.choice(sorted(set(TABLES) - {table}))
            yield (f"SELECT {expression} AS v FROM {table} AS x JOIN {other} AS y "
                   f"ON x.{TABLES[table]['number'][0]} = y.{TABLES[other]['number'][0]} LIMIT 5")


def spy_on(runtime: Any, counts: Counts) -> None:
    """Record every statement sent to an engine and check it, parsed back, against the vetted language."""
    from flightmesh.governance.language import check_fragment
    from flightmesh.mesh import FlightmeshError

    for connector in runtime.connectors.values():
        original = connector.execute
        dialect = connector.capabilities.dialect

        def spy(query: Any, cancel: Any, _original: Any = original, _dialect: str = dialect) -> Any:
            counts.fragments += 1
            try:
                tree = sqlglot.parse_one(query.sql, read=_dialect)
                for node in list(tree.walk()):
                    if _faithful(node):
                        node.replace(node.this)
                        continue
                    name = node.name.lower() if isinstance(node, exp.Anonymous) else type(node).__name__.lower()
                    if name in RENDERINGS.get(_dialect, ()):
                        counts.rendered[f"{_dialect}:{name}"] += 1
                        node.replace(exp.Null())
                check_fragment(tree)
            except FlightmeshError as error:
                counts.unvetted.append((query.sql, str(error)))
            except Exception as error:
                counts.unvetted.append((query.sql, f"does not parse back: {type(error).__name__}"))
            return _original(query, cancel)

        connector.execute = spy


def _faithful(node: exp.Expr) -> bool:
    """A node an engine's faithful rendering added (a fixed collation; MariaDB's utf8mb4 text cast)."""
    if isinstance(node, exp.Collate):
        return node.expression.name.lower() in FAITHFUL_COLLATIONS
    return isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.CHARACTER_SET \
        and node.to.args.get("kind") is not None and node.to.args["kind"].name.lower() == "utf8mb4"


def run(port: int, runtime: Any, seed: int, count: int, user: str = "ann", password: str = "ann-pw") -> Counts:
    """Send ``count`` statements through the server on ``port`` (its runtime is spied on)."""
    import adbc_driver_flightsql.dbapi as dbapi

    counts = Counts()
    spy_on(runtime, counts)
    with dbapi.connect(f"grpc://127.0.0.1:{port}", autocommit=True,
                       db_kwargs={"username": user, "password": password}) as connection:
        for sql in statements(seed, count):
            counts.sent += 1
            with contextlib.suppress(Exception):  # the server must refuse these too; counted below
                counts.classes |= {type(node).__name__ for node in sqlglot.parse_one(sql, read="duckdb").walk()}
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql)
                    cursor.fetchall()
                counts.answered += 1
            except Exception as error:
                status = str(error).split(":")[0]
                if status in ("INVALID_ARGUMENT", "NOT_FOUND", "UNAUTHORIZED"):
                    counts.refused[status] += 1
                elif "the engine rejected the fragment" in str(error):
                    counts.engine_rejected += 1
                else:
                    counts.failed.append((sql, str(error).split(". Detail")[0][:300]))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, action="append", help="repeatable; default 1")
    parser.add_argument("--count", type=int, default=2000, help="statements per seed")
    args = parser.parse_args(argv)
    import tempfile

    from flightmesh.executor import MeshRuntime
    from flightmesh.server.app import FlightMeshServer
    from tests.governance.govmesh import build_gov_mesh

    with tempfile.TemporaryDirectory() as scratch:
        meshes = build_gov_mesh(Path(scratch))
        mesh = next(meshes)
        runtime = MeshRuntime.open(mesh.descriptor)
        total = Counts()
        with FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
            for seed in args.seed or [1]:
                counts = run(server.port, runtime, seed, args.count)
                print(f"seed {seed}: sent {counts.sent}, answered {counts.answered}, refused "
                      f"{dict(counts.refused)}, rejected by an engine {counts.engine_rejected}, other failures "
                      f"{len(counts.failed)}, fragments run {counts.fragments}, fragments with an unvetted node "
                      f"{len(counts.unvetted)}, sqlglot renderings {dict(counts.rendered)}")
                total.sent += counts.sent
                total.classes |= counts.classes
                total.failed += counts.failed
                total.unvetted += counts.unvetted
        runtime.close()
        with contextlib.suppress(StopIteration):
            next(meshes)
    print(f"total: {total.sent} statements, {len(total.classes)} distinct sqlglot classes in them, "
          f"{len(total.failed)} other failures, {len(total.unvetted)} unvetted fragments")
    for sql, message in total.failed[:20]:
        print(f"  failure: {message}\n    {sql}")
    for sql, message in total.unvetted[:20]:
        print(f"  unvetted: {message}\n    {sql}")
    return 1 if total.unvetted else 0


if __name__ == "__main__":
    sys.exit(main())
