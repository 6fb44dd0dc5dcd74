"""Identities at the Flight boundary: signed tokens, the plaintext-password rule, TLS and mutual
TLS, and identity-provider (JWT) bearer tokens — each through real clients and a real server."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import jwt
import pyarrow.flight as flight
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flightmesh.executor import MeshRuntime
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.messages import pack, sql

SECRET = "a-server-secret-of-at-least-thirty-two-bytes"
JWT_SECRET = "j" * 40


def write_mesh(directory: Path, auth: str = "") -> Path:
    with duckdb.connect(str(directory / "p.duckdb")) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS a FROM range(3)")
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: m}\n"
        "products:\n  p: {engine: {kind: duckdb, path: p.duckdb}, tables: {t: {}}, access: {read: [r]}}\n"
        "users:\n  u: {password: pw, roles: [r]}\n  sam: {roles: [none]}\n" + auth
    )
    return descriptor


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    opened: list[tuple[MeshRuntime, FlightMeshServer]] = []

    def start(auth: str = "", location: str = "grpc://127.0.0.1:0", name: str = "a") -> FlightMeshServer:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        runtime = MeshRuntime.open(write_mesh(folder, auth))
        server = FlightMeshServer(runtime, location)
        opened.append((runtime, server))
        return server

    yield start
    for runtime, server in opened:
        server.shutdown()
        runtime.close()


def query(client: flight.FlightClient, options: flight.FlightCallOptions) -> list[dict[str, object]]:
    descriptor = flight.FlightDescriptor.for_command(pack(sql.CommandStatementQuery(query="SELECT a FROM p.t")))
    info = client.get_flight_info(descriptor, options)
    return client.do_get(info.endpoints[0].ticket, options).read_all().to_pylist()


def bearer(token: str) -> flight.FlightCallOptions:
    return flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])


def test_handshake_issues_a_signed_token(serve) -> None:  # type: ignore[no-untyped-def]
    server = serve()
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    _, header = client.authenticate_basic_token("u", "pw")
    token = header.decode().removeprefix("Bearer ")
    assert token.startswith("fm1.")
    assert query(client, bearer(token)) == [{"a": 0}, {"a": 1}, {"a": 2}]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(flight.FlightUnauthenticatedError):
        query(client, bearer(forged))


def test_tokens_survive_a_restart_only_with_a_configured_secret(serve) -> None:  # type: ignore[no-untyped-def]
    auth = f"auth: {{token_secret: {SECRET}}}\n"
    first, second, unkeyed = serve(auth, name="a"), serve(auth, name="b"), serve(name="c")
    _, header = flight.connect(f"grpc://127.0.0.1:{first.port}").authenticate_basic_token("u", "pw")
    token = header.decode().removeprefix("Bearer ")
    assert query(flight.connect(f"grpc://127.0.0.1:{second.port}"), bearer(token))
    with pytest.raises(flight.FlightUnauthenticatedError):
        query(flight.connect(f"grpc://127.0.0.1:{unkeyed.port}"), bearer(token))


@pytest.mark.parametrize("allowed", [False, True])
def test_passwords_off_loopback_need_tls_or_an_explicit_allowance(serve, allowed: bool) -> None:  # type: ignore[no-untyped-def]
    auth = "auth: {allow_plaintext_passwords: true}\n" if allowed else ""
    server = serve(auth, location="grpc://0.0.0.0:0")  # reachable from other machines, no TLS
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    if allowed:
        client.authenticate_basic_token("u", "pw")
    else:
        with pytest.raises(flight.FlightUnauthenticatedError, match="unencrypted"):
            client.authenticate_basic_token("u", "pw")


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey,
                 issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, *, ca: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer is not None else (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_file, key_file = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def certificates(tmp_path: Path) -> dict[str, Path]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test ca", ca_key, None, ca=True)
    ca_file, _ = _pem(tmp_path / "ca", ca, ca_key)
    files = {"ca": ca_file}
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(role, key, (ca.subject, ca_key))
        files[f"{role}_cert"], files[f"{role}_key"] = _pem(tmp_path / role, certificate, key)
    return files


def test_tls(serve, certificates: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    auth = (f"auth:\n  tls: {{cert_file: {certificates['server_cert']}, key_file: {certificates['server_key']}}}\n")
    server = serve(auth, location="grpc://0.0.0.0:0")
    client = flight.connect(f"grpc+tls://localhost:{server.port}", tls_root_certs=certificates["ca"].read_bytes())
    client.authenticate_basic_token("u", "pw")  # passwords are fine over TLS, even off loopback
    with pytest.raises(flight.FlightError):  # the handshake itself fails: no TLS, no conversation
        plain = flight.connect(f"grpc://127.0.0.1:{server.port}")
        plain.authenticate_basic_token("u", "pw")


def test_mutual_tls_refuses_clients_without_a_certificate(serve, certificates: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    auth = (f"auth:\n  tls: {{cert_file: {certificates['server_cert']}, key_file: {certificates['server_key']}, "
            f"client_ca_file: {certificates['ca']}}}\n")
    server = serve(auth)
    uri, ca = f"grpc+tls://localhost:{server.port}", certificates["ca"].read_bytes()
    with pytest.raises(flight.FlightError):
        flight.connect(uri, tls_root_certs=ca).authenticate_basic_token("u", "pw")
    client = flight.connect(uri, tls_root_certs=ca, cert_chain=certificates["client_cert"].read_bytes(),
                            private_key=certificates["client_key"].read_bytes())
    _, header = client.authenticate_basic_token("u", "pw")
    assert query(client, bearer(header.decode().removeprefix("Bearer ")))


def _jwt(**claims: object) -> str:
    base = {"sub": "sam", "iss": "idp", "aud": "fm", "exp": int(time.time()) + 60, "groups": ["r"]}
    return jwt.encode({**base, **claims}, JWT_SECRET, algorithm="HS256")


def test_identity_provider_tokens_through_adbc(serve) -> None:  # type: ignore[no-untyped-def]
    import adbc_driver_flightsql.dbapi as flightsql

    server = serve(f"auth:\n  jwt: {{issuer: idp, audience: fm, secret: '{JWT_SECRET}', roles_claim: groups}}\n")
    header = {"adbc.flight.sql.authorization_header": f"Bearer {_jwt()}"}
    with flightsql.connect(f"grpc://127.0.0.1:{server.port}", autocommit=True, db_kwargs=header) as conn, \
            conn.cursor() as cursor:
        cursor.execute("SELECT count(*) AS n, current_user AS who FROM p.t")
        assert cursor.fetch_arrow_table().to_pylist() == [{"n": 3, "who": "sam"}]  # roles from the token
    client = flight.connect(f"grpc://127.0.0.1:{server.port}")
    unsigned = jwt.encode({"sub": "sam", "iss": "idp", "aud": "fm", "groups": ["r"]}, None, algorithm="none")
    for label, token in (("expired", _jwt(exp=int(time.time()) - 120)), ("audience", _jwt(aud="other")),
                         ("signature", _jwt() + "x"), ("alg none", unsigned)):
        with pytest.raises(flight.FlightUnauthenticatedError):
            query(client, bearer(token))
            pytest.fail(f"accepted a token with a bad {label}")
