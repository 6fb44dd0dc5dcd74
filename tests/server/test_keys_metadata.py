"""Primary and foreign keys through raw Flight SQL calls (ADBC does not fill table_constraints):
declared keys, keys read from the engine, exact schemas, and what each principal may see."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import DescriptorError, load_descriptor
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, sql
from tests.server.support import MESH_YAML, PASSWORDS, Mesh
from tests.server.test_catalog_metadata import FOREIGN_KEYS, PRIMARY_KEYS

# The test mesh, with keys declared on sales.orders (crm.customers' key is SQLite's own), a user
# who reads sales and catalog but not orders.product_id, and one who reads only sales.
KEYED_YAML = MESH_YAML.replace("      orders: {description: one row per order}\n", """\
      orders:
        description: one row per order
        primary_key: [order_id]
        foreign_keys:
          - {columns: [customer_id], references: {table: crm.customers, columns: [customer_id]}}
          - {columns: [product_id], references: {table: catalog.products, columns: [product_id]}}
""").replace("    access: {read: [analyst, sales]}\n", """\
    access: {read: [analyst, sales]}
    policies:
      deny_columns: [{table: orders, column: product_id, except: [analyst]}]
""").replace("""      products: {source: products.parquet}
    access: {read: [analyst]}""", """      products: {source: products.parquet}
    access: {read: [analyst, buyer]}""") + '  dave: {password: "dave-secret", roles: [sales, buyer]}\n'
USERS = {**PASSWORDS, "dave": "dave-secret"}


@pytest.fixture(scope="module")
def keyed(mesh: Mesh) -> Iterator[FlightMeshServer]:
    descriptor = mesh.directory / "mesh_keys.yaml"
    descriptor.write_text(KEYED_YAML)
    with MeshRuntime.open(descriptor) as runtime, FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        yield server


def _answer(server: FlightMeshServer, command: object, user: str = "alice") -> pa.Table:
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    options = flight.FlightCallOptions(headers=[client.authenticate_basic_token(user, USERS[user])])
    descriptor = flight.FlightDescriptor.for_command(pack(command))  # type: ignore[arg-type]
    info = client.get_flight_info(descriptor, options)
    reader = client.do_get(info.endpoints[0].ticket, options)
    table = reader.read_all()
    expected = PRIMARY_KEYS if isinstance(command, sql.CommandGetPrimaryKeys) else FOREIGN_KEYS
    assert info.schema.equals(expected, check_metadata=True) and table.schema.equals(expected)
    return table


def _fk(pk: tuple[str, str, str], fk: tuple[str, str, str], name: str, pk_name: str | None) -> dict[str, object]:
    return {"pk_catalog_name": "acme", "pk_db_schema_name": pk[0], "pk_table_name": pk[1], "pk_column_name": pk[2],
            "fk_catalog_name": "acme", "fk_db_schema_name": fk[0], "fk_table_name": fk[1], "fk_column_name": fk[2],
            "key_sequence": 1, "fk_key_name": name, "pk_key_name": pk_name, "update_rule": 3, "delete_rule": 3}


CUSTOMER_FK = _fk(("crm", "customers", "customer_id"), ("sales", "orders", "customer_id"),
                  "orders_customer_id_fkey", None)
PRODUCT_FK = _fk(("catalog", "products", "product_id"), ("sales", "orders", "product_id"),
                 "orders_product_id_fkey", None)


def test_declared_primary_key(keyed: FlightMeshServer) -> None:
    rows = _answer(keyed, sql.CommandGetPrimaryKeys(table="orders")).to_pylist()
    assert rows == [{"catalog_name": "acme", "db_schema_name": "sales", "table_name": "orders",
                     "column_name": "order_id", "key_sequence": 1, "key_name": "orders_pkey"}]


def test_primary_key_read_from_the_engine(keyed: FlightMeshServer) -> None:
    """crm.customers declares nothing: SQLite's INTEGER PRIMARY KEY is reported."""
    rows = _answer(keyed, sql.CommandGetPrimaryKeys(db_schema="crm", table="customers")).to_pylist()
    assert [(row["column_name"], row["key_sequence"]) for row in rows] == [("customer_id", 1)]
    assert _answer(keyed, sql.CommandGetPrimaryKeys(catalog="other", table="customers")).num_rows == 0


