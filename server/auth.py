"""Who is calling: Handshake, bearer tokens, and the check on every call.

pyarrow's ``FlightServerBase`` answers Handshake with UNIMPLEMENTED unless an auth handler is
installed, and its ``ServerAuthHandler`` cannot set response *headers*, which is where Flight SQL
clients (ADBC, JDBC, pyarrow's ``authenticate_basic_token``) look for the token. So the work is
done by a ``ServerMiddlewareFactory`` that sees every call's headers:

* on Handshake: ``authorization: Basic base64(user:password)`` is checked against the mesh's
  users and answered with ``authorization: Bearer <token>``; a ``Bearer`` token (JDBC ``token=``)
  is checked and echoed back;
* on every other call: a valid ``Bearer`` token (or ``Basic`` credentials, for clients that send
  them each time) is required, else UNAUTHENTICATED before any handler runs.

``NoopAuthHandler`` only exists to make pyarrow route Handshake to us.

Tokens live behind ``TokenStore`` (issue / resolve / revoke). ``MemoryTokenStore`` keeps random
tokens in memory, bound to the user, expiring after ``settings.token_ttl_seconds``; governance
can swap in signed tokens without touching the middleware. A token only names a user: the
principal (roles, attributes) is looked up again on every call, so a user removed from the mesh
loses access at once.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pyarrow.flight as flight

from flightmesh.mesh import AuthenticationError, Principal

from .errors import to_flight_error

__all__ = [
    "AUTH_MIDDLEWARE",
    "AuthMiddleware",
    "AuthMiddlewareFactory",
    "Identities",
    "MemoryTokenStore",
    "NoopAuthHandler",
    "TokenStore",
    "caller_of",
]

AUTH_MIDDLEWARE = "flightmesh-auth"  # the key the middleware is registered under


class TokenStore(Protocol):
    """Bearer tokens. Implementations are thread-safe."""

    def issue(self, username: str) -> str:
        """A new token for ``username``."""
        ...

    def resolve(self, token: str) -> str | None:
        """The user ``token`` was issued to, or None when it is unknown, revoked or expired."""
        ...

    def revoke(self, token: str) -> None: ...


class Identities(Protocol):
    """What auth needs from the runtime (``MeshRuntime`` provides it all)."""

    def authenticate(self, username: str, password: str) -> Principal:
        """The principal for these credentials; raises AuthenticationError."""
        ...

    def authenticate_jwt(self, token: str) -> Principal:
        """The principal of an identity provider's token (``auth.jwt``); raises AuthenticationError."""
        ...

    def principal_for(self, username: str) -> Principal | None:
        """The current principal of ``username``, or None when the user no longer exists."""
        ...

    def audit_refusal(self, user: str | None, reason: str) -> None:
        """Record a refused authentication that the runtime did not see itself (a bad token)."""
        ...


class MemoryTokenStore:
    """Random 256-bit tokens kept in memory until they expire (``ttl_seconds`` after issue).

    At most ``max_tokens`` live at once: every connection handshakes for its own token, so past
    that the oldest token is dropped (its client authenticates again) rather than memory grown.
    """

    def __init__(
        self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic, max_tokens: int = 100_000
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_tokens = max_tokens
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (username, expires at)

    def issue(self, username: str) -> str:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            while len(self._tokens) >= self.max_tokens:
                del self._tokens[next(iter(self._tokens))]  # insertion order: the oldest first
            self._tokens[token] = (username, now + self.ttl_seconds)
        return token

    def resolve(self, token: str) -> str | None:
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None:
                return None
            username, expires = entry
            if self._clock() >= expires:
                del self._tokens[token]
                return None
            return username

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)

    def _drop_expired(self, now: float) -> None:
        # Tokens expire in issue order (one TTL for all): sweep from the oldest, stop at the
        # first live one, so issuing stays cheap however many tokens there are.
        while self._tokens:
            token, (_, expires) = next(iter(self._tokens.items()))
            if now < expires:
                return
            del self._tokens[token]


