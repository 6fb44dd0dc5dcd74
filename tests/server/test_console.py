"""The web console in a real browser: Playwright for Python driving Debian's Chromium
(``/usr/bin/chromium``; Playwright's own browser download cannot work here).

The mesh has three local engines (DuckDB, SQLite, Parquet), a masked column and a product the
restricted user may not read, and hostile markup in a product description and in a column value.
Expected rows come from DuckDB over the same Arrow tables (the oracle), never from the console.

Without Chromium (or Playwright) the tests skip, visibly; under CI=true that is a failure.
Screenshots for the README: ``CONSOLE_SCREENSHOTS=docs/images pytest tests/server/test_console.py -k screenshots``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.server import console_browser
from tests.server.console_browser import expect, login, post, result_rows, run

XSS_DESCRIPTION = 'Customers <img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
XSS_VALUE = '<img src=y onerror="window.__xss=3"><b>bold</b>'
# 4000^3 combinations under a condition no join algorithm or statistic shortcuts: minutes of DuckDB work
SLOW_SQL = ("SELECT count(*) AS n FROM sales.ticks a, sales.ticks b, sales.ticks c "
            "WHERE (a.n * 31 + b.n) % 997 + c.n * (a.n % 7) = 5")

MESH = """\
mesh: {{name: console}}
products:
  sales:
    domain: sales
    owner: sales@acme.example
    description: Orders from the order service
    engine: {{kind: duckdb, path: sales.duckdb}}
    tables:
      orders: {{description: one row per order}}
      ticks: {{description: numbers for slow questions}}
    columns:
      orders:
        amount: {{description: order value in EUR, tags: [money]}}
    access: {{read: [analyst, restricted]}}
  crm:
    domain: customers
    owner: crm@acme.example
    description: '{}'
    engine: {{kind: sqlite, path: crm.sqlite}}
    tables:
      customers: {{description: one row per customer}}
    columns:
      customers:
        email: {{tags: [pii], description: contact address}}
    access: {{read: [analyst, restricted]}}
    policies:
      masks:
        - {{table: customers, column: email, with: "'***'", except: [analyst]}}
  catalog:
    domain: merchandising
    description: The product catalog
    engine: {{kind: parquet, path: catalog}}
    tables:
      products: {{source: products.parquet}}
    access: {{read: [analyst, restricted]}}
  payroll:
    domain: hr
    description: Salaries, for analysts only
    engine: {{kind: duckdb, path: payroll.duckdb}}
    tables:
      salaries: {{}}
    access: {{read: [analyst]}}
auth: {{admin_roles: [analyst]}}
settings: {{query_timeout_seconds: 60}}   # a broken cancel fails the slow tests (QueryTimeout), not hangs them
users:
  alice: {{password: "alice-secret", roles: [analyst]}}
  rita: {{password: "rita-secret", roles: [restricted]}}
""".format(XSS_DESCRIPTION.replace("'", "''"))

# A data contract for the demo's sales.orders, in the screenshots' copy of the demo only.
DEMO_CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: sales-orders
version: 1.0.0
status: active
name: Sales orders
team: [{username: sales-data, role: Data Owner}]
schema:
  - name: orders
    quality:
      - {metric: rowCount, mustBeGreaterThan: 1000, name: enough_orders}
      - {type: sql, name: few_cancellations, mustBeLessThan: 100,
         query: "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'"}
"""


@dataclass
class Console:
    url: str
    tables: dict[str, pa.Table]

    def oracle(self, sql: str) -> list[tuple[Any, ...]]:
        connection = duckdb.connect()
        try:
            for name, table in self.tables.items():
                connection.register(name, table)
            return [tuple(row) for row in connection.sql(sql).fetchall()]
        finally:
            connection.close()


