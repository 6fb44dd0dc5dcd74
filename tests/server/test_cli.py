"""The ``flightmesh`` command: check, query, explain in-process; serve and demo as real processes."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from flightmesh.server.app import FlightMeshServer
from flightmesh.server.cli import main
from flightmesh.server.table_format import format_cell, format_table
from tests.server.conftest import adbc_connect, uri_of
from tests.server.support import PASSWORDS, Mesh, build_mesh

ROOT = Path(__file__).resolve().parents[2]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _query(server: FlightMeshServer, *argv: str, user: str = "alice") -> list[str]:
    return ["query", "--uri", uri_of(server), "--user", user, "--password", PASSWORDS[user], *argv]


# -- check ---------------------------------------------------------------------------------------


def test_check_a_good_mesh(mesh: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "check", str(mesh.descriptor))
    assert status == 0
    assert out.rstrip().endswith("OK")
    assert "mesh 'acme': 4 products, 4 tables, 3 users" in out
    assert "  sales (duckdb)\n    orders (6 columns)" in out


def test_check_reports_every_descriptor_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "mesh.yaml"
    broken.write_text(
        "mesh:\n  name: acme\n  colour: blue\nproducts:\n  sales:\n    engine: {kind: duckdb}\n"
    )
    status, _, err = _run(capsys, "check", str(broken))
    assert status == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith("flightmesh: ") and "problem" in lines[0]
    assert any("mesh.colour" in line for line in lines[1:])
    assert any("path" in line for line in lines[1:])


def test_check_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(capsys, "check", str(tmp_path / "nope.yaml"))
    assert status == 1 and err.startswith("flightmesh: no such mesh descriptor")


def test_check_settings(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "check", "--settings")
    assert status == 0
    assert "token_ttl_seconds (default 28800.0" in out and "table_type_case" in out


# -- query, explain --------------------------------------------------------------------------------


def test_query_prints_an_aligned_table(server: FlightMeshServer, mesh: Mesh,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT country, count(*) AS n FROM crm.customers GROUP BY country ORDER BY country NULLS LAST"
    status, out, err = _run(capsys, *_query(server, sql))
    assert (status, err) == (0, "")
    expected = mesh.oracle(sql.replace("crm.customers", "customers")).to_pylist()
    lines = out.splitlines()
    assert lines[0] == " country | n"
    assert lines[1] == "---------+----"
    body = lines[2:-1]
    assert [line.split("|")[0].strip() for line in body] == [row["country"] or "NULL" for row in expected]
    assert [int(line.split("|")[1]) for line in body] == [row["n"] for row in expected]
    assert len({line.index("|") for line in lines if "|" in line}) == 1  # one column boundary: aligned
    assert lines[-1] == f"({len(expected)} rows)"


def test_query_password_from_the_environment(server: FlightMeshServer, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FLIGHTMESH_PASSWORD", PASSWORDS["bob"])
    sql = "SELECT count(*) AS n FROM sales.orders"
    status, out, _ = _run(capsys, "query", "--uri", uri_of(server), "--user", "bob", sql)
    assert status == 0 and "500" in out


@pytest.mark.parametrize(("sql", "user", "password", "expected"), [
    ("SELEC 1", "alice", None, "flightmesh: INVALID_ARGUMENT: SQL syntax error at line 1, column"),
    ("SELECT * FROM crm.customers", "bob", None, "flightmesh: NOT_FOUND: table crm.customers does not exist"),
    ("SELECT 1", "alice", "wrong", "UNAUTHENTICATED: invalid username or password"),
])
def test_query_errors_are_one_clear_line(
    server: FlightMeshServer, capsys: pytest.CaptureFixture[str], sql: str, user: str, password: str | None,
    expected: str,
) -> None:
    argv = _query(server, sql, user=user)
    if password is not None:
        argv[argv.index("--password") + 1] = password
    status, out, err = _run(capsys, *argv)
    assert status == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and expected in err
    assert "Traceback" not in err and "Detail" not in err


def test_query_cannot_connect(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["query", "--uri", "grpc://127.0.0.1:9", "-u", "alice", "-p", "x", "SELECT 1"]
    status, _, err = _run(capsys, *argv)
    assert status == 1 and err.startswith("flightmesh: cannot connect to grpc://127.0.0.1:9 as alice")
    assert len(err.strip().splitlines()) == 1


def test_query_without_a_password_and_no_terminal(server: FlightMeshServer, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FLIGHTMESH_PASSWORD", raising=False)
    status, _, err = _run(capsys, "query", "--uri", uri_of(server), "--user", "alice", "SELECT 1")
    assert status == 1 and "no password" in err


def test_explain_prints_the_steps(server: FlightMeshServer, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT c.country, count(*) FROM sales.orders o JOIN crm.customers c USING (customer_id) GROUP BY 1"
    status, out, _ = _run(capsys, *[arg if arg != "query" else "explain" for arg in _query(server, sql)])
    assert status == 0
    assert "fragment" in out and "products: sales" in out and "products: crm" in out
    assert '    SELECT "' in out  # each step's SQL, indented under it


# -- serve, demo (real processes) ------------------------------------------------------------------


def _start(*argv: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "flightmesh.server.cli", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("flightmesh: serving"):
            return process, "".join(lines)
    process.wait(timeout=10)
    errors = process.stderr.read() if process.stderr else ""
    raise AssertionError(f"the server did not start: {''.join(lines)} {errors}")


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def _stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    return process.returncode, out, err


def test_serve_runs_until_interrupted(tmp_path: Path, processes: list[subprocess.Popen[str]]) -> None:
    mesh = build_mesh(tmp_path, event_rows=10)
    process, banner = _start("serve", str(mesh.descriptor), "--port", "0")
    processes.append(process)
    assert "serving mesh 'acme' (4 products, 4 tables) on grpc://127.0.0.1:" in banner
    port = int(banner.rsplit("grpc://127.0.0.1:", 1)[1].split(";")[0])

    class _Server:  # what adbc_connect needs
        pass

    target = _Server()
    target.port = port  # type: ignore[attr-defined]
    with adbc_connect(target) as connection, connection.cursor() as cursor:  # type: ignore[arg-type]
        cursor.execute("SELECT count(*) FROM sales.orders JOIN crm.customers USING (customer_id)")
        assert cursor.fetchall() == [(500,)]
    status, out, err = _stop(process)
    assert status == 0, err
    assert "flightmesh: stopped" in out


def test_serve_a_broken_descriptor_fails_before_listening(tmp_path: Path) -> None:
    broken = tmp_path / "mesh.yaml"
    broken.write_text("mesh: {name: acme}\nproducts: {}\nusers: {alice: {roles: 3}}\n")
    command = [sys.executable, "-m", "flightmesh.server.cli", "serve", str(broken), "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("flightmesh: ") and "serving" not in result.stdout


def test_demo_writes_prints_users_and_serves(tmp_path: Path, processes: list[subprocess.Popen[str]]) -> None:
    pytest.importorskip("flightmesh.server.demo")
    process, banner = _start("demo", str(tmp_path / "demo"), "--port", "0")
    processes.append(process)
    assert f"demo mesh written to {tmp_path / 'demo' / 'mesh.yaml'}" in banner
    users = dict(line.strip().split(" / ") for line in banner.splitlines() if line.startswith("  "))
    assert users  # every demo user with the password to use
    port = int(banner.rsplit("grpc://127.0.0.1:", 1)[1].split(";")[0])
    user, password = next(iter(users.items()))
    status = main(["query", "--uri", f"grpc://127.0.0.1:{port}", "--user", user, "--password", password,
                   "SELECT 42 AS answer"])
    assert status == 0
    assert _stop(process)[0] == 0


# -- table formatting ------------------------------------------------------------------------------


def test_format_table() -> None:
    table = pa.table({
        "name": ["a", None, "a much longer name than the column header"],
        "n": pa.array([1, 22, None], pa.int64()),
        "price": [1.5, 7250.000000000002, 0.1],
        "day": [dt.date(2024, 1, 2), None, dt.date(2025, 12, 31)],
    })
    assert format_table(table, max_width=12).splitlines() == [
        " name         | n    | price | day",
        "--------------+------+-------+------------",
        " a            |    1 |   1.5 | 2024-01-02",
        " NULL         |   22 |  7250 | NULL",
        " a much long… | NULL |   0.1 | 2025-12-31",
        "(3 rows)",
    ]
    assert format_table(table, max_rows=1).splitlines()[-1] == "(showing the first 1 of 3 rows)"
    assert format_table(table.slice(0, 1)).splitlines()[-1] == "(1 row)"
    assert format_table(table.slice(0, 0)).splitlines()[-1] == "(0 rows)"


@pytest.mark.parametrize(("value", "text"), [
    (None, "NULL"), (True, "true"), (1e-9, "1e-09"), (float("nan"), "nan"), (b"\x01\xff", "\\x01ff"),
    ("two\nlines", "two\\nlines"), (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02 03:04:05"),
])
def test_format_cell(value: object, text: str) -> None:
    assert format_cell(value) == text
