"""The console's product view beyond the tables, and login with an identity provider's JWT, in a
real browser (Playwright driving Debian's Chromium; see ``console_browser.py``).

* **Contract and quality**: ``sales`` has a data contract (ODCS v3) with one quality rule that holds
  and one that does not; the product view shows the contract and each check's latest result, as
  the contract monitor computed it in the engine. Expected outcomes come from DuckDB over the same
  Arrow table (the oracle). A viewer under a row filter sees pass/fail but not the measure.
* **What applies to the viewer**: row filters and masks by name, never their SQL; for dana of the
  demo mesh (privacy mode) the mark, the remaining budget and when it resets, which goes down after
  she runs a privacy query: the oracle is the ledger table of the state store, read directly.
* **JWT login**: a token signed with the key the test's mesh trusts logs in as its principal (roles
  from the token) and sees exactly what that role may; an expired or wrongly signed token is refused
  with a clear message; the session ends when its token does.
* **Failures**: with the state store down the budget says so in its place, the rest of the page
  and the server keep working; a product the viewer may not read is answered as one that does not exist.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import jwt
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.server import console_browser
from tests.server.console_browser import expect, get, login, post, result_rows, run, session_of

browser, new_page = console_browser.browser, console_browser.new_page  # the shared fixtures

ISSUER, AUDIENCE = "https://idp.example.test", "flightmesh-console"
XSS_CONTRACT = 'Sales orders <img src=x onerror="window.__xss=1">'

CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: sales-orders
version: 1.4.0
status: active
name: '{name}'
team: [{{username: sales-team, role: Data Owner}}]
schema:
  - name: orders
    quality:
      - {{metric: rowCount, mustBeGreaterThan: 100, name: enough_orders}}
      - {{metric: rowCount, mustBeGreaterThan: 1000, name: a_thousand_orders}}
    properties:
      - {{name: order_id, logicalType: integer}}
      - {{name: customer_id, logicalType: integer}}
      - {{name: channel, logicalType: string}}
      - name: amount
        logicalType: number
        quality:
          - {{metric: nullValues, mustBe: 0, name: amount_present}}
      - {{name: email, logicalType: string}}
""".format(name=XSS_CONTRACT.replace("'", "''"))

MESH = """\
mesh: {{name: status}}
settings: {{contract_check_seconds: 0{settings}}}   # checked when the test says so
products:
  sales:
    domain: sales
    description: Orders
    engine: {{kind: duckdb, path: sales.duckdb}}
    tables: {{orders: {{}}}}
    contract: contracts/sales.odcs.yaml
    access: {{read: [analyst, restricted]}}
    policies:
      row_filters: [{{name: small_orders, table: orders, where: "amount < 20", for: [restricted]}}]
      masks: [{{name: hide_email, table: orders, column: email, with: "'***'", except: [analyst]}}]
    privacy:
      for: [researcher]
      epsilon_per_query: 0.1
      budget: {{epsilon: 1.0, per: day}}
      tables:
        orders: {{unit: customer_id, max_rows_per_unit: 20, public_keys: {{channel: [web, store]}}}}
  payroll:
    engine: {{kind: duckdb, path: payroll.duckdb}}
    tables: {{salaries: {{}}}}
    access: {{read: [analyst]}}
auth:
  jwt: {{issuer: "{issuer}", audience: {audience}, public_key_file: idp.pem}}
{state}users:
  alice: {{password: alice-pw, roles: [analyst]}}
  rita: {{password: rita-pw, roles: [restricted]}}
  dana: {{password: dana-pw, roles: [researcher]}}
"""


