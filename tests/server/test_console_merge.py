"""The console's plan graph with the merge on Sail (``settings.merge_engine``), in a real browser.

The residual node carries the merge engine's kind (``data-engine``): ``sail`` when the residual
runs there, ``duckdb`` when a construct keeps it in the embedded DuckDB. The Sail is one the mesh
starts in its own process (``mode: local``). Without Chromium, Playwright or pysail: a visible skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.server import console_browser
from tests.server.console_browser import login, run

MESH = """\
mesh: {name: console_merge}
settings:
  merge_engine: {kind: sail, mode: local}
products:
  sales: {engine: {kind: duckdb, path: sales.duckdb}, tables: {orders: {}}, access: {read: [analyst]}}
  crm: {engine: {kind: duckdb, path: crm.duckdb}, tables: {customers: {}}, access: {read: [analyst]}}
users:
  alice: {password: "alice-secret", roles: [analyst]}
"""


@pytest.fixture(scope="module")
def console_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("pysail.spark")
    root: Path = tmp_path_factory.mktemp("console_merge")
    with duckdb.connect(str(root / "sales.duckdb")) as db:
        db.execute("CREATE TABLE orders AS SELECT range AS order_id, range % 20 AS customer_id, "
                   "CAST(range % 37 AS DOUBLE) AS amount FROM range(200)")
    with duckdb.connect(str(root / "crm.duckdb")) as db:
        db.execute("CREATE TABLE customers AS SELECT range AS customer_id, 'c' || range AS name FROM range(20)")
    (root / "mesh.yaml").write_text(MESH)
    with MeshRuntime.open(root / "mesh.yaml") as runtime:
        server = FlightMeshServer(runtime, http_port=0)
        try:
            assert server.http is not None
            yield f"http://127.0.0.1:{server.http.port}"
        finally:
            server.shutdown()


browser, new_page = console_browser.browser, console_browser.new_page  # the shared fixtures


def test_the_residual_node_names_the_merge_engine(new_page: Any, console_url: str) -> None:
    page = new_page(console_url + "/")
    login(page, "alice", "alice-secret")
    graph = page.get_by_test_id("plan-graph")
    run(page, "SELECT c.name, o.amount FROM sales.orders o JOIN crm.customers c ON c.customer_id = o.customer_id",
        button="explain-query")
    residual = graph.locator(".node.residual")
    assert residual.count() == 1 and residual.get_attribute("data-engine") == "sail"
    # string_agg is not among the Spark merge's constructs: this residual stays in DuckDB
    run(page, "SELECT c.name, string_agg(CAST(o.order_id AS VARCHAR), ',') AS ids FROM sales.orders o "
              "JOIN crm.customers c ON c.customer_id = o.customer_id GROUP BY c.name", button="explain-query")
    residual = graph.locator(".node.residual")
    assert residual.count() == 1 and residual.get_attribute("data-engine") == "duckdb"