def _tables() -> dict[str, pa.Table]:
    customers = pa.table({"customer_id": list(range(1, 21)),
                          "name": [XSS_VALUE if i == 7 else f"customer {i}" for i in range(1, 21)],
                          "email": [f"c{i}@example.com" for i in range(1, 21)],
                          "country": [("FR", "DE", "JP")[i % 3] for i in range(1, 21)]})
    products = pa.table({"product_id": list(range(1, 11)),
                         "category": [("books", "toys")[i % 2] for i in range(1, 11)]})
    orders = pa.table({"order_id": list(range(1, 201)), "customer_id": [1 + i % 20 for i in range(200)],
                       "product_id": [1 + (i * 7) % 10 for i in range(200)],
                       "amount": [float(i % 37) for i in range(200)]})
    return {"customers": customers, "products": products, "orders": orders}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console")
    tables = _tables()
    with duckdb.connect(str(root / "sales.duckdb")) as db:
        db.register("o", tables["orders"])
        db.execute("CREATE TABLE orders AS SELECT * FROM o")
        db.execute("CREATE TABLE ticks AS SELECT range::INTEGER AS n FROM range(4000)")
    with duckdb.connect(str(root / "payroll.duckdb")) as db:
        db.execute("CREATE TABLE salaries AS SELECT 'alice' AS who, 100 AS salary")
    with sqlite3.connect(root / "crm.sqlite") as db:
        db.execute("CREATE TABLE customers (customer_id INTEGER, name TEXT, email TEXT, country TEXT)")
        rows = [tuple(r.values()) for r in tables["customers"].to_pylist()]
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", rows)
    (root / "catalog").mkdir()
    pq.write_table(tables["products"], root / "catalog" / "products.parquet")
    (root / "mesh.yaml").write_text(MESH)
    with MeshRuntime.open(root / "mesh.yaml") as runtime:
        server = FlightMeshServer(runtime, http_port=0)
        try:
            assert server.http is not None
            yield Console(f"http://127.0.0.1:{server.http.port}", tables)
        finally:
            server.shutdown()


browser, new_page = console_browser.browser, console_browser.new_page  # the shared fixtures


@pytest.fixture
def page(new_page: Any, console: Console) -> Any:
    return new_page(console.url + "/")


# -- logging in ---------------------------------------------------------------------------------------


def test_login_search_and_product_detail(page: Any) -> None:
    page.get_by_test_id("login-user").fill("alice")
    page.get_by_test_id("login-password").fill("wrong")
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("login-error").filter(has_text=re.compile(".+")).wait_for()
    assert page.get_by_test_id("product-list").is_hidden()
    login(page, "alice", "alice-secret")
    products = page.get_by_test_id("product-list").locator("[data-product]")
    names = "ps => ps.map(p => p.dataset.product)"
    assert sorted(products.evaluate_all(names)) == ["catalog", "crm", "payroll", "sales"]
    page.get_by_test_id("catalog-search").fill("order value")  # a column description, not a name
    assert products.evaluate_all("ps => ps.map(p => p.dataset.product)") == ["sales"]
    products.first.click()
    detail = page.get_by_test_id("product-detail")
    assert "Orders from the order service" in detail.inner_text()
    assert detail.locator("[data-table=orders]").count() == 1
    assert "order value in EUR" in detail.locator("[data-column=amount]").inner_text()
    assert "full read" in page.get_by_test_id("product-access").inner_text()


def test_logout_ends_the_session(page: Any, console: Console) -> None:
    login(page, "alice", "alice-secret")
    page.get_by_test_id("logout").click()
    page.get_by_test_id("login-user").wait_for()
    page.reload()
    page.get_by_test_id("login-user").wait_for()  # the cookie no longer opens a session
    status = page.evaluate("fetch('/api/catalog').then(r => r.status)")
    assert status == 401


# -- queries ------------------------------------------------------------------------------------------


def test_cross_product_query_reads_like_the_oracle(page: Any, console: Console) -> None:
    login(page, "alice", "alice-secret")
    sql = ("SELECT c.country, p.category, count(*) AS n, sum(o.amount) AS total FROM {o} o "
           "JOIN {c} c ON o.customer_id = c.customer_id JOIN {p} p ON p.product_id = o.product_id "
           "GROUP BY c.country, p.category ORDER BY c.country, p.category")
    run(page, sql.format(o="sales.orders", c="crm.customers", p="catalog.products"))
    expected = console.oracle(sql.format(o="orders", c="customers", p="products"))
    shown = result_rows(page)
    assert [(r[0], r[1], int(r[2]), float(r[3])) for r in shown] == [(a, b, n, float(t)) for a, b, n, t in expected]
    assert page.get_by_test_id("query-error").is_hidden()
    assert f"{len(expected)} rows" in page.get_by_test_id("query-status").inner_text()


def test_result_is_bounded_and_paged(page: Any) -> None:
    login(page, "alice", "alice-secret")
    run(page, "SELECT n FROM sales.ticks ORDER BY n")  # 4000 rows; the console reads at most 1000
    assert len(result_rows(page)) == 100
    assert "1000+ rows" in page.get_by_test_id("query-status").inner_text()
    assert page.get_by_test_id("page-info").inner_text() == "page 1 of 10"
    page.get_by_test_id("page-next").click()
    assert result_rows(page)[0] == ["100"]


