"""A single fragment expected to fit in one batch is read on its consumer's thread (InlineRead);
a larger one keeps its read-ahead thread (Prefetch). Real DuckDB product."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.executor.prefetch import InlineRead
from flightmesh.mesh import CancelScope, EngineError

SCHEMA = pa.schema([("x", pa.int64())])


@pytest.fixture
def runtime(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = tmp_path / "numbers.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("CREATE TABLE small AS SELECT range AS x FROM range(10)")
        connection.execute("CREATE TABLE big AS SELECT range AS x FROM range(200000)")
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(f"""\
mesh: {{name: inline}}
products:
  numbers:
    domain: test
    engine: {{kind: duckdb, path: {database}}}
    tables: {{small: {{}}, big: {{}}}}
    access: {{read: [reader]}}
users:
  alice: {{password: "alice-secret", roles: [reader]}}
""")
    with MeshRuntime.open(descriptor) as opened:
        yield opened


def _threads_reading(runtime: MeshRuntime, sql: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int]:
    connector = runtime.connectors["numbers"]
    seen: list[str] = []
    original = connector.execute

    def execute(query, cancel):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return original(query, cancel)

    monkeypatch.setattr(connector, "execute", execute)
    alice = runtime.principal_for("alice")
    assert alice is not None
    rows = runtime.query(sql, alice).read_all().num_rows
    return seen, rows


def test_a_small_single_fragment_is_read_on_the_consumers_thread(
        runtime: MeshRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    seen, rows = _threads_reading(runtime, "SELECT x FROM numbers.small", monkeypatch)
    assert rows == 10 and seen == [threading.current_thread().name]


def test_a_large_single_fragment_keeps_its_read_ahead_thread(
        runtime: MeshRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    seen, rows = _threads_reading(runtime, "SELECT x FROM numbers.big", monkeypatch)
    assert rows == 200000 and seen == ["fragment-f0"]


def test_a_failure_keeps_its_type_and_cancels_the_query() -> None:
    scope = CancelScope()

    def failing() -> pa.RecordBatchReader:
        raise EngineError("numbers", "the engine is down")

    read = InlineRead("f0", failing, SCHEMA, scope)
    with pytest.raises(EngineError):
        list(read.batches())
    assert isinstance(read.failure, EngineError) and scope.cancelled


def test_closing_part_way_closes_the_engines_reader() -> None:
    class Reader:
        closed = False

        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter([pa.record_batch([pa.array([n])], schema=SCHEMA) for n in range(5)])

        def close(self) -> None:
            self.closed = True

    engine = Reader()
    read = InlineRead("f0", lambda: engine, SCHEMA, CancelScope())  # type: ignore[arg-type,return-value]
    stream = read.batches()
    assert next(stream).num_rows == 1
    read.close()
    assert engine.closed
    assert list(stream) == []   # nothing more once closed
