"""Audit: one JSON line per query and refusal, and ``flightmesh.audit`` for the auditor role only."""

from __future__ import annotations

import json

import pytest

from flightmesh.executor import MeshRuntime
from flightmesh.governance.audit import statement_hash
from flightmesh.mesh import AuthenticationError, UnknownTable
from tests.governance.conftest import who
from tests.governance.govmesh import GovMesh

MARK = "SELECT count(*) AS audited_marker FROM crm.customers"


def _lines(gov_mesh: GovMesh) -> list[dict[str, object]]:
    path = gov_mesh.descriptor.parent / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_query_refusal_and_failed_login_are_lines(gov_runtime: MeshRuntime, gov_mesh: GovMesh) -> None:
    sam = who(gov_runtime, "sam")
    rows = gov_runtime.query(MARK, sam).read_all().column(0).to_pylist()
    with pytest.raises(UnknownTable):
        gov_runtime.query("SELECT * FROM hr.employees /* audit refusal */", sam)
    with pytest.raises(AuthenticationError):
        gov_runtime.authenticate("sam", "not-the-password")
    lines = _lines(gov_mesh)
    ok = next(line for line in reversed(lines) if line["statement"] == MARK)
    assert ok["user"] == "sam" and ok["roles"] == ["support"] and ok["outcome"] == "ok"
    assert ok["rows"] == 1 and rows[0] > 0
    assert ok["products"] == ["crm"] and ok["tables"] == ["crm.customers"]
    assert ok["statement_hash"] == statement_hash(MARK)
    assert "row_filter crm.customers[1]" in ok["policies"] and "deny crm.customers.ssn" in ok["policies"]
    assert "tag_mask pii crm.customers.email" in ok["policies"]
    assert isinstance(ok["duration_ms"], float) and ok["time"]
    refused = next(line for line in reversed(lines) if "audit refusal" in str(line["statement"]))
    assert refused["outcome"] == "refused" and refused["error"] == "table hr.employees does not exist"
    login = next(line for line in reversed(lines) if line["kind"] == "authentication")
    assert (
        login["user"] == "sam"
        and login["outcome"] == "refused"
        and "not-the-password" not in json.dumps(login)
    )


def test_prepared_statements_are_audited_when_executed(gov_runtime: MeshRuntime, gov_mesh: GovMesh) -> None:
    sam = who(gov_runtime, "sam")
    sql = "SELECT order_id FROM sales.orders WHERE order_id = ? /* prepared audit */"
    prepared = gov_runtime.prepare(sql, sam)
    for order_id in (1, 2):
        gov_runtime.execute(gov_runtime.bind(prepared, sam, [order_id])).read_all()
    lines = [line for line in _lines(gov_mesh) if line["statement"] == sql]
    assert len(lines) == 2 and {line["user"] for line in lines} == {"sam"}


def test_a_stream_closed_early_is_audited(gov_runtime: MeshRuntime, gov_mesh: GovMesh) -> None:
    sql = "SELECT * FROM sales.orders /* closed early */"
    reader = gov_runtime.query(sql, who(gov_runtime, "ann"))
    reader.read_next_batch()
    reader.close()
    del reader
    line = next(line for line in reversed(_lines(gov_mesh)) if line["statement"] == sql)
    assert line["outcome"] in ("closed early", "ok")


def test_auditor_queries_the_audit_table(gov_runtime: MeshRuntime) -> None:
    gov_runtime.query(MARK, who(gov_runtime, "sam")).read_all()
    auditor = who(gov_runtime, "auditor")
    table = gov_runtime.query(
        "SELECT user, outcome, policies, rows FROM flightmesh.audit WHERE statement = ? "
        "ORDER BY time DESC LIMIT 1",
        auditor,
        [MARK],
    ).read_all()
    row = table.to_pylist()[0]
    assert row["user"] == "sam" and row["outcome"] == "ok" and "deny crm.customers.ssn" in row["policies"]
    counts = gov_runtime.query(
        "SELECT kind, count(*) AS n FROM flightmesh.audit GROUP BY kind", auditor
    ).read_all()
    assert "query" in counts.column("kind").to_pylist()


def test_audit_table_is_invisible_to_others(gov_runtime: MeshRuntime) -> None:
    for user in ("sam", "ann", "zed"):
        with pytest.raises(UnknownTable, match=r"table flightmesh\.audit does not exist"):
            gov_runtime.query("SELECT * FROM flightmesh.audit", who(gov_runtime, user))
    assert "flightmesh" not in [p.name for p in gov_runtime.catalog.products_for(who(gov_runtime, "ann"))]
    assert "flightmesh" in [p.name for p in gov_runtime.catalog.products_for(who(gov_runtime, "auditor"))]
