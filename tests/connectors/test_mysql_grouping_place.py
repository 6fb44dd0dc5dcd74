"""Where a grouping over MariaDB rows runs (planner/grouping_place.py, ``grouping_row_cost``).

MariaDB groups through an index walk with a lookup per row, or a temporary table: more per row
than shipping the row (connectors/mysql.py has the figures). So a GROUP BY over many MariaDB
rows ships them and the merge groups them; a grouping of few rows, and an aggregate with no
GROUP BY, stay in the engine. Every answer is compared with DuckDB over the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.oracle import assert_same_result

from .conftest import mysql_connect

pytestmark = pytest.mark.mysql

ROWS = 30_000
TINY = 300
FACTS = [(i, i % 97, i % 7) for i in range(ROWS)]


@pytest.fixture(scope="module")
def mesh(mysql_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    from flightmesh.executor import MeshRuntime

    root: Path = tmp_path_factory.mktemp("mysql_grouping")
    connection = mysql_connect(mysql_database)
    with connection.cursor() as cursor:
        for table, rows in (("gp_facts", FACTS), ("gp_tiny", FACTS[:TINY])):
            cursor.execute(f"CREATE TABLE {table} (id BIGINT PRIMARY KEY, g BIGINT NOT NULL, v BIGINT NOT NULL, "
                           f"KEY {table}_g (g))")
            cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", rows)
            cursor.execute(f"ANALYZE TABLE {table}")
            cursor.fetchall()
    connection.close()
    oracle = duckdb.connect()
    oracle.execute("CREATE SCHEMA maria")
    for table, rows in (("facts", FACTS), ("tiny", FACTS[:TINY])):
        oracle.execute(f"CREATE TABLE maria.{table} (id BIGINT, g BIGINT, v BIGINT)")
        oracle.executemany(f"INSERT INTO maria.{table} VALUES (?, ?, ?)", rows)
    (root / "mesh.yaml").write_text(f"""mesh: {{name: grouping}}
products:
  maria:
    engine: {{kind: mysql, uri: "{mysql_database}", allow_privileged: true}}
    tables: {{facts: {{source: gp_facts}}, tiny: {{source: gp_tiny}}}}
    access: {{read: [analyst]}}
users:
  reader: {{password: "reader-pw", roles: [analyst]}}
""")
    runtime = MeshRuntime.open(root / "mesh.yaml")
    yield runtime, runtime.principal_for("reader"), oracle
    runtime.close()
    oracle.close()


GROUPED = "SELECT g, count(*) AS n, sum(v) AS s FROM maria.{t} GROUP BY g ORDER BY g"


def _plan(runtime: Any, reader: Any, sql: str) -> Any:
    return runtime.bind(runtime.prepare(sql, reader), reader).plan


def test_a_grouping_of_many_rows_ships_them_to_the_merge(mesh: tuple[Any, Any, Any]) -> None:
    runtime, reader, oracle = mesh
    sql = GROUPED.format(t="facts")
    plan = _plan(runtime, reader, sql)
    (fragment,) = plan.fragments
    assert "GROUP BY" not in fragment.sql, fragment.sql
    assert plan.residual is not None and "GROUP BY" in plan.residual
    assert_same_result(runtime.query(sql, reader).read_all(), oracle.sql(sql).to_arrow_table(), ordered=True)


@pytest.mark.parametrize("sql", [GROUPED.format(t="tiny"), "SELECT count(*) AS n, sum(v) AS s FROM maria.facts"],
                         ids=["few rows", "no group by"])
def test_few_rows_and_plain_aggregates_stay_in_the_engine(mesh: tuple[Any, Any, Any], sql: str) -> None:
    runtime, reader, oracle = mesh
    plan = _plan(runtime, reader, sql)
    assert plan.residual is None and len(plan.fragments) == 1
    assert_same_result(runtime.query(sql, reader).read_all(), oracle.sql(sql).to_arrow_table(),
                       ordered="ORDER BY" in sql)
