"""Catalog metadata: exact schemas, ADBC get_objects / get_table_schema / get_table_types, filters,
and visibility per principal."""

from __future__ import annotations

import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, sql
from flightmesh.server.metadata import like_matcher
from tests.server.conftest import adbc_connect, flight_client
from tests.server.doubles import CatalogRuntime
from tests.server.support import Mesh

# The reference schemas (C++ SqlSchema / Go schema_ref), written out here independently.
U, NN = pa.utf8(), False
CATALOGS = pa.schema([pa.field("catalog_name", U, NN)])
DB_SCHEMAS = pa.schema([pa.field("catalog_name", U), pa.field("db_schema_name", U, NN)])
TABLES = pa.schema([pa.field("catalog_name", U), pa.field("db_schema_name", U),
                    pa.field("table_name", U, NN), pa.field("table_type", U, NN)])
TABLES_WITH_SCHEMA = TABLES.append(pa.field("table_schema", pa.binary(), NN))
TABLE_TYPES = pa.schema([pa.field("table_type", U, NN)])
PRIMARY_KEYS = pa.schema([pa.field("catalog_name", U), pa.field("db_schema_name", U),
                          pa.field("table_name", U, NN), pa.field("column_name", U, NN),
                          pa.field("key_sequence", pa.int32(), NN), pa.field("key_name", U)])
FOREIGN_KEYS = pa.schema([
    pa.field("pk_catalog_name", U), pa.field("pk_db_schema_name", U), pa.field("pk_table_name", U, NN),
    pa.field("pk_column_name", U, NN), pa.field("fk_catalog_name", U), pa.field("fk_db_schema_name", U),
    pa.field("fk_table_name", U, NN), pa.field("fk_column_name", U, NN),
    pa.field("key_sequence", pa.int32(), NN), pa.field("fk_key_name", U), pa.field("pk_key_name", U),
    pa.field("update_rule", pa.uint8(), NN), pa.field("delete_rule", pa.uint8(), NN)])

# What each product's engine holds, as the test mesh wrote it.
ALL_TABLES = [("catalog", "products"), ("crm", "customers"), ("sales", "orders"), ("telemetry", "events")]
ORDERS = pa.schema([("order_id", pa.int64()), ("customer_id", pa.int64()), ("product_id", pa.int64()),
                    ("quantity", pa.int32()), ("amount", pa.float64()), ("order_date", pa.date32())])


def _fetch(  # type: ignore[no-untyped-def]
    server: FlightMeshServer, command, user: str = "alice"
) -> tuple[pa.Schema, list[pa.RecordBatch]]:
    client, options = flight_client(server, user)
    descriptor = flight.FlightDescriptor.for_command(pack(command))
    info = client.get_flight_info(descriptor, options)
    assert client.get_schema(descriptor, options).schema.equals(info.schema)
    reader = client.do_get(info.endpoints[0].ticket, options)
    batches = [chunk.data for chunk in reader]
    assert reader.schema.equals(info.schema)
    return info.schema, batches


@pytest.mark.parametrize(("command", "expected"), [
    (sql.CommandGetCatalogs(), CATALOGS),
    (sql.CommandGetDbSchemas(), DB_SCHEMAS),
    (sql.CommandGetTables(), TABLES),
    (sql.CommandGetTables(include_schema=True), TABLES_WITH_SCHEMA),
    (sql.CommandGetTableTypes(), TABLE_TYPES),
    (sql.CommandGetPrimaryKeys(table="orders"), PRIMARY_KEYS),
    (sql.CommandGetImportedKeys(table="orders"), FOREIGN_KEYS),
    (sql.CommandGetExportedKeys(table="orders"), FOREIGN_KEYS),
    (sql.CommandGetCrossReference(pk_table="customers", fk_table="orders"), FOREIGN_KEYS),
], ids=["catalogs", "db_schemas", "tables", "tables_with_schema", "table_types", "primary_keys",
        "imported_keys", "exported_keys", "cross_reference"])
def test_exact_schemas_in_flight_info_get_schema_and_stream(  # type: ignore[no-untyped-def]
    server: FlightMeshServer, command, expected
) -> None:
    schema, batches = _fetch(server, command)
    assert schema.equals(expected, check_metadata=True)
    assert len(batches) == 1  # everything in the first batch
    assert batches[0].schema.equals(expected)


def test_key_commands_answer_empty(server: FlightMeshServer) -> None:
    for command in (sql.CommandGetPrimaryKeys(table="orders"), sql.CommandGetImportedKeys(table="orders"),
                    sql.CommandGetExportedKeys(table="orders")):
        _, batches = _fetch(server, command)
        assert sum(batch.num_rows for batch in batches) == 0


