"""Policies fail closed: a policy that would silently protect nobody stops the mesh instead.

Issue 8, item 5. What is refused, and when:

* at load (``load_descriptor``, with ``file:line``): ``for: []``, a policy on a table the product
  does not declare, an empty column name, a bad or duplicate policy ``name``;
* when the mesh opens (``MeshRuntime.open``, ``flightmesh check``): a mask, deny or tagged column
  naming a column the engine's table does not have (case-insensitively, as SQL resolves names);
* at query time, for tables described after the mesh opened (a product unreachable at start, a
  schema change): the table is refused (AccessDenied), never served unprotected.

Policy names show in ``TablePolicy.display`` (what EXPLAIN prints); audit labels are unchanged.
The engines are real (SQLite, DuckDB, PostgreSQL when reachable); the expected rows are written
by hand from the data below.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from flightmesh.executor import MeshRuntime
from flightmesh.governance import policy_for
from flightmesh.governance.policies import POLICY_DISPLAY_KEY, POLICY_KEY, TABLE_KEY, visible_schema, wrap_table
from flightmesh.mesh import AccessDenied, DescriptorError, Principal, load_descriptor
from flightmesh.server.cli import main
from tests.connectors.proxy import Proxy
from tests.governance.govmesh import service

# The rows of p.t (DuckDB) and q.c (SQLite): (id, region, phone, ssn).
ROWS = [(1, "EMEA", "555-0101", "111"), (2, "US", "555-0202", "222"), (3, "EMEA", "555-0303", "333")]

USERS = """\
users:
  ann: {password: ann-pw, roles: [r, audit]}
  bob: {password: bob-pw, roles: [r]}
