"""Statistics where Spark keeps them: Sail keeps none, so a Sail product has no row count and no
column statistics (the analyzed case, Apache Spark, is in test_spark_jvm.py)."""

from __future__ import annotations

from pathlib import Path

from flightmesh.connectors.spark import SparkConnector
from flightmesh.connectors.stats import HasTableStatistics
from flightmesh.mesh.statistics import TableStatistics

from .dataset import ORDERS
from .harness import load_spark_views


def test_a_global_view_on_sail_has_no_statistics(sail_endpoint: str, tmp_path: Path) -> None:
    sources = load_spark_views(sail_endpoint, tmp_path, {"stats_orders": ORDERS})
    connector = SparkConnector("stats", sail_endpoint, pool_size=1)
    try:
        assert isinstance(connector, HasTableStatistics)
        source = sources["stats_orders"]
        assert connector.table_statistics(source, connector.describe(source)) == TableStatistics()
        assert connector.estimate_rows(source) is None
    finally:
        connector.close()
