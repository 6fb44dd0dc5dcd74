"""The HTTP side port (setting ``http_port``): ``/health`` for probes, ``/metrics`` for Prometheus.

``GET /health`` needs no login (a load balancer or Kubernetes probe has none) and says only what
is safe to tell anyone who reaches the port: serving or draining, and per published product
whether it is reachable; never why not (engine addresses and messages stay in the server log).
200 while serving; 503 while draining, or when the mesh has products and none is reachable.

``GET /metrics`` is the Prometheus text format of ``ServerMetrics``.

Everything else is the web console (``server/console/``): its page at ``/``, its API under ``/api/``.
With ``auth.tls`` the port speaks HTTPS only, with the same certificate as Flight SQL.

Why the standard library's ``ThreadingHTTPServer``: two read-only endpoints polled every few
seconds need no framework; a thread per request keeps a slow scrape from delaying a probe; it
runs beside pyarrow's gRPC threads without an event loop to integrate; and it adds no dependency.
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from .console import Console
from .operations import Operations
from .runtime import Runtime

__all__ = ["HttpSidePort", "health"]


def health(runtime: Runtime, operations: Operations) -> tuple[int, dict[str, Any]]:
    """The status code and JSON body of ``/health``."""
    catalog = runtime.catalog
    products = {}
    for name, product in sorted(runtime.spec.products.items()):
        if product.access.public:  # the discovery schemas every mesh has, answered by flightmesh itself
            continue
        reachable = name not in catalog.unavailable and name not in operations.unreachable
        products[name] = {"reachable": reachable}
    draining = operations.lifecycle.draining
    can_serve = not products or any(entry["reachable"] for entry in products.values())
    status = "draining" if draining else ("serving" if can_serve else "unavailable")
    body = {"status": status, "mesh": catalog.name, "running_queries": operations.lifecycle.running(),
            "products": products}
    return (200 if status == "serving" else 503), body


class HttpSidePort:
    """A ``ThreadingHTTPServer`` on its own daemon thread; ``close()`` stops it."""

    def __init__(self, runtime: Runtime, operations: Operations, host: str, port: int) -> None:
        tls = runtime.spec.auth.tls
        handler = _handler(runtime, operations, Console(runtime, operations, tls=tls is not None))
        self._server = ThreadingHTTPServer((host, port), handler)
        if tls is not None:  # the console's passwords and cookies cross TLS, like Flight SQL's (auth.tls)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert_file, tls.key_file)
            # No client certificate is asked for here, even with auth.client_ca_file: probes and
            # Prometheus have none, and the console's users log in with the mesh's credentials.
            # The handshake happens on the request's own thread (first read), not in the accept loop,
            # so a client that stalls it delays nobody else.
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True,
                                                      do_handshake_on_connect=False)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="flightmesh-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler(runtime: Runtime, operations: Operations, console: Console) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "flightmesh"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/health":
                status, body = health(runtime, operations)
                self._answer(status, "application/json", json.dumps(body).encode())
            elif path == "/metrics":
                self._answer(200, CONTENT_TYPE_LATEST, operations.metrics.render())
            else:
                console.get(self)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_POST(self) -> None:
            console.post(self)

        def _answer(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would drown the query log

    return Handler
