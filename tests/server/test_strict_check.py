"""A mesh opens whole or not at all: declared tables and columns the engine lacks, unreachable
engines (unless --allow-unavailable), the audit file's folder, and paths in products/*.yaml."""

from __future__ import annotations

import socket
from pathlib import Path

import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.mesh import DescriptorError, load_descriptor
from flightmesh.server.app import FlightMeshServer
from flightmesh.server.cli import main
from tests.server.conftest import uri_of
from tests.server.support import PASSWORDS


def _remote_mesh(tmp_path: Path, uri: str, tables: str, columns: str = "", extra: str = "") -> Path:
    descriptor = tmp_path / "mesh.yaml"
    descriptor.write_text(
        "mesh:\n  name: edge\n"
        "products:\n"
        "  remote:\n"
        f"    engine: {{kind: flightsql, uri: '{uri}', username: alice, password: '{PASSWORDS['alice']}'}}\n"
        f"    tables:\n{tables}"
        f"{columns}"
        "    access: {read: [analyst]}\n"
        "users:\n  ana: {password: pw, roles: [analyst]}\n"
        f"{extra}"
    )
    return descriptor


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_check_fails_on_a_table_the_server_engine_lacks(server: FlightMeshServer, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    tables = "      customers: {source: crm.customers}\n      orders: {source: crm.custmers}\n"
    descriptor = _remote_mesh(tmp_path, uri_of(server), tables)
    status, out, err = _run(capsys, "check", str(descriptor))
    assert status == 1 and "OK" not in out
    lines = err.strip().splitlines()
    assert lines[0] == "flightmesh: 1 problem(s) in the mesh descriptor:"
    assert lines[1].strip().startswith("mesh.yaml:8: products.remote.tables.orders: "), lines
    assert "has no table 'crm.custmers'" in lines[1]
    # --allow-unavailable is about unreachable engines: a missing table is still an error.
    assert _run(capsys, "check", "--allow-unavailable", str(descriptor))[0] == 1
    with pytest.raises(DescriptorError, match=r"has no table 'crm\.custmers'"):
        MeshRuntime.open(descriptor)


def test_check_fails_on_a_declared_column_the_engine_lacks(server: FlightMeshServer, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    columns = ("    columns:\n      customers:\n        name: {description: the name}\n"
               "        emial: {description: typo}\n")
    descriptor = _remote_mesh(tmp_path, uri_of(server), "      customers: {source: crm.customers}\n", columns)
    status, _, err = _run(capsys, "check", str(descriptor))
    assert status == 1
    assert "mesh.yaml:11: products.remote.columns.customers.emial: " in err and "no column 'emial'" in err
    assert "'name'" not in err


def test_a_good_remote_mesh_checks_ok(server: FlightMeshServer, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    descriptor = _remote_mesh(tmp_path, uri_of(server), "      customers: {source: crm.customers}\n")
    status, out, _ = _run(capsys, "check", str(descriptor))
    assert status == 0 and out.rstrip().endswith("OK")


def test_an_unreachable_engine_refuses_the_mesh_unless_allowed(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    descriptor = _remote_mesh(tmp_path, f"grpc://127.0.0.1:{_closed_port()}",
                              "      customers: {source: crm.customers}\n")
    status, out, err = _run(capsys, "check", str(descriptor))
    assert status == 1 and "OK" not in out
    assert "mesh.yaml:5: products.remote.engine: engine unavailable" in err
    assert "--allow-unavailable" in err
    with pytest.raises(DescriptorError, match="allow_unavailable=True"):
        MeshRuntime.open(descriptor)

    status, out, err = _run(capsys, "check", "--allow-unavailable", str(descriptor))
    assert status == 0 and out.rstrip().endswith("OK")
    assert "UNAVAILABLE" in out and "warning: product remote is unavailable" in err
    with MeshRuntime.open(descriptor, allow_unavailable=True) as runtime:
        assert "remote" in runtime.catalog.unavailable
        discovery = runtime.query("SELECT product, available FROM mesh.products WHERE product = 'remote'",
                                  runtime.authenticate("ana", "pw"))
        assert discovery.read_all().to_pylist() == [{"product": "remote", "available": False}]


def test_a_missing_folder_for_the_audit_file_is_created(server: FlightMeshServer, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    descriptor = _remote_mesh(tmp_path, uri_of(server), "      customers: {source: crm.customers}\n",
                              extra="governance:\n  audit: {file: logs/deep/audit.jsonl}\n")
    status, out, err = _run(capsys, "check", str(descriptor))
    assert (status, err) == (0, "") and out.rstrip().endswith("OK")
    assert (tmp_path / "logs" / "deep").is_dir()
    (tmp_path / "blocked").write_text("a file, not a folder")
    blocked = _remote_mesh(tmp_path, uri_of(server), "      customers: {source: crm.customers}\n",
                           extra="governance:\n  audit: {file: blocked/audit.jsonl}\n")
    with pytest.raises(DescriptorError, match=r"governance\.audit\.file: .*blocked is not a folder"):
        load_descriptor(blocked)


def test_paths_in_a_product_file_are_relative_to_it(tmp_path: Path) -> None:
    products = tmp_path / "products"
    (products / "data").mkdir(parents=True)
    connection = duckdb.connect(str(products / "data" / "shop.duckdb"))
    connection.execute("CREATE TABLE items AS SELECT 1 AS id")
    connection.close()
    (tmp_path / "mesh.yaml").write_text("mesh:\n  name: edge\nusers:\n  ana: {password: pw, roles: [r]}\n")
    (products / "shop.yaml").write_text("engine: {kind: duckdb, path: data/shop.duckdb}\n"
                                        "tables:\n  items:\naccess: {read: [r]}\n")
    spec = load_descriptor(tmp_path / "mesh.yaml")
    assert spec.products["shop"].engine.path == (products / "data" / "shop.duckdb").resolve()
    with MeshRuntime.open(spec) as runtime:
        rows = runtime.query("SELECT id FROM shop.items", runtime.authenticate("ana", "pw")).read_all()
        assert rows.to_pylist() == [{"id": 1}]
    # The main descriptor's folder is not where they resolve from; the problem names the product file.
    (products / "shop.yaml").write_text("engine: {kind: duckdb, path: products/data/shop.duckdb}\n"
                                        "tables:\n  items:\naccess: {read: [r]}\n")
    with pytest.raises(DescriptorError, match=r"products/shop\.yaml:1: products\.shop\.engine\.path: "
                                              r"products/data/shop\.duckdb does not exist"):
        load_descriptor(tmp_path / "mesh.yaml")