"""


def _write_engines(root: Path) -> None:
    connection = duckdb.connect(str(root / "d.duckdb"))
    connection.execute("CREATE TABLE t (id INTEGER, region VARCHAR, phone VARCHAR, ssn VARCHAR)")
    connection.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", ROWS)
    connection.close()
    with sqlite3.connect(root / "c.sqlite") as lite:
        lite.execute("CREATE TABLE c (id INTEGER, region TEXT, phone TEXT, ssn TEXT)")
        lite.executemany("INSERT INTO c VALUES (?, ?, ?, ?)", ROWS)
    lite.close()


def _mesh(root: Path, policies: str, *, columns: str = "", extra: str = "") -> Path:
    """A one-product mesh (p.t on DuckDB) with ``policies`` (indented under ``policies:``)."""
    if not (root / "d.duckdb").exists():
        _write_engines(root)
    text = (
        "mesh:\n  name: m\n"
        "products:\n"
        "  p:\n"
        "    engine: {kind: duckdb, path: d.duckdb}\n"
        "    tables: {t: {}}\n"
        "    access: {read: [r]}\n"
        + columns
        + "    policies:\n"
        + policies
        + extra
        + USERS
    )
    (root / "mesh.yaml").write_text(text)
    return root / "mesh.yaml"


def _problems(path: Path) -> list[str]:
    with pytest.raises(DescriptorError) as caught:
        load_descriptor(path)
    return caught.value.problems


def _open_problems(path: Path) -> list[str]:
    with pytest.raises(DescriptorError) as caught:
        MeshRuntime.open(path)
    return caught.value.problems


def _who(runtime: MeshRuntime, user: str) -> Principal:
    found = runtime.principal_for(user)
    assert found is not None
    return found


def _rows(runtime: MeshRuntime, sql: str, user: str) -> list[tuple[object, ...]]:
    table = runtime.query(sql, _who(runtime, user)).read_all()
    return [tuple(row.values()) for row in table.to_pylist()]


# -- at load ----------------------------------------------------------------------------------------


def test_an_empty_for_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _mesh(tmp_path, "      row_filters:\n"
                           "        - table: t\n"
                           "          where: \"region = 'EMEA'\"\n"
                           "          for: []\n")
    assert _problems(path) == [
        "mesh.yaml:12: products.p.policies.row_filters[0].for: expected at least one role "
        "(omit 'for' to apply the filter to everyone)"
    ]


def test_for_omitted_applies_to_everyone_and_an_empty_except_exempts_nobody(tmp_path: Path) -> None:
    path = _mesh(tmp_path, "      row_filters:\n"
                           "        - {table: t, where: \"region = 'EMEA'\"}\n"
                           "      masks:\n"
                           "        - {table: t, column: phone, with: \"'***'\", except: []}\n"
                           "      deny_columns:\n"
                           "        - {table: t, column: ssn, except: []}\n")
    with MeshRuntime.open(path) as runtime:
        for user in ("ann", "bob"):
            assert _rows(runtime, "SELECT * FROM p.t ORDER BY id", user) == [(1, "EMEA", "***"), (3, "EMEA", "***")]


@pytest.mark.parametrize(
    ("policies", "where"),
    [
        ("      row_filters:\n        - {table: nope, where: \"id = 1\"}\n", "row_filters[0].table"),
        ("      masks:\n        - {table: nope, column: phone, with: \"'x'\"}\n", "masks[0].table"),
        ("      deny_columns:\n        - {table: T, column: ssn}\n", "deny_columns[0].table"),
    ],
)
def test_a_policy_on_an_undeclared_table_is_refused(tmp_path: Path, policies: str, where: str) -> None:
    table = "T" if "deny" in where else "nope"  # names are matched as declared: `T` is not `t`
    assert _problems(_mesh(tmp_path, policies)) == [
        f"mesh.yaml:10: products.p.policies.{where}: no table {table!r} in this product"
    ]


@pytest.mark.parametrize("kind", ["masks", "deny_columns"])
def test_an_empty_column_name_is_refused(tmp_path: Path, kind: str) -> None:
    with_ = ", with: \"'x'\"" if kind == "masks" else ""
    path = _mesh(tmp_path, f"      {kind}:\n        - {{table: t, column: ' '{with_}}}\n")
    assert _problems(path) == [f"mesh.yaml:10: products.p.policies.{kind}[0].column: expected a column name"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("legal-hold", "policy name 'legal-hold' must be letters, digits and _ (not starting with a digit)"),
        ("1st", "policy name '1st' must be letters, digits and _ (not starting with a digit)"),
        ("''", "policy name '' must be letters, digits and _ (not starting with a digit)"),
        ("[a]", "expected a string, got a list"),
    ],
)
def test_a_bad_policy_name_is_refused(tmp_path: Path, name: str, problem: str) -> None:
    path = _mesh(tmp_path, f"      row_filters:\n        - {{name: {name}, table: t, where: \"id > 0\"}}\n")
    assert _problems(path) == [f"mesh.yaml:10: products.p.policies.row_filters[0].name: {problem}"]


def test_a_policy_name_is_unique_within_the_product(tmp_path: Path) -> None:
    path = _mesh(tmp_path, "      row_filters:\n"
                           "        - {name: hold, table: t, where: \"id > 0\"}\n"
                           "      masks:\n"
                           "        - {name: Hold, table: t, column: phone, with: \"'x'\"}\n")
    assert _problems(path) == [
        "mesh.yaml:12: products.p.policies.masks[0].name: policy name 'Hold' is used twice in this product "
        "(also at mesh.yaml:10: products.p.policies.row_filters[0].name)"
    ]


def test_the_same_policy_name_in_two_products_is_fine(tmp_path: Path) -> None:
    path = _mesh(tmp_path, "      row_filters:\n        - {name: hold, table: t, where: \"id > 0\"}\n",
                 extra="  q:\n    engine: {kind: sqlite, path: c.sqlite}\n    tables: {c: {}}\n"
                       "    policies:\n      row_filters:\n        - {name: hold, table: c, where: \"id > 0\"}\n")
    spec = load_descriptor(path)
    assert spec.products["p"].policies.row_filters[0].name == "hold"
    assert spec.products["q"].policies.row_filters[0].name == "hold"


# -- when the mesh opens ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policies", "problem"),
    [
        ("      masks:\n        - {table: t, column: phnoe, with: \"'x'\"}\n",
         "mesh.yaml:10: products.p.policies.masks[0].column: p.t has no column 'phnoe'"),
        ("      deny_columns:\n        - {table: t, column: snn}\n",
         "mesh.yaml:10: products.p.policies.deny_columns[0].column: p.t has no column 'snn'"),
        ("      row_filters:\n        - {table: t, where: \"regoin = 'EMEA'\", for: [r]}\n",
         "mesh.yaml:4: products.p: row_filter p.t[0]: p.t has no column 'regoin'"),
        # a mask exempting a role the filter is for was never checked at open before
        ("      row_filters:\n        - {table: t, where: \"id > 0\", for: [r]}\n"
         "      masks:\n        - {table: t, column: phone, with: \"left(phnoe, 3)\", except: [r]}\n",
         "mesh.yaml:4: products.p: mask p.t.phone: p.t has no column 'phnoe'"),
    ],
)
def test_a_policy_on_a_missing_column_stops_the_mesh(tmp_path: Path, policies: str, problem: str) -> None:
    path = _mesh(tmp_path, policies)
    load_descriptor(path)  # the descriptor alone is fine: only the engine knows the columns
    assert _open_problems(path) == [problem]


def test_a_tagged_missing_column_stops_the_mesh(tmp_path: Path) -> None:
    path = _mesh(tmp_path, "      row_filters: []\n",
                 columns="    columns:\n      t:\n        emial: {tags: [pii]}\n",
                 extra="governance:\n  tag_masks:\n    - {tag: pii, with: \"NULL\"}\n")
    assert _open_problems(path) == [
        "mesh.yaml:4: products.p.columns.t.emial: p.t has no column 'emial' (its tags would protect nothing)"
    ]


def test_columns_are_matched_case_insensitively(tmp_path: Path) -> None:
    path = _mesh(tmp_path, "      masks:\n        - {table: t, column: PHONE, with: \"'***'\"}\n"
                           "      deny_columns:\n        - {table: t, column: Ssn}\n")
    with MeshRuntime.open(path) as runtime:
        assert _rows(runtime, "SELECT * FROM p.t WHERE id = 2", "bob") == [(2, "US", "***")]


def test_a_tag_mask_no_column_carries_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _mesh(tmp_path, "      row_filters: []\n",
                 columns="    columns:\n      t:\n        phone: {tags: [pii]}\n",
                 extra="governance:\n  tag_masks:\n"
                       "    - {tag: pii, with: \"NULL\"}\n    - {tag: PII, with: \"NULL\"}\n")
    with caplog.at_level(logging.WARNING, logger="flightmesh.governance.policies"), MeshRuntime.open(path) as runtime:
        assert _rows(runtime, "SELECT phone FROM p.t WHERE id = 1", "bob") == [(None,)]
    assert [record.getMessage() for record in caplog.records] == [
        "governance.tag_masks[1]: no column carries tag 'PII'; the rule masks nothing"
    ]


def test_check_exits_non_zero_on_a_missing_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _mesh(tmp_path, "      deny_columns:\n        - {table: t, column: snn}\n")
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "mesh.yaml:10: products.p.policies.deny_columns[0].column: p.t has no column 'snn'" in err


def test_check_exits_non_zero_on_an_empty_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _mesh(tmp_path, "      row_filters:\n        - {table: t, where: \"id > 0\", for: []}\n")
    assert main(["check", str(path)]) == 1
    assert "products.p.policies.row_filters[0].for: expected at least one role" in capsys.readouterr().err


# -- tables described after the mesh opened ---------------------------------------------------------


def test_a_column_renamed_under_a_deny_is_refused_not_served(tmp_path: Path) -> None:
    """Before: the deny named a column that no longer existed, and the renamed column was served raw."""
    _write_engines(tmp_path)
    path = _mesh(tmp_path, "      deny_columns:\n        - {table: c, column: ssn, except: [audit]}\n")
    text = path.read_text().replace("  p:\n    engine: {kind: duckdb, path: d.duckdb}\n    tables: {t: {}}\n",
                                    "  p:\n    engine: {kind: sqlite, path: c.sqlite}\n    tables: {c: {}}\n")
    path.write_text(text)
    with MeshRuntime.open(path) as runtime:
        assert _rows(runtime, "SELECT * FROM p.c WHERE id = 1", "bob") == [(1, "EMEA", "555-0101")]
        with sqlite3.connect(tmp_path / "c.sqlite") as lite:
            lite.execute("ALTER TABLE c RENAME COLUMN ssn TO social")
        lite.close()
        runtime.refresh("p")
        for user in ("bob", "ann"):  # exempt or not: the table's policies no longer bind
            with pytest.raises(AccessDenied, match=r"the policies of p\.c cannot be applied"):
                runtime.query("SELECT * FROM p.c", _who(runtime, user)).read_all()
        table = runtime.catalog.lookup("p", "c", _who(runtime, "bob"))
        assert visible_schema(table, _who(runtime, "bob"), runtime.spec).names == []  # metadata: nothing


@pytest.fixture
def pg_database() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database and a role that may only read its tables; dropped afterwards."""
    if not service("PostgreSQL", "127.0.0.1", 5432):
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import adbc_driver_postgresql.dbapi as adbc_pg

    name = f"flightmesh_fc_{uuid.uuid4().hex[:10]}"
    reader = f"{name}_reader"
    admin_uri = "postgresql://postgres@127.0.0.1:5432/postgres"
    with adbc_pg.connect(admin_uri, autocommit=True) as admin, admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
        cursor.execute(f'CREATE ROLE "{reader}" LOGIN')
    try:
        with adbc_pg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as db, \
                db.cursor() as cursor:
            cursor.execute("CREATE TABLE t (id INTEGER, region TEXT, phone TEXT)")  # no ssn
            cursor.execute("CREATE TABLE ok (id INTEGER, region TEXT)")
            cursor.execute("INSERT INTO t VALUES (1, 'EMEA', '555-0101'), (2, 'US', '555-0202')")
            cursor.execute("INSERT INTO ok VALUES (1, 'EMEA'), (2, 'US')")
            cursor.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            cursor.execute(f'GRANT SELECT ON t, ok TO "{reader}"')
        yield name, reader
    finally:
        with adbc_pg.connect(admin_uri, autocommit=True) as admin, admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'DROP ROLE IF EXISTS "{reader}"')


