"""The README's Python examples run as printed against a real server over the demo mesh.

Only the port changes (the test server takes a free one); users, passwords and SQL are the
README's own. The cross-product query's result is checked against the oracle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.oracle import assert_same_result

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


@pytest.fixture(scope="module")
def port(demo_runtime: MeshRuntime) -> Iterator[int]:
    with FlightMeshServer(demo_runtime, "grpc://127.0.0.1:0") as server:
        yield server.port


def test_readme_has_the_examples() -> None:
    assert len(python_blocks()) == 3
    assert "make serve" in README.read_text() and "make test" in README.read_text()


def test_adbc_example(port: int, demo_oracle, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    code = python_blocks()[0].replace("8815", str(port))
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)
    printed = capsys.readouterr().out
    assert "country" in printed and "revenue" in printed
    sql = re.search(r'cur.execute\("""(.*?)"""\)', code, flags=re.DOTALL)
    assert sql is not None
    import adbc_driver_flightsql.dbapi as flightsql

    with flightsql.connect(f"grpc://127.0.0.1:{port}", autocommit=True,
                           db_kwargs={"username": "alice", "password": "alice-demo"}) as conn, conn.cursor() as cur:
        cur.execute(sql.group(1))
        actual = cur.fetch_arrow_table()
    assert_same_result(actual, demo_oracle.sql(sql.group(1)).to_arrow_table(), ordered=True)


def test_polars_and_pandas_example(port: int) -> None:
    import adbc_driver_flightsql.dbapi as flightsql

    code = python_blocks()[1].replace("8815", str(port))
    scope: dict[str, object] = {"flightsql": flightsql}
    exec(compile(code, "README.md", "exec"), scope)
    products, lines = scope["products"], scope["lines"]
    assert products.height == 120  # type: ignore[attr-defined]
    assert {"product_id", "sold"} <= set(lines.columns)  # type: ignore[attr-defined]


def test_privacy_budget_example(port: int) -> None:
    """The privacy section's partition read: the remaining budget it prints is the ledger's."""
    import adbc_driver_flightsql.dbapi as flightsql

    code = python_blocks()[2].replace("8815", str(port))
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)
    with flightsql.connect(f"grpc://127.0.0.1:{port}", autocommit=True,
                           db_kwargs={"username": "dana", "password": "dana-demo"}) as conn, conn.cursor() as cur:
        cur.execute("SELECT remaining FROM mesh.privacy_budget WHERE product = 'sales'")
        (remaining,) = cur.fetchone()  # type: ignore[misc]
    assert float(scope["remaining"]) == pytest.approx(remaining)  # type: ignore[arg-type]
