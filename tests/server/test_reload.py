"""A live mesh: the descriptor and products/*.yaml change while the server runs (issue 13 item 2).

Through a real server: the ``reload`` action (and ``flightmesh reload``), refusals that keep the
running mesh, an administrator's action only, and a query in flight finishing under the policy it
started with while the next one sees the new one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import adbc_driver_flightsql.dbapi as dbapi
import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.cli import main
from flightmesh.server.messages import pack, sql

ROOT = Path(__file__).resolve().parents[2]

ROWS = 4_000_000
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "dora": "dora-pw"}


def _users(roles: dict[str, list[str]]) -> str:
    return "users:\n" + "".join(f"  {user}: {{password: {PASSWORDS[user]}, roles: {r}}}\n" for user, r in roles.items())


def _mesh(filters: str = "[{table: t, where: \"region = 'EU'\", for: [r]}]",
          bob: list[str] | None = None, extra_users: dict[str, list[str]] | None = None,
          access: str = "[r]") -> str:
    users = {"alice": ["r", "admin"], "bob": bob or ["r"], **(extra_users or {})}
    return ("mesh: {name: live}\n"
            "products:\n"
            f"  p: {{engine: {{kind: duckdb, path: p.duckdb}}, tables: {{t: {{}}}}, access: {{read: {access}}},\n"
            f"      policies: {{row_filters: {filters}}}}}\n"
            + _users(users) + "auth: {admin_roles: [admin]}\n")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Path, MeshRuntime, FlightMeshServer]]:
    with duckdb.connect(str(tmp_path / "p.duckdb")) as connection:
        connection.execute(f"CREATE TABLE t AS SELECT range AS a, CASE WHEN range % 2 = 0 THEN 'EU' ELSE 'US' END"
                           f" AS region FROM range({ROWS})")
    with duckdb.connect(str(tmp_path / "q.duckdb")) as connection:
        connection.execute("CREATE TABLE s AS SELECT range AS a, range * 10 AS b FROM range(5)")
    (tmp_path / "mesh.yaml").write_text(_mesh())
    with MeshRuntime.open(tmp_path / "mesh.yaml") as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        yield tmp_path, runtime, server


def _uri(server: Any) -> str:
    return f"grpc://127.0.0.1:{server.port}"


def _adbc(server: Any, user: str) -> Any:
    return dbapi.connect(_uri(server), db_kwargs={"username": user, "password": PASSWORDS[user]}, autocommit=True)


def _one(server: Any, user: str, statement: str) -> Any:
    with _adbc(server, user) as connection, connection.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchone()


def _reload(server: FlightMeshServer, user: str = "alice") -> dict[str, Any]:
    client = flight.connect(_uri(server))
    try:
        header = client.authenticate_basic_token(user, PASSWORDS[user])
        options = flight.FlightCallOptions(headers=[header])
        (result,) = list(client.do_action(flight.Action("reload", b""), options))
        reply: dict[str, Any] = json.loads(result.body.to_pybytes())
        return reply
    finally:
        client.close()


def test_a_new_product_and_user_are_served_after_a_reload(live, capsys) -> None:  # type: ignore[no-untyped-def]
    directory, runtime, server = live
    assert _one(server, "bob", "SELECT count(*) FROM p.t") == (ROWS // 2,)
    (directory / "products").mkdir()
    (directory / "products" / "q.yaml").write_text(
        "engine: {kind: duckdb, path: ../q.duckdb}\ntables: {s: {}}\naccess: {read: [r, reader]}\n")
    (directory / "mesh.yaml").write_text(_mesh(extra_users={"dora": ["reader"]}))
    status = main(["reload", "--uri", _uri(server), "-u", "alice", "-p", PASSWORDS["alice"]])
    out = capsys.readouterr().out
    assert status == 0
    assert "products added: q" in out and "tables added: q.s" in out and "users added: dora" in out
    # No restart: the new user reads the new product, and bob joins it with the old one.
    assert _one(server, "dora", "SELECT sum(b) FROM q.s") == (100,)
    assert _one(server, "bob", "SELECT count(*) FROM p.t AS x JOIN q.s AS y ON x.a = y.a") == (3,)
    (record,) = [r for r in runtime.audit.records() if r["kind"] == "reload"]
    assert record["outcome"] == "ok" and record["user"] == "alice"
    assert "q" in record["products"] and "q.s" in record["tables"] and "users added: dora" in record["statement"]


@pytest.mark.parametrize(("text", "expected"), [
    ("mesh: {name: live\nproducts: [", "mesh.yaml:"),
    (_mesh().replace("tables: {t: {}}", "tables: {t: {}}, colour: blue"), "colour"),
    (_mesh(filters="[{table: t, where: \"region = = 'EU'\", for: [r]}]"), "row_filter"),
])
def test_a_broken_reload_is_refused_and_the_mesh_keeps_serving(live, capsys, text, expected) -> None:  # type: ignore[no-untyped-def]
    directory, runtime, server = live
    before = runtime.catalog
    (directory / "mesh.yaml").write_text(text)
    reply = _reload(server)
    assert reply["reloaded"] is False
    assert any(expected in problem for problem in reply["problems"]), reply
    assert any(problem.startswith("mesh.yaml:") for problem in reply["problems"]), reply
    assert runtime.catalog is before
    assert _one(server, "bob", "SELECT count(*) FROM p.t") == (ROWS // 2,)
    status = main(["reload", "--uri", _uri(server), "-u", "alice", "-p", PASSWORDS["alice"]])
    err = capsys.readouterr().err
    assert status == 1 and "reload refused" in err and expected in err
    assert [r["outcome"] for r in runtime.audit.records() if r["kind"] == "reload"] == ["refused", "refused"]


def test_only_administrators_reload(live) -> None:  # type: ignore[no-untyped-def]
    _, runtime, server = live
    with pytest.raises(flight.FlightUnauthorizedError, match="administrators"):
        _reload(server, "bob")
    assert not [r for r in runtime.audit.records() if r["kind"] == "reload"]


def test_a_query_in_flight_finishes_under_the_old_policy(live) -> None:  # type: ignore[no-untyped-def]
    directory, _, server = live
    client = flight.connect(_uri(server))
    header = client.authenticate_basic_token("bob", PASSWORDS["bob"])
    options = flight.FlightCallOptions(headers=[header])
    query = sql.CommandStatementQuery(query="SELECT a, region FROM p.t")
    info = client.get_flight_info(flight.FlightDescriptor.for_command(pack(query)), options)
    reader = client.do_get(info.endpoints[0].ticket, options)
    first = reader.read_chunk().data
    assert 0 < first.num_rows < ROWS // 2
    deadline = time.monotonic() + 5
    while not server.tickets.running() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.tickets.running(), "the query is no longer in flight"
    # A changed row filter and a new role for bob, while his query streams.
    (directory / "mesh.yaml").write_text(_mesh(
        filters="[{table: t, where: \"region = 'US'\", for: [r]}, {table: t, where: 'a < 100', for: [x]}]",
        bob=["r", "x"], access="[r, x]"))
    reply = _reload(server)
    assert reply["reloaded"] is True and reply["changes"]["users"]["changed"] == ["bob"]
    rest = reader.read_all()
    seen = pa.concat_tables([pa.Table.from_batches([first]), rest])
    assert seen.num_rows == ROWS // 2 and set(seen.column("region").to_pylist()) == {"EU"}
    client.close()
    # The next query (with the same token) sees the new policy: US rows, and bob's new role's filter.
    assert _one(server, "bob", "SELECT count(*), min(region), max(region) FROM p.t") == (50, "US", "US")


class _Port:
    def __init__(self, port: int) -> None:
        self.port = port


def _eventually(condition: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except Exception:  # not yet: the reload runs on the server's own thread
            pass
        time.sleep(0.1)
    return bool(condition())


def test_sighup_reloads_the_served_mesh(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "p.duckdb")) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS a, 'EU' AS region FROM range(4)")
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(_mesh())
    log = tmp_path / "server.log"
    with log.open("w") as errors:
        process = subprocess.Popen([sys.executable, "-m", "flightmesh.server.cli", "serve", str(descriptor),
                                    "--port", "0"], stdout=subprocess.PIPE, stderr=errors, text=True, cwd=ROOT,
                                   env={**os.environ, "PYTHONWARNINGS": "error"})
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("flightmesh: serving"), banner + log.read_text()
        server = _Port(int(banner.rsplit("grpc://127.0.0.1:", 1)[1].split(";")[0]))
        with pytest.raises(dbapi.Error):
            _one(server, "dora", "SELECT 1")
        descriptor.write_text(_mesh(extra_users={"dora": ["r"]}))
        process.send_signal(signal.SIGHUP)
        assert _eventually(lambda: _one(server, "dora", "SELECT count(*) FROM p.t") == (4,)), log.read_text()
        descriptor.write_text("mesh: {name: live\nproducts: [")
        process.send_signal(signal.SIGHUP)
        assert _eventually(lambda: "refused, the running mesh is unchanged" in log.read_text()), log.read_text()
        assert "mesh.yaml:" in log.read_text().split("refused, the running mesh is unchanged", 1)[1]
        assert _one(server, "dora", "SELECT count(*) FROM p.t") == (4,)
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0 and "flightmesh: stopped" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
