"""MariaDB reports distinct counts, so a dynamic filter of many keys is sent in a form no index serves.

The planner judges a key filter on an index-driven engine weak when its keys cover more than a
tenth of the probe column's distinct values (``planner/key_slots``), and then sends
``COALESCE(col, NULL) IN (...)``: the engine scans and hashes instead of a random primary-key lookup
per row through the column's secondary index. It needs the count, which MariaDB gives once the
connector declares ``distinct_estimate`` (the catalog's index cardinalities). On broad.py b22 the
fragment went 181 -> 132 ms (median of 9, interleaved). Here a fact on MariaDB (20,000 rows,
1,000 dimension keys, indexed) is joined with a DuckDB dimension filtered to 300 keys (weak) or
to 10 (selective, left bare for the index); both answers equal DuckDB over the same rows.
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

FACTS = [(i, i % 1000, i % 17) for i in range(20_000)]
DIMS = [(k, k % 100) for k in range(1000)]
# Rows, not groups: a pre-aggregated fragment would put the keys one SELECT down, where the
# planner does not look up the count (see "For part B" in the h11 findings).
WEAK = "SELECT f.id, d.grp, f.qty FROM maria.fact f JOIN duck.dim d ON f.dim_id = d.dim_id WHERE d.grp < 30"
SELECTIVE = "SELECT f.id, d.grp, f.qty FROM maria.fact f JOIN duck.dim d ON f.dim_id = d.dim_id WHERE d.grp = 7"


@pytest.fixture(scope="module")
def mesh(mysql_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    from flightmesh.executor import MeshRuntime

    root: Path = tmp_path_factory.mktemp("weak_keys")
    connection = mysql_connect(mysql_database)
    with connection.cursor() as cursor:
        # Its own name: the session's MariaDB database is shared (test_mysql_join_cache has a fact)
        cursor.execute("CREATE TABLE wk_fact (id INT PRIMARY KEY, dim_id INT NOT NULL, qty INT, KEY fact_dim (dim_id))")
        cursor.executemany("INSERT INTO wk_fact VALUES (%s, %s, %s)", FACTS)
        cursor.execute("ANALYZE TABLE wk_fact")
    connection.close()
    product = duckdb.connect(str(root / "dims.duckdb"))
    product.execute("CREATE TABLE dim (dim_id INTEGER, grp INTEGER)")
    product.executemany("INSERT INTO dim VALUES (?, ?)", DIMS)
    product.close()
    oracle = duckdb.connect()
    for schema, table, columns, rows in (("maria", "fact", "id INTEGER, dim_id INTEGER, qty INTEGER", FACTS),
                                         ("duck", "dim", "dim_id INTEGER, grp INTEGER", DIMS)):
        oracle.execute(f"CREATE SCHEMA {schema}")
        oracle.execute(f"CREATE TABLE {schema}.{table} ({columns})")
        oracle.executemany(f"INSERT INTO {schema}.{table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    (root / "mesh.yaml").write_text(f"""mesh: {{name: weak}}
products:
  maria:
    engine: {{kind: mysql, uri: "{mysql_database}", allow_privileged: true}}
    tables: {{fact: {{source: wk_fact}}}}
    access: {{read: [analyst]}}
  duck:
    engine: {{kind: duckdb, path: dims.duckdb}}
    tables: {{dim: {{}}}}
    access: {{read: [analyst]}}
users:
  reader: {{password: "reader-pw", roles: [analyst]}}
settings: {{dynamic_filter_min_probe_rows: 0}}
""")
    runtime = MeshRuntime.open(root / "mesh.yaml")
    yield runtime, runtime.principal_for("reader"), oracle
    runtime.close()
    oracle.close()


def _mariadb_statement(runtime: Any, reader: Any, sql: str) -> str:
    """The MariaDB fragment as it ran (EXPLAIN ANALYZE shows the dynamic filter's keys in it)."""
    rows = runtime.query(f"EXPLAIN ANALYZE {sql}", reader).read_all().to_pylist()
    return next(row["sql"] for row in rows if row["kind"] == "fragment" and row["engine"] == "mysql")


def test_the_connector_reports_the_index_cardinality(mesh: tuple[Any, Any, Any]) -> None:
    runtime, _, _ = mesh
    estimate = runtime.connectors["maria"].distinct_estimate("wk_fact", "dim_id")
    assert estimate is not None and 250 <= estimate <= 2500  # InnoDB samples it (1,000 in truth): the order is right


@pytest.mark.parametrize(("sql", "weak"), [(WEAK, True), (SELECTIVE, False)])
def test_many_keys_skip_the_index_and_few_keep_it(mesh: tuple[Any, Any, Any], sql: str, weak: bool) -> None:
    runtime, reader, oracle = mesh
    statement = _mariadb_statement(runtime, reader, sql)
    assert " IN (" in statement, statement   # the dynamic filter reached MariaDB
    assert ("COALESCE(`f`.`dim_id`, NULL) IN (" in statement) is weak, statement[:300]
    expected = oracle.sql(sql).to_arrow_table()
    assert expected.num_rows == (6000 if weak else 200)
    assert_same_result(runtime.query(sql, reader).read_all(), expected, ordered=False)