def test_imported_exported_and_cross_reference(keyed: FlightMeshServer) -> None:
    assert _answer(keyed, sql.CommandGetImportedKeys(table="orders")).to_pylist() == [PRODUCT_FK, CUSTOMER_FK]
    assert _answer(keyed, sql.CommandGetExportedKeys(db_schema="crm", table="customers")).to_pylist() == [CUSTOMER_FK]
    cross = sql.CommandGetCrossReference(pk_db_schema="catalog", pk_table="products", fk_table="orders")
    assert _answer(keyed, cross).to_pylist() == [PRODUCT_FK]
    assert _answer(keyed, sql.CommandGetCrossReference(pk_table="orders", fk_table="customers")).num_rows == 0


def test_keys_into_unreadable_tables_and_denied_columns_are_not_shown(keyed: FlightMeshServer) -> None:
    # bob reads only sales: the orders key is his, the keys into crm and catalog are not.
    assert _answer(keyed, sql.CommandGetPrimaryKeys(table="orders"), "bob").num_rows == 1
    assert _answer(keyed, sql.CommandGetImportedKeys(table="orders"), "bob").num_rows == 0
    assert _answer(keyed, sql.CommandGetPrimaryKeys(table="customers"), "bob").num_rows == 0
    assert _answer(keyed, sql.CommandGetExportedKeys(table="customers"), "bob").num_rows == 0
    # dave reads catalog too, but orders.product_id is denied to him: that key is not shown either.
    assert _answer(keyed, sql.CommandGetImportedKeys(table="orders"), "dave").num_rows == 0
    assert _answer(keyed, sql.CommandGetExportedKeys(table="products"), "dave").num_rows == 0
    assert _answer(keyed, sql.CommandGetExportedKeys(table="products"), "alice").to_pylist() == [PRODUCT_FK]


def _problems(mesh: Mesh, text: str) -> str:
    descriptor = mesh.directory / "bad_columns.yaml"
    descriptor.write_text(text)
    with pytest.raises(DescriptorError) as raised, MeshRuntime.open(descriptor):
        pass
    return str(raised.value)


def test_references_to_unknown_tables_are_refused(mesh: Mesh) -> None:
    descriptor = mesh.directory / "bad_ref.yaml"
    descriptor.write_text(KEYED_YAML.replace("table: crm.customers", "table: crm.clients")
                          .replace("table: catalog.products", "table: shop.products"))
    with pytest.raises(DescriptorError) as raised:
        load_descriptor(descriptor)
    message = str(raised.value)
    assert "bad_ref.yaml:" in message
    assert "products.sales.tables.orders.foreign_keys[0].references.table: no table 'clients' in product crm" in message
    assert "foreign_keys[1].references.table: no product 'shop' in the mesh" in message


def test_unknown_key_columns_are_refused_when_the_mesh_opens(mesh: Mesh) -> None:
    message = _problems(mesh, KEYED_YAML.replace("primary_key: [order_id]", "primary_key: [order_nr]")
                        .replace("columns: [customer_id]}}", "columns: [client_id]}}"))
    assert "products.sales.tables.orders.primary_key: table orders has no column 'order_nr'" in message
    assert ("foreign_keys[0].references.columns: table crm.customers has no column 'client_id'" in message)


def test_key_shapes_are_checked(mesh: Mesh) -> None:
    descriptor = mesh.directory / "bad_shape.yaml"
    descriptor.write_text(KEYED_YAML.replace("{columns: [customer_id], references: {table: crm.customers, "
                                             "columns: [customer_id]}}",
                                             "{columns: [customer_id, order_id], references: {table: crm.customers, "
                                             "columns: [customer_id]}}"))
    with pytest.raises(DescriptorError, match=r"references.columns: expected 2 column\(s\)"):
        load_descriptor(descriptor)
