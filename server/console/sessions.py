"""Console sessions: an opaque random token (the HttpOnly cookie) -> the user, a CSRF token, expiry
(and, for a login with an identity provider's token, that token: it stays on the server).

The token is only a key into this server's memory: nothing about the user is in the cookie, so a
stolen cookie is worth nothing once the session ends (logout, expiry or a restart). Roles are looked
up again on every request (``runtime.principal_for``), so a user removed or changed by a reload is
seen at once, as the Flight SQL side does for its bearer tokens. A session opened with an identity
provider's JWT keeps the JWT instead, and is its principal only while the JWT still verifies.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flightmesh.mesh.cancel import CancelScope

__all__ = ["ConsoleSession", "ConsoleSessions"]

MAX_SESSIONS = 10_000  # a login flood cannot grow memory without bound: the oldest sessions go first


@dataclass
class ConsoleSession:
    token: str
    user: str
    csrf: str
    expires: float
    # the identity provider's token the session was opened with (None: a password login)
    jwt: str | None = None
    # the queries this session is running, by the id the page gave them (what "cancel" names)
    running: dict[str, CancelScope] = field(default_factory=dict)
    # run ids cancelled before their query arrived (the two requests race): refused on arrival
    cancelled_early: set[str] = field(default_factory=set)


class ConsoleSessions:
    def __init__(self, ttl_seconds: Callable[[], float], clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, ConsoleSession] = {}

    def open(self, user: str, *, jwt: str | None = None) -> ConsoleSession:
        session = ConsoleSession(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32),
                                 self._clock() + self._ttl(), jwt=jwt)
        with self._lock:
            if len(self._sessions) >= MAX_SESSIONS:
                oldest = min(self._sessions.values(), key=lambda s: s.expires)
                self._sessions.pop(oldest.token, None)
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> ConsoleSession | None:
        if not token:
            return None
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires < self._clock():
                del self._sessions[token]
                return None
            return session

    def close(self, token: str) -> None:
        with self._lock:
            session = self._sessions.pop(token, None)
        if session is not None:
            for scope in list(session.running.values()):
                scope.cancel()  # a logout stops what the session still runs

    @staticmethod
    def csrf_matches(session: ConsoleSession, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())
