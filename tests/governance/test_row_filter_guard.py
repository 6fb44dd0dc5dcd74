"""The row-filter guard, behaviourally: an engine that runs the user's predicate first sees no hidden row.

A row-filtered table is read through ``SELECT CASE WHEN <filter> THEN col END AS col ... WHERE
<filter>`` (``governance/policies.py``, ``wrap_table``). The WHERE alone would be enough if
engines evaluated the policy's filter before the user's predicates, but nothing obliges them
to: PostgreSQL flattens the subquery and orders the quals of one scan by estimated cost, so a
user predicate cheaper than the filter runs first, on every row. Without the CASE, a predicate
that fails on a value only hidden rows hold (a division by a hidden zero, a cast of a hidden
text) makes the query fail, telling the user that such a row exists — and any function with a
visible effect would see the hidden values.

The trap is checked first on the real engine (the unguarded SQL does fail), so this test fails
when the guard is removed: the query errors instead of returning the visible rows' answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import UnsupportedQuery
from tests.governance.govmesh import _drop_pg, _grant_reader, _pg_database, _Postgres, service

# Costlier than the user's predicates below (four operators against two or three): PostgreSQL
# evaluates those first when nothing else orders them.
ROW_FILTER = "upper(lower(upper(region))) <> 'APAC'"

DESCRIPTOR = """\
mesh: {{name: guard}}
products:
  finance:
    engine: {{kind: postgresql, uri: "{uri}"}}
    tables: {{payments: {{}}}}
    access: {{read: [risk]}}
    policies:
      row_filters:
        - {{table: payments, where: "{row_filter}", for: [risk]}}
users:
  rob: {{password: "rob-pw", roles: [risk]}}
