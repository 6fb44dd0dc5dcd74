"""Reading who may connect and what is recorded: ``users``, ``auth`` and ``governance``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .specs import AuditSpec, AuthSpec, JwtSpec, TagMaskSpec, TlsSpec, UserSpec
from .yaml_reader import YamlReader, kind_of
from .yaml_source import LocatedDict

__all__ = ["AccessReader"]

# JWT algorithms by key kind (governance.identity enforces the same split when verifying).
_ASYMMETRIC_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)
_HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")


class AccessReader(YamlReader):
    """The descriptor's identity and governance sections."""

    def users(self, root: LocatedDict) -> dict[str, UserSpec]:
        node = self.mapping(root, "users", "users")
        result: dict[str, UserSpec] = {}
        if node is None:
            return result
        for name, user in node.items():
            path = f"users.{name}"
            where = self.at(node, name, path)
            if not isinstance(user, LocatedDict):
                self.problem(where, f"expected a mapping, got {kind_of(user)}")
                continue
            self.only_keys(user, {"password", "password_hash", "roles", "attributes"}, path)
            password = self.string(user, "password", f"{path}.password")
            password_hash = self.string(user, "password_hash", f"{path}.password_hash")
            if password is not None and password_hash is not None:
                self.problem(where, "give password or password_hash, not both")
            if password_hash is not None and not password_hash.startswith("$argon2"):
                self.problem(self.at(user, "password_hash", f"{path}.password_hash"),
                             "expected an argon2 hash ($argon2id$...); write one with "
                             "python -m flightmesh.governance.identity")
            attributes: Mapping[str, Any] = self.mapping(user, "attributes", f"{path}.attributes") or {}
            result[name] = UserSpec(
                name=name, roles=self.names(user, "roles", f"{path}.roles") or (),
                password=password, password_hash=password_hash, attributes=dict(attributes),
            )
        return result

    def governance(self, root: LocatedDict) -> tuple[tuple[TagMaskSpec, ...], AuditSpec]:
        node = self.mapping(root, "governance", "governance")
        if node is None:
            return (), AuditSpec()
        self.only_keys(node, {"tag_masks", "audit"}, "governance")
        result = []
        for item, ipath in self.items(node, "tag_masks", "governance", {"tag", "with", "except"}):
            tag = self.string(item, "tag", f"{ipath}.tag", required=True)
            with_ = self.string(item, "with", f"{ipath}.with", required=True)
            self.sql(with_, self.at(item, "with", f"{ipath}.with"), self.parse_expression)
            if tag and with_:
                result.append(TagMaskSpec(tag, with_, self.names(item, "except", f"{ipath}.except") or ()))
        return tuple(result), self.audit(node)

    def audit(self, governance: LocatedDict) -> AuditSpec:
        node = self.mapping(governance, "audit", "governance.audit")
        if node is None:
            return AuditSpec()
        path = "governance.audit"
        self.only_keys(node, {"file", "read", "keep"}, path)
        file = self.string(node, "file", f"{path}.file")
        keep = node.get("keep", 10_000)
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            self.problem(self.at(node, "keep", f"{path}.keep"), f"expected a whole number >= 0, got {keep!r}")
            keep = 10_000
        resolved = None
        if file is not None:
            resolved = (self.base / file).resolve()
            # A missing folder is created when the mesh opens; a file in the way cannot be.
            existing = next(folder for folder in resolved.parents if folder.exists())
            if resolved.is_dir():
                self.problem(self.at(node, "file", f"{path}.file"), f"{resolved} is a folder; expected a file")
            elif not existing.is_dir():
                self.problem(self.at(node, "file", f"{path}.file"),
                             f"{existing} is not a folder (resolved to {resolved})")
        return AuditSpec(file=resolved, read=self.names(node, "read", f"{path}.read") or (), keep=keep)

    def auth(self, root: LocatedDict) -> AuthSpec:
        node = self.mapping(root, "auth", "auth")
        if node is None:
            return AuthSpec()
        self.only_keys(node, {"token_secret", "allow_plaintext_passwords", "jwt", "tls", "admin_roles"}, "auth")
        secret = self.string(node, "token_secret", "auth.token_secret")
        if secret is not None and len(secret.encode()) < 32:
            self.problem(self.at(node, "token_secret", "auth.token_secret"),
                         "expected at least 32 bytes (e.g. from `openssl rand -hex 32`)")
        plaintext = node.get("allow_plaintext_passwords", False)
        if not isinstance(plaintext, bool):
            self.problem(self.at(node, "allow_plaintext_passwords", "auth.allow_plaintext_passwords"),
                         f"expected true or false, got {plaintext!r}")
            plaintext = False
        return AuthSpec(token_secret=secret, allow_plaintext_passwords=plaintext, jwt=self.jwt(node),
                        tls=self.tls(node), admin_roles=self.names(node, "admin_roles", "auth.admin_roles") or ())

    def jwt(self, auth: LocatedDict) -> JwtSpec | None:
        node = self.mapping(auth, "jwt", "auth.jwt")
        if node is None:
            return None
        path = "auth.jwt"
        self.only_keys(node, {"issuer", "audience", "public_key_file", "jwks_file", "secret", "algorithms",
                              "roles_claim", "username_claim"}, path)
        issuer = self.string(node, "issuer", f"{path}.issuer", required=True)
        audience = self.string(node, "audience", f"{path}.audience", required=True)
        public_key = self.existing_file(node, "public_key_file", f"{path}.public_key_file")
        jwks = self.existing_file(node, "jwks_file", f"{path}.jwks_file")
        secret = self.string(node, "secret", f"{path}.secret")
        if sum(value is not None for value in (public_key, jwks, secret)) != 1:
            self.problem(self.at(auth, "jwt", path),
                         "expected exactly one of public_key_file, jwks_file, secret")
        algorithms = self.names(node, "algorithms", f"{path}.algorithms") or ()
        allowed = _HMAC_ALGORITHMS if secret is not None else _ASYMMETRIC_ALGORITHMS
        for algorithm in algorithms:
            if algorithm not in allowed:
                self.problem(self.at(node, "algorithms", f"{path}.algorithms"),
                             f"{algorithm!r} cannot be used with this key; "
                             f"expected one of {', '.join(allowed)}")
        if issuer is None or audience is None:
            return None
        return JwtSpec(issuer=issuer, audience=audience, public_key_file=public_key, jwks_file=jwks,
                       secret=secret, algorithms=algorithms,
                       roles_claim=self.string(node, "roles_claim", f"{path}.roles_claim") or "roles",
                       username_claim=self.string(node, "username_claim", f"{path}.username_claim") or "sub")

    def tls(self, auth: LocatedDict) -> TlsSpec | None:
        node = self.mapping(auth, "tls", "auth.tls")
        if node is None:
            return None
        self.only_keys(node, {"cert_file", "key_file", "client_ca_file"}, "auth.tls")
        if "cert_file" not in node or "key_file" not in node:
            self.problem(self.at(auth, "tls", "auth.tls"), "expected cert_file and key_file")
        cert = self.existing_file(node, "cert_file", "auth.tls.cert_file")
        key = self.existing_file(node, "key_file", "auth.tls.key_file")
        client_ca = self.existing_file(node, "client_ca_file", "auth.tls.client_ca_file")
        if cert is None or key is None:
            return None
        return TlsSpec(cert_file=cert, key_file=key, client_ca_file=client_ca)
