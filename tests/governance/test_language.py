"""The closed language (governance/language.py): engine syntax that escaped the function allow-list.

Each attack of the security review is sent through a real server by ADBC, against a table of
every engine kind of the governed mesh (SQLite, DuckDB, Parquet, PostgreSQL), and must be refused
with INVALID_ARGUMENT before any fragment reaches an engine (a spy on every connector records
what was sent). ``test_the_attack_is_real_on_postgresql`` shows, on the engine itself, what the
first of them did before the allow-list: read a server file.

``test_every_sqlglot_class_is_vetted_or_refused`` enumerates every expression class sqlglot has.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import adbc_driver_manager
import duckdb
import pytest
from sqlglot import exp

from flightmesh.executor import MeshRuntime
from flightmesh.governance.language import (
    PRINCIPAL_FUNCTIONS,
    VETTED,
    check_statement,
)
from flightmesh.mesh import ForbiddenFunction, UnsupportedQuery
from flightmesh.server.app import FlightMeshServer
from tests.governance.govmesh import PG_ADMIN, GovMesh

TABLES = {"sqlite": "crm.customers", "duckdb": "hr.employees", "parquet": "sales.orders",
          "postgresql": "finance.payments"}

# The review's examples (issue 8), each written against the table ``{t}``.
ATTACKS = {
    "attribute notation reads a file": "SELECT (CAST('/etc/hostname' AS TEXT)).pg_read_file FROM {t} LIMIT 1",
    "attribute notation sleeps": "SELECT ((CAST(8 AS DOUBLE)).pg_sleep) IS NULL FROM {t}",
    "attribute notation on a column": "SELECT (region).upper FROM {t}",
    "attribute notation reads settings": "SELECT (CAST('data_directory' AS TEXT)).current_setting FROM {t}",
    "regclass probes a relation": "SELECT CAST('vault_secrets' AS regclass) FROM {t}",
    "cast operator to regclass": "SELECT 'pg_authid'::regclass FROM {t}",
    "row type probes a table": "SELECT CAST(NULL AS vault_secrets) FROM {t}",
    "row type field probes a column": "SELECT (CAST(NULL AS customers)).ssn FROM {t}",
    "regrole probes a role": "SELECT CAST('postgres' AS regrole) FROM {t}",
    "oid stepping": "SELECT CAST(CAST(1259 AS oid) AS regclass) FROM {t}",
    "a list outside memory accounting": "SELECT count(*) FROM (SELECT unnest(generate_series(1, 100000000)) FROM {t})",
    "a series from a column": "SELECT count(*) FROM (SELECT unnest(generate_series(1, region_len)) FROM "
                              "(SELECT length(region) AS region_len FROM {t}))",
    "a huge string": "SELECT length(repeat('x', 2e9)) FROM {t}",
    "a string sized by a column": "SELECT length(repeat('x', length(region) * 100000000)) FROM {t}",
    "a huge pad": "SELECT length(lpad('x', 2000000000, 'y')) FROM {t}",
    "collation names an engine object": "SELECT region COLLATE \"C\" FROM {t}",
    "an unvetted typed function": "SELECT ai_classify(region, 'x') FROM {t}",
    "a session variable": "SELECT @@version FROM {t}",
}


@pytest.fixture(scope="module")
def spied(gov_runtime: MeshRuntime) -> Iterator[list[str]]:
    """Every statement any connector of the governed mesh is asked to run, while the module runs."""
    sent: list[str] = []
    originals = {}
    for name, connector in gov_runtime.connectors.items():
        original = connector.execute
        originals[name] = original

        def spy(query: Any, cancel: Any, _original: Any = original) -> Any:
            sent.append(query.sql)
            return _original(query, cancel)

        connector.execute = spy  # type: ignore[method-assign]
    yield sent
    for name, connector in gov_runtime.connectors.items():
        connector.execute = originals[name]  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def server(gov_runtime: MeshRuntime, spied: list[str]) -> Iterator[FlightMeshServer]:
    with FlightMeshServer(gov_runtime, "grpc://127.0.0.1:0") as running:
        yield running


def _connect(server: FlightMeshServer, user: str = "ann") -> Any:
    return dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs={"username": user, "password": f"{user}-pw"},
                         autocommit=True)


def _table(engine: str, gov_mesh: GovMesh) -> str:
    if engine == "postgresql" and not gov_mesh.has_postgres:
        pytest.skip("PostgreSQL is not reachable (CI fails instead: see govmesh.service)")
    return TABLES[engine]


@pytest.mark.parametrize("engine", sorted(TABLES))
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attacks_are_refused_before_any_engine(server: FlightMeshServer, spied: list[str], gov_mesh: GovMesh,
                                              engine: str, attack: str) -> None:
    sql = ATTACKS[attack].format(t=_table(engine, gov_mesh))
    before = len(spied)
    with _connect(server) as connection, connection.cursor() as cursor:
        with pytest.raises(adbc_driver_manager.ProgrammingError) as raised:
            cursor.execute(sql)
            cursor.fetchall()
        # INVALID_ARGUMENT, or NOT_FOUND where the dialect reads the attempt as a name (``@@version``)
        assert str(raised.value).startswith(("INVALID_ARGUMENT", "NOT_FOUND")), str(raised.value)
        # The server keeps serving the same connection.
        cursor.execute(f"SELECT count(*) FROM {TABLES[engine]}")
        assert cursor.fetchone()[0] >= 0
    assert len(spied) == before + 1, spied[before:]  # only the count reached an engine


def test_refusals_name_the_construct(gov_runtime: MeshRuntime) -> None:
    ann = gov_runtime.principal_for("ann")
    assert ann is not None
    cases = {
        "SELECT (CAST('/etc/hostname' AS TEXT)).pg_read_file FROM crm.customers": "field access (.pg_read_file)",
        "SELECT CAST('x' AS regclass) FROM crm.customers": "cast to regclass",
        "SELECT length(repeat('x', 2e9)) FROM crm.customers": "max_generated_values",
        "SELECT ai_classify(region, 'x') FROM crm.customers": "function ai_classify",
    }
    for sql, expected in cases.items():
        with pytest.raises((ForbiddenFunction, UnsupportedQuery), match=expected.replace("(", r"\(").replace(
                ")", r"\)").replace(".", r"\.")):
            gov_runtime.query(sql, ann).read_all()


def test_the_attack_is_real_on_postgresql(gov_mesh: GovMesh) -> None:
    """PostgreSQL reads ``(value).f`` as ``f(value)``: why field access needs a struct column."""
    if not gov_mesh.has_postgres:
        pytest.skip("PostgreSQL is not reachable")
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(PG_ADMIN) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT (CAST('abc' AS TEXT)).upper, (CAST('server_version' AS TEXT)).current_setting")
        upper, version = cursor.fetchone()
    assert upper == "ABC" and version  # a function call, not a field


def test_bounded_generators_still_answer(gov_runtime: MeshRuntime) -> None:
    ann = gov_runtime.principal_for("ann")
    assert ann is not None
    table = gov_runtime.query(
        "SELECT length(repeat('ab', 3)) AS r, lpad('7', 3, '0') AS p, "
        "(SELECT count(*) FROM (SELECT unnest(generate_series(1, 10)) AS v)) AS n FROM crm.customers LIMIT 1",
        ann).read_all()
    assert table.to_pylist() == [{"r": 6, "p": "007", "n": 10}]


# -- struct fields are the one legitimate field access ---------------------------------------------------------


@pytest.fixture(scope="module")
def struct_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshRuntime]:
    root: Path = tmp_path_factory.mktemp("structs")
    with duckdb.connect(str(root / "events.duckdb")) as connection:
        connection.execute("CREATE TABLE events AS SELECT i AS id, {'kind': 'k' || (i % 3), 'size': i} AS info "
                           "FROM range(10) AS r(i)")
    (root / "mesh.yaml").write_text(
        "mesh: {name: s}\n"
        "products:\n"
        "  ops:\n"
        "    engine: {kind: duckdb, path: events.duckdb}\n"
        "    tables: {events: {}}\n"
        "    access: {read: [ops]}\n"
        "users:\n"
        "  olga: {password: olga-pw, roles: [ops]}\n"
    )
    runtime = MeshRuntime.open(root / "mesh.yaml")
    yield runtime
    runtime.close()


def test_struct_field_access_reads_the_field(struct_runtime: MeshRuntime) -> None:
    olga = struct_runtime.authenticate("olga", "olga-pw")
    table = struct_runtime.query("SELECT (info).size AS size FROM ops.events WHERE (info).kind = 'k1' ORDER BY 1",
                                 olga).read_all()
    assert table.column("size").to_pylist() == [1, 4, 7]


@pytest.mark.parametrize("sql", [
    "SELECT (info).pg_read_file FROM ops.events",          # not a field of the struct
    "SELECT (id).upper FROM ops.events",                   # not a struct
    "SELECT ((info).kind).upper FROM ops.events",          # a field of a field that is text
    "SELECT (CAST(info AS TEXT)).length FROM ops.events",  # not a column
])
def test_field_access_off_struct_fields_is_refused(struct_runtime: MeshRuntime, sql: str) -> None:
    olga = struct_runtime.authenticate("olga", "olga-pw")
    with pytest.raises(ForbiddenFunction, match="field access"):
        struct_runtime.query(sql, olga).read_all()


# -- every class sqlglot knows is vetted or refused ---------------------------------------------------------------


def _expression_classes() -> set[type[exp.Expr]]:
    found: set[type[exp.Expr]] = set()
    pending: list[type[exp.Expr]] = [exp.Expr]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    return found


# Classes with a check of their own (their content decides), tested in the cases above and below.
CHECKED_BY_CONTENT = {exp.DataType, exp.Var, exp.Anonymous, exp.Dot, exp.ColumnDef} | PRINCIPAL_FUNCTIONS


def test_every_sqlglot_class_is_vetted_or_refused() -> None:
    classes = _expression_classes()
    assert len(classes) > 900  # the enumeration reaches sqlglot's whole registry
    accepted = []
    for cls in sorted(classes - VETTED - CHECKED_BY_CONTENT, key=lambda c: c.__name__):
        try:
            node = cls()
        except Exception:
            continue  # cannot even be built empty: nothing can build it from SQL either
        try:
            check_statement(exp.Select(expressions=[node]))
        except (ForbiddenFunction, UnsupportedQuery):
            continue
        accepted.append(cls.__name__)
    assert accepted == []
    assert classes >= VETTED  # every vetted name is a real sqlglot class


@pytest.mark.parametrize(("sql", "allowed"), [
    ("SELECT CAST(a AS DECIMAL(10, 2)), CAST(a AS VARCHAR), CAST(a AS STRUCT(x INT)), CAST(a AS INT[]) FROM t", True),
    ("SELECT CAST(a AS regclass) FROM t", False),
    ("SELECT CAST(a AS customers) FROM t", False),
    ("SELECT CAST(a AS STRUCT(x regclass)) FROM t", False),
    ("SELECT EXTRACT(year FROM a), a + INTERVAL 1 DAY, date_trunc('month', a) FROM t", True),
    ("SELECT a FROM t WHERE b LIKE 'x' ESCAPE '!'", True),
    ("SELECT current_user, session_user FROM t", True),
    ("SELECT generate_series(1, 1000001) FROM t", False),
    ("SELECT generate_series(1, 1000000) FROM t", True),
    ("SELECT generate_series(1, 10, 0) FROM t", False),
    ("SELECT repeat(a, 3) FROM t", False),
    ("SELECT now(), upper(a) FROM t", True),
    ("SELECT pg_read_file('x') FROM t", False),
])
def test_content_checks(sql: str, allowed: bool) -> None:
    import sqlglot

    tree = sqlglot.parse_one(sql, read="duckdb")
    if allowed:
        check_statement(tree)
    else:
        with pytest.raises((ForbiddenFunction, UnsupportedQuery)):
            check_statement(tree)


def test_indexing_stays_out_of_sqlite(gov_runtime: MeshRuntime, gov_mesh: GovMesh) -> None:
    """sqlglot renders ``x[1]`` as ``x[0]`` for SQLite, where ``[0]`` is a quoted name: kept in the merge."""
    ann = gov_runtime.principal_for("ann")
    assert ann is not None
    got = gov_runtime.query("SELECT customer_id, region[1] AS r FROM crm.customers ORDER BY customer_id",
                            ann).read_all().to_pylist()
    raw = gov_mesh.raw["crm.customers"]
    oracle = duckdb.sql("SELECT customer_id, region[1] AS r FROM raw WHERE status <> 'deleted' "
                        "ORDER BY customer_id").to_arrow_table().to_pylist()
    assert got == oracle and len(got) > 10 and raw.num_rows > len(got)


def test_a_cast_sqlite_has_no_type_for_runs_in_the_merge(gov_runtime: MeshRuntime, gov_mesh: GovMesh) -> None:
    ann = gov_runtime.principal_for("ann")
    assert ann is not None
    sql = "SELECT CAST(customer_id AS USMALLINT) AS c FROM crm.customers WHERE CAST(customer_id AS USMALLINT) < 5"
    plan = gov_runtime.bind(gov_runtime.prepare(sql, ann), ann)
    assert all("USMALLINT" not in fragment.sql.upper() for fragment in plan.fragments)
    got = sorted(row["c"] for row in gov_runtime.query(sql, ann).read_all().to_pylist())
    raw = gov_mesh.raw["crm.customers"]
    expected = sorted(row[0] for row in duckdb.sql(
        "SELECT CAST(customer_id AS USMALLINT) FROM raw WHERE status <> 'deleted' AND customer_id < 5").fetchall())
    assert got == expected and len(got) > 0 and raw.num_rows > 0
