"""Signed, self-contained tickets and prepared-statement handles, so any replica can redeem them.

A sealed token is ``MAGIC | header length (4 bytes) | JSON header | zlib(JSON body) | HMAC-SHA256``
of all that precedes it. The header names its kind (a ticket cannot pass for a handle), its user,
an expiry (wall-clock seconds: the replicas' clocks are assumed to agree within seconds), a random
nonce (the token's identity on a replica: single use, cancel) and the mesh fingerprint
(``mesh_fingerprint``) it was made under; the body is the kind's own (for tickets: the bound plans;
for handles: the SQL and its session). The header is apart so that checking a token reads only
it: the body (tens of KB of plan for a TPC-H query, ~1 ms to inflate and parse) is decoded only
when asked for (``Opened.body``), which the replica that issued the token never does.

The key is ``FLIGHTMESH_TICKET_KEY`` (at least 32 bytes), the same on every replica; without it a
random key per process, so tokens are good only on the server that made them (one server's
behaviour). The payload is signed, not encrypted: it holds nothing the user could not see anyway
(their SQL, the plan EXPLAIN shows them), and the masks and filters in it are the ones applied to
them; no engine credential travels (fragments name products, not connections).

Refusals, in the order checked (DESIGN.md §6):

* not a flightmesh token at all, or too large  -> INVALID_ARGUMENT (``BadRequest``);
* its signature does not verify (altered, or made under another key) -> UNAUTHENTICATED;
* expired -> UNAUTHENTICATED (run the query again);
* another user's -> NOT_FOUND, exactly as for a token that never existed (it reveals nothing).

gRPC's default message limit is 4 MiB; a token is kept under ``MAX_TOKEN_BYTES`` (1 MiB), so a
FlightInfo holding one (and its schema) stays well inside it, whatever the client's limit.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from flightmesh.mesh import AuthenticationError, NotFound

from .errors import BadRequest

__all__ = ["KEY_VARIABLE", "MAX_TOKEN_BYTES", "Opened", "TicketCodec", "TokenTooLarge", "decode_rows", "encode_rows"]

KEY_VARIABLE = "FLIGHTMESH_TICKET_KEY"
MAX_TOKEN_BYTES = 1024 * 1024
_MAGIC = b"FMT2"
_HEADER_LENGTH_BYTES = 4
# zlib level 1: a third of level 6's time on plan JSON, for ~20% more bytes (MAX_TOKEN_BYTES is far).
_LEVEL = 1
_DIGEST_BYTES = 32
_MIN_KEY_BYTES = 32


class TokenTooLarge(ValueError):
    """The payload does not fit in ``MAX_TOKEN_BYTES`` even compressed (the caller leaves parts out)."""


@dataclass(frozen=True)
class Opened:
    """A token whose signature, kind, expiry and user were checked; its body decoded on first use."""

    nonce: str
    fingerprint: str
    expires_at: float
    packed_body: bytes = field(repr=False)

    @functools.cached_property
    def body(self) -> Mapping[str, Any]:
        # Signed by us: what follows is our own writing, so a failure here is a bug, not an attack.
        decoded: Mapping[str, Any] = json.loads(zlib.decompress(self.packed_body))
        return decoded


class TicketCodec:
    def __init__(self, key: bytes | None = None, *, clock: Callable[[], float] = time.time) -> None:
        if key is not None and len(key) < _MIN_KEY_BYTES:
            raise ValueError(f"{KEY_VARIABLE} must be at least {_MIN_KEY_BYTES} bytes long")
        # No key: one per process, so only this server redeems what it issued (one server, no replicas).
        self.shared = key is not None
        self._key = key if key is not None else secrets.token_bytes(_MIN_KEY_BYTES)
        self._clock = clock

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TicketCodec:
        value = (os.environ if environ is None else environ).get(KEY_VARIABLE)
        return cls(value.encode() if value else None)

    def seal(self, kind: str, user: str, body: Mapping[str, Any], *, ttl_seconds: float, fingerprint: str,
             nonce: str | None = None) -> bytes:
        return self.seal_text(kind, user, json.dumps(body, separators=(",", ":")), ttl_seconds=ttl_seconds,
                              fingerprint=fingerprint, nonce=nonce)

    def seal_text(self, kind: str, user: str, body: str, *, ttl_seconds: float, fingerprint: str,
                  nonce: str | None = None) -> bytes:
        """``seal`` of a body already written as JSON text (a caller that keeps most of it)."""
        header = json.dumps({"kind": kind, "user": user, "expires_at": self._clock() + ttl_seconds,
                             "nonce": nonce or secrets.token_urlsafe(16), "fingerprint": fingerprint},
                            separators=(",", ":")).encode()
        packed = b"".join((_MAGIC, len(header).to_bytes(_HEADER_LENGTH_BYTES, "big"), header,
                           zlib.compress(body.encode(), _LEVEL)))
        token = packed + self._sign(packed)
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenTooLarge(f"a {kind} of {len(token)} bytes is over {MAX_TOKEN_BYTES}")
        return token

    def now(self) -> float:
        """The clock expiries are checked against."""
        return self._clock()

    def nonce_of(self, token: bytes) -> str | None:
        """The nonce of a token that verifies (whatever its user or expiry), else None: for lookups only."""
        verified = self._verified(token, raising=False)
        return None if verified is None else str(verified[0].get("nonce"))

    def open(self, kind: str, token: bytes, user: str, *, not_found: str) -> Opened:
        verified = self._verified(token, raising=True)
        assert verified is not None
        header, packed_body = verified
        if header.get("kind") != kind:
            raise BadRequest(f"this is not a flightmesh {kind}")
        expires_at = float(header["expires_at"])
        if self._clock() > expires_at:
            raise AuthenticationError(f"this {kind} has expired; run the query again")
        if header.get("user") != user:
            raise NotFound(not_found)
        return Opened(str(header["nonce"]), str(header["fingerprint"]), expires_at, packed_body)

    def _verified(self, token: bytes, *, raising: bool) -> tuple[dict[str, Any], bytes] | None:
        """(header, compressed body) of a token whose signature verifies."""
        start = len(_MAGIC) + _HEADER_LENGTH_BYTES
        if len(token) > MAX_TOKEN_BYTES or not token.startswith(_MAGIC) or len(token) <= start + _DIGEST_BYTES:
            if raising:
                raise BadRequest("this is not a ticket or statement handle flightmesh issued")
            return None
        packed, digest = token[:-_DIGEST_BYTES], token[-_DIGEST_BYTES:]
        if not hmac.compare_digest(digest, self._sign(packed)):
            if raising:
                raise AuthenticationError(
                    "the signature of this ticket or statement handle does not verify: it was altered, or "
                    f"issued by a server with another {KEY_VARIABLE}")
            return None
        # Signed by us: what follows is our own writing, so a failure here is a bug, not an attack.
        end = start + int.from_bytes(packed[len(_MAGIC):start], "big")
        header: dict[str, Any] = json.loads(packed[start:end])
        return header, packed[end:]

    def _sign(self, packed: bytes) -> bytes:
        return hmac.new(self._key, packed, hashlib.sha256).digest()


def encode_rows(rows: list[tuple[Any, ...]]) -> str:
    """Parameter rows as text for a handle (Arrow IPC keeps every type exactly)."""
    if not rows or not rows[0]:
        return json.dumps(len(rows))
    columns = list(zip(*rows, strict=True))
    table = pa.table({str(i): pa.array(list(values)) for i, values in enumerate(columns)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii")


def decode_rows(text: str) -> list[tuple[Any, ...]]:
    if text.isdigit():
        return [() for _ in range(int(text))]
    table = pa.ipc.open_stream(pa.py_buffer(base64.b64decode(text))).read_all()
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))
