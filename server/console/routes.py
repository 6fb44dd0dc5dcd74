"""The console's HTTP routes, answered on the side port's request handler.

Safety, by construction rather than by care in each page:

* **Session**: login answers an opaque random token in a cookie that is ``HttpOnly`` (no script,
  so no injected one, can read it), ``SameSite=Strict`` (no other site's page or link sends it) and
  ``Path=/``; ``Secure`` when the page was reached over TLS. Logout forgets it on the server.
* **CSRF**: every state-changing request is a POST with a JSON body, and must carry the session's
  own CSRF token in the ``X-CSRF-Token`` header (the page learns it from ``/api/me``, which only a
  same-origin script can read). SameSite=Strict alone would do in today's browsers; the header is
  kept because it also holds for a browser or proxy that drops SameSite, and because a custom header
  forces a CORS preflight, which this server never grants. An ``Origin`` header, when sent, must be
  this server's own; login (no session yet) is checked that way and by its JSON content type.
* **No script but ours**: a strict Content-Security-Policy (``script-src 'self'``, no inline
  script or style, no ``eval``, no framing); the page renders every value with ``textContent``.
* **Bounded**: request bodies up to ``MAX_BODY`` bytes; results up to ``api.PAGE_CAP`` rows.
* **Same identities**: passwords and identity-provider tokens go to ``runtime.authenticate`` and
  ``authenticate_jwt``, throttled like Flight SQL logins; a password is refused over plain HTTP
  from another host unless ``auth.allow_plaintext_passwords``. A token's session keeps the token
  on the server and verifies it again on every request: its roles are the token's, and it ends
  when the token expires or its key is no longer trusted.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import urllib.parse
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any

from flightmesh.governance.identity import TokenClaimsRejected
from flightmesh.governance.throttle import LoginThrottle, LoginThrottled
from flightmesh.mesh import AuthenticationError, Principal

from ..operations import Operations
from ..runtime import Runtime
from .api import ApiError, ConsoleApi, error_answer
from .sessions import ConsoleSession, ConsoleSessions

__all__ = ["COOKIE", "CSP", "Console"]

log = logging.getLogger("flightmesh.console")

COOKIE = "flightmesh_console"
MAX_BODY = 1 << 20
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def _static_files() -> dict[str, bytes]:
    """The page's files, read once from the package (so an installed wheel serves them too)."""
    folder = resources.files(__package__).joinpath("static")
    return {entry.name: entry.read_bytes() for entry in folder.iterdir()
            if entry.is_file() and any(entry.name.endswith(ext) for ext in _STATIC_TYPES)}


