"""Engine accounts that may do more than read are refused when the mesh opens (connectors/privileges.py).

Against the real PostgreSQL and MariaDB: each test makes a throwaway account with exactly the
grants it is about (``pg_account`` / ``mysql_account``), writes a one-product mesh that reads
a table with it, and opens the mesh as the server does. The read-only grants these tests accept
are the ones README "Engine accounts: least privilege" tells operators to give.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from flightmesh.connectors import FragmentQuery
from flightmesh.executor import MeshRuntime
from flightmesh.mesh import CancelScope, DescriptorError, EngineUnavailable, QueryCancelled, load_descriptor
from flightmesh.server.cli import main

from .conftest import MYSQL_READ_ONLY_GRANTS, PG_PORT, PG_READ_ONLY_GRANTS, mysql_connect, mysql_execute, pg_execute
from .proxy import Proxy

README = 'README, "Engine accounts: least privilege"'
ROWS = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Ben"}]


def write_mesh(folder: Path, kind: str, uri: str, *, source: str, allow: Any = None) -> Path:
    engine: dict[str, Any] = {"kind": kind, "uri": uri}
    if allow is not None:
        engine["allow_privileged"] = allow
    document = {
        "mesh": {"name": "acme"},
        "products": {"crm": {"engine": engine, "tables": {"customers": {"source": source}},
                             "access": {"read": ["analyst"]}}},
        "users": {"alice": {"password": "alice-pw", "roles": ["analyst"]}},
    }
    descriptor = folder / "mesh.yaml"
    descriptor.write_text(yaml.safe_dump(document, sort_keys=False))
    return descriptor


def refusal(descriptor: Path) -> str:
    """The one problem opening ``descriptor`` reports."""
    with pytest.raises(DescriptorError) as caught:
        MeshRuntime.open(descriptor).close()
    (problem,) = caught.value.problems
    line = next(number for number, text in enumerate(descriptor.read_text().splitlines(), 1)
                if text.strip().startswith("engine:"))
    # located like every descriptor problem, and it says what to do about it
    assert problem.startswith(f"mesh.yaml:{line + 1}: products.crm.engine: the engine account "), problem
    assert README in problem and "allow_privileged: true" in problem
    return problem


def read_customers(descriptor: Path) -> list[dict[str, Any]]:
    with MeshRuntime.open(descriptor) as runtime:
        assert runtime.warnings == []
        alice = runtime.authenticate("alice", "alice-pw")
        return runtime.query("SELECT id, name FROM crm.customers ORDER BY id", alice).read_all().to_pylist()


def cancel_slow(connector: Any, sql: str) -> float:
    """Run ``sql``, cancel it after half a second; the seconds it took to stop."""
    scope = CancelScope()
    timer = threading.Timer(0.5, scope.cancel)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(QueryCancelled):
            connector.execute(FragmentQuery(sql), scope).read_all()
    finally:
        timer.cancel()
    return time.monotonic() - started


def admin_rows(uri: str, sql: str) -> list[tuple[Any, ...]]:
    import adbc_driver_postgresql.dbapi as adbc_pg

    deadline = time.monotonic() + 3
    while True:
        with adbc_pg.connect(uri, autocommit=True) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            rows = [tuple(row) for row in cursor.fetchall()]
        if rows == [(0,)] or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


# -- PostgreSQL --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_table(postgres_database: str) -> str:
    # a schema of its own: the database is shared with the other connector tests
    pg_execute(postgres_database, "CREATE SCHEMA priv",
               "CREATE TABLE priv.customers (id int PRIMARY KEY, name text NOT NULL)",
               "INSERT INTO priv.customers VALUES (1, 'Ada'), (2, 'Ben')",
               "CREATE TABLE priv.undeclared (x int)")
    return "priv.customers"


@pytest.fixture
def pg_reader(pg_table: str, pg_account: Callable[..., str]) -> Callable[..., str]:
    """``reader(*extra)``: a least-privilege role for priv.customers, plus ``extra`` grants."""
    def make(*extra: str) -> str:
        grants = [grant.format(role="{role}", database="{database}", schema="priv", tables=pg_table)
                  for grant in PG_READ_ONLY_GRANTS]
        return pg_account(*grants, *extra)
    return make


@pytest.mark.postgresql
def test_pg_least_privilege_account_opens_and_reads(tmp_path: Path, pg_reader: Callable[..., str],
                                                    pg_table: str) -> None:
    uri = pg_reader()
    assert read_customers(write_mesh(tmp_path, "postgresql", uri, source=pg_table)) == ROWS


@pytest.mark.postgresql
def test_pg_superuser_is_refused(tmp_path: Path, postgres_database: str, pg_table: str) -> None:
    problem = refusal(write_mesh(tmp_path, "postgresql", postgres_database, source=pg_table))
    assert "is a superuser" in problem
    assert "postgres@127.0.0.1:5432/" in problem     # names the account, never a password


@pytest.mark.postgresql
def test_pg_server_file_and_signal_roles_are_named(tmp_path: Path, pg_reader: Callable[..., str],
                                                   pg_table: str) -> None:
    uri = pg_reader("GRANT pg_read_server_files TO {role}", "GRANT pg_signal_backend TO {role}")
    problem = refusal(write_mesh(tmp_path, "postgresql", uri, source=pg_table))
    assert "holds pg_read_server_files" in problem and "holds pg_signal_backend" in problem
    assert "superuser" not in problem


@pytest.mark.postgresql
def test_pg_role_reached_through_membership_is_named(tmp_path: Path, pg_reader: Callable[..., str],
                                                     pg_table: str) -> None:
    # pg_monitor brings pg_read_all_settings and pg_read_all_stats with it
    uri = pg_reader("GRANT pg_monitor TO {role}")
    problem = refusal(write_mesh(tmp_path, "postgresql", uri, source=pg_table))
    assert "holds pg_monitor" in problem and "holds pg_read_all_settings" in problem


@pytest.mark.postgresql
def test_pg_create_on_the_schema_is_refused(tmp_path: Path, pg_reader: Callable[..., str], pg_table: str) -> None:
    uri = pg_reader("GRANT CREATE ON SCHEMA priv TO {role}")
    problem = refusal(write_mesh(tmp_path, "postgresql", uri, source=pg_table))
    assert "may CREATE in schema priv" in problem


@pytest.mark.postgresql
def test_pg_create_granted_to_public_counts_until_revoked(tmp_path: Path, pg_reader: Callable[..., str],
                                                          pg_table: str, postgres_database: str) -> None:
    # PostgreSQL 14 and older grant CREATE on schema public to PUBLIC: README says to revoke it
    uri = pg_reader()
    descriptor = write_mesh(tmp_path, "postgresql", uri, source=pg_table)
    pg_execute(postgres_database, "GRANT CREATE ON SCHEMA priv TO PUBLIC")
    try:
        assert "may CREATE in schema priv" in refusal(descriptor)
    finally:
        pg_execute(postgres_database, "REVOKE CREATE ON SCHEMA priv FROM PUBLIC")
    assert read_customers(descriptor) == ROWS


@pytest.mark.postgresql
def test_pg_least_privilege_account_can_still_cancel_its_statements(pg_reader: Callable[..., str],
                                                                   postgres_database: str) -> None:
    from flightmesh.connectors.postgresql import PostgreSQLConnector

    connector = PostgreSQLConnector("crm", pg_reader())
    try:
        elapsed = cancel_slow(connector, "SELECT pg_sleep(30)::text AS slept")
        assert elapsed < 10
        running = admin_rows(postgres_database, "SELECT count(*) FROM pg_stat_activity "
                             "WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'")
        assert running == [(0,)]
    finally:
        connector.close()


@pytest.mark.postgresql
def test_pg_create_on_the_database_is_refused(tmp_path: Path, pg_reader: Callable[..., str],
                                              pg_table: str, postgres_database: str) -> None:
    uri = pg_reader('GRANT CREATE ON DATABASE "{database}" TO {role}')
    problem = refusal(write_mesh(tmp_path, "postgresql", uri, source=pg_table))
    assert f"may CREATE in database {postgres_database.rsplit('/', 1)[1]}" in problem


@pytest.mark.postgresql
def test_pg_writes_on_any_table_and_role_attributes_are_refused(tmp_path: Path, pg_reader: Callable[..., str],
                                                                pg_table: str) -> None:
    uri = pg_reader("GRANT INSERT, DELETE ON priv.customers TO {role}", "GRANT UPDATE (x) ON priv.undeclared TO {role}",
                    "ALTER ROLE {role} CREATEDB BYPASSRLS")
    problem = refusal(write_mesh(tmp_path, "postgresql", uri, source=pg_table))
    assert "may INSERT, DELETE on priv.customers" in problem
    assert "may UPDATE on priv.undeclared" in problem           # a column grant, on a table not declared
    assert "has CREATEDB, BYPASSRLS" in problem


@pytest.mark.postgresql
def test_pg_allow_privileged_opens_with_a_warning(tmp_path: Path, postgres_database: str, pg_table: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    descriptor = write_mesh(tmp_path, "postgresql", postgres_database, source=pg_table, allow=True)
    with caplog.at_level(logging.WARNING, logger="flightmesh.executor.runtime"), \
            MeshRuntime.open(descriptor) as runtime:
        (warning,) = runtime.warnings
        alice = runtime.authenticate("alice", "alice-pw")
        rows = runtime.query("SELECT id, name FROM crm.customers ORDER BY id", alice).read_all().to_pylist()
    assert rows == ROWS
    assert "is a superuser" in warning and "served anyway" in warning
    assert any("is a superuser" in record.getMessage() for record in caplog.records)


@pytest.mark.postgresql
def test_pg_engine_down_at_start_is_reviewed_when_it_comes_back(tmp_path: Path, postgres_database: str,
                                                                pg_reader: Callable[..., str],
                                                                pg_table: str) -> None:
    """Down at start: the mesh refuses to open, or opens without it with allow_unavailable; back up,
    a privileged account keeps it unavailable."""
    proxy = Proxy(PG_PORT)
    privileged = postgres_database.replace(f":{PG_PORT}/", f":{proxy.port}/")
    reader = pg_reader().replace(f":{PG_PORT}/", f":{proxy.port}/")
    try:
        for uri, refused in ((privileged, True), (reader, False)):
            folder = tmp_path / ("privileged" if refused else "reader")
            folder.mkdir()
            descriptor = write_mesh(folder, "postgresql", uri, source=pg_table)
            with pytest.raises(DescriptorError, match=r"products\.crm\.engine: engine unavailable"):
                MeshRuntime.open(descriptor)               # strict by default
            with MeshRuntime.open(descriptor, allow_unavailable=True) as runtime:
                assert "crm" in runtime.catalog.unavailable
                proxy.start()
                try:
                    runtime.refresh("crm")
                    alice = runtime.authenticate("alice", "alice-pw")
                    if refused:
                        assert "engine account" in runtime.catalog.unavailable["crm"]
                        with pytest.raises(EngineUnavailable, match="engine account") as caught:
                            runtime.query("SELECT * FROM crm.customers", alice).read_all()
                        assert caught.value.product == "crm"
                        runtime.refresh("crm")                        # asked again, still refused
                        assert "crm" in runtime.catalog.unavailable
                    else:
                        assert "crm" not in runtime.catalog.unavailable
                        rows = runtime.query("SELECT id, name FROM crm.customers ORDER BY id", alice)
                        assert rows.read_all().to_pylist() == ROWS
                finally:
                    proxy.stop()
    finally:
        proxy.stop()


# -- MariaDB -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mysql_table(mysql_database: str) -> str:
    # a name of its own: the database is shared with the other connector tests
    mysql_execute(mysql_database, "CREATE TABLE priv_customers (id int PRIMARY KEY, name varchar(20) NOT NULL)",
                  "INSERT INTO priv_customers VALUES (1, 'Ada'), (2, 'Ben')")
    return "priv_customers"


@pytest.fixture
def mysql_reader(mysql_table: str, mysql_account: Callable[..., str]) -> Callable[..., str]:
    """``reader(*extra)``: a user that may only SELECT in the product's database, plus ``extra``."""
    def make(*extra: str) -> str:
        return mysql_account(*MYSQL_READ_ONLY_GRANTS, *extra)
    return make


