"""The committed ``*_pb2.py`` files are exactly what grpcio-tools makes of the committed ``.proto``."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from flightmesh.server.proto import FlightSession_pb2, FlightSql_pb2

GENERATE = Path(__file__).resolve().parents[2] / "server" / "proto" / "generate.py"
_VERSION_LINE = re.compile(rb"^# Protobuf Python Version: .*$", re.MULTILINE)


def _generator():  # the script is run as a file by `make proto`; load it the same way
    spec = importlib.util.spec_from_file_location("flightmesh_proto_generate", GENERATE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (a dev dependency) regenerates the classes")
    output = tmp_path_factory.mktemp("proto")
    _generator().generate(output)
    return output


@pytest.mark.parametrize("module", [FlightSql_pb2, FlightSession_pb2], ids=["FlightSql", "FlightSession"])
def test_committed_descriptor_equals_the_proto_source(module, tmp_path: Path) -> None:
    """Whatever grpcio-tools version is installed: the classes describe exactly the .proto."""
    protoc = pytest.importorskip("grpc_tools.protoc")
    source = GENERATE.parent / module.DESCRIPTOR.name
    out = tmp_path / "descriptor.pb"
    assert protoc.main(["protoc", f"-I{source.parent}", f"--descriptor_set_out={out}", str(source)]) == 0
    expected = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    _drop_json_names(expected.message_type)  # protoc adds them; the generated classes leave them out
    committed = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(committed)
    assert committed == expected, "run `make proto` and commit the result"


@pytest.mark.parametrize(
    "name", ["FlightSql_pb2.py", "FlightSql_pb2.pyi", "FlightSession_pb2.py", "FlightSession_pb2.pyi"]
)
def test_committed_files_are_byte_identical_with_the_same_generator(regenerated: Path, name: str) -> None:
    committed = (GENERATE.parent / name).read_bytes()
    fresh = (regenerated / name).read_bytes()
    if _gencode_version(committed) != _gencode_version(fresh):
        pytest.skip(f"another grpcio-tools is installed ({_gencode_version(fresh)!r})")
    assert committed == fresh, "run `make proto` and commit the result"


def _drop_json_names(messages) -> None:  # type: ignore[no-untyped-def]
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _drop_json_names(message.nested_type)


def _gencode_version(generated: bytes) -> bytes | None:
    match = _VERSION_LINE.search(generated)
    return match.group(0) if match else None


def test_wire_names_are_arrows() -> None:
    # The package is part of the Any type_url clients send; the session messages travel bare.
    assert FlightSql_pb2.DESCRIPTOR.package == "arrow.flight.protocol.sql"
    assert FlightSession_pb2.DESCRIPTOR.package == "arrow.flight.protocol"
    result = FlightSql_pb2.ActionCreatePreparedStatementResult
    assert {f.name: f.number for f in result.DESCRIPTOR.fields} == {
        "prepared_statement_handle": 1, "dataset_schema": 2, "parameter_schema": 3, "is_update": 4,
    }
