"""Queries through Flight SQL: prepared statements (ADBC's path), parameters, the statement
fallback, GetSchema, and handles and tickets that belong to someone else.

Expected results come from DuckDB over the same data (``Mesh.oracle``), never from flightmesh.
"""

from __future__ import annotations

import adbc_driver_manager
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from google.protobuf import any_pb2

from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, sql
from tests.oracle import assert_same_result
from tests.server.conftest import adbc_connect, flight_client
from tests.server.support import Mesh

JOIN = """
    SELECT c.country, p.title, count(*) AS orders, sum(o.quantity) AS quantity
    FROM sales.orders AS o
    JOIN crm.customers AS c ON c.customer_id = o.customer_id
    JOIN catalog.products AS p ON p.product_id = o.product_id
    WHERE o.order_date >= DATE '2024-03-01'
    GROUP BY c.country, p.title
"""
ORACLE_JOIN = JOIN.replace("sales.orders", "orders").replace("crm.customers", "customers") \
    .replace("catalog.products", "products")
BY_CUSTOMER = (
    "SELECT order_id, amount FROM sales.orders WHERE customer_id = ? AND quantity >= ? ORDER BY order_id"
)
ORACLE_BY_CUSTOMER = (
    "SELECT order_id, amount FROM orders WHERE customer_id = {} AND quantity >= {} ORDER BY order_id"
)


def _prepare(client: flight.FlightClient, options: flight.FlightCallOptions, query: str):  # type: ignore[no-untyped-def]
    results = list(client.do_action(flight.Action("CreatePreparedStatement", pack(
        sql.ActionCreatePreparedStatementRequest(query=query))), options))
    assert len(results) == 1
    wrapper = any_pb2.Any.FromString(results[0].body.to_pybytes())
    result = sql.ActionCreatePreparedStatementResult()
    assert wrapper.Unpack(result), wrapper.type_url
    return result


def _descriptor(message) -> flight.FlightDescriptor:  # type: ignore[no-untyped-def]
    return flight.FlightDescriptor.for_command(pack(message))


def _run(client: flight.FlightClient, options: flight.FlightCallOptions, message) -> pa.Table:  # type: ignore[no-untyped-def]
    """GetFlightInfo + DoGet of every endpoint; checks the stream's schema is the announced one."""
    info = client.get_flight_info(_descriptor(message), options)
    tables = []
    for endpoint in info.endpoints:
        assert list(endpoint.locations) == []
        reader = client.do_get(endpoint.ticket, options)
        table = reader.read_all()
        assert table.schema.equals(info.schema), "DoGet schema differs from FlightInfo (nullability included)"
        tables.append(table)
    return pa.concat_tables(tables)


def test_cross_product_join_through_adbc(server: FlightMeshServer, mesh: Mesh) -> None:
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        cursor.execute(JOIN)
        actual = cursor.fetch_arrow_table()
    assert_same_result(actual, mesh.oracle(ORACLE_JOIN), ordered=False)


def test_prepared_statement_with_parameters_executed_several_times(
    server: FlightMeshServer, mesh: Mesh
) -> None:
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        for customer, quantity in [(8, 1), (8, 3), (15, 2), (49, 5), (999, 1)]:
            cursor.execute(BY_CUSTOMER, (customer, quantity))
            expected = mesh.oracle(ORACLE_BY_CUSTOMER.format(customer, quantity))
            assert_same_result(cursor.fetch_arrow_table(), expected, ordered=True, order_by=["order_id"])
        # ADBC re-executes the same SQL on the same cursor without preparing again.
        assert len(server.statements) == 1
    assert len(server.statements) == 0  # closing the cursor closed the statement


def test_several_parameter_rows_execute_once_each_and_concatenate(
    server: FlightMeshServer, mesh: Mesh
) -> None:
    rows = pa.record_batch(
        [pa.array([8, 15, 8], pa.int64()), pa.array([1, 2, 4], pa.int64())], names=["0", "1"]
    )
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        cursor.execute(BY_CUSTOMER, rows)
        actual = cursor.fetch_arrow_table()
    expected = pa.concat_tables(
        [mesh.oracle(ORACLE_BY_CUSTOMER.format(c, q)) for c, q in [(8, 1), (15, 2), (8, 4)]]
    )
    assert_same_result(actual, expected, ordered=True, order_by=None)