@pytest.mark.parametrize(
    "policy",
    [
        "        - {table: t, column: ssn}\n",
        "        - {table: t, column: ssn, except: [r]}\n",
    ],
)
def test_a_product_unreachable_at_open_is_checked_when_described(tmp_path: Path, pg_database: tuple[str, str],
                                                                  policy: str) -> None:
    database, reader = pg_database
    proxy = Proxy(5432)  # not started: the engine is down when the mesh opens
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: m}\nproducts:\n  f:\n"
        f"    engine: {{kind: postgresql, uri: 'postgresql://{reader}@127.0.0.1:{proxy.port}/{database}'}}\n"
        "    tables: {t: {}, ok: {}}\n    access: {read: [r]}\n"
        "    policies:\n      row_filters:\n        - {table: ok, where: \"region = 'EMEA'\"}\n"
        f"      deny_columns:\n{policy}" + USERS
    )
    try:
        with pytest.raises(DescriptorError, match=r"products\.f\.engine: engine unavailable"):
            MeshRuntime.open(descriptor)  # strict by default: an unreachable engine refuses the mesh
        with MeshRuntime.open(descriptor, allow_unavailable=True) as runtime:  # f's columns cannot be known yet
            assert "f" in runtime.catalog.unavailable
            proxy.start()
            runtime.refresh("f")
            assert "f" not in runtime.catalog.unavailable
            with pytest.raises(AccessDenied, match=r"the policies of f\.t cannot be applied"):
                runtime.query("SELECT id FROM f.t", _who(runtime, "bob")).read_all()
            # the product's other table, whose policies bind, is served with them
            assert _rows(runtime, "SELECT * FROM f.ok", "bob") == [(1, "EMEA")]
        # reachable at open, the same descriptor does not open at all
        problems = _open_problems(descriptor)
        assert problems == ["mesh.yaml:11: products.f.policies.deny_columns[0].column: f.t has no column 'ssn'"]
    finally:
        proxy.stop()


