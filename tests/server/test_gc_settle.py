"""The server's GC settling (server/gc_settle.py): the opened mesh frozen, and nothing replaced
stays frozen — a reload's old catalog is collected, where a freeze without the unfreeze and
collection first would keep it for the life of the process."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.gc_settle import settle_long_lived
from tests.server.support import Mesh


@pytest.fixture
def restored_gc() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test run keeps CPython's defaults


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settling_freezes_what_lives_and_frees_what_was_replaced(restored_gc: None) -> None:
    kept = Cycle()
    dropped = Cycle()
    gone = weakref.ref(dropped)
    settle_long_lived()
    assert gc.get_freeze_count() > 0
    del dropped  # frozen garbage in a cycle: only the next settle's unfreeze lets it be collected
    gc.collect()
    assert gone() is not None
    settle_long_lived()
    assert gone() is None
    assert kept.me is kept


def test_a_reload_settles_the_new_mesh_and_frees_the_old_catalog(mesh: Mesh, restored_gc: None) -> None:
    with MeshRuntime.open(mesh.descriptor) as runtime, \
            FlightMeshServer(runtime, "grpc://127.0.0.1:0") as server:
        server.settle_memory()
        old = weakref.ref(runtime.catalog)
        assert server.reload_mesh().applied
        assert runtime.catalog is not old()
        assert old() is None
        assert gc.get_freeze_count() > 0
