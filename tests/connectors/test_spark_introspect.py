"""``flightmesh introspect --kind spark`` against LakeSail started in this process.

The descriptor it writes for a Spark Connect engine names its global views with their ``source``,
passes ``check`` unchanged and serves queries that equal DuckDB over the same rows. (Sail 0.7.2
keeps catalog tables per session, so a product on Sail has global views only; catalog tables and
the comments Spark keeps on them are introspected against Apache Spark in test_spark_jvm.py.)
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from flightmesh.executor import MeshRuntime
from flightmesh.mesh.principal import Principal
from flightmesh.server.cli import main
from tests.oracle import assert_same_result

from .dataset import ORDERS
from .harness import spark_sql

MESH = "mesh:\n  name: acme\nusers:\n  alice: {password: alice-secret, roles: [analyst]}\n"
ALICE = Principal("alice", frozenset({"analyst"}))


def test_introspected_spark_product_serves_queries(sail_endpoint: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    pq.write_table(ORDERS, tmp_path / "orders.parquet")
    spark_sql(sail_endpoint,
           f"CREATE OR REPLACE GLOBAL TEMPORARY VIEW intro_orders AS SELECT * FROM parquet.`{tmp_path}/orders.parquet`",
           "CREATE OR REPLACE GLOBAL TEMPORARY VIEW intro_notes AS SELECT * FROM VALUES (1, 'late'), (2, 'gift') "
           "AS t(id, body)")
    mesh = tmp_path / "mesh"
    mesh.mkdir()
    (mesh / "mesh.yaml").write_text(MESH)
    target = mesh / "products" / "shop.yaml"
    status = main(["introspect", "--kind", "spark", "--uri", sail_endpoint, "--product", "shop",
                   "--tables", "intro_*", "-o", str(target)])
    capsys.readouterr()
    assert status == 0
    text = target.read_text()
    document = yaml.safe_load(text)
    assert document["engine"] == {"kind": "spark", "uri": sail_endpoint}
    assert document["tables"]["intro_orders"]["source"] == "global_temp.intro_orders"
    assert document["tables"]["intro_notes"]["source"] == "global_temp.intro_notes"
    assert "#   amount" in text and "decimal128" in text   # the engine's own types, as comments

    assert main(["check", str(mesh / "mesh.yaml")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    target.write_text(text.replace("  read: []\n", "  read: [analyst]\n"))
    sql = ("SELECT o.status, count(*) AS n, max(o.amount) AS top, min(x.body) AS body FROM shop.intro_orders o "
           "LEFT JOIN shop.intro_notes x ON x.id = o.id GROUP BY o.status")
    with MeshRuntime.open(mesh / "mesh.yaml") as runtime:
        actual = runtime.query(sql, ALICE).read_all()
    oracle = duckdb.connect()
    oracle.execute("CREATE SCHEMA shop")
    oracle.register("incoming", ORDERS)
    oracle.execute("CREATE TABLE shop.intro_orders AS SELECT * FROM incoming")
    oracle.execute("CREATE TABLE shop.intro_notes AS SELECT * FROM (VALUES (1, 'late'), (2, 'gift')) t(id, body)")
    assert_same_result(actual, oracle.sql(sql).to_arrow_table(), ordered=False)


@pytest.mark.parametrize(("argv", "message"), [
    (["--uri", "sc://127.0.0.1:15002/;token=abc"], "--token"),
    (["--uri", "grpc://127.0.0.1:15002"], "sc://host:port"),
])
def test_spark_uri_mistakes_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["introspect", "--kind", "spark", "--product", "shop", *argv]) == 1
    err = capsys.readouterr().err
    assert message in err and "abc" not in err


def test_token_is_for_spark_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["introspect", "--kind", "duckdb", "--path", str(tmp_path), "--product", "p", "--token", "t"]) == 1
    assert "--token is for a spark engine" in capsys.readouterr().err