def test_adbc_execute_schema_is_the_prepared_dataset_schema(server: FlightMeshServer) -> None:
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        announced = cursor.adbc_execute_schema("SELECT order_id, amount, order_date FROM sales.orders")
        cursor.execute("SELECT order_id, amount, order_date FROM sales.orders")
        streamed = cursor.fetch_arrow_table().schema
    assert announced.equals(streamed)
    assert [(f.name, f.type) for f in announced] == [
        ("order_id", pa.int64()), ("amount", pa.float64()), ("order_date", pa.date32())]


def test_polars_and_pandas_read_through_the_adbc_connection(server: FlightMeshServer, mesh: Mesh) -> None:
    query = "SELECT product_id, title, price FROM catalog.products WHERE price > 10 ORDER BY product_id"
    expected = mesh.oracle(query.replace("catalog.products", "products"))
    with adbc_connect(server) as connection:
        frame = pl.read_database(query, connection)
        assert_same_result(frame.to_arrow(), expected, ordered=True, order_by=["product_id"])
        pandas_frame = pd.read_sql(query, connection)
        assert_same_result(pa.Table.from_pandas(pandas_frame, preserve_index=False), expected, ordered=True,
                           order_by=["product_id"])


def test_create_prepared_statement_result_is_complete(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    result = _prepare(client, options, BY_CUSTOMER)
    assert len(result.prepared_statement_handle) >= 16
    dataset = pa.ipc.read_schema(pa.py_buffer(result.dataset_schema))
    assert dataset.names == ["order_id", "amount"]
    parameters = pa.ipc.read_schema(pa.py_buffer(result.parameter_schema))
    assert parameters.names == ["0", "1"]
    assert result.HasField("is_update") and result.is_update is False
    # A statement without parameters still carries a (field-less) parameter schema.
    plain = _prepare(client, options, "SELECT 1 AS one")
    assert plain.parameter_schema and len(pa.ipc.read_schema(pa.py_buffer(plain.parameter_schema))) == 0


def test_flightsql_dbapi_union_parameters_and_handle_echo(server: FlightMeshServer, mesh: Mesh) -> None:
    """flightsql-dbapi sends each parameter as a dense union column named param_<n>."""
    client, options = flight_client(server)
    handle = _prepare(client, options, BY_CUSTOMER).prepared_statement_handle
    union_type = pa.dense_union([pa.field("int64", pa.int64()), pa.field("string", pa.utf8())])
    columns = [
        pa.UnionArray.from_dense(
            pa.array([0], pa.int8()), pa.array([0], pa.int32()),
            [pa.array([value], pa.int64()), pa.array([], pa.utf8())], ["int64", "string"],
        )
        for value in (15, 2)
    ]
    batch = pa.record_batch(columns, names=["param_0", "param_1"])
    assert batch.schema.field(0).type == union_type
    command = sql.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    writer, metadata = client.do_put(_descriptor(command), batch.schema, options)
    writer.write_batch(batch)
    writer.done_writing()
    echoed = sql.DoPutPreparedStatementResult.FromString(metadata.read().to_pybytes())
    writer.close()
    # JDBC and ADBC replace their handle with this one: never empty; it names the same statement,
    # and carries the rows (so another replica has them: test_replicas).
    assert echoed.prepared_statement_handle
    expected = mesh.oracle(ORACLE_BY_CUSTOMER.format(15, 2))
    again = sql.CommandPreparedStatementQuery(prepared_statement_handle=echoed.prepared_statement_handle)
    for same in (command, again):
        assert_same_result(_run(client, options, same), expected, ordered=True, order_by=["order_id"])


def test_statement_query_fallback_and_get_schema(server: FlightMeshServer, mesh: Mesh) -> None:
    """flightsql-dbapi (and ADBC without prepared statements) send CommandStatementQuery."""
    client, options = flight_client(server)
    command = sql.CommandStatementQuery(query=JOIN)
    actual = _run(client, options, command)
    assert_same_result(actual, mesh.oracle(ORACLE_JOIN), ordered=False)
    assert client.get_schema(_descriptor(command), options).schema.equals(actual.schema)


def test_get_schema_of_a_prepared_statement(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    prepared = _prepare(client, options, "SELECT title, price FROM catalog.products")
    command = sql.CommandPreparedStatementQuery(prepared_statement_handle=prepared.prepared_statement_handle)
    schema = client.get_schema(_descriptor(command), options).schema
    assert schema.equals(pa.ipc.read_schema(pa.py_buffer(prepared.dataset_schema)))
    assert schema.equals(_run(client, options, command).schema)


def test_a_ticket_is_single_use(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    info = client.get_flight_info(_descriptor(sql.CommandStatementQuery(query="SELECT 1 AS one")), options)
    assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 1
    with pytest.raises(pa.ArrowKeyError, match="ticket not found"):
        client.do_get(info.endpoints[0].ticket, options).read_all()


def test_another_users_ticket_is_not_found_and_stays_valid(server: FlightMeshServer) -> None:
    alice, alice_options = flight_client(server, "alice")
    bob, bob_options = flight_client(server, "bob")
    descriptor = _descriptor(sql.CommandStatementQuery(query="SELECT 1 AS one"))
    info = alice.get_flight_info(descriptor, alice_options)
    with pytest.raises(pa.ArrowKeyError, match="ticket not found"):
        bob.do_get(info.endpoints[0].ticket, bob_options).read_all()
    assert alice.do_get(info.endpoints[0].ticket, alice_options).read_all().num_rows == 1


def test_another_users_handle_is_not_found(server: FlightMeshServer) -> None:
    alice, alice_options = flight_client(server, "alice")
    bob, bob_options = flight_client(server, "bob")
    handle = _prepare(alice, alice_options, "SELECT 1 AS one").prepared_statement_handle
    command = sql.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    with pytest.raises(pa.ArrowKeyError, match="prepared statement not found"):
        bob.get_flight_info(_descriptor(command), bob_options)
    with pytest.raises(pa.ArrowKeyError, match="prepared statement not found"):
        bob.get_schema(_descriptor(command), bob_options)
    batch = pa.record_batch([pa.array([1])], names=["0"])
    writer, _ = bob.do_put(_descriptor(command), batch.schema, bob_options)
    with pytest.raises(pa.ArrowKeyError, match="prepared statement not found"):
        writer.write_batch(batch)
        writer.close()
    close = flight.Action("ClosePreparedStatement",
                          pack(sql.ActionClosePreparedStatementRequest(prepared_statement_handle=handle)))
    assert list(bob.do_action(close, bob_options)) == []  # closing is idempotent: nothing happens
    assert _run(alice, alice_options, command).num_rows == 1  # still alice's, untouched
    list(alice.do_action(close, alice_options))
    with pytest.raises(pa.ArrowKeyError, match="prepared statement not found"):
        alice.get_flight_info(_descriptor(command), alice_options)
    assert list(alice.do_action(close, alice_options)) == []  # closing twice is fine


def test_a_failed_prepare_leaves_nothing_registered(server: FlightMeshServer) -> None:
    before = len(server.statements)
    with adbc_connect(server) as connection, connection.cursor() as cursor:
        for bad in ("SELEC 1", "SELECT * FROM crm.nope", "DELETE FROM sales.orders"):
            with pytest.raises(adbc_driver_manager.Error):
                cursor.execute(bad)
            assert len(server.statements) == before
        cursor.execute("SELECT 3 AS three")  # and the connection is still usable
        assert cursor.fetchall() == [(3,)]


def test_missing_parameters_are_invalid_argument(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    handle = _prepare(client, options, BY_CUSTOMER).prepared_statement_handle
    command = sql.CommandPreparedStatementQuery(prepared_statement_handle=handle)
    with pytest.raises(pa.ArrowInvalid):
        client.get_flight_info(_descriptor(command), options)
    batch = pa.record_batch([pa.array([1])], names=["0"])  # one of two
    writer, _ = client.do_put(_descriptor(command), batch.schema, options)
    with pytest.raises(pa.ArrowInvalid, match="2 parameter"):
        writer.write_batch(batch)
        writer.close()


def test_updates_and_ingestion_are_refused_as_read_only(server: FlightMeshServer) -> None:
    client, options = flight_client(server)
    batch = pa.record_batch([pa.array([1])], names=["x"])
    for command in (sql.CommandStatementUpdate(query="DELETE FROM sales.orders"),
                    sql.CommandStatementIngest(table="orders", schema="sales")):
        writer, _ = client.do_put(_descriptor(command), batch.schema, options)
        with pytest.raises(flight.FlightUnauthorizedError, match="read-only"):
            writer.write_batch(batch)
            writer.close()
    with adbc_connect(server) as connection, connection.cursor() as cursor, \
            pytest.raises(adbc_driver_manager.Error) as failure:
        cursor.executemany("SELECT ? AS x", [(1,), (2,)])  # ADBC sends these as updates
    assert failure.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHORIZED
