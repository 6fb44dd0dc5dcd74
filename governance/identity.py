"""Identities: password checks, signed bearer tokens, and tokens from an external identity provider.

Pure functions and small classes, no server imports; the Flight SQL server calls them.

**Passwords.** A user has ``password_hash`` (argon2id, as ``hash_password`` writes it: put the
output of ``python -m flightmesh.governance.identity`` in the descriptor) or a plain ``password``
(demos, usually ``${ENV_VAR}``). ``verify_password(user, password)`` checks either in constant
time for the plain case and at argon2's cost for the hash; ``check_credentials`` also spends
the cost of a hash check for unknown users, so timing does not tell which names exist.

**Bearer tokens** (``TokenSigner``): ``fm1.<payload>.<signature>`` where the payload is
base64url JSON ``{"u": user, "iat": unix seconds, "exp": unix seconds, "jti": 128 random bits}``
and the signature an HMAC-SHA256 over ``fm1.<payload>`` with the server's secret. A token is
bound to its user (the user is inside what is signed) and expires. Nothing about the principal's
roles is in it: they are looked up on every call, so a change to the descriptor applies at once.
``TokenSigner`` answers the server's ``TokenStore`` protocol (``issue`` / ``resolve`` /
``revoke`` / ``revoke_user``) and so replaces ``MemoryTokenStore`` as is; tokens then survive a
restart when the secret comes from the descriptor (``auth.token_secret``).

**Revocation.** A signed token is valid by itself, so refusing one before its expiry takes a
record (``Revocations``): the ids of revoked tokens (CloseSession revokes the session's token),
each kept until its token would have expired anyway, and per user a "not valid before" time (an
administrator's ``revoke_tokens``: every token of that user issued until then is refused; the
user logs in again for a new one). The record is in memory: it is lost on restart, and each
server process has its own (persisting it to SQLite is a later issue).

**JWT from an identity provider** (``JwtVerifier``): signature, ``iss``, ``aud``, ``exp`` (and
``nbf``/``iat`` when present) are checked with PyJWT. The accepted algorithms are fixed by the
configured key, never by the token: a public key or JWKS admits only asymmetric algorithms (so
a token HMAC-signed with the public key as secret is refused: algorithm confusion), a shared
secret admits only HS256/384/512, and ``none`` is never accepted. Roles come from a claim
(``roles_claim``, a dotted path such as ``realm_access.roles``; a list or a space-separated
string).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from flightmesh.mesh import AuthenticationError, JwtSpec, Principal, UserSpec

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "HMAC_ALGORITHMS",
    "JwtSettings",
    "JwtVerifier",
    "Revocations",
    "TokenClaims",
    "TokenClaimsRejected",
    "TokenSigner",
    "check_credentials",
    "hash_password",
    "issue_token",
    "verify_password",
    "verify_token",
]

ASYMMETRIC_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")

_INVALID = "invalid username or password"
_TOKEN_INVALID = "invalid or expired token; authenticate again"
_PREFIX = "fm1"


# -- passwords -----------------------------------------------------------------------------------------


def _hasher() -> Any:
    from argon2 import PasswordHasher  # imported on use: a mesh of plain demo passwords needs no argon2

    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` for ``users.<name>.password_hash``."""
    return str(_hasher().hash(password))


_DUMMY_HASH: list[str] = []  # computed once, on the first unknown user


def verify_password(user: UserSpec, password: str) -> bool:
    """Does ``password`` match ``user``'s hash (argon2) or plain password?"""
    if user.password_hash is not None:
        return _verify_hash(user.password_hash, password)
    if user.password is not None:
        return hmac.compare_digest(user.password.encode(), password.encode())
    return False  # a user with neither authenticates only through a token from the identity provider


def _verify_hash(encoded: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return bool(_hasher().verify(encoded, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_credentials(users: Mapping[str, UserSpec], username: str, password: str) -> UserSpec:
    """The user these credentials name; AuthenticationError (always the same) otherwise."""
    user = users.get(username)
    if user is None:
        # Spend what a real check costs, so a wrong name answers as slowly as a wrong password.
        if any(u.password_hash for u in users.values()):
            if not _DUMMY_HASH:
                _DUMMY_HASH.append(hash_password(secrets.token_hex(16)))
            _verify_hash(_DUMMY_HASH[0], password)
        else:
            hmac.compare_digest(b"\x00unknown", password.encode())
        raise AuthenticationError(_INVALID)
    if not verify_password(user, password):
        raise AuthenticationError(_INVALID)
    return user


# -- signed bearer tokens ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(secret: bytes, username: str, ttl_seconds: float, *, now: float | None = None) -> str:
    """A signed token for ``username`` valid for ``ttl_seconds``."""
    issued = time.time() if now is None else now
    # "iat" at full precision: a token issued just after a user's tokens were revoked must be later.
    payload = {"u": username, "iat": issued, "exp": int(issued + ttl_seconds), "jti": secrets.token_hex(16)}
    body = f"{_PREFIX}.{_b64(json.dumps(payload, separators=(',', ':'), sort_keys=True).encode())}"
    signature = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(signature)}"


class TokenClaims(NamedTuple):
    user: str
    token_id: str
    issued: float   # tokens from before "iat" existed: 0.0 (older than any revocation)
    expires: int


def verify_token(secret: bytes, token: str, *, now: float | None = None) -> TokenClaims:
    """The claims of a valid token; AuthenticationError for anything else."""
    try:
        prefix, payload, signature = token.split(".")
        if prefix != _PREFIX:
            raise ValueError(prefix)
        body = f"{prefix}.{payload}"
        expected = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
        # Check the signature before reading the payload: nothing unsigned is ever parsed.
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise ValueError("signature")
        claims = json.loads(_unb64(payload))
        user, token_id, expires = claims["u"], claims["jti"], claims["exp"]
        issued = claims.get("iat", 0.0)
        if not isinstance(user, str) or not isinstance(token_id, str) or not isinstance(expires, int) \
                or isinstance(issued, bool) or not isinstance(issued, int | float):
            raise ValueError("claims")
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        raise AuthenticationError(_TOKEN_INVALID) from None
    if (time.time() if now is None else now) >= expires:
        raise AuthenticationError(_TOKEN_INVALID)
    return TokenClaims(user, token_id, float(issued), expires)


class Revocations:
    """Revoked token ids and per-user "not valid before" times, each forgotten once every token it
    concerns has expired anyway. Thread-safe; in memory (see the module docstring).

    At most ``max_ids`` ids are kept. Past that, the id closest to its expiry gives way to a
    "not valid before" for its user at that token's issue time: the token stays refused, and at
    worst the user's older tokens with it (they log in again) — never a revoked token accepted.
    """

    def __init__(self, ttl_seconds: float, max_ids: int = 100_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_ids = max_ids
        self._lock = threading.Lock()
        self._ids: dict[str, TokenClaims] = {}
        self._expiry: list[tuple[int, str]] = []    # heap of (expires, token id): cheap forgetting
        self._not_before: dict[str, float] = {}     # user -> tokens issued at or before are refused

    def revoke_token(self, claims: TokenClaims, now: float) -> None:
        with self._lock:
            self._forget(now)
            if claims.token_id in self._ids:
                return
            self._ids[claims.token_id] = claims
            heapq.heappush(self._expiry, (claims.expires, claims.token_id))
            while len(self._ids) > self.max_ids:
                _, token_id = heapq.heappop(self._expiry)
                oldest = self._ids.pop(token_id)
                # At least its issue time (a token without "iat": expiry - TTL), so the entry is
                # kept until that token has expired.
                moment = max(oldest.issued, oldest.expires - self.ttl_seconds)
                self._not_before[oldest.user] = max(self._not_before.get(oldest.user, -math.inf), moment)

    def revoke_user(self, user: str, now: float) -> None:
        """Refuse every token of ``user`` issued at or before ``now``."""
        with self._lock:
            self._forget(now)
            self._not_before[user] = max(self._not_before.get(user, -math.inf), now)

    def is_revoked(self, claims: TokenClaims) -> bool:
        with self._lock:
            return claims.token_id in self._ids or claims.issued <= self._not_before.get(claims.user, -math.inf)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids) + len(self._not_before)

    def _forget(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _, token_id = heapq.heappop(self._expiry)
            self._ids.pop(token_id, None)
        # A "not valid before" outlives its purpose once every token issued before it has expired.
        stale = [user for user, moment in self._not_before.items() if moment + self.ttl_seconds < now]
        for user in stale:
            del self._not_before[user]


_VERIFIED_TOKENS = 10_000   # tokens TokenSigner remembers as verified (at most; then it starts over)


class TokenSigner:
    """Issues and checks signed tokens; the server's ``TokenStore`` protocol. Thread-safe.

    ``secret`` of at least 32 bytes; a random one (tokens die with the process) when None.
    """

    def __init__(self, secret: bytes | None, ttl_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        if secret is not None and len(secret) < 32:
            raise ValueError("the token secret must be at least 32 bytes")
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self.revocations = Revocations(ttl_seconds)
        # Tokens whose signature and claims verified: every call of a session sends the same one,
        # and checking it again (HMAC, base64, JSON) cost ~0.04 ms per call. Expiry and revocation
        # are still checked on every call; only the signature check is remembered.
        self._verified: dict[str, TokenClaims] = {}
        self._verified_lock = threading.Lock()

    def issue(self, username: str) -> str:
        return issue_token(self._secret, username, self.ttl_seconds, now=self._clock())

    def verify(self, token: str) -> str:
        """The user of a valid, unrevoked token; AuthenticationError otherwise."""
        now = self._clock()
        with self._verified_lock:
            claims = self._verified.get(token)
        if claims is None:
            claims = verify_token(self._secret, token, now=now)
            with self._verified_lock:
                if len(self._verified) >= _VERIFIED_TOKENS:
                    self._verified.clear()   # (expired ones among them): cheaper than an LRU per call
                self._verified[token] = claims
        elif now >= claims.expires:
            raise AuthenticationError(_TOKEN_INVALID)
        if self.revocations.is_revoked(claims):
            raise AuthenticationError(_TOKEN_INVALID)
        return claims.user

    def resolve(self, token: str) -> str | None:
        try:
            return self.verify(token)
        except AuthenticationError:
            return None

    def revoke(self, token: str) -> None:
        """Refuse ``token`` from now on (nothing to do for a token that is not valid anyway)."""
        try:
            claims = verify_token(self._secret, token, now=self._clock())
        except AuthenticationError:
            return
        self.revocations.revoke_token(claims, self._clock())

    def revoke_user(self, username: str) -> None:
        """Refuse every token issued to ``username`` until now; new logins get working tokens."""
        self.revocations.revoke_user(username, self._clock())


# -- JWT from an external identity provider --------------------------------------------------------------


@dataclass(frozen=True)
class JwtSettings:
    """``auth.jwt`` of the descriptor. Exactly one of ``public_key``, ``jwks`` and ``secret``."""

    issuer: str
    audience: str
    public_key: str | None = None             # PEM text
    jwks: Mapping[str, Any] | None = None     # a JWK Set document
    secret: str | None = None                 # shared secret (HS*)
    algorithms: tuple[str, ...] = ()          # default: every algorithm the key kind allows
    roles_claim: str = "roles"
    username_claim: str = "sub"
    leeway_seconds: float = 30.0
    required_claims: tuple[str, ...] = field(default=("exp", "iss", "aud"))

    @classmethod
    def from_files(cls, *, issuer: str, audience: str, public_key_file: Path | None = None,
                   jwks_file: Path | None = None, secret: str | None = None, **options: Any) -> JwtSettings:
        public_key = public_key_file.read_text() if public_key_file is not None else None
        jwks = json.loads(jwks_file.read_text()) if jwks_file is not None else None
        return cls(issuer=issuer, audience=audience, public_key=public_key, jwks=jwks, secret=secret,
                   **options)


class TokenClaimsRejected(AuthenticationError):
    """A token with a good signature whose claims are refused (expired, another audience...).

    Not a forgery: the login throttle does not count it against the client's address, so a
    client that keeps sending a stale token does not lock out its neighbours.
    """


@dataclass(frozen=True)
class JwtIdentity:
    username: str
    roles: frozenset[str]
    claims: Mapping[str, Any]


class JwtVerifier:
    """Checks identity-provider tokens. See the module docstring for what is refused and why."""

    def __init__(self, settings: JwtSettings) -> None:
        keys = [k for k in (settings.public_key, settings.jwks, settings.secret) if k is not None]
        if len(keys) != 1:
            raise ValueError("auth.jwt needs exactly one of public_key_file, jwks_file, secret")
        allowed = HMAC_ALGORITHMS if settings.secret is not None else ASYMMETRIC_ALGORITHMS
        algorithms = settings.algorithms or allowed
        wrong = [a for a in algorithms if a not in allowed]
        if wrong:
            kind = "a shared secret" if settings.secret is not None else "a public key"
            raise ValueError(f"algorithms {', '.join(wrong)} cannot be used with {kind}")
        self.settings = settings
        self.algorithms = tuple(algorithms)

    @classmethod
    def from_spec(cls, spec: JwtSpec) -> JwtVerifier:
        """The verifier ``auth.jwt`` of the descriptor describes (key files read now)."""
        return cls(JwtSettings.from_files(
            issuer=spec.issuer, audience=spec.audience, public_key_file=spec.public_key_file,
            jwks_file=spec.jwks_file, secret=spec.secret, algorithms=spec.algorithms,
            roles_claim=spec.roles_claim, username_claim=spec.username_claim))

    def verify(self, token: str) -> JwtIdentity:
        """The identity in a valid token; AuthenticationError (one message) for anything else."""
        import jwt

        settings = self.settings
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in self.algorithms:  # also refuses "none" and HS* against a public key
                raise jwt.InvalidAlgorithmError(str(algorithm))
            key = self._key(header)
            claims = jwt.decode(
                token, key=key, algorithms=[algorithm], audience=settings.audience, issuer=settings.issuer,
                leeway=settings.leeway_seconds,
                options={"require": [*settings.required_claims, settings.username_claim]},
            )
        except _claims_errors():
            # PyJWT checks claims only after the signature: this token was signed by the key.
            raise TokenClaimsRejected(_TOKEN_INVALID) from None
        except (jwt.PyJWTError, ValueError, KeyError, TypeError):
            raise AuthenticationError(_TOKEN_INVALID) from None
        username = claims.get(settings.username_claim)
        if not isinstance(username, str) or not username:
            raise TokenClaimsRejected(_TOKEN_INVALID)
        return JwtIdentity(username, _roles(claims, settings.roles_claim), claims)

    def _key(self, header: Mapping[str, Any]) -> Any:
        import jwt

        settings = self.settings
        if settings.secret is not None:
            return settings.secret
        if settings.public_key is not None:
            return settings.public_key
        assert settings.jwks is not None
        key_set = jwt.PyJWKSet.from_dict(dict(settings.jwks))
        kid = header.get("kid")
        matches = [k for k in key_set.keys if kid is None or k.key_id == kid]
        if len(matches) != 1:
            raise KeyError("no single key for this token's kid")
        return matches[0].key

    def principal(self, token: str, users: Mapping[str, UserSpec]) -> Principal:
        """The principal of a valid token: its roles; attributes from the descriptor's user of that name."""
        identity = self.verify(token)
        user = users.get(identity.username)
        attributes = dict(user.attributes) if user is not None else {}
        return Principal(name=identity.username, roles=identity.roles, attributes=attributes)


def _claims_errors() -> tuple[type[Exception], ...]:
    import jwt

    return (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError, jwt.InvalidAudienceError,
            jwt.InvalidIssuerError, jwt.InvalidIssuedAtError, jwt.MissingRequiredClaimError)


def _roles(claims: Mapping[str, Any], path: str) -> frozenset[str]:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()


if __name__ == "__main__":  # pragma: no cover - a helper for writing descriptors
    import getpass

    print(hash_password(getpass.getpass("password: ")))