def test_adbc_get_objects_all_for_alice(server: FlightMeshServer) -> None:
    with adbc_connect(server, "alice") as connection:
        objects = connection.adbc_get_objects(depth="all").read_all().to_pylist()
    assert [catalog["catalog_name"] for catalog in objects] == ["acme"]
    listed = {
        (schema["db_schema_name"], table["table_name"]): table
        for schema in objects[0]["catalog_db_schemas"] for table in schema["db_schema_tables"]
    }
    assert sorted(listed) == ALL_TABLES
    orders = listed[("sales", "orders")]
    assert orders["table_type"] == "table"  # the default, settings.table_type_case: lower
    columns = [(column["column_name"], column["ordinal_position"], column["xdbc_type_name"])
               for column in orders["table_columns"]]
    assert columns == [("order_id", 1, "BIGINT"), ("customer_id", 2, "BIGINT"), ("product_id", 3, "BIGINT"),
                       ("quantity", 4, "INTEGER"), ("amount", 5, "DOUBLE"), ("order_date", 6, "DATE")]


@pytest.mark.parametrize(("user", "expected"), [("bob", [("sales", "orders")]), ("carol", [])])
def test_adbc_get_objects_lists_only_granted_products(  # type: ignore[no-untyped-def]
    server: FlightMeshServer, user: str, expected
) -> None:
    with adbc_connect(server, user) as connection:
        schemas = connection.adbc_get_objects(depth="db_schemas").read_all().to_pylist()
        tables = connection.adbc_get_objects(depth="tables").read_all().to_pylist()
    assert [catalog["catalog_name"] for catalog in schemas] == ["acme"]
    listed_schemas = [schema["db_schema_name"] for schema in schemas[0]["catalog_db_schemas"] or []]
    listed_tables = [
        (schema["db_schema_name"], table["table_name"])
        for schema in tables[0]["catalog_db_schemas"] or [] for table in schema["db_schema_tables"]
    ]
    assert sorted(listed_schemas) == sorted({product for product, _ in expected})
    assert sorted(listed_tables) == expected


def test_adbc_get_objects_depths_and_filters(server: FlightMeshServer) -> None:
    with adbc_connect(server) as connection:
        catalogs = connection.adbc_get_objects(depth="catalogs").read_all().to_pylist()
        filtered = connection.adbc_get_objects(
            depth="tables", db_schema_filter="%a%", table_name_filter="%r_%s"
        ).read_all().to_pylist()
        other_catalog = connection.adbc_get_objects(depth="tables", catalog_filter="elsewhere").read_all()
    assert [row["catalog_name"] for row in catalogs] == ["acme"]
    tables = [(s["db_schema_name"], t["table_name"]) for s in filtered[0]["catalog_db_schemas"]
              for t in s["db_schema_tables"]]
    # %a% keeps catalog and sales (not crm, telemetry); %r_%s keeps products and orders.
    assert sorted(tables) == [("catalog", "products"), ("sales", "orders")]
    assert other_catalog.num_rows == 0


