"""The privacy budget end to end: concurrent queries, replicas sharing PostgreSQL, restarts, refunds.

Budgets here cover exactly 20 queries (epsilon 0.05 each of 1.0). The ledger counts in whole
nano-epsilons, so the 20th spend is not lost to floating point.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import (
    CancelScope,
    EngineUnavailable,
    PrivacyBudgetExhausted,
    QueryCancelled,
    QueryTimeout,
    UnsupportedQuery,
)
from flightmesh.server.app import FlightMeshServer
from tests.connectors.conftest import postgres_database  # noqa: F401 - the fixture
from tests.governance.privacy_mesh import build_privacy_mesh

SQL = "SELECT region, COUNT(*) AS n FROM sales.orders GROUP BY region"


def race(attempts: int, run: Callable[[int], None]) -> tuple[int, int, list[BaseException]]:
    """``attempts`` threads released at once; (answered, refused for budget, other failures)."""
    start = threading.Barrier(attempts)
    answered: list[int] = []
    refused: list[int] = []
    others: list[BaseException] = []

    def attempt(index: int) -> None:
        start.wait()
        try:
            run(index)
            answered.append(index)
        except PrivacyBudgetExhausted:
            refused.append(index)
        except dbapi.ProgrammingError as error:   # through Flight SQL: UNAUTHORIZED, the message kept
            if "UNAUTHORIZED" in str(error) and "privacy budget of product sales is spent" in str(error):
                refused.append(index)
            else:
                others.append(error)
        except BaseException as error:
            others.append(error)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(answered), len(refused), others


def remaining(mesh: MeshRuntime, user: str = "rita") -> float:
    return mesh.privacy.ledger.state(user, "sales", 1.0, "day").remaining


def test_fifty_concurrent_queries_on_a_budget_of_twenty(tmp_path: Path) -> None:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0)
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        rita = mesh.authenticate("rita", "r")
        answered, refused, others = race(50, lambda _: mesh.query(SQL, rita).read_all())
        assert others == []
        assert (answered, refused) == (20, 30)
        assert remaining(mesh) == 0.0
        assert remaining(mesh, "sam") == 1.0   # another principal's budget is untouched
    assert (tmp_path / "state" / "flightmesh.sqlite").is_file()  # the default: beside the descriptor


def test_the_ledger_is_still_spent_after_a_restart(tmp_path: Path) -> None:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0)
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        rita = mesh.authenticate("rita", "r")
        for _ in range(19):
            mesh.query(SQL, rita).read_all()
    with MeshRuntime.open(tmp_path / "mesh.yaml") as restarted:
        rita = restarted.authenticate("rita", "r")
        assert remaining(restarted) == pytest.approx(0.05)
        restarted.query(SQL, rita).read_all()
        with pytest.raises(PrivacyBudgetExhausted, match="0 of 1 remains"):
            restarted.query(SQL, rita).read_all()


def test_a_query_failing_in_an_unreachable_engine_spends_nothing(tmp_path: Path) -> None:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0)
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        rita = mesh.authenticate("rita", "r")
        mesh.query(SQL, rita).read_all()
        (tmp_path / "sales.duckdb").rename(tmp_path / "sales.moved")   # the engine's file is gone
        with pytest.raises(EngineUnavailable):   # the plan is cached: fails after the reservation, refunded
            mesh.query(SQL, rita).read_all()
        assert remaining(mesh) == pytest.approx(0.95)


def test_a_condition_that_could_fail_on_a_value_is_refused_before_anything_is_spent(tmp_path: Path) -> None:
    # Whether it fails would depend on the rows (is there a region that is not a number?), and a
    # failure gives its epsilon back: such a condition would be a free, noiseless yes/no.
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0)
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        rita = mesh.authenticate("rita", "r")
        for sql in ("SELECT COUNT(*) FROM sales.orders WHERE CAST(region AS INTEGER) = 1",
                    "SELECT COUNT(*) FROM sales.orders WHERE CASE WHEN customer_id = 5 THEN amount / 0 END > 1",
                    "SELECT COUNT(*) FROM sales.orders o JOIN crm.customers c "
                    "ON o.customer_id = c.customer_id AND CAST(c.segment AS INTEGER) = 1"):
            with pytest.raises(UnsupportedQuery, match="is not allowed in privacy mode: conditions may only compare "
                                                       "columns with values"):
                mesh.query(sql, rita).read_all()
        assert remaining(mesh) == 1.0


@pytest.mark.parametrize("timed_out", [False, True], ids=["cancelled", "timed out"])
def test_a_query_stopped_before_its_release_gives_the_epsilon_back(tmp_path: Path, timed_out: bool) -> None:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0)
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        rita = mesh.authenticate("rita", "r")
        mesh.query(SQL, rita).read_all()   # planned and cached: the next run reserves, then stops in the executor
        stopped = CancelScope()
        stopped.cancel(timed_out=timed_out)
        with pytest.raises(QueryTimeout if timed_out else QueryCancelled):
            mesh.query(SQL, rita, cancel=stopped).read_all()
        assert remaining(mesh) == pytest.approx(0.95)


def test_the_state_store_path_comes_from_the_descriptor(tmp_path: Path) -> None:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0, state={"path": "elsewhere/ledger.sqlite"})
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh:
        mesh.query(SQL, mesh.authenticate("rita", "r")).read_all()
    assert (tmp_path / "elsewhere" / "ledger.sqlite").is_file()
    assert not (tmp_path / "state").exists()


def _client(server: FlightMeshServer) -> Any:
    return dbapi.connect(f"grpc://127.0.0.1:{server.port}", db_kwargs={"username": "rita", "password": "r"},
                         autocommit=True)


@pytest.mark.postgresql
def test_two_servers_sharing_a_postgresql_ledger(tmp_path: Path, postgres_database: str) -> None:  # noqa: F811
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0,
                       state={"kind": "postgresql", "uri": postgres_database})
    with MeshRuntime.open(tmp_path / "mesh.yaml") as first, MeshRuntime.open(tmp_path / "mesh.yaml") as second, \
            FlightMeshServer(first, "grpc://127.0.0.1:0") as one, FlightMeshServer(second, "grpc://127.0.0.1:0") as two:
        clients = [_client(one if i % 2 else two) for i in range(50)]
        try:
            def run(index: int) -> None:
                with clients[index].cursor() as cursor:
                    cursor.execute(SQL)
                    cursor.fetch_arrow_table()

            answered, refused, others = race(50, run)
        finally:
            for client in clients:
                client.close()
        assert others == []
        assert (answered, refused) == (20, 30)
        assert remaining(first) == 0.0 and remaining(second) == 0.0
    assert not (tmp_path / "state").exists()   # nothing was kept in a local file


def test_a_released_result_through_flight_sql_carries_its_cost(tmp_path: Path) -> None:
    build_privacy_mesh(tmp_path, epsilon_per_query=0.05, budget=1.0)
    with MeshRuntime.open(tmp_path / "mesh.yaml") as mesh, FlightMeshServer(mesh, "grpc://127.0.0.1:0") as server:
        client = _client(server)
        try:
            with client.cursor() as cursor:
                cursor.execute(SQL)
                table = cursor.fetch_arrow_table()
        finally:
            client.close()
        assert table.num_rows == 4
        assert table.schema.metadata[b"flightmesh.privacy.epsilon"] == b"0.05"
        assert table.schema.field("n").metadata[b"flightmesh.privacy.noise_scale"] == b"200"
        assert remaining(mesh) == pytest.approx(0.95)
