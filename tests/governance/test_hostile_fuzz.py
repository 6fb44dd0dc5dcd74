"""A seeded, short run of the hostile-input fuzzer (benchmarks/hostile_fuzz.py) through a real server.

Statements built from every function name of four sqlglot dialects' parsers, casts to every data
type and engine-specific syntax; none may reach an engine with an unvetted node (the engines'
statements are parsed back and checked independently of the planner's gate), and none may end in
an internal error.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.hostile_fuzz import run
from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from tests.governance.govmesh import GovMesh


@pytest.fixture(scope="module")
def fuzz_runtime(gov_mesh: GovMesh) -> Iterator[MeshRuntime]:
    runtime = MeshRuntime.open(gov_mesh.descriptor)  # its own: the fuzzer spies on its connectors
    yield runtime
    runtime.close()


def test_no_fuzzed_statement_reaches_an_engine_unvetted(fuzz_runtime: MeshRuntime) -> None:
    with FlightMeshServer(fuzz_runtime, "grpc://127.0.0.1:0") as server:
        counts = run(server.port, fuzz_runtime, seed=7, count=250)
    assert counts.sent == 250
    assert counts.fragments > 20 and counts.answered > 20  # the run does reach engines
    assert counts.unvetted == []
    assert counts.failed == []  # no internal error (engine type errors are counted apart: issue 10)
