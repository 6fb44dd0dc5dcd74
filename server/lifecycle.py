"""The server's life: refusing a port already taken, and draining on SIGTERM.

A port in use: gRPC binds with SO_REUSEPORT by default, so on some builds a second server on a
used port starts and silently shares the traffic; on others (pyarrow 26 here) it fails with
"Server did not start properly", which names neither the port nor the reason. pyarrow's
``FlightServerBase`` passes no gRPC channel arguments (``grpc.so_reuseport`` cannot be set), so
``require_free_port`` binds the address itself first, *without* SO_REUSEPORT: a listening socket
of any program (a gRPC one included) makes that bind fail, and the error names the port.

Draining: ``Lifecycle.start_draining`` makes every new query refused with UNAVAILABLE (the code
load balancers retry elsewhere); ``drain`` then waits until the queries already running have
finished, or the grace period has passed. A FlightInfo answered just before the drain began is
given a moment for its DoGet to arrive (``TICKET_GRACE_SECONDS``): ADBC sends it right away.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow.flight as flight

__all__ = ["SHUTDOWN_GRACE_SECONDS", "TICKET_GRACE_SECONDS", "Lifecycle", "PortInUse", "require_free_port",
           "serve_until_stopped", "shutdown_within"]

TICKET_GRACE_SECONDS = 1.0

log = logging.getLogger("flightmesh.server")


class PortInUse(OSError):
    """The address the server is to listen on is taken by another program."""


def require_free_port(host: str, port: int) -> None:
    """Raise ``PortInUse`` naming ``port`` when something already listens on ``host:port``.

    Port 0 (the system picks one) is always free. SO_REUSEADDR is set so that connections of a
    server that just stopped (TIME_WAIT) do not count as a listener.
    """
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise PortInUse(f"cannot listen on {host}:{port}: the host does not resolve ({error.strerror})") from None
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                    raise PortInUse(f"port {port} on {host} is already in use by another program (a second "
                                    "flightmesh?); stop it or choose another --port") from None
                if error.errno in (99, 49):  # EADDRNOTAVAIL: e.g. ::1 on a host without IPv6
                    continue
                raise PortInUse(f"cannot listen on {host}:{port}: {error.strerror}") from None


class Lifecycle:
    """Serving or draining; the queries running now (``running()``), for the drain and the metrics."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0
        self._draining = False
        self._last_issued = float("-inf")
        self._draining_listeners: list[Callable[[], None]] = []

    @property
    def draining(self) -> bool:
        return self._draining

    def running(self) -> int:
        return self._running

    def admit(self) -> None:
        """Refuse a new query while draining; UNAVAILABLE, so a client or balancer retries elsewhere."""
        if self._draining:
            raise flight.FlightUnavailableError(
                "flightmesh is draining (shutting down): it takes no new queries; retry on another replica "
                "or once it has restarted")

    def issued(self) -> None:
        """A FlightInfo was answered: its DoGet is expected shortly, and a drain waits for it."""
        self._last_issued = time.monotonic()

    @contextlib.contextmanager
    def query_running(self) -> Iterator[None]:
        with self._changed:
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def on_draining(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when the drain starts (the gRPC health service turns NOT_SERVING)."""
        self._draining_listeners.append(listener)

    def start_draining(self) -> None:
        with self._changed:
            self._draining = True
            self._changed.notify_all()
        for listener in list(self._draining_listeners):
            try:
                listener()
            except Exception:  # a health report that fails must not stop the drain
                log.exception("a drain listener failed")

    def drain(self, seconds: float) -> bool:
        """Wait until no query runs (or ``seconds`` pass); True when every running query finished."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while True:
                now = time.monotonic()
                waiting_for_ticket = now - self._last_issued < TICKET_GRACE_SECONDS
                if self._running == 0 and not waiting_for_ticket:
                    return True
                if now >= deadline:
                    return self._running == 0
                pause = min(deadline - now, TICKET_GRACE_SECONDS if waiting_for_ticket else deadline - now)
                self._changed.wait(max(0.01, pause))


def serve_until_stopped(lifecycle: Lifecycle, *, drain_seconds: float, cancel_running: Callable[[], int],
                        reload: Callable[[], object] | None = None,
                        announce: Callable[[], None] = lambda: None) -> None:
    """Block the main thread until SIGINT, or SIGTERM and a drain; the server serves from its own threads.

    SIGTERM: new queries are refused, running ones get ``drain_seconds`` to finish; a second
    SIGTERM (or SIGINT) stops at once. SIGHUP (where it exists): ``reload`` on a thread of its own.
    The handlers are set before ``announce`` (the banner), so a signal sent once the server is
    announced never finds Python's default (exit without cleanup). Whatever still runs when this
    returns has been cancelled (``cancel_running``), so the server's shutdown does not wait on it.
    """
    stop = threading.Event()

    def drain_then_stop() -> None:
        if lifecycle.drain(drain_seconds):
            log.warning("drained: every running query finished; stopping")
        else:
            log.warning("drain_seconds (%s) passed with %d queries running; they are cancelled", drain_seconds,
                        lifecycle.running())
        stop.set()

    def terminate(*_: object) -> None:
        if lifecycle.draining:
            stop.set()
            return
        lifecycle.start_draining()
        log.warning("SIGTERM: draining; new queries are refused, %d running get up to %s s", lifecycle.running(),
                    drain_seconds)
        threading.Thread(target=drain_then_stop, name="flightmesh-drain", daemon=True).start()

    signal.signal(signal.SIGTERM, terminate)
    if reload is not None and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=reload, name="flightmesh-reload",
                                                                 daemon=True).start())
    announce()
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.wait(0.5):  # in Python, so that the signal handlers run
            pass
    lifecycle.start_draining()  # nothing new starts while the rest is cancelled
    cancelled = cancel_running()
    if cancelled:
        log.warning("%d running queries cancelled at shutdown", cancelled)


SHUTDOWN_GRACE_SECONDS = 5.0


def shutdown_within(server: Any, seconds: float = SHUTDOWN_GRACE_SECONDS) -> bool:
    """``server.shutdown()``, waited for at most ``seconds``; False when it did not finish in time.

    pyarrow's shutdown waits for every call to end and takes no deadline (gRPC's Shutdown does,
    pyarrow does not pass one): a stream whose client stopped reading stays blocked in a gRPC
    write however its query is cancelled. The caller then exits without waiting for it.
    """
    stopper = threading.Thread(target=server.shutdown, name="flightmesh-shutdown", daemon=True)
    stopper.start()
    stopper.join(seconds)
    if stopper.is_alive():
        log.warning("a stream did not stop within %s s of shutdown (its client stopped reading); exiting anyway",
                    seconds)
        return False
    return True
