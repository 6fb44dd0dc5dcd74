"""Fixtures of the differential fuzz tests: the fuzz mesh on the real engines, a runtime, a ``Differ``.

PostgreSQL and MariaDB come from the connector suite's fixtures (a fresh database each per run):
a skip on a developer's machine without them, a failure under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.conftest import mysql_database, postgres_database  # noqa: F401 - fixtures
from tests.fuzz.differential import Differ
from tests.fuzz.mesh import FuzzMesh, build_fuzz_mesh, principal


@pytest.fixture(scope="session")
def fuzz_mesh(tmp_path_factory: pytest.TempPathFactory, postgres_database: str,  # noqa: F811
              mysql_database: str) -> FuzzMesh:  # noqa: F811
    return build_fuzz_mesh(tmp_path_factory.mktemp("fuzzmesh"), postgres_database, mysql_database)


def _differ(mesh: FuzzMesh, *, eager: bool) -> Iterator[Differ]:
    runtime = mesh.open(eager=eager)
    oracle = mesh.oracle()
    try:
        yield Differ(runtime, principal(runtime), oracle)
    finally:
        oracle.close()
        runtime.close()


@pytest.fixture(scope="session")
def differ(fuzz_mesh: FuzzMesh) -> Iterator[Differ]:
    """The mesh with its default settings against the oracle."""
    yield from _differ(fuzz_mesh, eager=False)


@pytest.fixture(scope="session")
def eager_differ(fuzz_mesh: FuzzMesh) -> Iterator[Differ]:
    """Dynamic filters and pre-aggregation forced on (they fire only on big tables otherwise)."""
    yield from _differ(fuzz_mesh, eager=True)
