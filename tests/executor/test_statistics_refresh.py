"""The statistics schedule: the engines' statistics are read with the catalog, read again by
``refresh_statistics`` (what the background thread runs every ``statistics_refresh_seconds``),
and swapped in only when they moved; planning reads the catalog's and never asks an engine."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from flightmesh.executor import MeshRuntime
from flightmesh.executor.statistics_refresh import refresh_statistics
from flightmesh.mesh.principal import Principal

ANN = Principal("ann", frozenset({"analyst"}))


def _mesh(directory: Path, refresh: float = 0) -> tuple[Path, Path]:
    path = directory / "crm.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, country TEXT NOT NULL)")
        raw.executemany("INSERT INTO customers VALUES (?, ?)", [(i, f"c{i % 5}") for i in range(1, 101)])
        raw.execute("CREATE INDEX customers_country ON customers (country)")
        raw.execute("ANALYZE")
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: acme}\n"
        f"settings: {{schema_refresh_seconds: 0, statistics_refresh_seconds: {refresh}}}\n"
        "users:\n  ann: {password: ann-pw, roles: [analyst]}\n"
        f"products:\n  crm:\n    engine: {{kind: sqlite, path: {path}}}\n    access: {{read: [analyst]}}\n"
        "    tables: {customers: {}}\n")
    return descriptor, path


def _counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path) as raw:
        rows, countries = raw.execute("SELECT count(*), count(DISTINCT country) FROM customers").fetchone()
    return rows, countries


def test_statistics_are_read_with_the_catalog_and_refreshed_when_they_move(tmp_path: Path) -> None:
    descriptor, path = _mesh(tmp_path)
    with MeshRuntime.open(descriptor) as runtime:
        table = runtime.catalog.lookup("crm", "customers", ANN)
        assert table.statistics is not None
        assert (table.statistics.rows, table.column_statistics("country").distinct) == _counts(path)  # type: ignore[union-attr]
        version = runtime.catalog.version
        assert refresh_statistics(runtime.catalogs) == []       # nothing moved: no new catalog, plans stay
        assert runtime.catalog.version == version
        with sqlite3.connect(path) as raw:  # ten times the rows, 50 countries
            raw.executemany("INSERT INTO customers VALUES (?, ?)", [(i, f"c{i % 50}") for i in range(101, 1001)])
            raw.execute("ANALYZE")
        planned = runtime.bind(runtime.prepare("SELECT * FROM crm.customers WHERE country = 'c1'", ANN), ANN).plan
        assert planned.fragments[0].estimate == 100 / 5    # planning reads the catalog's, not the engine
        assert refresh_statistics(runtime.catalogs) == ["crm"]
        assert runtime.catalog.version > version
        table = runtime.catalog.lookup("crm", "customers", ANN)
        assert (table.statistics.rows, table.column_statistics("country").distinct) == _counts(path)  # type: ignore[union-attr]
        assert table.row_estimate == 1000
        replanned = runtime.bind(runtime.prepare("SELECT * FROM crm.customers WHERE country = 'c1'", ANN), ANN).plan
        assert replanned.fragments[0].estimate == 1000 / 50


def test_the_schedule_runs_on_its_own_thread(tmp_path: Path) -> None:
    descriptor, path = _mesh(tmp_path, refresh=0.05)
    with MeshRuntime.open(descriptor) as runtime:
        assert runtime.statistics_refresher.interval == 0.05
        with sqlite3.connect(path) as raw:
            raw.executemany("INSERT INTO customers VALUES (?, ?)", [(i, "c0") for i in range(101, 1001)])
        version = runtime.catalog.version
        deadline = time.monotonic() + 20
        while runtime.catalog.version == version and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runtime.catalog.lookup("crm", "customers", ANN).row_estimate == 1000