def test_syntax_error_is_shown_clearly(page: Any) -> None:
    login(page, "alice", "alice-secret")
    run(page, "SELEC name FROM crm.customers")
    error = page.get_by_test_id("query-error")
    assert error.is_visible()
    assert "SqlSyntaxError" in error.inner_text() and "syntax error" in error.inner_text()
    assert page.get_by_test_id("result-table").is_hidden()


def test_cancel_a_slow_query(page: Any) -> None:
    login(page, "alice", "alice-secret")
    page.get_by_test_id("nav-query").click()
    page.get_by_test_id("sql-editor").fill(SLOW_SQL)
    page.get_by_test_id("run-query").click()
    expect(page.get_by_test_id("cancel-query")).to_be_enabled()
    page.wait_for_timeout(500)  # let the engine start working
    page.get_by_test_id("cancel-query").click()
    error = page.get_by_test_id("query-error")
    error.wait_for(state="visible", timeout=60_000)
    assert "QueryCancelled" in error.inner_text()
    assert page.get_by_test_id("result-table").is_hidden()


def test_history_and_an_admin_kills_another_users_query(page: Any, console: Console) -> None:
    import threading

    _, body, headers = post(console.url + "/api/login", {"user": "rita", "password": "rita-secret"}, {})
    rita = {"Cookie": headers["Set-Cookie"].split(";", 1)[0], "X-CSRF-Token": body["csrf"]}
    outcome: list[tuple[int, dict[str, Any]]] = []
    slow = threading.Thread(
        target=lambda: outcome.append(post(console.url + "/api/query", {"sql": SLOW_SQL}, rita)[:2]))
    slow.start()
    try:
        login(page, "alice", "alice-secret")
        kill = page.get_by_test_id("running-table").locator("tr", has_text="rita").locator("[data-kill]")
        for _ in range(50):  # the History page reads flightmesh.queries when opened: open it until rita's shows
            page.get_by_test_id("nav-history").click()
            page.get_by_test_id("history-table").locator("thead th").first.wait_for()
            if kill.count() == 1:
                break
            page.wait_for_timeout(200)
        kill.click()
    finally:
        slow.join(timeout=60)
    assert outcome and outcome[0][0] == 409 and "killed by alice" in outcome[0][1]["error"]
    run(page, "SELECT 7 AS seven")
    query_id = page.get_by_test_id("query-status").inner_text().rsplit(" ", 1)[-1]
    page.get_by_test_id("nav-history").click()
    history = page.get_by_test_id("history-table")
    expect(history).to_contain_text(query_id)  # alice's own query, with its id
    assert "SELECT 7 AS seven" in history.inner_text()


# -- plans --------------------------------------------------------------------------------------------


def test_plan_of_a_three_engine_join(page: Any) -> None:
    login(page, "alice", "alice-secret")
    run(page, "SELECT c.country, p.category, o.amount FROM sales.orders o "
              "JOIN crm.customers c ON o.customer_id = c.customer_id "
              "JOIN catalog.products p ON p.product_id = o.product_id", button="explain-query")
    graph = page.get_by_test_id("plan-graph")
    engines = graph.locator(".node.fragment").evaluate_all("ns => ns.map(n => n.dataset.engine)")
    assert sorted(engines) == ["duckdb", "parquet", "sqlite"]  # one node per fragment, each its engine
    residual = graph.locator(".node.residual")
    assert residual.count() == 1 and residual.get_attribute("data-engine") == "duckdb"  # the merge engine
    graph.locator(".node.fragment[data-engine=sqlite]").click()
    assert 'FROM "customers"' in page.get_by_test_id("plan-sql").inner_text()
    # EXPLAIN typed in the editor draws it too, and EXPLAIN ANALYZE shows rows per fragment
    run(page, "EXPLAIN ANALYZE SELECT c.country, o.amount FROM sales.orders o "
              "JOIN crm.customers c ON o.customer_id = c.customer_id")
    fragments = graph.locator(".node.fragment")
    assert sorted(fragments.evaluate_all("ns => ns.map(n => n.dataset.engine)")) == ["duckdb", "sqlite"]
    assert "200 rows" in graph.locator(".node.fragment[data-engine=duckdb]").inner_html()


# -- policies -----------------------------------------------------------------------------------------