class NoopAuthHandler(flight.ServerAuthHandler):  # type: ignore[misc]
    """Makes pyarrow accept Handshake; the middleware does the checking."""

    def authenticate(self, outgoing: flight.ServerAuthSender, incoming: flight.ServerAuthReader) -> None:
        pass

    def is_valid(self, token: bytes) -> str:
        return ""


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one RPC."""

    principal: Principal
    session: str  # what session state is keyed by: the bearer token, or the user for Basic


class AuthMiddleware(flight.ServerMiddleware):  # type: ignore[misc]
    def __init__(self, caller: Caller, reply_token: str | None) -> None:
        self.caller = caller
        self._reply_token = reply_token

    def sending_headers(self) -> dict[str, str]:
        if self._reply_token is None:
            return {}
        return {"authorization": f"Bearer {self._reply_token}"}


class AuthMiddlewareFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    """Authenticates every call. ``allow_passwords`` is False on an unencrypted, non-loopback
    listener unless the descriptor allows it: a password must not cross a network in clear."""

    def __init__(self, identities: Identities, tokens: TokenStore, *, allow_passwords: bool = True) -> None:
        self.identities = identities
        self.tokens = tokens
        self.allow_passwords = allow_passwords

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> AuthMiddleware:
        try:
            return self._authenticate(info, headers)
        except Exception as error:
            failure = to_flight_error(error)
        raise failure from None

    def _authenticate(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> AuthMiddleware:
        handshake = info.method == flight.FlightMethod.HANDSHAKE
        scheme, credentials = _authorization(headers)
        if scheme == "bearer":
            username = self.tokens.resolve(credentials)
            if username is None and _looks_like_jwt(credentials):
                # An identity provider's token: its roles come from the token, not the descriptor.
                principal: Principal | None = self.identities.authenticate_jwt(credentials)
            else:
                principal = self.identities.principal_for(username) if username is not None else None
            if principal is None:
                self.identities.audit_refusal(username, "invalid or expired bearer token")
                raise AuthenticationError("invalid or expired token; authenticate again")
            return AuthMiddleware(Caller(principal, session=credentials), credentials if handshake else None)
        if scheme == "basic":
            if not self.allow_passwords:
                raise AuthenticationError(
                    "passwords are refused on this unencrypted connection: use TLS (grpc+tls://) or a bearer token"
                )
            username, password = _basic_credentials(credentials)
            principal = self.identities.authenticate(username, password)
            if handshake:
                token = self.tokens.issue(principal.name)
                return AuthMiddleware(Caller(principal, session=token), token)
            return AuthMiddleware(Caller(principal, session=f"basic:{principal.name}"), None)
        if scheme is None:
            raise AuthenticationError(
                "authentication required: send a username and password, or a bearer token"
            )
        raise AuthenticationError(f"unsupported authorization scheme {scheme!r}; use Basic or Bearer")


def caller_of(context: flight.ServerCallContext) -> Caller:
    """The caller the middleware authenticated for this call."""
    middleware = context.get_middleware(AUTH_MIDDLEWARE)
    if not isinstance(middleware, AuthMiddleware):  # only if the server was built without it
        raise AuthenticationError("authentication required")
    return middleware.caller


def _authorization(headers: dict[str, list[str]]) -> tuple[str | None, str]:
    """(lower-cased scheme, credentials) of the authorization header, or (None, "")."""
    values = headers.get("authorization") or headers.get("Authorization") or []
    if not values:
        return None, ""
    scheme, _, credentials = values[0].strip().partition(" ")
    return scheme.lower(), credentials.strip()


def _looks_like_jwt(token: str) -> bool:
    """Three base64url parts, and not one of our own tokens (``fm1.`` + signed payload)."""
    return token.count(".") == 2 and not token.startswith("fm1.")


def _basic_credentials(encoded: str) -> tuple[str, str]:
    # Go's Flight client (ADBC) encodes without padding; restore it before decoding.
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        decoded = base64.b64decode(padded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationError("malformed Basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        raise AuthenticationError("malformed Basic credentials")
    return username, password