@dataclass
class Served:
    url: str
    runtime: MeshRuntime
    orders: pa.Table
    key: Any   # the identity provider's private key: the mesh trusts its public half

    def oracle(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect() as connection:
            connection.register("orders", self.orders)
            return [tuple(row) for row in connection.sql(sql).fetchall()]


def _orders() -> pa.Table:
    return pa.table({"order_id": list(range(1, 201)), "customer_id": [1 + i % 40 for i in range(200)],
                     "channel": [("web", "store")[i % 2] for i in range(200)],
                     "amount": [float(i % 37) for i in range(200)],
                     "email": [f"c{1 + i % 40}@example.com" for i in range(200)]})


def _rsa() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextlib.contextmanager
def _serve(root: Path, state: str = "", settings: str = "") -> Iterator[Served]:
    orders = _orders()
    key = _rsa()
    (root / "idp.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (root / "contracts").mkdir()
    (root / "contracts" / "sales.odcs.yaml").write_text(CONTRACT)
    with duckdb.connect(str(root / "sales.duckdb")) as db:
        db.register("o", orders)
        db.execute("CREATE TABLE orders AS SELECT * FROM o")
    with duckdb.connect(str(root / "payroll.duckdb")) as db:
        db.execute("CREATE TABLE salaries AS SELECT 'alice' AS who, 100 AS salary")
    (root / "mesh.yaml").write_text(MESH.format(issuer=ISSUER, audience=AUDIENCE, state=state, settings=settings))
    with MeshRuntime.open(root / "mesh.yaml") as runtime:
        server = FlightMeshServer(runtime, http_port=0)
        try:
            assert server.http is not None
            yield Served(f"http://127.0.0.1:{server.http.port}", runtime, orders, key)
        finally:
            server.shutdown()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with _serve(tmp_path_factory.mktemp("console-status")) as served:
        yield served


def token(key: Any, subject: str, roles: list[str], *, expires_in: float = 600.0, **changed: Any) -> str:
    now = int(time.time())
    claims = {"sub": subject, "roles": roles, "iss": ISSUER, "aud": AUDIENCE, "iat": now,
              "exp": int(now + expires_in), **changed}
    return jwt.encode(claims, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()), algorithm="RS256")


def open_product(page: Any, name: str) -> Any:
    page.get_by_test_id("nav-catalog").click()
    page.get_by_test_id("product-list").locator(f"[data-product={name}]").click()
    status = page.get_by_test_id("product-status")
    expect(status.locator(".muted", has_text="Loading")).to_have_count(0)  # the status has arrived
    return page.get_by_test_id("product-detail")


def checks(detail: Any) -> dict[str, dict[str, str]]:
    rows: list[dict[str, str]] = detail.get_by_test_id("quality-checks").locator("tbody tr").evaluate_all(
        "rs => rs.map(r => ({rule: r.dataset.rule, status: r.dataset.checkStatus,"
        " measured: r.cells[5].textContent, when: r.cells[7].textContent}))")
    return {row["rule"]: row for row in rows}


# -- contract and quality status ---------------------------------------------------------------------


def test_contract_status_and_latest_checks(new_page: Any, served: Served) -> None:
    page = new_page(served.url + "/")
    login(page, "alice", "alice-pw")
    detail = open_product(page, "sales")
    contract = detail.get_by_test_id("contract-status")
    assert XSS_CONTRACT in contract.inner_text() and "1.4.0" in contract.inner_text()  # the markup as text
    assert contract.get_attribute("data-status") == "active"
    assert detail.locator("[data-contract-table=orders]").get_attribute("data-schema-status") == "ok"
    before = checks(detail)
    assert {before[rule]["status"] for rule in ("enough_orders", "a_thousand_orders", "amount_present")} == {"pending"}

    assert served.runtime.contracts.check("sales")  # what the schedule does every contract_check_seconds
    detail = open_product(page, "sales")
    after = checks(detail)
    ((rows, nulls),) = served.oracle("SELECT count(*), count(*) FILTER (WHERE amount IS NULL) FROM orders")
    assert after["enough_orders"]["status"] == ("pass" if rows > 100 else "fail")
    assert after["a_thousand_orders"]["status"] == ("pass" if rows > 1000 else "fail")
    assert after["amount_present"]["status"] == ("pass" if nulls == 0 else "fail")
    assert float(after["enough_orders"]["measured"]) == rows
    assert all(after[rule]["when"] not in ("", "—") for rule in ("enough_orders", "a_thousand_orders"))
    assert detail.locator("[data-contract-table=orders] td").nth(3).inner_text() == "1 of 3"  # failing of checked
    assert detail.locator("img").count() == 0
    page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None and page.csp_errors == []
    payroll = open_product(page, "payroll")
    assert payroll.get_by_test_id("contract-status").get_attribute("data-status") == "none"


def test_a_filtered_viewer_sees_what_applies_by_name_and_no_measures(new_page: Any, served: Served) -> None:
    served.runtime.contracts.check("sales")
    page = new_page(served.url + "/")
    login(page, "rita", "rita-pw")
    detail = open_product(page, "sales")
    assert "small_orders" in detail.get_by_test_id("applied-row-filters").inner_text()
    assert "sales.orders.email" in detail.get_by_test_id("applied-masks").inner_text()
    assert detail.get_by_test_id("product-access").get_attribute("data-access") == "read with policies"
    text = page.locator("body").inner_text()
    assert "amount < 20" not in text and "'***'" not in text  # the policies' bodies stay on the server
    seen = checks(detail)
    ((rows,),) = served.oracle("SELECT count(*) FROM orders")
    # pass or fail is the contract's promise; the count over every row would tell what the filter hides
    assert seen["enough_orders"]["status"] == ("pass" if rows > 100 else "fail")
    assert seen["enough_orders"]["measured"] == ""
    assert detail.get_by_test_id("privacy-mark").count() == 0


def test_status_of_a_product_the_viewer_may_not_read_is_not_found(served: Served) -> None:
    rita = session_of(served.url, {"user": "rita", "password": "rita-pw"})
    hidden = get(served.url + "/api/status?product=payroll", rita)
    missing = get(served.url + "/api/status?product=nothing", rita)
    assert hidden[0] == missing[0] == 404
    assert hidden[1]["error"].replace("payroll", "X") == missing[1]["error"].replace("nothing", "X")
    alice = session_of(served.url, {"user": "alice", "password": "alice-pw"})
    assert get(served.url + "/api/status?product=payroll", alice)[0] == 200


# -- privacy mode: dana of the demo mesh --------------------------------------------------------------


def _ledger_spent(state: Path, principal: str, product: str) -> float:
    """Epsilon spent by ``principal`` on ``product`` today, read from the ledger table itself."""
    if not state.exists():
        return 0.0
    with sqlite3.connect(state) as connection:
        try:
            found = connection.execute(
                "SELECT spent_nano FROM flightmesh_privacy_ledger WHERE principal = ? AND product = ? AND period = ?",
                (principal, product, dt.datetime.now(dt.UTC).date().isoformat())).fetchall()
        except sqlite3.OperationalError:  # no table yet: nothing spent
            return 0.0
    return found[0][0] / 1e9 if found else 0.0


def test_privacy_mode_viewer_sees_mark_and_a_budget_that_goes_down(new_page: Any, tmp_path: Path) -> None:
    from flightmesh.server.demo import write_demo

    descriptor, users = write_demo(tmp_path / "demo")
    state = tmp_path / "demo" / "state" / "flightmesh.sqlite"
    with MeshRuntime.open(descriptor) as runtime:
        server = FlightMeshServer(runtime, http_port=0)
        try:
            assert server.http is not None
            page = new_page(f"http://127.0.0.1:{server.http.port}/")
            login(page, "dana", users["dana"])
            detail = open_product(page, "sales")
            assert detail.get_by_test_id("privacy-mark").is_visible()
            assert detail.get_by_test_id("product-access").get_attribute("data-access") == "privacy mode"
            budget = detail.get_by_test_id("privacy-budget")
            before = float(budget.get_attribute("data-remaining"))
            assert before == pytest.approx(2.0 - _ledger_spent(state, "dana", "sales"))  # demo: 2.0 per day
            tomorrow = dt.datetime.combine(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1), dt.time(),
                                           tzinfo=dt.UTC)
            assert dt.datetime.fromisoformat(budget.get_attribute("data-resets-at")) == tomorrow
            assert "resets" in budget.inner_text()

            run(page, "SELECT channel, count(*) AS n FROM sales.orders GROUP BY channel ORDER BY channel")
            assert [row[0] for row in result_rows(page)] == ["mobile", "store", "web"]  # noisy counts, public keys
            spent = _ledger_spent(state, "dana", "sales")
            assert spent > 0
            after = float(open_product(page, "sales").get_by_test_id("privacy-budget").get_attribute("data-remaining"))
            assert after == pytest.approx(2.0 - spent) and after < before
        finally:
            server.shutdown()