@pytest.mark.mysql
def test_mysql_select_only_user_opens_and_reads(tmp_path: Path, mysql_reader: Callable[..., str],
                                                mysql_table: str) -> None:
    assert read_customers(write_mesh(tmp_path, "mysql", mysql_reader(), source=mysql_table)) == ROWS


@pytest.mark.mysql
def test_mysql_table_level_select_opens_and_reads(tmp_path: Path, mysql_account: Callable[..., str],
                                                  mysql_table: str) -> None:
    uri = mysql_account("GRANT SELECT ON `{database}`.priv_customers TO {user}")
    assert read_customers(write_mesh(tmp_path, "mysql", uri, source=mysql_table)) == ROWS


@pytest.mark.mysql
def test_mysql_select_only_user_can_still_cancel_its_statements(mysql_reader: Callable[..., str],
                                                                mysql_database: str) -> None:
    """KILL QUERY of one's own statement needs neither PROCESS nor SUPER (nor CONNECTION ADMIN)."""
    from flightmesh.connectors.mysql import MySQLConnector

    connector = MySQLConnector("crm", mysql_reader())
    try:
        assert cancel_slow(connector, "SELECT SLEEP(30) AS slept") < 10
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and mysql_sleeping(mysql_database):
            time.sleep(0.05)
        assert mysql_sleeping(mysql_database) == 0
    finally:
        connector.close()


