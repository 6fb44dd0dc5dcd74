"""A Sail server started in the mesh's own process: ``merge_engine: {kind: sail, mode: local-cluster}``.

LakeSail (PyPI ``pysail``) is a Rust engine that speaks Spark Connect; in-process it starts in
well under a second, in ``local`` mode (one process, threads per partition) or ``local-cluster``
mode (a driver and ``workers`` workers on threads). The merge then talks to it as to any Spark
Connect endpoint, on a loopback port of its own.

Sail reads its mode from the environment when a server starts, so the variables are set around
the start only, under a lock (two meshes opening at once must not see each other's). Nothing here
imports PySpark: pysail brings none, and a PySpark 4.3 beside it would make Sail refuse sessions.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from flightmesh.mesh import DescriptorError

__all__ = ["EmbeddedSail"]

_START_LOCK = threading.Lock()


class EmbeddedSail:
    """One Sail server in this process; ``uri`` is where it listens.

    ``protocol``: ``spark-connect`` (``sc://``, what the merge and the spark kind speak) or
    ``flight-sql`` (``grpc://``, the flightsql kind with ``dialect: spark``). The tests' and the
    benchmarks' Sail servers are started here too, so every Sail of the project starts one way.
    """

    def __init__(self, mode: str, workers: int, *, protocol: str = "spark-connect") -> None:
        try:
            if protocol == "flight-sql":
                from pysail.flight import FlightSqlServer as server_class
            else:
                from pysail.spark import SparkConnectServer as server_class
        except ImportError:
            raise DescriptorError(["settings.merge_engine: mode needs LakeSail in the server's environment "
                                   "(pip install flightmesh[sail])"]) from None
        environment = {"SAIL_MODE": mode}
        if mode == "local-cluster":
            environment["SAIL_CLUSTER__WORKER_INITIAL_COUNT"] = str(workers)
        with _START_LOCK:
            saved = {name: os.environ.get(name) for name in environment}
            os.environ.update(environment)
            try:
                self._server: Any = server_class("127.0.0.1", 0)
                self._server.start(background=True)
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
        host, port = self._server.listening_address
        scheme = "grpc" if protocol == "flight-sql" else "sc"
        self.uri = f"{scheme}://{host}:{port}"

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # stopping is best effort: the process may be exiting
            self._server.stop()
