"""A Spark Connect endpoint that goes away mid-stream is a typed EngineUnavailable, not a bare OSError.

Sail runs here as a process of its own (``sail spark server``), so that it can be killed while a
fragment's stream is being read: the driver then raises a bare ``OSError`` ("error reading from
server: EOF") from the reader, which the connector must translate.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightmesh.connectors.base import FragmentQuery
from flightmesh.connectors.spark import SparkConnector
from flightmesh.mesh import CancelScope, EngineUnavailable


@pytest.fixture
def killable_sail(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    pytest.importorskip("pysail")
    sail = shutil.which("sail", path=str(Path(sys.executable).parent))
    if sail is None:
        pytest.skip("pysail's sail command is not beside this Python")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sail, "spark", "server", "--port", str(port)], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("sail spark server did not listen")
                time.sleep(0.1)
        yield f"sc://127.0.0.1:{port}", process
    finally:
        process.kill()
        process.wait()


def test_endpoint_gone_mid_stream_is_engine_unavailable(killable_sail: tuple[str, subprocess.Popen[bytes]]) -> None:
    uri, process = killable_sail
    connector = SparkConnector("gone", uri, pool_size=1)
    try:
        reader = connector.execute(FragmentQuery("SELECT id, repeat('x', 100) AS pad FROM range(20000000)"),
                                   CancelScope())
        assert reader.read_next_batch().num_rows > 0
        process.kill()
        process.wait()
        with pytest.raises(EngineUnavailable) as raised:
            while True:
                reader.read_next_batch()
        assert "/" not in str(raised.value)  # no server path or driver detail in the public message
    finally:
        connector.close()