def test_adbc_get_table_schema(server: FlightMeshServer) -> None:
    with adbc_connect(server) as connection:
        schema = connection.adbc_get_table_schema("orders", db_schema_filter="sales", catalog_filter="acme")
    assert schema.equals(ORDERS)  # names, types (metadata compared below)
    amount = schema.field("amount").metadata
    assert amount[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"DOUBLE"
    assert amount[b"ARROW:FLIGHT:SQL:TABLE_NAME"] == b"orders"
    assert amount[b"ARROW:FLIGHT:SQL:DB_SCHEMA_NAME"] == b"sales"
    assert amount[b"ARROW:FLIGHT:SQL:REMARKS"] == b"order value in EUR"


def test_adbc_get_table_schema_of_an_ungranted_table_is_not_found(server: FlightMeshServer) -> None:
    with adbc_connect(server, "bob") as connection, pytest.raises(adbc_driver_manager.Error) as failure:
        connection.adbc_get_table_schema("customers", db_schema_filter="crm")
    assert failure.value.status_code == adbc_driver_manager.AdbcStatusCode.NOT_FOUND


def test_adbc_get_table_types(server: FlightMeshServer) -> None:
    with adbc_connect(server) as connection:
        assert connection.adbc_get_table_types() == ["table"]


def test_get_tables_filters(server: FlightMeshServer) -> None:
    def tables(**fields) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        _, batches = _fetch(server, sql.CommandGetTables(**fields))
        rows = pa.Table.from_batches(batches).to_pylist()
        return [(row["db_schema_name"], row["table_name"]) for row in rows]

    assert tables() == ALL_TABLES  # ordered by schema, then table
    assert tables(table_types=["table"]) == ALL_TABLES  # types match either case
    assert tables(table_types=["VIEW"]) == []
    assert tables(catalog="acme", db_schema_filter_pattern="crm") == [("crm", "customers")]
    assert tables(catalog="ACME", table_name_filter_pattern="events") == [("telemetry", "events")]
    assert tables(catalog="") == []  # "" means: without a catalog
    assert tables(catalog="other") == []
    assert tables(db_schema_filter_pattern="_rm") == [("crm", "customers")]
    assert tables(table_name_filter_pattern="ORDERS") == []  # LIKE is case-sensitive


def test_get_tables_include_schema_is_the_ipc_schema_with_column_metadata(server: FlightMeshServer) -> None:
    _, batches = _fetch(server, sql.CommandGetTables(db_schema_filter_pattern="sales", include_schema=True))
    (row,) = pa.Table.from_batches(batches).to_pylist()
    schema = pa.ipc.read_schema(pa.py_buffer(row["table_schema"]))
    assert schema.equals(ORDERS)
    metadata = schema.field("order_date").metadata
    assert metadata[b"ARROW:FLIGHT:SQL:TYPE_NAME"] == b"DATE"
    assert metadata[b"ARROW:FLIGHT:SQL:CATALOG_NAME"] == b"acme"
    assert metadata[b"ARROW:FLIGHT:SQL:IS_READ_ONLY"] == b"1"


def test_a_catalog_ticket_answers_for_whoever_redeems_it(server: FlightMeshServer) -> None:
    alice, alice_options = flight_client(server, "alice")
    descriptor = flight.FlightDescriptor.for_command(pack(sql.CommandGetTables()))
    info = alice.get_flight_info(descriptor, alice_options)
    bob, bob_options = flight_client(server, "bob")
    seen_by_bob = bob.do_get(info.endpoints[0].ticket, bob_options).read_all()
    assert seen_by_bob.column("table_name").to_pylist() == ["orders"]


XDBC_TYPE_INFO = pa.schema([
    pa.field("type_name", U, NN), pa.field("data_type", pa.int32(), NN), pa.field("column_size", pa.int32()),
    pa.field("literal_prefix", U), pa.field("literal_suffix", U),
    pa.field("create_params", pa.list_(pa.field("item", U, NN))), pa.field("nullable", pa.int32(), NN),
    pa.field("case_sensitive", pa.bool_(), NN), pa.field("searchable", pa.int32(), NN),
    pa.field("unsigned_attribute", pa.bool_()), pa.field("fixed_prec_scale", pa.bool_(), NN),
    pa.field("auto_increment", pa.bool_()), pa.field("local_type_name", U), pa.field("minimum_scale", pa.int32()),
    pa.field("maximum_scale", pa.int32()), pa.field("sql_data_type", pa.int32(), NN),
    pa.field("datetime_subcode", pa.int32()), pa.field("num_prec_radix", pa.int32()),
    pa.field("interval_precision", pa.int32())])


def test_xdbc_type_info(server: FlightMeshServer) -> None:
    schema, batches = _fetch(server, sql.CommandGetXdbcTypeInfo())
    assert schema.equals(XDBC_TYPE_INFO, check_metadata=True) and len(batches) == 1
    rows = batches[0].to_pylist()
    assert [(row["data_type"], row["type_name"]) for row in rows] == sorted(
        (row["data_type"], row["type_name"]) for row in rows)  # the spec's order
    names = {row["type_name"] for row in rows}
    assert {"BIGINT", "DOUBLE", "DECIMAL", "VARCHAR", "DATE", "TIMESTAMP", "BOOLEAN"} <= names
    _, only = _fetch(server, sql.CommandGetXdbcTypeInfo(data_type=sql.XDBC_VARCHAR))
    assert [row["type_name"] for row in only[0].to_pylist()] == ["VARCHAR"]


def test_uppercase_table_types(mesh: Mesh, serve) -> None:  # type: ignore[no-untyped-def]
    """settings.table_type_case: upper, for clients that compare with TABLE exactly."""
    descriptor = mesh.directory / "mesh_upper.yaml"
    descriptor.write_text(mesh.descriptor.read_text() + "\nsettings:\n  table_type_case: upper\n")
    server = serve(CatalogRuntime(descriptor))
    with adbc_connect(server) as connection:
        assert connection.adbc_get_table_types() == ["TABLE"]
        objects = connection.adbc_get_objects(depth="tables", table_types_filter=["table"]).read_all()
    objects = objects.to_pylist()
    types = {t["table_type"] for s in objects[0]["catalog_db_schemas"] for t in s["db_schema_tables"]}
    assert types == {"TABLE"}


@pytest.mark.parametrize(("pattern", "name", "matches"), [
    ("%", "anything", True), ("", "", True), ("", "x", False),
    ("ord_rs", "orders", True), ("ord_rs", "ordrs", False), ("a_b", "a_b", True), ("a_b", "axb", True),
    ("a\\_b", "a_b", True), ("a\\_b", "axb", False), ("50\\%", "50%", True), ("50\\%", "500", False),
    ("a.b", "axb", False), ("sales%", "sales_eu", True), ("%s", "orders", True), ("%s", "order", False),
])
def test_like_patterns(pattern: str, name: str, matches: bool) -> None:
    assert (like_matcher(pattern).fullmatch(name) is not None) is matches
