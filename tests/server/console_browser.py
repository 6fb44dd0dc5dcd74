"""What the console's browser tests share: Debian's Chromium driven by Playwright for Python, and
the few steps every test takes (log in, run a query, read the result table, post to the API).

Without Chromium (or Playwright) the ``browser`` fixture skips, visibly; under CI=true that is a failure.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CHROMIUM", "browser", "expect", "get", "login", "new_page", "post", "result_rows", "run", "session_of"]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        missing = f"Playwright for Python is not installed ({error})"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium chromium-driver)"
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing}; CI must run the console's browser tests")
        pytest.skip(missing)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """``new_page(url)``: a fresh browser context on ``url``; ``page.csp_errors`` collects the
    Content-Security-Policy refusals (injected markup that tried to come alive)."""
    contexts: list[Any] = []

    def open_page(url: str, width: int = 1280, height: int = 860) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if "Content Security" in message.text else None)
        page.goto(url)
        page.csp_errors = errors
        return page

    yield open_page
    for context in contexts:
        context.close()


def login(page: Any, user: str, password: str) -> None:
    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("product-list").locator("[data-product]").first.wait_for()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def run(page: Any, sql: str, button: str = "run-query") -> None:
    page.get_by_test_id("nav-query").click()
    page.get_by_test_id("sql-editor").fill(sql)
    page.get_by_test_id(button).click()
    expect(page.get_by_test_id("run-query")).to_be_enabled()  # (the page's CSP forbids wait_for_function's eval)


def result_rows(page: Any) -> list[list[str]]:
    rows: list[list[str]] = page.get_by_test_id("result-table").locator("tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells, c => c.textContent))")
    return rows


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any], Any]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read()), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def session_of(base: str, body: dict[str, Any]) -> dict[str, str]:
    """The headers of a logged-in API client (its cookie and CSRF token); ``body`` is the login's."""
    status, answer, headers = post(base + "/api/login", body, {})
    assert status == 200, answer
    return {"Cookie": headers["Set-Cookie"].split(";", 1)[0], "X-CSRF-Token": answer["csrf"]}