# -- names -------------------------------------------------------------------------------------------


def test_policy_names_show_in_display_and_audit_labels_do_not_change(tmp_path: Path) -> None:
    path = _mesh(
        tmp_path,
        "      row_filters:\n"
        "        - {table: t, where: \"id > 0\"}\n"
        "        - {name: legal_hold, table: t, where: \"region = 'EMEA'\", for: [r]}\n"
        "      masks:\n"
        "        - {name: phone_last4, table: t, column: phone, with: \"'***' || right(phone, 4)\"}\n"
        "        - {table: t, column: region, with: \"'?'\", except: [audit]}\n"
        "        - {table: t, column: region, with: \"'!'\", except: [audit]}\n"
        "      deny_columns:\n"
        "        - {table: t, column: SSN}\n",
        columns="    columns:\n      t:\n        phone: {tags: [pii]}\n",
        extra="governance:\n  tag_masks:\n    - {tag: pii, with: \"NULL\", except: [audit]}\n",
    )
    with MeshRuntime.open(path) as runtime:
        table = runtime.catalog.lookup("p", "t", _who(runtime, "bob"))
        bob = policy_for(table, _who(runtime, "bob"), runtime.spec)
        assert bob.applied == (
            "row_filter p.t[0]", "row_filter p.t[1]", "deny p.t.SSN", "mask p.t.region", "mask p.t.region",
            "mask p.t.phone", "tag_mask pii p.t.phone",
        )
        assert bob.display == (
            "row filter #1 on p.t", "row filter `legal_hold` on p.t", "deny p.t.ssn",
            "mask #1 on p.t.region", "mask #2 on p.t.region",
            "mask `phone_last4` on p.t.phone", "tag mask `pii` on p.t.phone",
        )
        ann = policy_for(table, _who(runtime, "ann"), runtime.spec)  # exempt from the region masks, pii
        assert ann.display == (
            "row filter #1 on p.t", "row filter `legal_hold` on p.t", "deny p.t.ssn",
            "mask `phone_last4` on p.t.phone",
        )
        assert len(ann.applied) == len(ann.display)
        assert _rows(runtime, "SELECT * FROM p.t ORDER BY id", "ann") == [(1, "EMEA", "***0101"),
                                                                          (3, "EMEA", "***0303")]