class Console:
    def __init__(self, runtime: Runtime, operations: Operations, *, tls: bool = False) -> None:
        self.runtime = runtime
        self.api = ConsoleApi(runtime, operations)
        self.sessions = ConsoleSessions(lambda: float(runtime.settings.token_ttl_seconds))
        settings = runtime.settings
        self.throttle = LoginThrottle(settings.login_max_failures, settings.login_failure_window_seconds,
                                      settings.login_lockout_seconds)
        self.tls = tls
        self.files = _static_files()

    # -- entry points (the side port's handler calls these) ------------------------------------

    def get(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._file(request, "index.html")
        elif path.startswith("/static/"):
            self._file(request, path[len("/static/"):])
        elif path.startswith("/api/"):
            self._api(request, "GET", path[len("/api/"):])
        else:
            self._send(request, 404, "text/plain; charset=utf-8", b"not found\n")

    def post(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if not path.startswith("/api/"):
            self._send(request, 404, "text/plain; charset=utf-8", b"not found\n")
            return
        self._api(request, "POST", path[len("/api/"):])

    # -- the API -----------------------------------------------------------------------------------

    def _api(self, request: BaseHTTPRequestHandler, method: str, name: str) -> None:
        try:
            if method == "POST":
                self._same_origin(request)
                body = self._body(request)
                if name == "login":
                    self._login(request, body)
                    return
            session = self.sessions.get(_cookie(request))
            principal = self._principal(session) if session is not None else None
            if session is None or principal is None:
                raise ApiError(401, "not logged in (or the session ended): log in again")
            if method == "POST" and not self.sessions.csrf_matches(session, request.headers.get("X-CSRF-Token")):
                raise ApiError(403, "missing or wrong CSRF token: reload the page")
            if method == "GET":
                self._json(request, 200, self._read(name, principal, session, _query(request)))
            else:
                self._write(request, name, body, principal, session)
        except Exception as error:
            status, answer = error_answer(error)
            self._json(request, status, answer)

    def _principal(self, session: ConsoleSession) -> Principal | None:
        """Who the session is now. A password session's roles are looked up again (a reload applies
        at once); an identity-provider session's come from its token, checked again on every request,
        so it ends when the token expires or the mesh stops trusting its key."""
        if session.jwt is None:
            return self.runtime.principal_for(session.user)
        try:
            return self.runtime.authenticate_jwt(session.jwt)
        except AuthenticationError:
            self.sessions.close(session.token)
            return None

    def _read(self, name: str, principal: Principal, session: ConsoleSession,
              query: dict[str, list[str]]) -> dict[str, Any]:
        if name == "me":
            return {"user": principal.name, "roles": sorted(principal.roles), "csrf": session.csrf}
        if name == "catalog":
            return self.api.catalog(principal)
        if name == "history":
            return self.api.history(principal)
        if name == "status":
            return self.api.status(principal, (query.get("product") or [""])[0])
        raise ApiError(404, f"no API {name!r}")

    def _write(self, request: BaseHTTPRequestHandler, name: str, body: dict[str, Any], principal: Principal,
               session: ConsoleSession) -> None:
        sql, run_id = _text(body, "sql"), _text(body, "run_id")
        if name == "logout":
            self.sessions.close(session.token)
            self._json(request, 200, {"ok": True}, cookie=f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict")
        elif name == "query":
            cap = body.get("cap", 100)
            cap = cap if isinstance(cap, int) else 100
            self._json(request, 200, self.api.query(principal, session, sql, run_id, cap))
        elif name == "explain":
            self._json(request, 200, self.api.explain(principal, session, sql, run_id, bool(body.get("analyze"))))
        elif name == "cancel":
            self._json(request, 200, {"cancelled": self.api.cancel(session, run_id)})
        elif name == "kill":
            self._json(request, 200, self.api.kill(principal, _text(body, "query_id")))
        elif name == "export":
            fmt = _text(body, "format")
            data = self.api.export(principal, session, sql, run_id, fmt)
            kind = "text/csv; charset=utf-8" if fmt == "csv" else "application/vnd.apache.parquet"
            self._send(request, 200, kind, data, disposition=f'attachment; filename="result.{fmt}"')
        else:
            raise ApiError(404, f"no API {name!r}")

    def _login(self, request: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        address = request.client_address[0]
        user, password, token = _text(body, "user"), _text(body, "password"), _text(body, "jwt").strip()
        if token:
            principal = self._login_jwt(token, address)
        else:
            try:
                attempt = self.throttle.admit(user or None, address)
            except LoginThrottled as refusal:
                self.runtime.audit_refusal(user or None, str(refusal))
                raise
            try:
                if not (self.tls or _loopback(address) or self.runtime.spec.auth.allow_plaintext_passwords):
                    attempt.abandon()
                    raise ApiError(403, "passwords are not accepted over plain HTTP from another host "
                                        "(serve TLS, or set auth.allow_plaintext_passwords)")
                principal = self.runtime.authenticate(user, password)
            except AuthenticationError:
                attempt.failed()
                raise
            attempt.succeeded()
        session = self.sessions.open(principal.name, jwt=token or None)
        secure = "; Secure" if self.tls else ""
        self._json(request, 200, {"user": principal.name, "csrf": session.csrf},
                   cookie=f"{COOKIE}={session.token}; Path=/; HttpOnly; SameSite=Strict{secure}")

    def _login_jwt(self, token: str, address: str) -> Principal:
        # Throttled as the Flight SQL side does (server/auth.py): per address only (the user named in
        # an unverified token is the sender's choice); a well-signed but stale token is no guess, and
        # a good token only gives its place back, so it cannot reset the count of forged ones.
        try:
            attempt = self.throttle.admit(None, address)
        except LoginThrottled as refusal:
            self.runtime.audit_refusal(None, str(refusal))
            raise
        try:
            return self.runtime.authenticate_jwt(token)
        except TokenClaimsRejected as error:
            raise ApiError(401, f"the identity-provider token was refused: {error}") from None
        except AuthenticationError as error:
            attempt.failed()
            raise ApiError(401, f"the identity-provider token was refused: {error}") from None
        finally:
            attempt.abandon()

    # -- checks and answers ------------------------------------------------------------------------

    def _same_origin(self, request: BaseHTTPRequestHandler) -> None:
        origin = request.headers.get("Origin")
        host = request.headers.get("Host")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            raise ApiError(403, "cross-origin request refused")
        if (request.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise ApiError(415, "send JSON (Content-Type: application/json)")

    def _body(self, request: BaseHTTPRequestHandler) -> dict[str, Any]:
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "bad Content-Length") from None
        if length > MAX_BODY:
            raise ApiError(413, f"request body larger than {MAX_BODY} bytes")
        try:
            body = json.loads(request.rfile.read(length) or b"{}")
        except ValueError:
            raise ApiError(400, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return body

    def _file(self, request: BaseHTTPRequestHandler, name: str) -> None:
        data = self.files.get(name)
        if data is None:
            self._send(request, 404, "text/plain; charset=utf-8", b"not found\n")
            return
        kind = next(t for ext, t in _STATIC_TYPES.items() if name.endswith(ext))
        self._send(request, 200, kind, data)

    def _json(self, request: BaseHTTPRequestHandler, status: int, body: dict[str, Any], *,
              cookie: str | None = None) -> None:
        self._send(request, status, "application/json", json.dumps(body).encode(), cookie=cookie)

    def _send(self, request: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes, *,
              cookie: str | None = None, disposition: str | None = None) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Cache-Control", "no-store")
        request.send_header("Content-Security-Policy", CSP)
        request.send_header("X-Content-Type-Options", "nosniff")
        request.send_header("X-Frame-Options", "DENY")
        request.send_header("Referrer-Policy", "no-referrer")
        if cookie is not None:
            request.send_header("Set-Cookie", cookie)
        if disposition is not None:
            request.send_header("Content-Disposition", disposition)
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)


def _cookie(request: BaseHTTPRequestHandler) -> str | None:
    header = request.headers.get("Cookie")
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def _query(request: BaseHTTPRequestHandler) -> dict[str, list[str]]:
    _, _, query = request.path.partition("?")
    try:
        return urllib.parse.parse_qs(query, max_num_fields=20)
    except ValueError:
        raise ApiError(400, "too many query parameters") from None


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise ApiError(400, f"{key!r} must be a string")
    return value


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
