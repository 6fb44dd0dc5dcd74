"""Parquet products: a folder of files, read by a private DuckDB confined to that folder.

Each table's ``source`` is a file, a glob or a sub-folder inside the product's folder (default
``<table>.parquet``). The private DuckDB holds one view per table and may read only the
product's folder (``allowed_directories``); fragments are rendered in the duckdb dialect against
those views, so the planner treats a Parquet product like any DuckDB product.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow as pa
from sqlglot import exp

from flightmesh.mesh import EngineUnavailable, ProductSpec, Settings, UnknownTable
from flightmesh.mesh.statistics import TableStatistics

from .base import Capabilities, KeyDelivery
from .duckdb import DuckDBConnector, lock_down
from .parquet_stats import parquet_statistics
from .pool import engine_timeout

__all__ = ["ParquetConnector"]


class ParquetConnector(DuckDBConnector):
    capabilities: ClassVar[Capabilities] = Capabilities(dialect="duckdb", key_delivery=KeyDelivery.KEY_TABLE)

    def __init__(self, product: str, folder: Path, sources: Iterable[str], *,
                 timeout_seconds: float | None = None) -> None:
        super().__init__(product, folder, timeout_seconds=timeout_seconds)
        self.folder = Path(folder).resolve()
        self.sources = list(dict.fromkeys(sources))
        self._views = {source: f"t{index}_{re.sub(r'[^A-Za-z0-9_]', '_', source)[:40]}"
                       for index, source in enumerate(self.sources)}
        self._missing: set[str] = set()

    @classmethod
    def from_spec(cls, product: ProductSpec, settings: Settings) -> ParquetConnector:
        engine = product.engine
        assert engine.path is not None
        return cls(product.name, engine.path, [table.source for table in product.tables.values()],
                   timeout_seconds=engine_timeout(engine.options, settings))

    def identity(self) -> str:
        # Views are per product, so two Parquet products never share one statement.
        return f"parquet:{self.folder}:{self.product}"

    def _root(self) -> duckdb.DuckDBPyConnection:
        if self._connection is not None:
            return self._connection
        if not self.folder.exists():
            raise EngineUnavailable(self.product, f"folder {self.folder.name} is missing")
        connection = duckdb.connect(":memory:")
        root = self.folder if self.folder.is_dir() else self.folder.parent
        connection.execute("SET allowed_directories = $1", [[str(root) + "/"]])
        for source, view in self._views.items():
            pattern = self._pattern(source)
            if pattern is None:
                self._missing.add(source)
                continue
            literal = exp.Literal.string(pattern).sql("duckdb")
            connection.execute(
                f'CREATE VIEW "{view}" AS SELECT * FROM read_parquet({literal}, hive_partitioning = false)'
            )
        lock_down(connection)
        self._connection = connection
        return connection

    def _pattern(self, source: str) -> str | None:
        if self.folder.is_file():
            return str(self.folder)
        target = (self.folder / source).resolve()
        if not target.is_relative_to(self.folder):
            return None  # a source may not climb out of the product's folder
        if target.is_dir():
            return str(target / "**" / "*.parquet")
        if any(char in source for char in "*?["):
            return str(target) if any(self.folder.glob(source)) else None
        return str(target) if target.is_file() else None

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        if not self.folder.exists():
            self._connection = None
            raise EngineUnavailable(self.product, f"folder {self.folder.name} is missing")
        return self._root().cursor()

    def _forget(self) -> None:
        self._connection = None

    def table_names(self) -> list[str]:
        self._root()
        return [source for source in self.sources if source not in self._missing]

    def table_expression(self, source: str) -> exp.Table:
        view = self._views.get(source)
        if view is None:
            raise UnknownTable(source)
        return exp.table_(exp.to_identifier(view, quoted=True))

    def describe(self, source: str) -> pa.Schema:
        self._root()
        if source not in self._views or source in self._missing:
            raise UnknownTable(source)
        return super().describe(source)

    def _table_statistics(self, source: str, schema: pa.Schema) -> TableStatistics:
        pattern = self._pattern(source) if source in self._views and source not in self._missing else None
        if pattern is None:
            return TableStatistics()
        root = Path("/")
        files = sorted(root.glob(pattern.lstrip("/"))) if any(char in pattern for char in "*?[") else [Path(pattern)]
        return parquet_statistics(files, schema)

    def estimate_rows(self, source: str) -> int | None:
        view = self._views.get(source)
        if view is None or source in self._missing:
            return None
        # Parquet footers hold exact counts; DuckDB reads only the metadata for count(*).
        row = self._cursor().execute(f'SELECT count(*) FROM "{view}"').fetchone()
        return int(row[0]) if row else None