def test_restricted_user_sees_masks_and_not_hidden_products(page: Any, console: Console) -> None:
    login(page, "rita", "rita-secret")
    listed = page.get_by_test_id("product-list").locator("[data-product]").evaluate_all(
        "ps => ps.map(p => p.dataset.product)")
    assert sorted(listed) == ["catalog", "crm", "sales"]
    page.get_by_test_id("catalog-search").fill("payroll")
    assert page.get_by_test_id("product-list").locator("[data-product]").count() == 0
    page.get_by_test_id("catalog-search").fill("")
    page.get_by_test_id("product-list").locator("[data-product=crm]").click()
    assert "masked for you" in page.get_by_test_id("product-detail").locator("[data-column=email]").inner_text()
    run(page, "SELECT customer_id, email FROM crm.customers ORDER BY customer_id")
    shown = result_rows(page)
    assert [r[1] for r in shown] == ["***"] * len(console.tables["customers"])
    run(page, "SELECT * FROM payroll.salaries")
    assert "does not exist" in page.get_by_test_id("query-error").inner_text()  # not "forbidden": not there


# -- hostile data -------------------------------------------------------------------------------------


def test_markup_in_a_description_and_a_value_stays_text(page: Any) -> None:
    login(page, "alice", "alice-secret")
    page.get_by_test_id("product-list").locator("[data-product=crm]").click()
    description = page.get_by_test_id("product-description")
    assert description.inner_text() == XSS_DESCRIPTION  # literally, tags and all
    assert page.get_by_test_id("product-detail").locator("img, script").count() == 0
    run(page, "SELECT name FROM crm.customers WHERE customer_id = 7")
    assert result_rows(page) == [[XSS_VALUE]]
    assert page.get_by_test_id("result-table").locator("img, b").count() == 0
    page.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert page.evaluate("window.__xss") is None
    assert page.csp_errors == []  # not even an attempt the policy had to stop


# -- the protections, one by one (HTTP, no browser) -----------------------------------------------------


def test_session_cookie_csrf_and_csp(console: Console) -> None:
    status, body, headers = post(console.url + "/api/login", {"user": "alice", "password": "alice-secret"}, {})
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session = cookie.split(";", 1)[0]
    query = {"sql": "SELECT 1 AS one"}
    assert post(console.url + "/api/query", query, {"Cookie": session})[0] == 403  # no CSRF token
    assert post(console.url + "/api/query", query, {"Cookie": session, "X-CSRF-Token": "guess"})[0] == 403
    other_site = {"Cookie": session, "X-CSRF-Token": body["csrf"], "Origin": "http://evil.example"}
    assert post(console.url + "/api/query", query, other_site)[0] == 403
    status, answer, _ = post(console.url + "/api/query", query, {"Cookie": session, "X-CSRF-Token": body["csrf"]})
    assert status == 200 and answer["rows"] == [[1]]
    with urllib.request.urlopen(console.url + "/") as page:
        csp = page.headers["Content-Security-Policy"]
        html = page.read().decode()
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert "<script>" not in html and "onclick" not in html and "style=" not in html  # nothing inline
    auth = {"Cookie": session, "X-CSRF-Token": body["csrf"]}
    assert post(console.url + "/api/logout", {}, auth)[0] == 200
    assert post(console.url + "/api/query", query, auth)[0] == 401  # the server forgot it: a kept cookie is worthless


def test_export_csv_and_parquet(console: Console) -> None:
    _status, body, headers = post(console.url + "/api/login", {"user": "rita", "password": "rita-secret"}, {})
    auth = {"Cookie": headers["Set-Cookie"].split(";", 1)[0], "X-CSRF-Token": body["csrf"]}
    sql = "SELECT customer_id, email FROM crm.customers ORDER BY customer_id"
    for fmt in ("csv", "parquet"):
        request = urllib.request.Request(console.url + "/api/export", json.dumps({"sql": sql, "format": fmt}).encode(),
                                         {"Content-Type": "application/json", **auth})
        with urllib.request.urlopen(request) as answer:
            data = answer.read()
        if fmt == "csv":
            lines = data.decode().splitlines()
            assert lines[0] == '"customer_id","email"' and lines[1] == '1,"***"' and len(lines) == 21
        else:
            table = pq.read_table(pa.BufferReader(data))
            assert table.column("email").to_pylist() == ["***"] * 20  # masked in the export too


# -- screenshots for the README -------------------------------------------------------------------------


