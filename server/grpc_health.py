"""The gRPC health checking protocol (``grpc.health.v1.Health``) on a port of its own (``grpc_health_port``).

gRPC load balancers (Envoy's gRPC health checker, Kubernetes ``grpc:`` probes, ``grpc_health_probe``)
ask this service instead of HTTP. It answers for the server as a whole (service ``""``) and for
``arrow.flight.protocol.FlightService``: SERVING while flightmesh serves, NOT_SERVING from the
moment SIGTERM starts the drain, so a balancer stops sending new queries while the running ones
finish. ``Watch`` streams see the change at once.

Why a port of its own: pyarrow's Flight server owns its gRPC server and registers no other
service on it. The port is bound without SO_REUSEPORT and checked first like the Flight port
(``lifecycle.require_free_port``), so a used port is refused naming it. It speaks plaintext:
probes carry no credentials and the answer is a single status, nothing about the mesh.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from .lifecycle import Lifecycle, PortInUse, require_free_port

__all__ = ["SERVICES", "GrpcHealth"]

SERVICES = ("", "arrow.flight.protocol.FlightService")


class GrpcHealth:
    """The health service on ``host:port`` (0: any free port, then ``port`` names it); ``close()`` stops it."""

    def __init__(self, lifecycle: Lifecycle, host: str, port: int) -> None:
        try:
            from grpc_health.v1 import health, health_pb2, health_pb2_grpc
        except ImportError:
            raise PortInUse("settings.grpc_health_port needs grpcio-health-checking "
                            "(pip install 'flightmesh[grpc-health]')") from None
        require_free_port(host, port)
        self._serving = health_pb2.HealthCheckResponse.SERVING
        self._not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        self._servicer = health.HealthServicer()
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="flightmesh-grpc-health"),
                                   options=[("grpc.so_reuseport", 0)])
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, self._server)
        bound = self._server.add_insecure_port(f"{host}:{port}")
        if bound == 0:  # grpc's way of saying the bind failed
            raise PortInUse(f"cannot listen on {host}:{port} for the gRPC health service")
        self.port: int = bound
        self._set(self._not_serving if lifecycle.draining else self._serving)
        lifecycle.on_draining(lambda: self._set(self._not_serving))
        self._server.start()

    def _set(self, status: int) -> None:
        for service in SERVICES:
            self._servicer.set(service, status)

    def close(self) -> None:
        self._servicer.enter_graceful_shutdown()  # watchers are told NOT_SERVING before the port closes
        self._server.stop(grace=1.0).wait()