"""

# payment_id 1..60; APAC (hidden from rob) every third row, and only those hold divisor 0 and
# a code that is not a number.
ROWS = [(pid, "APAC" if pid % 3 == 0 else ("EMEA" if pid % 3 == 1 else "US"),
         0 if pid % 3 == 0 else pid, f"X-{pid}" if pid % 3 == 0 else str(pid)) for pid in range(1, 61)]
VISIBLE = [row for row in ROWS if row[1] != "APAC"]

# (user predicate in the mesh dialect, the same in PostgreSQL, how many visible rows it keeps):
# each fails on every hidden row, and PostgreSQL computes each as the mesh does, so the planner
# pushes it into the engine (integer division and modulo by zero raise in both).
PREDICATES = [
    ("100 // divisor > 1", "100 / divisor > 1", sum(1 for row in VISIBLE if 100 // row[2] > 1)),
    ("100 % divisor = 1", "100 % divisor = 1", sum(1 for row in VISIBLE if 100 % row[2] == 1)),
]
# PostgreSQL reads text as a number otherwise than DuckDB ('12.5'), so this one stays in the merge,
# over rows the fragment already filtered: it too never meets a hidden row.
MERGED = ("CAST(code AS INTEGER) > 10", sum(1 for row in VISIBLE if int(row[3]) > 10))


@pytest.fixture(scope="module")
def database() -> Iterator[_Postgres]:
    if not service("PostgreSQL", "127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not reachable (CI fails instead: see govmesh.service)")
    import adbc_driver_postgresql.dbapi as adbc_pg

    postgres = _pg_database()
    try:
        with adbc_pg.connect(postgres.uri, autocommit=True) as connection, connection.cursor() as cursor:
            cursor.execute("CREATE TABLE payments (payment_id BIGINT PRIMARY KEY, region TEXT, divisor BIGINT, "
                           "code TEXT)")
            values = ", ".join(f"({pid}, '{region}', {divisor}, '{code}')" for pid, region, divisor, code in ROWS)
            cursor.execute(f"INSERT INTO payments VALUES {values}")
            cursor.execute("ANALYZE payments")
        _grant_reader(postgres)
        yield postgres
    finally:
        _drop_pg(postgres)


@pytest.fixture(scope="module")
def runtime(database: _Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshRuntime]:
    descriptor = Path(tmp_path_factory.mktemp("guard")) / "mesh.yaml"
    descriptor.write_text(DESCRIPTOR.format(uri=database.reader_uri, row_filter=ROW_FILTER))
    with MeshRuntime.open(descriptor) as opened:
        yield opened


@pytest.mark.parametrize(("mesh_predicate", "predicate", "visible_count"), PREDICATES,
                         ids=[p for p, _, _ in PREDICATES])
def test_the_engine_really_runs_the_user_predicate_first(database: _Postgres, mesh_predicate: str, predicate: str,
                                                         visible_count: int) -> None:
    """Without the CASE guard, PostgreSQL meets the hidden rows: the trap is real."""
    import adbc_driver_postgresql.dbapi as adbc_pg

    unguarded = (f"SELECT count(*) FROM (SELECT payment_id, region, divisor, code FROM payments "
                 f"WHERE {ROW_FILTER}) AS p WHERE {predicate}")
    guarded = (f"SELECT count(*) FROM (SELECT CASE WHEN {ROW_FILTER} THEN divisor END AS divisor, "
               f"CASE WHEN {ROW_FILTER} THEN code END AS code FROM payments WHERE {ROW_FILTER}) AS p "
               f"WHERE {predicate}")
    with adbc_pg.connect(database.reader_uri, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(guarded)
        cursor.fetchall()  # the guard alone keeps the predicate off the hidden rows
    with adbc_pg.connect(database.reader_uri, autocommit=True) as connection, connection.cursor() as cursor, \
            pytest.raises(Exception, match=r"division by zero|invalid input syntax"):
        cursor.execute(unguarded)
        cursor.fetchall()


@pytest.mark.parametrize(("mesh_predicate", "predicate", "visible_count"), PREDICATES,
                         ids=[p for p, _, _ in PREDICATES])
def test_user_predicate_never_meets_hidden_rows(runtime: MeshRuntime, mesh_predicate: str, predicate: str,
                                                visible_count: int) -> None:
    rob = runtime.principal_for("rob")
    assert rob is not None
    sql = f"SELECT count(*) AS n FROM finance.payments WHERE {mesh_predicate}"
    plan = runtime.bind(runtime.prepare(sql, rob), rob)
    assert plan.residual is None and len(plan.fragments) == 1  # PostgreSQL runs the predicate itself
    assert runtime.query(sql, rob).read_all().to_pylist() == [{"n": visible_count}]


def test_a_predicate_the_merge_computes_meets_only_visible_rows(runtime: MeshRuntime) -> None:
    rob = runtime.principal_for("rob")
    assert rob is not None
    predicate, visible_count = MERGED
    sql = f"SELECT count(*) AS n FROM finance.payments WHERE {predicate}"
    plan = runtime.bind(runtime.prepare(sql, rob), rob)
    assert plan.residual is not None and "CAST" not in plan.fragments[0].sql  # the merge casts
    assert runtime.query(sql, rob).read_all().to_pylist() == [{"n": visible_count}]


# A mask PostgreSQL computes otherwise than the mesh dialect (its text-to-integer cast): the mask
# cannot run in the engine, and flightmesh never streams the raw column out to mask it in the merge.
MASKED_DESCRIPTOR = DESCRIPTOR.replace("""        - {{table: payments, where: "{row_filter}", for: [risk]}}
""", """        - {{table: payments, where: "{row_filter}", for: [risk]}}
      masks:
        - {{table: payments, column: code, with: "CAST(code AS INTEGER) * 0"}}
""")


@pytest.fixture(scope="module")
def masked_runtime(database: _Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshRuntime]:
    descriptor = Path(tmp_path_factory.mktemp("masked")) / "mesh.yaml"
    descriptor.write_text(MASKED_DESCRIPTOR.format(uri=database.reader_uri, row_filter=ROW_FILTER))
    with MeshRuntime.open(descriptor) as opened:
        yield opened


def test_a_policy_the_engine_cannot_compute_is_refused_not_run_in_the_merge(masked_runtime: MeshRuntime) -> None:
    rob = masked_runtime.principal_for("rob")
    assert rob is not None
    for sql in ("SELECT payment_id, code FROM finance.payments", "SELECT count(*) AS n FROM finance.payments",
                "SELECT region, count(*) AS n FROM finance.payments GROUP BY region"):
        with pytest.raises(UnsupportedQuery, match="cannot run inside its product's engine") as refused:
            masked_runtime.query(sql, rob).read_all()
        assert "CAST" not in str(refused.value)  # the policy's body is not the reader's to see
