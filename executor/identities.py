"""Who is asking: passwords and identity-provider tokens to principals, refusals to the audit.

Every refused authentication is an audit record (the server's login throttle, which acts before
these are asked, lives in ``flightmesh.governance.throttle`` and the server's middleware). The
same AuthenticationError for any mismatch, so a refusal does not tell which part was wrong.
"""

from __future__ import annotations

import time

from flightmesh.governance.audit import AuditLog, AuditRecord
from flightmesh.governance.identity import JwtVerifier, check_credentials
from flightmesh.mesh import AuthenticationError, MeshSpec, Principal

__all__ = ["Identities"]


class Identities:
    def __init__(self, spec: MeshSpec, audit: AuditLog) -> None:
        self.spec = spec
        self.audit = audit
        self._jwt = JwtVerifier.from_spec(spec.auth.jwt) if spec.auth.jwt is not None else None

    def authenticate(self, username: str, password: str) -> Principal:
        """The principal for these credentials; AuthenticationError (the same one) for any mismatch."""
        started = time.perf_counter()
        try:
            check_credentials(self.spec.users, username, password)
        except AuthenticationError as error:
            elapsed = (time.perf_counter() - started) * 1000.0
            self.audit.write(AuditRecord(kind="authentication", user=username, outcome="refused",
                                         error=str(error), duration_ms=elapsed))
            raise
        return self.principal(username)

    def authenticate_jwt(self, token: str) -> Principal:
        """The principal of an identity-provider token (``auth.jwt``); AuthenticationError otherwise."""
        started = time.perf_counter()
        try:
            if self._jwt is None:
                raise AuthenticationError("invalid or expired token; authenticate again")
            return self._jwt.principal(token, self.spec.users)
        except AuthenticationError as error:
            elapsed = (time.perf_counter() - started) * 1000.0
            self.audit.write(AuditRecord(kind="authentication", user=None, outcome="refused",
                                         error=str(error), duration_ms=elapsed))
            raise

    def audit_refusal(self, user: str | None, reason: str) -> None:
        """Record a refused authentication the runtime did not see itself (e.g. a bad bearer token)."""
        self.audit.write(AuditRecord(kind="authentication", user=user, outcome="refused", error=reason,
                                     duration_ms=0.0))

    def principal_for(self, username: str) -> Principal | None:
        """The current principal for a user named in a still-valid token (None if removed)."""
        return self.principal(username) if username in self.spec.users else None

    def principal(self, username: str) -> Principal:
        user = self.spec.users[username]
        return Principal(name=username, roles=frozenset(user.roles), attributes=dict(user.attributes))
