"""Real ADBC-based tools against a real server: Harlequin's ADBC adapter loading its catalog, and
Polars ``read_database`` through ADBC. Each principal sees only what it may read.

The mesh is the server tests' mesh (tests/server/support.py) with one more grant: ``bob`` (role
``sales``) may also read ``crm.customers`` but not its ``country`` column (denied, except for
``analyst``). So ``alice`` reads everything, ``bob`` ``sales`` and ``crm`` without ``country``,
``carol`` nothing.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.server.conftest import adbc_connect, uri_of
from tests.server.support import MESH_YAML, PASSWORDS, build_mesh

# Schemas every principal may see whatever its grants: the system schemas (issue 12 item 1-2).
SYSTEM_SCHEMAS = {"mesh", "information_schema", "flightmesh"}

_CRM_ACCESS = "    access: {read: [analyst]}\n  catalog:"
_CRM_GOVERNED = (
    "    access: {read: [analyst, sales]}\n"
    "    policies:\n"
    "      deny_columns:\n"
    "        - {table: customers, column: country, except: [analyst]}\n"
    "  catalog:"
)

# What each principal may read: {product: {table: columns}}.
VISIBLE: dict[str, dict[str, dict[str, set[str]]]] = {
    "alice": {
        "sales": {"orders": {"order_id", "customer_id", "product_id", "quantity", "amount", "order_date"}},
        "crm": {"customers": {"customer_id", "name", "country"}},
        "catalog": {"products": {"product_id", "title", "price"}},
        "telemetry": {"events": {"event_id", "value"}},
    },
    "bob": {
        "sales": {"orders": {"order_id", "customer_id", "product_id", "quantity", "amount", "order_date"}},
        "crm": {"customers": {"customer_id", "name"}},
    },
    "carol": {},
}


def governed_mesh(directory: Path) -> Path:
    """The server tests' mesh with bob granted crm minus ``country``; the descriptor's path."""
    build_mesh(directory, event_rows=1_000)
    assert _CRM_ACCESS in MESH_YAML
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(MESH_YAML.replace(_CRM_ACCESS, _CRM_GOVERNED))
    return descriptor


@pytest.fixture(scope="module")
def governed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlightMeshServer]:
    descriptor = governed_mesh(tmp_path_factory.mktemp("clients"))
    with MeshRuntime.open(descriptor) as runtime, FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        yield server


def user_visible(tree: dict[str, dict[str, set[str]]]) -> dict[str, dict[str, set[str]]]:
    """``tree`` without the system schemas (their contents are another test's business)."""
    return {schema: tables for schema, tables in tree.items() if schema not in SYSTEM_SCHEMAS}


# -- Harlequin ---------------------------------------------------------------------------------------


class _DuckDB2Relation:
    def __init__(self, relation: Any) -> None:
        self.relation = relation

    def arrow(self) -> pa.Table:
        return self.relation.to_arrow_table()


class _DuckDB2Shim:
    """harlequin-adbc 0.1.2 (the latest release) post-filters the catalog with
    ``duckdb.sql("... FROM dbs ...").arrow().to_pylist()``; from DuckDB 1.4 on, ``.arrow()`` is a
    RecordBatchReader, which has no ``to_pylist``, so its catalog pane fails with this project's
    DuckDB 2 whatever the server. This stands in for the adapter's ``duckdb`` module only: the
    same query over the same local table, ``.arrow()`` giving a Table as DuckDB < 1.4 did.
    Everything else (connecting, get_objects, walking the tree, querying) is the adapter's own."""

    @staticmethod
    def sql(query: str) -> _DuckDB2Relation:
        caller = sys._getframe(1).f_locals
        connection = duckdb.connect()
        for name, value in caller.items():
            if isinstance(value, pa.Table):
                connection.register(name, value)
        return _DuckDB2Relation(connection.sql(query))


def harlequin_connection(server: FlightMeshServer, user: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Connect exactly as ``harlequin -a adbc --driver-type flightsql --db-kwargs ...`` does."""
    adapter_module = pytest.importorskip("harlequin_adbc.adapter")
    if not hasattr(duckdb.sql("SELECT 1").arrow(), "to_pylist"):
        monkeypatch.setattr(adapter_module, "duckdb", _DuckDB2Shim)
    adapter = adapter_module.HarlequinAdbcAdapter(
        conn_str=[uri_of(server)],
        driver_type="flightsql",
        db_kwargs_str=f"username={user};password={PASSWORDS[user]}",
    )
    return adapter.connect()


def catalog_tree(catalog: Any) -> tuple[str, dict[str, dict[str, set[str]]], dict[str, str]]:
    """(catalog name, {schema: {table: columns}}, {table label: query_name}) of a Harlequin catalog."""
    (database,) = catalog.items
    tree: dict[str, dict[str, set[str]]] = {}
    query_names: dict[str, str] = {}
    for schema in database.children:
        tables = tree.setdefault(schema.label, {})
        for table in schema.children:
            tables[table.label] = {column.label for column in table.children}
            query_names[f"{schema.label}.{table.label}"] = table.query_name
    return database.label, tree, query_names


# Harlequin connects without autocommit=True, so ADBC warns that a server without transactions
# cannot turn autocommit off; a Harlequin user sees that warning once per connection, harmlessly.
HARLEQUIN_WARNING = "ignore:Cannot disable autocommit:Warning"


@pytest.mark.filterwarnings(HARLEQUIN_WARNING)
@pytest.mark.parametrize("user", ["alice", "bob", "carol"])
def test_harlequin_loads_only_what_the_principal_may_read(
    governed_server: FlightMeshServer, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = harlequin_connection(governed_server, user, monkeypatch)
    try:
        catalog_name, tree, query_names = catalog_tree(connection.get_catalog())
        assert catalog_name == "acme"
        assert user_visible(tree) == VISIBLE[user]
        # Every relation the pane offers can be queried by the name Harlequin inserts for it:
        # "catalog"."schema"."table", with the catalog GetCatalogs reported.
        for label, query_name in sorted(query_names.items()):
            if label.split(".")[0] in SYSTEM_SCHEMAS:
                continue
            assert query_name.startswith('"acme".'), query_name
            cursor = connection.execute(f"SELECT * FROM {query_name} LIMIT 3")
            assert cursor is not None
            columns = {name for name, _ in cursor.columns()}
            product, table = label.split(".")
            assert columns == VISIBLE[user][product][table]
            assert cursor.set_limit(2).fetchall() is not None
            cursor.cur.close()
    finally:
        connection.conn.close()


@pytest.mark.filterwarnings(HARLEQUIN_WARNING)
# On a failed execute the adapter drops its ADBC cursor without closing it (ADBC then warns).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_harlequin_query_error_names_no_hidden_column(
    governed_server: FlightMeshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = pytest.importorskip("harlequin.exception")
    connection = harlequin_connection(governed_server, "bob", monkeypatch)
    try:
        with pytest.raises(errors.HarlequinQueryError) as raised:
            connection.execute('SELECT "country" FROM "acme"."crm"."customers"').fetchall()
        assert "country" in str(raised.value)          # the name bob wrote, nothing more
        with pytest.raises(errors.HarlequinQueryError):
            connection.execute('SELECT * FROM "acme"."catalog"."products"').fetchall()
        del raised
    finally:
        connection.conn.close()
        gc.collect()   # the adapter's dropped cursors warn here, under this test's filter


# -- Polars ------------------------------------------------------------------------------------------


def test_polars_read_database_through_adbc(governed_server: FlightMeshServer) -> None:
    pl = pytest.importorskip("polars")
    with adbc_connect(governed_server, "alice") as connection:
        frame = pl.read_database(
            "SELECT c.country, count(*) AS orders FROM sales.orders o "
            "JOIN crm.customers c ON c.customer_id = o.customer_id GROUP BY c.country ORDER BY c.country",
            connection,
        )
    assert frame.columns == ["country", "orders"]
    assert frame["orders"].sum() == 500
    assert set(frame["country"].drop_nulls()) == {"DE", "FR", "US", "JP"}


def test_polars_sees_only_granted_columns(governed_server: FlightMeshServer) -> None:
    pl = pytest.importorskip("polars")
    with adbc_connect(governed_server, "bob") as connection:
        frame = pl.read_database("SELECT * FROM crm.customers ORDER BY customer_id", connection)
        assert frame.columns == ["customer_id", "name"]
        assert frame.height == 50
        for hidden in ("SELECT country FROM crm.customers", "SELECT * FROM catalog.products"):
            with pytest.raises(Exception, match=r"(?i)does not exist|unknown|not found"):
                pl.read_database(hidden, connection)
    with (
        adbc_connect(governed_server, "carol") as connection,
        pytest.raises(Exception, match=r"(?i)does not exist|unknown|not found"),
    ):
        pl.read_database("SELECT * FROM sales.orders", connection)


def test_polars_frame_of_adbc_get_objects_lists_only_visible_tables(governed_server: FlightMeshServer) -> None:
    pl = pytest.importorskip("polars")
    with adbc_connect(governed_server, "bob") as connection:
        objects = pl.from_arrow(connection.adbc_get_objects(depth="tables").read_all())
    assert isinstance(objects, pl.DataFrame)
    tables = (
        objects.explode("catalog_db_schemas").unnest("catalog_db_schemas")
        .explode("db_schema_tables").unnest("db_schema_tables")
        .filter(~pl.col("db_schema_name").is_in(sorted(SYSTEM_SCHEMAS)))
    )
    assert sorted(zip(tables["db_schema_name"], tables["table_name"], strict=True)) == [
        ("crm", "customers"), ("sales", "orders")
    ]