def mysql_sleeping(admin_uri: str) -> int:
    connection = mysql_connect(admin_uri)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM information_schema.PROCESSLIST "
                           "WHERE INFO LIKE '%SELECT SLEEP(30)%' AND ID <> CONNECTION_ID()")
            return int(cursor.fetchone()[0])
    finally:
        connection.close()


@pytest.mark.mysql
def test_mysql_root_is_refused_naming_its_privileges(tmp_path: Path, mysql_database: str, mysql_table: str) -> None:
    problem = refusal(write_mesh(tmp_path, "mysql", mysql_database, source=mysql_table))
    assert "holds ALL PRIVILEGES on *.*" in problem
    assert all(name in problem for name in ("FILE", "SUPER", "PROCESS"))
    assert "WITH GRANT OPTION" in problem


@pytest.mark.mysql
def test_mysql_process_alone_is_refused(tmp_path: Path, mysql_reader: Callable[..., str], mysql_table: str) -> None:
    problem = refusal(write_mesh(tmp_path, "mysql", mysql_reader("GRANT PROCESS ON *.* TO {user}"),
                                 source=mysql_table))
    assert re.search(r"holds PROCESS on \*\.\*(;|\.)", problem), problem


@pytest.mark.mysql
def test_mysql_writes_on_the_database_and_a_column_are_refused(tmp_path: Path, mysql_reader: Callable[..., str],
                                                               mysql_table: str) -> None:
    uri = mysql_reader("GRANT INSERT, DELETE, CREATE ON `{database}`.* TO {user}",
                       "GRANT UPDATE (name) ON `{database}`.priv_customers TO {user}")
    problem = refusal(write_mesh(tmp_path, "mysql", uri, source=mysql_table))
    assert "holds INSERT, DELETE, CREATE on `" in problem
    assert "holds UPDATE (columns) on `" in problem


