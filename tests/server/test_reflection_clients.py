"""What reflecting clients see with the default settings: SQLAlchemy through sqlalchemy-adbc
(Superset's path), and ADBC get_objects at every depth, with column descriptions as
ARROW:FLIGHT:SQL:REMARKS."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
import sqlalchemy as sa
from sqlalchemy import types as sa_types

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.server.conftest import adbc_connect
from tests.server.support import MESH_YAML, PASSWORDS, Mesh

# The test mesh plus a product whose DuckDB table has unsigned integer columns.
COUNTERS_YAML = MESH_YAML.replace("users:\n", """\
  meters:
    engine: {kind: duckdb, path: data/meters.duckdb}
    tables:
      counters: {}
    columns:
      counters:
        reading: {description: "last reading, in kWh"}
    access: {read: [analyst]}

users:
""", 1)


@pytest.fixture(scope="module")
def reflected(mesh: Mesh) -> Iterator[FlightMeshServer]:
    with duckdb.connect(str(mesh.directory / "data" / "meters.duckdb")) as meters:
        meters.execute("CREATE OR REPLACE TABLE counters (id UTINYINT, site USMALLINT, reading UINTEGER, "
                       "total UBIGINT, label VARCHAR)")
        meters.execute("INSERT INTO counters VALUES (1, 2, 3, 18446744073709551615, 'a')")
    descriptor = mesh.directory / "mesh_meters.yaml"
    descriptor.write_text(COUNTERS_YAML)
    with MeshRuntime.open(descriptor) as runtime, FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        yield server


@pytest.fixture
def engines() -> Iterator[list[sa.Engine]]:
    """Engines made in a test are disposed after it (their pooled ADBC connections closed)."""
    made: list[sa.Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def _engine(server: FlightMeshServer, made: list[sa.Engine], user: str = "alice") -> sa.Engine:
    # sqlalchemy-adbc sends the URL's password as a bearer token (no handshake): use a token the
    # server issued at a Basic handshake, as a BI tool configured with one would.
    import pyarrow.flight as flight

    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    _, value = client.authenticate_basic_token(user, PASSWORDS[user])
    token = value.decode().removeprefix("Bearer ")
    # autocommit: the server has no transactions (ADBC would otherwise warn that it cannot disable it).
    # One pooled connection is reused: closing an ADBC connection sends CloseSession, which revokes
    # the session's token, so a second connection with the same token would be refused.
    made.append(sa.create_engine(f"adbc+flightsql://{user}:{token}@127.0.0.1:{server.port}/?tls=false",
                                 connect_args={"autocommit": True}))
    return made[-1]


def test_sqlalchemy_lists_tables_and_columns_with_default_settings(
    reflected: FlightMeshServer, engines: list[sa.Engine]
) -> None:
    inspector = sa.inspect(_engine(reflected, engines))
    assert "sales" in inspector.get_schema_names()
    assert inspector.get_table_names(schema="sales") == ["orders"]
    assert inspector.get_table_names(schema="meters") == ["counters"]
    columns = {column["name"]: column["type"] for column in inspector.get_columns("orders", schema="sales")}
    assert isinstance(columns["order_id"], sa_types.BigInteger)
    assert isinstance(columns["amount"], sa_types.Float)
    assert isinstance(columns["order_date"], sa_types.Date)


def test_unsigned_integers_reflect_as_types_sqlalchemy_knows(
    reflected: FlightMeshServer, engines: list[sa.Engine]
) -> None:
    inspector = sa.inspect(_engine(reflected, engines))
    types = {column["name"]: column["type"] for column in inspector.get_columns("counters", schema="meters")}
    assert isinstance(types["id"], sa_types.SmallInteger)
    assert isinstance(types["site"], sa_types.Integer)
    assert isinstance(types["reading"], sa_types.BigInteger)
    assert isinstance(types["total"], sa_types.Numeric)
    assert not any(isinstance(kind, sa_types.NullType) for kind in types.values())


def test_bob_sees_only_his_tables_through_sqlalchemy(reflected: FlightMeshServer, engines: list[sa.Engine]) -> None:
    inspector = sa.inspect(_engine(reflected, engines, "bob"))
    assert inspector.get_schema_names() == ["sales"]
    assert inspector.get_table_names(schema="meters") == []


@pytest.mark.parametrize("depth", ["catalogs", "db_schemas", "tables", "columns", "all"])
def test_adbc_get_objects_at_every_depth(reflected: FlightMeshServer, depth: str) -> None:
    with adbc_connect(reflected) as connection:
        objects = connection.adbc_get_objects(depth=depth).read_all().to_pylist()
    assert [catalog["catalog_name"] for catalog in objects] == ["acme"]
    if depth == "catalogs":
        return
    schemas = {schema["db_schema_name"]: schema for schema in objects[0]["catalog_db_schemas"]}
    assert {"sales", "crm", "catalog", "telemetry", "meters"} <= set(schemas)
    if depth == "db_schemas":
        return
    tables = {table["table_name"]: table for table in schemas["meters"]["db_schema_tables"]}
    assert tables["counters"]["table_type"] == "table"
    if depth == "tables":
        return
    columns = {column["column_name"]: column for column in tables["counters"]["table_columns"]}
    assert columns["reading"]["xdbc_type_name"] == "BIGINT"  # a UINTEGER, named as a standard type
    # ADBC's Flight SQL driver (1.13) builds get_objects' columns from table_schema's field metadata
    # but maps only TYPE_NAME, the scope names and IS_AUTO_INCREMENT: its ``remarks`` stays null
    # whatever the server sends. The description travels as ARROW:FLIGHT:SQL:REMARKS, which the
    # JDBC driver reads (getColumns REMARKS) and ADBC's get_table_schema keeps:
    assert all(column["remarks"] is None for column in columns.values())
    with adbc_connect(reflected) as connection:
        schema = connection.adbc_get_table_schema("counters", db_schema_filter="meters")
        orders = connection.adbc_get_table_schema("orders", db_schema_filter="sales")
    assert schema.field("reading").metadata[b"ARROW:FLIGHT:SQL:REMARKS"] == b"last reading, in kWh"
    assert b"ARROW:FLIGHT:SQL:REMARKS" not in schema.field("label").metadata
    assert orders.field("amount").metadata[b"ARROW:FLIGHT:SQL:REMARKS"] == b"order value in EUR"



def test_pandas_reads_through_sqlalchemy(reflected: FlightMeshServer, engines: list[sa.Engine],
                                         mesh: Mesh) -> None:
    """pandas.read_sql over the sqlalchemy-adbc engine (Superset's path), against DuckDB over the same rows."""
    import pandas as pd

    sql = "SELECT customer_id, count(*) AS n FROM {orders} GROUP BY 1 ORDER BY 1"
    frame = pd.read_sql(sql.format(orders="sales.orders"), _engine(reflected, engines))
    expected = mesh.oracle(sql.format(orders="orders")).to_pylist()
    assert len(expected) > 0
    assert frame.to_dict("records") == expected