def test_a_failing_status_part_leaves_the_page_and_server_working(new_page: Any, tmp_path: Path) -> None:
    # The state store (the privacy ledger) on a PostgreSQL port where nothing listens.
    with _serve(tmp_path, state="state: {kind: postgresql, uri: 'postgresql://postgres@127.0.0.1:9/none'}\n") as served:
        page = new_page(served.url + "/")
        login(page, "dana", "dana-pw")
        detail = open_product(page, "sales")
        error = detail.get_by_test_id("status-error")
        assert "privacy budget could not be read" in error.inner_text()
        assert "state store" in error.inner_text() and "127.0.0.1:9" not in error.inner_text()
        assert detail.get_by_test_id("privacy-mark").is_visible()  # the rest of the view is there
        assert detail.locator("[data-table=orders]").count() == 1
        run(page, "SELECT 42 AS answer")  # and the server still answers
        assert result_rows(page) == [["42"]]


# -- login with an identity provider's JWT ------------------------------------------------------------


def login_with_token(page: Any, value: str) -> None:
    page.get_by_test_id("login-mode-token").click()
    page.get_by_test_id("login-token").fill(value)
    page.get_by_test_id("login-submit").click()


def test_jwt_login_sees_what_its_principal_may_see(new_page: Any, served: Served) -> None:
    page = new_page(served.url + "/")
    login_with_token(page, token(served.key, "ivy", ["restricted"]))  # ivy: no user of the descriptor
    page.get_by_test_id("product-list").locator("[data-product]").first.wait_for()
    assert page.get_by_test_id("whoami").inner_text() == "ivy"
    listed = page.get_by_test_id("product-list").locator("[data-product]").evaluate_all(
        "ps => ps.map(p => p.dataset.product)")
    assert listed == ["sales"]  # the products whose access.read names restricted; payroll is not there
    run(page, "SELECT order_id, email, amount FROM sales.orders WHERE order_id <= 120 ORDER BY order_id")
    # restricted's policy written by hand: rows with amount < 20, email masked (fewer than a page of 100)
    expected = served.oracle("SELECT order_id, '***', amount FROM orders WHERE amount < 20 AND order_id <= 120 "
                             "ORDER BY order_id")
    assert 0 < len(expected) < 100
    assert [(int(a), b, float(c)) for a, b, c in result_rows(page)] == expected
    run(page, "SELECT * FROM payroll.salaries")
    assert "does not exist" in page.get_by_test_id("query-error").inner_text()