def test_named_deny_shows_its_name(tmp_path: Path) -> None:
    path = _mesh(tmp_path, "      deny_columns:\n        - {name: no_ssn, table: t, column: ssn}\n")
    with MeshRuntime.open(path) as runtime:
        bob = _who(runtime, "bob")
        policy = policy_for(runtime.catalog.lookup("p", "t", bob), bob, runtime.spec)
        assert (policy.applied, policy.display) == (("deny p.t.ssn",), ("deny `no_ssn` on p.t.ssn",))


def test_names_reach_explain(tmp_path: Path) -> None:
    """wrap_table puts the names beside the audit labels; the planner's EXPLAIN lists them."""
    path = _mesh(tmp_path, "      row_filters:\n        - {name: legal_hold, table: t, where: \"id < 3\"}\n"
                           "      masks:\n        - {table: t, column: phone, with: \"'***'\"}\n")
    with MeshRuntime.open(path) as runtime:
        bob = _who(runtime, "bob")
        tree = sqlglot.parse_one("SELECT * FROM p.t AS x", read="duckdb")
        node = tree.find(exp.Table)
        assert node is not None
        node.meta[TABLE_KEY] = "p.t"
        subquery = wrap_table(node, policy_for(runtime.catalog.lookup("p", "t", bob), bob, runtime.spec))
        assert subquery.meta[POLICY_KEY] == ("row_filter p.t[0]", "mask p.t.phone")
        assert subquery.meta[POLICY_DISPLAY_KEY] == ("row filter `legal_hold` on p.t", "mask on p.t.phone")
        explain = runtime.query("EXPLAIN SELECT * FROM p.t", bob).read_all().to_pylist()
        details = " | ".join(row["detail"] for row in explain)
        assert "row filter `legal_hold` on p.t" in details and "mask on p.t.phone" in details
        assert _rows(runtime, "SELECT * FROM p.t ORDER BY id", "bob") == [(1, "EMEA", "***", "111"),
                                                                          (2, "US", "***", "222")]
