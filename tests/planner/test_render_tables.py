"""engine_tree names each table the connector's way: the connector's answer for a source is kept
(it parses the name), and every fragment gets a copy of its own."""

from __future__ import annotations

from typing import Any, cast

from sqlglot import exp

from flightmesh.connectors import Connector
from flightmesh.planner.render import _table_expression


class _Naming:
    """The one method engine_tree asks of a connector, counting the calls."""

    def __init__(self) -> None:
        self.asked = 0

    def table_expression(self, source: str) -> exp.Table:
        self.asked += 1
        return exp.to_table(source, dialect="postgres")


def test_a_source_is_named_once_per_connector_and_each_caller_gets_its_own_copy() -> None:
    naming = _Naming()
    connector = cast(Connector, cast(Any, naming))
    first = _table_expression(connector, "sales.orders")
    first.set("alias", exp.TableAlias(this=exp.to_identifier("o")))  # engine_tree sets the alias
    second = _table_expression(connector, "sales.orders")
    assert second.sql("postgres") == "sales.orders"
    assert second is not first
    assert naming.asked == 1
    other = _Naming()
    assert _table_expression(cast(Connector, cast(Any, other)), "sales.orders").sql("postgres") == "sales.orders"
    assert other.asked == 1  # another connector (a reload's) is asked itself
