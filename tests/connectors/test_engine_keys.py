"""HasConstraints on the server engines: the keys PostgreSQL and MariaDB declare, as flightmesh reads them."""

from __future__ import annotations

import dataclasses

from flightmesh.connectors.mysql import MySQLConnector
from flightmesh.connectors.postgresql import PostgreSQLConnector
from flightmesh.mesh.constraints import EngineConstraints, EngineForeignKey
from tests.connectors.conftest import mysql_execute, pg_execute

_DDL = (
    "CREATE TABLE keys_customers (region INT, customer_id INT, name VARCHAR(20), PRIMARY KEY (region, customer_id))",
    "CREATE TABLE keys_orders (order_id INT PRIMARY KEY, region INT, customer_id INT, "
    "CONSTRAINT keys_orders_customer FOREIGN KEY (region, customer_id) "
    "REFERENCES keys_customers (region, customer_id) ON DELETE CASCADE)",
)
_ORDER_KEY = EngineForeignKey(("region", "customer_id"), "keys_customers", ("region", "customer_id"),
                              name="keys_orders_customer", update_rule=3, delete_rule=0)


def test_postgresql_constraints(postgres_database: str) -> None:
    pg_execute(postgres_database, "DROP TABLE IF EXISTS keys_orders", "DROP TABLE IF EXISTS keys_customers", *_DDL)
    connector = PostgreSQLConnector("p", postgres_database)
    try:
        orders = connector.constraints("keys_orders")
        assert orders.primary_key == ("order_id",) and orders.foreign_keys == (_ORDER_KEY,)
        assert connector.constraints("public.keys_customers").primary_key == ("region", "customer_id")
    finally:
        connector.close()


def test_mysql_constraints(mysql_database: str) -> None:
    mysql_execute(mysql_database, "DROP TABLE IF EXISTS keys_orders", "DROP TABLE IF EXISTS keys_customers", *_DDL)
    connector = MySQLConnector("p", mysql_database)
    try:
        # MariaDB reports its default ON UPDATE as RESTRICT (PostgreSQL: NO ACTION).
        restrict = dataclasses.replace(_ORDER_KEY, update_rule=1)
        assert connector.constraints("keys_orders") == EngineConstraints(("order_id",), None, (restrict,))
        assert connector.constraints("keys_customers").primary_key == ("region", "customer_id")
    finally:
        connector.close()