@pytest.mark.mysql
def test_mysql_select_everywhere_reads_the_password_hashes(tmp_path: Path, mysql_account: Callable[..., str],
                                                           mysql_table: str) -> None:
    problem = refusal(write_mesh(tmp_path, "mysql", mysql_account("GRANT SELECT ON *.* TO {user}"),
                                 source=mysql_table))
    assert "may SELECT every database (*.*)" in problem


@pytest.mark.mysql
def test_mysql_privileges_of_a_granted_role_are_named(tmp_path: Path, mysql_reader: Callable[..., str],
                                                      mysql_table: str) -> None:
    uri = mysql_reader("CREATE ROLE {name}_role", "GRANT FILE ON *.* TO {name}_role", "GRANT {name}_role TO {user}")
    problem = refusal(write_mesh(tmp_path, "mysql", uri, source=mysql_table))
    assert re.search(r"through role fm_account_\w+_role: holds FILE on \*\.\*", problem), problem


@pytest.mark.mysql
def test_mysql_allow_privileged_accepts_root(tmp_path: Path, mysql_database: str, mysql_table: str) -> None:
    descriptor = write_mesh(tmp_path, "mysql", mysql_database, source=mysql_table, allow=True)
    with MeshRuntime.open(descriptor) as runtime:
        (warning,) = runtime.warnings
        alice = runtime.authenticate("alice", "alice-pw")
        rows = runtime.query("SELECT id, name FROM crm.customers ORDER BY id", alice).read_all().to_pylist()
    assert rows == ROWS
    assert "ALL PRIVILEGES" in warning


