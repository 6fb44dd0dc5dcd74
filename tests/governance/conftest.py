"""Fixtures of the governance tests: the governed mesh (``govmesh``) and a runtime over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import Principal
from tests.governance.govmesh import GovMesh, build_gov_mesh


@pytest.fixture(scope="session")
def gov_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovMesh]:
    yield from build_gov_mesh(tmp_path_factory.mktemp("govmesh"))


@pytest.fixture(scope="session")
def gov_runtime(gov_mesh: GovMesh) -> Iterator[MeshRuntime]:
    runtime = MeshRuntime.open(gov_mesh.descriptor)
    yield runtime
    runtime.close()


def who(runtime: MeshRuntime, user: str) -> Principal:
    found = runtime.principal_for(user)
    assert found is not None, user
    return found