def test_screenshots(browser: Any, tmp_path: Path) -> None:
    """The catalog, a result and a plan of the demo mesh, as PNG files (docs/images/ when asked)."""
    from flightmesh.server.demo import write_demo

    target = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    descriptor, users = write_demo(tmp_path / "demo")
    # The demo's sales product with a data contract (in this copy only), so the catalog shows its checks.
    (tmp_path / "demo" / "contracts").mkdir()
    (tmp_path / "demo" / "contracts" / "sales.odcs.yaml").write_text(DEMO_CONTRACT)
    access = "    access: {read: [analyst, sales]}\n"
    contract = "    contract: contracts/sales.odcs.yaml\n"
    descriptor.write_text(descriptor.read_text().replace(access, access + contract, 1))
    with MeshRuntime.open(descriptor) as runtime:
        server = FlightMeshServer(runtime, http_port=0)
        try:
            assert server.http is not None
            runtime.contracts.check_all()
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{server.http.port}/")
            login(page, "alice", users["alice"])
            page.get_by_test_id("product-list").locator("[data-product=sales]").click()
            page.get_by_test_id("quality-checks").wait_for()
            page.screenshot(path=str(target / "console-catalog.png"))
            run(page, "SELECT c.country, p.category, count(*) AS orders, sum(i.quantity * i.unit_price) AS revenue\n"
                      "FROM sales.orders o JOIN crm.customers c ON o.customer_id = c.customer_id\n"
                      "JOIN sales.order_items i ON i.order_id = o.order_id\n"
                      "JOIN catalog.products p ON p.product_id = i.product_id\n"
                      "GROUP BY 1, 2 ORDER BY revenue DESC")
            assert result_rows(page)
            page.screenshot(path=str(target / "console-result.png"))
            run(page, "SELECT c.country, p.category, count(*) AS orders\n"
                      "FROM sales.orders o JOIN crm.customers c ON o.customer_id = c.customer_id\n"
                      "JOIN sales.order_items i ON i.order_id = o.order_id\n"
                      "JOIN catalog.products p ON p.product_id = i.product_id\nGROUP BY 1, 2", button="explain-analyze")
            page.get_by_test_id("plan-graph").locator(".node.residual").click()
            page.screenshot(path=str(target / "console-plan.png"))
            context.close()
            context = browser.new_context(viewport={"width": 1280, "height": 640})
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{server.http.port}/")
            login(page, "dana", users["dana"])  # privacy mode: the mark and the remaining budget
            page.get_by_test_id("product-list").locator("[data-product=sales]").click()
            page.get_by_test_id("privacy-budget").wait_for()
            page.screenshot(path=str(target / "console-privacy.png"))
            context.close()
        finally:
            server.shutdown()
    for name in ("catalog", "result", "plan", "privacy"):
        assert (target / f"console-{name}.png").stat().st_size > 10_000
    shutil.rmtree(tmp_path / "demo", ignore_errors=True)


# -- TLS ------------------------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_when_the_mesh_serves_tls(tmp_path: Path) -> None:
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    (tmp_path / "p.duckdb").unlink(missing_ok=True)
    (tmp_path / "mesh.yaml").write_text(
        "mesh: {name: tls}\nproducts:\n  p:\n    engine: {kind: duckdb, path: p.duckdb}\n    tables: {t: {}}\n"
        "    access: {read: [r]}\n"
        f"auth:\n  tls: {{cert_file: {cert_file}, key_file: {key_file}}}\n"
        "users:\n  u: {password: pw, roles: [r]}\n")
    with duckdb.connect(str(tmp_path / "p.duckdb")) as db:
        db.execute("CREATE TABLE t AS SELECT 1 AS a")
    with MeshRuntime.open(tmp_path / "mesh.yaml") as runtime:
        server = FlightMeshServer(runtime, http_port=0)
        try:
            assert server.http is not None
            trusted = ssl.create_default_context(cafile=str(cert_file))
            request = urllib.request.Request(f"https://127.0.0.1:{server.http.port}/api/login",
                                             json.dumps({"user": "u", "password": "pw"}).encode(),
                                             {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, context=trusted) as answer:
                assert "; Secure" in answer.headers["Set-Cookie"]  # the cookie never travels in clear
            with pytest.raises((urllib.error.URLError, ConnectionError)):  # no plain HTTP beside it
                urllib.request.urlopen(f"http://127.0.0.1:{server.http.port}/", timeout=10)
        finally:
            server.shutdown()


def test_a_cancel_that_overtakes_its_query_still_stops_it(console: Console) -> None:
    _, body, headers = post(console.url + "/api/login", {"user": "alice", "password": "alice-secret"}, {})
    auth = {"Cookie": headers["Set-Cookie"].split(";", 1)[0], "X-CSRF-Token": body["csrf"]}
    assert post(console.url + "/api/cancel", {"run_id": "r-early"}, auth)[1] == {"cancelled": False}
    status, answer, _ = post(console.url + "/api/query", {"sql": SLOW_SQL, "run_id": "r-early"}, auth)
    assert status == 409 and answer["kind"] == "QueryCancelled"
    status, answer, _ = post(console.url + "/api/query", {"sql": "SELECT 1 AS one", "run_id": "r-early"}, auth)
    assert status == 200  # used once: the same id later runs