@pytest.mark.parametrize("kind", ["expired", "wrongly signed", "another audience"])
def test_a_bad_token_is_refused_clearly(new_page: Any, served: Served, kind: str) -> None:
    value = (token(served.key, "ivy", ["analyst"], expires_in=-3600) if kind == "expired"
             else token(_rsa(), "ivy", ["analyst"]) if kind == "wrongly signed"
             else token(served.key, "ivy", ["analyst"], aud="another-service"))
    page = new_page(served.url + "/")
    login_with_token(page, value)
    message = page.get_by_test_id("login-error")
    expect(message).to_contain_text("token was refused")
    assert "invalid or expired token" in message.inner_text()
    assert page.get_by_test_id("product-list").is_hidden()
    assert page.evaluate("fetch('/api/me').then(r => r.status)") == 401


def test_a_jwt_session_ends_with_its_token(served: Served) -> None:
    # 27 s past its expiry: still inside the verifier's 30 s leeway now, outside it in a few seconds
    headers = session_of(served.url, {"jwt": token(served.key, "ivy", ["restricted"], expires_in=-27)})
    assert get(served.url + "/api/catalog", headers)[0] == 200
    deadline = time.monotonic() + 20
    status = 200
    while status == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        status = get(served.url + "/api/catalog", headers)[0]
    assert status == 401
    assert post(served.url + "/api/query", {"sql": "SELECT 1 AS one"}, headers)[0] == 401  # the session is gone


def test_forged_tokens_are_throttled_by_address_and_stale_ones_are_not(tmp_path: Path) -> None:
    """As on the Flight SQL side: a forged token is a guess and counts against the address; a
    well-signed token that is merely stale or for another audience does not; a good one does not
    reset the count of forged ones."""
    with _serve(tmp_path, settings=", login_max_failures: 3, login_lockout_seconds: 600") as served:
        login = served.url + "/api/login"
        for _ in range(4):
            assert post(login, {"jwt": token(served.key, "ivy", ["restricted"], expires_in=-3600)}, {})[0] == 401
        assert post(login, {"jwt": token(served.key, "ivy", ["restricted"])}, {})[0] == 200
        for _ in range(2):
            assert post(login, {"jwt": token(_rsa(), "ivy", ["restricted"])}, {})[0] == 401
        assert post(login, {"jwt": token(served.key, "ivy", ["restricted"])}, {})[0] == 200  # 2 of 3: still in
        assert post(login, {"jwt": token(_rsa(), "ivy", ["restricted"])}, {})[0] == 401
        status, answer, _ = post(login, {"jwt": token(served.key, "ivy", ["restricted"])}, {})
        assert status == 401 and "too many failed logins" in answer["error"]  # the address is locked now
