"""Identities: argon2 passwords, signed tokens, JWT settings, and the descriptor keys behind them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.governance.identity import (
    JwtSettings,
    JwtVerifier,
    TokenSigner,
    check_credentials,
    hash_password,
    verify_password,
)
from flightmesh.mesh import AuthenticationError, DescriptorError, UserSpec, load_descriptor
from tests.governance.govmesh import GovMesh


def test_argon2_hash_round_trip() -> None:
    encoded = hash_password("s3cret")
    assert encoded.startswith("$argon2id$") and "s3cret" not in encoded
    user = UserSpec(name="u", password_hash=encoded)
    assert verify_password(user, "s3cret")
    assert not verify_password(user, "s3cret ")
    assert not verify_password(UserSpec(name="u", password_hash="$argon2id$broken"), "s3cret")
    assert verify_password(UserSpec(name="u", password="plain"), "plain")
    assert not verify_password(UserSpec(name="u"), "")  # no password at all: only tokens


def test_unknown_user_and_wrong_password_fail_alike() -> None:
    users = {"u": UserSpec(name="u", password_hash=hash_password("pw"))}
    messages = []
    for name, password in (("u", "wrong"), ("nobody", "pw"), ("", "")):
        with pytest.raises(AuthenticationError) as caught:
            check_credentials(users, name, password)
        messages.append(str(caught.value))
    assert set(messages) == {"invalid username or password"}
    assert check_credentials(users, "u", "pw").name == "u"


def test_tokens_expire_and_can_be_revoked() -> None:
    now = [1_000_000.0]
    signer = TokenSigner(b"s" * 32, ttl_seconds=60, clock=lambda: now[0])
    token = signer.issue("sam")
    assert signer.resolve(token) == "sam"
    now[0] += 59
    assert signer.resolve(token) == "sam"
    now[0] += 2
    assert signer.resolve(token) is None
    fresh = signer.issue("sam")
    signer.revoke(fresh)
    assert signer.resolve(fresh) is None
    assert signer.resolve(signer.issue("sam")) == "sam"  # revoking one token leaves the others
    with pytest.raises(ValueError, match="32 bytes"):
        TokenSigner(b"short", ttl_seconds=60)


def test_a_token_already_verified_is_still_refused_once_revoked_or_altered() -> None:
    """The signer remembers verified tokens: revocation and tampering must still be refused."""
    signer = TokenSigner(b"s" * 32, ttl_seconds=60)
    token, other = signer.issue("sam"), signer.issue("sam")
    assert signer.resolve(token) == "sam" and signer.resolve(other) == "sam"   # both remembered now
    signer.revoke(token)
    assert signer.resolve(token) is None
    assert signer.resolve(other) == "sam"
    prefix, payload, signature = other.split(".")
    # Another first character: all six of its bits are the signature's (the last character's
    # low bits are base64 padding, and a replaced tail may equal the original, 1 run in 4,096).
    altered = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert signer.resolve(f"{prefix}.{payload}.{altered}") is None
    signer.revoke_user("sam")
    assert signer.resolve(other) is None


def test_tokens_of_one_secret_survive_a_new_signer() -> None:
    token = TokenSigner(b"s" * 32, ttl_seconds=60).issue("sam")
    assert TokenSigner(b"s" * 32, ttl_seconds=60).resolve(token) == "sam"
    assert TokenSigner(None, ttl_seconds=60).resolve(token) is None


def test_jwt_roles_from_a_nested_claim_and_jwks(tmp_path: Path) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig"}]}))
    settings = JwtSettings.from_files(
        issuer="idp", audience="fm", jwks_file=tmp_path / "jwks.json", roles_claim="realm_access.roles"
    )
    verifier = JwtVerifier(settings)
    claims = {
        "sub": "sam",
        "iss": "idp",
        "aud": "fm",
        "exp": int(time.time()) + 60,
        "realm_access": {"roles": ["support", 7]},
    }
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})
    principal = verifier.principal(token, {"sam": UserSpec(name="sam", attributes={"region": "EMEA"})})
    assert principal.roles == frozenset({"support"}) and principal.attributes == {"region": "EMEA"}
    wrong_kid = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k2"})
    with pytest.raises(AuthenticationError):
        verifier.verify(wrong_kid)
    with pytest.raises(ValueError, match="cannot be used with a public key"):
        JwtVerifier(JwtSettings(issuer="i", audience="a", public_key="x", algorithms=("HS256",)))
    with pytest.raises(ValueError, match="exactly one"):
        JwtVerifier(JwtSettings(issuer="i", audience="a", public_key="x", secret="y"))


def _descriptor(tmp_path: Path, extra: str, users: str = "") -> Path:
    import duckdb

    connection = duckdb.connect(str(tmp_path / "d.duckdb"))
    connection.execute("CREATE OR REPLACE TABLE t AS SELECT 1 AS a")
    connection.close()
    path = tmp_path / "mesh.yaml"
    path.write_text(
        "mesh: {name: m}\nproducts:\n  p:\n    engine: {kind: duckdb, path: d.duckdb}\n"
        "    tables: {t: {}}\n    access: {read: [r]}\n" + (users or "") + extra
    )
    return path


def test_descriptor_auth_keys(tmp_path: Path) -> None:
    (tmp_path / "idp.pem").write_text("-----BEGIN PUBLIC KEY-----\n")
    spec = load_descriptor(
        _descriptor(
            tmp_path,
            (
                "auth:\n  token_secret: " + "x" * 40 + "\n  allow_plaintext_passwords: true\n"
                "  jwt: {issuer: idp, audience: fm, public_key_file: idp.pem, roles_claim: groups}\n"
            ),
        )
    )
    assert spec.auth.allow_plaintext_passwords and spec.auth.token_secret == "x" * 40
    assert spec.auth.jwt is not None and spec.auth.jwt.public_key_file == (tmp_path / "idp.pem").resolve()
    assert spec.auth.jwt.roles_claim == "groups"


@pytest.mark.parametrize(
    ("extra", "users", "expected"),
    [
        ("auth:\n  token_secret: short\n", "", "mesh.yaml:8: auth.token_secret: expected at least 32 bytes"),
        (
            "auth:\n  jwt: {issuer: i, audience: a, secret: s, public_key_file: idp.pem}\n",
            "",
            "auth.jwt: expected exactly one of",
        ),
        (
            "auth:\n  jwt: {issuer: i, audience: a, secret: s, algorithms: [RS256]}\n",
            "",
            "'RS256' cannot be used with this key",
        ),
        ("auth:\n  jwt: {issuer: i, audience: a, public_key_file: nope.pem}\n", "", "nope.pem is not a file"),
        ("auth:\n  tls: {cert_file: idp.pem}\n", "", "auth.tls: expected cert_file and key_file"),
        ("auth:\n  plaintext: true\n", "", "auth.plaintext: unknown key"),
        ("", "users:\n  u: {password_hash: 'md5:abc', roles: [r]}\n", "expected an argon2 hash"),
        (
            "governance:\n  audit: {file: nofolder/a.jsonl, read: [admin], keep: -1}\n",
            "",
            "governance.audit.keep: expected a whole number",
        ),
    ],
)
def test_descriptor_auth_mistakes(tmp_path: Path, extra: str, users: str, expected: str) -> None:
    (tmp_path / "idp.pem").write_text("x")
    with pytest.raises(DescriptorError) as caught:
        load_descriptor(_descriptor(tmp_path, extra, users))
    assert expected in str(caught.value), str(caught.value)


def test_runtime_authenticates_with_a_password_hash(tmp_path: Path) -> None:
    users = f"users:\n  u: {{password_hash: '{hash_password('pw')}', roles: [r]}}\n"
    with MeshRuntime.open(_descriptor(tmp_path, "", users)) as runtime:
        assert runtime.authenticate("u", "pw").roles == frozenset({"r"})
        with pytest.raises(AuthenticationError, match="invalid username or password"):
            runtime.authenticate("u", "PW")


def test_gov_mesh_users_authenticate(gov_mesh: GovMesh, gov_runtime: MeshRuntime) -> None:
    assert gov_runtime.authenticate("sam", gov_mesh.passwords["sam"]).attributes == {"region": "EMEA"}


def test_runtime_authenticates_identity_provider_tokens(tmp_path: Path) -> None:
    import jwt

    secret = "s" * 40
    extra = (f"auth:\n  jwt: {{issuer: idp, audience: fm, secret: '{secret}', roles_claim: groups}}\n"
             "governance:\n  audit: {read: [auditor]}\n")
    users = "users:\n  sam: {roles: [ignored], attributes: {region: EMEA}}\n"
    with MeshRuntime.open(_descriptor(tmp_path, extra, users)) as runtime:
        claims = {"sub": "sam", "iss": "idp", "aud": "fm", "exp": int(time.time()) + 60,
                  "groups": "r auditor"}
        principal = runtime.authenticate_jwt(jwt.encode(claims, secret, algorithm="HS256"))
        assert principal.roles == frozenset({"r", "auditor"}) and principal.attributes == {"region": "EMEA"}
        assert runtime.query("SELECT a FROM p.t", principal).read_all().to_pylist() == [{"a": 1}]
        with pytest.raises(AuthenticationError):
            runtime.authenticate_jwt(jwt.encode({**claims, "iss": "evil"}, secret, algorithm="HS256"))
        refusals = runtime.query("SELECT count(*) AS n FROM flightmesh.audit WHERE kind = 'authentication'",
                                 principal).read_all()
        assert refusals.to_pylist() == [{"n": 1}]
