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

**Failed logins are throttled** (``flightmesh.governance.throttle``): before a password or an
identity provider's token is checked, the throttle is asked whether that user or the client's
address has failed too often; if so the call is refused at once, with no argon2 work, and the
refusal is audited. The address comes from ``ServerCallContext.peer()``, which pyarrow (26) gives
to RPC handlers only — not to middleware nor to the Handshake's auth handler. So on the calls
whose handler asks ``caller_of(context)`` (GetFlightInfo, GetSchema, DoGet, DoPut, DoAction,
ListActions) the check of Basic credentials and identity-provider tokens is deferred to that
first line of the handler, which knows the address; on Handshake (and any other call) the check
happens in the middleware, and only the per-user rule can apply there. Our own bearer tokens are
never deferred: checking one is an HMAC, not worth throttling.

Tokens live behind ``TokenStore`` (issue / resolve / revoke / revoke_user). ``MemoryTokenStore``
keeps random tokens in memory, bound to the user, expiring after ``settings.token_ttl_seconds``;
the server uses governance's signed tokens (``TokenSigner``). A token only names a user: the
principal (roles, attributes) is looked up again on every call, so a user removed from the mesh
loses access at once.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pyarrow.flight as flight

from flightmesh.governance.identity import TokenClaimsRejected
from flightmesh.governance.throttle import Attempt, LoginThrottle, LoginThrottled
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
    "client_address",
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

    def revoke(self, token: str) -> None:
        """Refuse ``token`` from now on."""
        ...

    def revoke_user(self, username: str) -> None:
        """Refuse every token issued to ``username`` so far (new logins get working tokens)."""
        ...


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

    def revoke_user(self, username: str) -> None:
        with self._lock:
            for token in [token for token, (user, _) in self._tokens.items() if user == username]:
                del self._tokens[token]

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
    """The caller of one call: known at once, or — when the check needs the client's address —
    established by ``caller_of(context)`` in the handler (see the module docstring)."""

    def __init__(self, caller: Caller | None, reply_token: str | None = None,
                 pending: Callable[[str | None], Caller] | None = None) -> None:
        self._caller = caller
        self._reply_token = reply_token
        self._pending = pending
        self._refusal: AuthenticationError | None = None

    def caller_for(self, context: flight.ServerCallContext) -> Caller:
        if self._caller is None:
            if self._refusal is not None:  # asked again: the same answer, not a second failure counted
                raise self._refusal
            assert self._pending is not None
            try:
                self._caller = self._pending(client_address(context.peer()))
            except AuthenticationError as refusal:
                self._refusal = refusal
                raise
        return self._caller

    def sending_headers(self) -> dict[str, str]:
        if self._reply_token is None:
            return {}
        return {"authorization": f"Bearer {self._reply_token}"}


# The calls whose handler starts with ``caller_of(context)``: they may defer the check.
_HANDLER_CHECKS = frozenset({
    flight.FlightMethod.GET_FLIGHT_INFO, flight.FlightMethod.GET_SCHEMA, flight.FlightMethod.DO_GET,
    flight.FlightMethod.DO_PUT, flight.FlightMethod.DO_ACTION, flight.FlightMethod.LIST_ACTIONS,
})


class AuthMiddlewareFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    """Authenticates every call. ``allow_passwords`` is False on an unencrypted, non-loopback
    listener unless the descriptor allows it: a password must not cross a network in clear.
    ``throttle`` limits failed logins (None: no limit)."""

    def __init__(self, identities: Identities, tokens: TokenStore, *, allow_passwords: bool = True,
                 throttle: LoginThrottle | None = None) -> None:
        self.identities = identities
        self.tokens = tokens
        self.allow_passwords = allow_passwords
        self.throttle = throttle

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
                def from_jwt(address: str | None) -> Caller:
                    return Caller(self._check_jwt(credentials, address), session=credentials)

                return self._now_or_in_handler(info, from_jwt, credentials if handshake else None)
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
            if handshake:
                principal = self._check_password(username, password, None)
                token = self.tokens.issue(principal.name)
                return AuthMiddleware(Caller(principal, session=token), token)

            def from_password(address: str | None) -> Caller:
                principal = self._check_password(username, password, address)
                return Caller(principal, session=f"basic:{principal.name}")

            return self._now_or_in_handler(info, from_password, None)
        if scheme is None:
            raise AuthenticationError(
                "authentication required: send a username and password, or a bearer token"
            )
        raise AuthenticationError(f"unsupported authorization scheme {scheme!r}; use Basic or Bearer")

    def _now_or_in_handler(self, info: flight.CallInfo, check: Callable[[str | None], Caller],
                           reply_token: str | None) -> AuthMiddleware:
        if info.method in _HANDLER_CHECKS:
            return AuthMiddleware(None, reply_token, pending=check)
        return AuthMiddleware(check(None), reply_token)

    def _check_password(self, username: str, password: str, address: str | None) -> Principal:
        attempt = self._admit(username, address)
        try:
            principal = self.identities.authenticate(username, password)
        except AuthenticationError:
            attempt.failed()
            raise
        except BaseException:
            attempt.abandon()
            raise
        attempt.succeeded()
        return principal

    def _check_jwt(self, token: str, address: str | None) -> Principal:
        # Counted per address only: the user named inside an unverified token is the sender's choice.
        attempt = self._admit(None, address)
        try:
            principal = self.identities.authenticate_jwt(token)
        except TokenClaimsRejected:
            raise  # well signed, merely stale or for another audience: not a guess
        except AuthenticationError:
            attempt.failed()
            raise
        finally:
            # Anything else, a good token included, only gives the place back: a valid token of
            # one's own must not reset the count of forged ones sent from the same address.
            attempt.abandon()
        return principal

    def _admit(self, username: str | None, address: str | None) -> Attempt:
        if self.throttle is None:
            return _UNTHROTTLED
        try:
            return self.throttle.admit(username, address)
        except LoginThrottled as refusal:
            self.identities.audit_refusal(username, str(refusal))
            raise


_UNTHROTTLED = Attempt(LoginThrottle(0, 1.0, 1.0), ())


def caller_of(context: flight.ServerCallContext) -> Caller:
    """The caller the middleware authenticated for this call (checked now if it was deferred)."""
    middleware = context.get_middleware(AUTH_MIDDLEWARE)
    if not isinstance(middleware, AuthMiddleware):  # only if the server was built without it
        raise AuthenticationError("authentication required")
    return middleware.caller_for(context)


def client_address(peer: str | bytes | None) -> str | None:
    """The host of a gRPC peer: "ipv4:127.0.0.1:54321" -> "127.0.0.1", "ipv6:%5B::1%5D:5" -> "::1"."""
    if isinstance(peer, bytes):
        peer = peer.decode("utf-8", "replace")
    if not peer:
        return None
    kind, _, rest = urllib.parse.unquote(peer).partition(":")
    if kind in ("ipv4", "ipv6"):
        host = rest.rsplit(":", 1)[0].strip("[]").split("%", 1)[0]  # no port, brackets or zone
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            return host or None
    return peer  # a Unix socket or another transport: the whole name is the address


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
