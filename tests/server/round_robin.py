"""A per-call round-robin gRPC proxy for tests: what Envoy does in front of replicas (README).

Every call, whatever its method, is forwarded as a raw byte stream to the next upstream, with its
metadata; headers, trailers and status come back as the upstream sent them. ``served`` counts the
calls each upstream got, so a test can show both replicas took part.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

__all__ = ["RoundRobinProxy"]


class RoundRobinProxy(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self.channels = [grpc.insecure_channel(target) for target in upstreams]
        self._next = itertools.cycle(range(len(upstreams)))
        self._lock = threading.Lock()
        self.served: Counter[str] = Counter()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        self.server.add_generic_rpc_handlers((self,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def __enter__(self) -> RoundRobinProxy:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)
        for channel in self.channels:
            channel.close()

    def service(self, details: Any) -> grpc.RpcMethodHandler:
        method = details.method
        with self._lock:
            index = next(self._next)
            self.served[self.upstreams[index]] += 1
        channel = self.channels[index]
        metadata = [(key, value) for key, value in details.invocation_metadata
                    if not key.startswith(":") and key not in ("content-type", "te", "user-agent")]

        def forward(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            call = channel.stream_stream(method, request_serializer=None, response_deserializer=None)(
                requests, metadata=metadata)
            context.add_callback(call.cancel)
            try:
                context.send_initial_metadata(call.initial_metadata())
                yield from call
            except grpc.RpcError:
                pass
            context.set_trailing_metadata(call.trailing_metadata() or ())
            code = call.code()
            if code != grpc.StatusCode.OK:
                context.set_code(code)
                context.set_details(call.details() or "")

        return grpc.stream_stream_rpc_method_handler(forward)