# -- flightmesh check, the descriptor key ---------------------------------------------------------------


@pytest.mark.postgresql
def test_check_reports_a_privileged_account(tmp_path: Path, postgres_database: str, pg_table: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", str(write_mesh(tmp_path, "postgresql", postgres_database, source=pg_table))])
    err = capsys.readouterr().err
    assert status == 1
    assert "products.crm.engine: the engine account" in err and "is a superuser" in err


@pytest.mark.postgresql
def test_check_warns_about_an_allowed_privileged_account(tmp_path: Path, postgres_database: str, pg_table: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    descriptor = write_mesh(tmp_path, "postgresql", postgres_database, source=pg_table, allow=True)
    status = main(["check", str(descriptor)])
    captured = capsys.readouterr()
    assert status == 0 and captured.out.rstrip().endswith("OK")
    assert re.search(r"^warning: mesh\.yaml:\d+: products\.crm\.engine: .*is a superuser", captured.err, re.M)


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("postgresql", "yes", "products.crm.engine.allow_privileged: expected true or false, got str 'yes'"),
    ("mysql", 1, "products.crm.engine.allow_privileged: expected true or false"),
    ("flightsql", True, "products.crm.engine.allow_privileged: unknown key"),
])
def test_allow_privileged_is_a_boolean_of_server_engines_with_accounts(tmp_path: Path, kind: str, value: Any,
                                                                      expected: str) -> None:
    uri = {"postgresql": "postgresql://r@127.0.0.1/x", "mysql": "mysql://r@127.0.0.1/x",
           "flightsql": "grpc://127.0.0.1:1"}[kind]
    with pytest.raises(DescriptorError) as caught:
        load_descriptor(write_mesh(tmp_path, kind, uri, source="t", allow=value))
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_allow_privileged_is_read_as_typed() -> None:
    from flightmesh.mesh import EngineSpec

    assert EngineSpec("postgresql", uri="postgresql://r@h/d", options={"allow_privileged": True}).allow_privileged
    assert not EngineSpec("postgresql", uri="postgresql://r@h/d").allow_privileged
