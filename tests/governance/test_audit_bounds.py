"""The audit stays bounded: long statements, errors and user names are cut (the hash is the
full text's), in memory and on disk; the in-memory ring keeps ``keep`` records."""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path

import duckdb
import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.governance.audit import AuditLog, AuditRecord, statement_hash
from flightmesh.mesh import AuthenticationError, FlightmeshError, Principal

MEGABYTE = 1 << 20


def _runtime(directory: Path, settings: str = "") -> MeshRuntime:
    with duckdb.connect(str(directory / "p.duckdb")) as connection:
        connection.execute("CREATE TABLE t AS SELECT range AS a FROM range(3)")
    descriptor = directory / "mesh.yaml"
    descriptor.write_text(
        "mesh: {name: m}\n"
        "products:\n  p: {engine: {kind: duckdb, path: p.duckdb}, tables: {t: {}}, access: {read: [r]}}\n"
        "users:\n  u: {password: pw, roles: [r]}\n"
        "governance: {audit: {file: audit.jsonl, keep: 50}}\n" + settings
    )
    return MeshRuntime.open(descriptor)


def _lines(directory: Path) -> list[str]:
    return (directory / "audit.jsonl").read_text().splitlines()


def test_a_refused_megabyte_statement_is_cut_in_memory_and_on_disk(tmp_path: Path) -> None:
    statement = "SELECT * FROM p.t WHERE a = '" + "x" * MEGABYTE + "'"
    with _runtime(tmp_path) as runtime:
        with pytest.raises(FlightmeshError):
            runtime.query(statement, Principal("u", frozenset({"r"})))
        kept = runtime.audit.records()[-1]
        line = _lines(tmp_path)[-1]
        flat = runtime.audit.table().to_pylist()[-1]
    assert kept["outcome"] == "refused"
    assert kept["statement"].startswith("SELECT * FROM p.t WHERE a = 'xxx")
    assert kept["statement"].endswith(f"... [truncated: {len(statement)} characters]")
    assert len(kept["statement"]) < 4096 + 50
    assert kept["statement_hash"] == statement_hash(statement)  # still matches the full text
    assert len(line) < 4096 * 3
    on_disk = json.loads(line)
    assert on_disk["statement"] == kept["statement"] and on_disk["statement_hash"] == statement_hash(statement)
    assert flat["statement"] == kept["statement"]  # what flightmesh.audit serves


def test_the_limit_is_a_setting_and_covers_errors_and_user_names(tmp_path: Path) -> None:
    with _runtime(tmp_path, "settings: {audit_statement_max_chars: 300}\n") as runtime:
        with pytest.raises(AuthenticationError):
            runtime.authenticate("n" * 100_000, "pw")
        runtime.audit.write(AuditRecord(kind="query", user="u", outcome="failed", statement="SELECT 1",
                                        error="e" * 100_000))
        login, failed = runtime.audit.records()[-2:]
    assert login["user"] == "n" * 300 + "... [truncated: 100000 characters]"
    assert failed["error"] == "e" * 300 + "... [truncated: 100000 characters]"
    assert failed["statement"] == "SELECT 1" and failed["statement_hash"] == statement_hash("SELECT 1")
    assert [len(line) < 2000 for line in _lines(tmp_path)[-2:]] == [True, True]


def test_the_ring_keeps_keep_records_and_its_memory_is_bounded() -> None:
    log = AuditLog(keep=20, max_chars=1000)
    assert isinstance(log._records, deque) and log._records.maxlen == 20
    for number in range(200):
        log.write(AuditRecord(kind="query", user="u", outcome="refused", statement=f"{number} " + "y" * MEGABYTE,
                              error="z" * MEGABYTE))
    records = log.records()
    assert len(records) == 20 and records[0]["statement"].startswith("180 ")
    held = sum(sys.getsizeof(value) for record in records for value in record.values())
    assert held < 20 * 3 * 1100 + 20 * 2000  # about keep x 3 x max_chars, not 200 MB


def test_short_texts_are_kept_whole(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl", keep=5, max_chars=10)
    log.write(AuditRecord(kind="query", user="u", outcome="ok", statement="SELECT 1"))
    log.close()
    (line,) = (tmp_path / "a.jsonl").read_text().splitlines()
    assert json.loads(line)["statement"] == "SELECT 1"
