"""The rules one by one: SQL in -> SQL out, as in the modules' docstrings, plus policies that fail closed."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from flightmesh.executor import MeshRuntime
from flightmesh.governance.masks import Mask, most_restrictive
from flightmesh.governance.policies import TABLE_KEY, apply_policies, policy_for, visible_schema
from flightmesh.governance.principal_sql import PolicySqlError, bind_principal
from flightmesh.mesh import (
    AccessSpec,
    CatalogTable,
    ColumnSpec,
    DenyColumnSpec,
    DescriptorError,
    EngineSpec,
    MaskSpec,
    MeshSpec,
    PoliciesSpec,
    Principal,
    ProductSpec,
    RowFilterSpec,
    TableSpec,
    TagMaskSpec,
)
from flightmesh.planner.resolve import TABLE_KEY as PLANNER_TABLE_KEY


def parse(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read="duckdb", into=exp.Condition)


def test_table_key_is_the_planners() -> None:
    assert TABLE_KEY == PLANNER_TABLE_KEY


@pytest.mark.parametrize(
    ("masks", "expected", "reason"),
    [
        (["'***' || right(phone, 4)", "NULL"], "NULL", "constant"),
        (["'***' || right(phone, 4)", "'(hidden)'"], "'(hidden)'", "constant"),
        (["'x'", "NULL", "'y'"], "NULL", "constant"),
        (["md5(email)", "md5(email)"], "MD5(email)", "identical"),
        (["left(phone, 3)", "right(phone, 4)"], "NULL", "incomparable"),
        (["left(phone, 3)"], "LEFT(phone, 3)", "only"),
    ],
)
def test_most_restrictive(masks: list[str], expected: str, reason: str) -> None:
    choice = most_restrictive([Mask(f"m{i}", parse(text)) for i, text in enumerate(masks)])
    assert choice is not None and choice.expression.sql() == expected and choice.reason == reason
    assert most_restrictive([]) is None


ALICE = Principal(
    "alice", frozenset({"analyst", "hr"}), {"region": "EMEA", "regions": ["EMEA", "APAC"], "level": 3}
)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("owner = current_user", "owner = 'alice'"),
        ("region = user_attribute('region')", "region = 'EMEA'"),
        ("region IN (user_attribute('regions'))", "region IN ('EMEA', 'APAC')"),
        ("level >= user_attribute('level')", "level >= 3"),
        ("region = user_attribute('missing')", "region = NULL"),
        ("has_role('hr') OR region = 'US'", "TRUE OR region = 'US'"),
        ("has_role('ceo')", "FALSE"),
    ],
)
def test_bind_principal(sql: str, expected: str) -> None:
    assert bind_principal(parse(sql), ALICE).sql() == expected


@pytest.mark.parametrize(
    "sql", ["region = user_attribute('regions')", "user_attribute(region) = 1", "has_role('a', 'b')"]
)
def test_bind_principal_refuses_misuse(sql: str) -> None:
    with pytest.raises(PolicySqlError):
        bind_principal(parse(sql), ALICE)


def _table() -> CatalogTable:
    spec = TableSpec(name="customers", source="customers")
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("Name", pa.string()),
            ("phone", pa.string()),
            ("ssn", pa.string()),
            ("region", pa.string()),
        ]
    )
    return CatalogTable("crm", "customers", spec, schema, columns={"Name": ColumnSpec(tags=("pii",))})


def _spec(**policies: object) -> MeshSpec:
    product = ProductSpec(
        name="crm",
        engine=EngineSpec(kind="duckdb"),
        tables={"customers": TableSpec("customers", "customers")},
        access=AccessSpec(read=("analyst",)),
        policies=PoliciesSpec(**policies),  # type: ignore[arg-type]
    )
    return MeshSpec(
        name="m", products={"crm": product}, tag_masks=(TagMaskSpec("pii", "'~' || value", ("pii_reader",)),)
    )


def _rewrite(sql: str, spec: MeshSpec, principal: Principal) -> str:
    tree = sqlglot.parse_one(sql, read="duckdb")
    table = tree.find(exp.Table)
    assert table is not None
    table.meta[TABLE_KEY] = "crm.customers"
    return apply_policies(tree, {"crm.customers": _table()}, principal, spec).sql()


def test_golden_rewrite_filter_then_mask() -> None:
    spec = _spec(
        row_filters=(
            RowFilterSpec("customers", "region = user_attribute('region')", ("analyst",)),
            RowFilterSpec("customers", "id > 0"),
        ),
        masks=(MaskSpec("customers", "phone", "'***'"),),
        deny_columns=(DenyColumnSpec("customers", "SSN", ("compliance",)),),
    )
    out = _rewrite("SELECT c.phone FROM crm.customers AS c WHERE c.phone LIKE '+44%'", spec, ALICE)
    guard = "customers.region = 'EMEA' AND customers.id > 0"
    assert out == (
        f"SELECT c.phone FROM (SELECT CASE WHEN {guard} THEN customers.id END AS id, "
        f"CASE WHEN {guard} THEN '~' || customers.Name END AS Name, "
        f"CASE WHEN {guard} THEN '***' END AS phone, "
        f"CASE WHEN {guard} THEN customers.region END AS region "
        f"FROM crm.customers AS customers WHERE {guard}) AS c WHERE c.phone LIKE '+44%'"
    )


def test_no_applicable_policy_leaves_the_table_alone() -> None:
    spec = _spec(
        row_filters=(RowFilterSpec("customers", "id > 0", ("support",)),),
        deny_columns=(DenyColumnSpec("customers", "ssn", ("analyst",)),),
    )
    principal = Principal("p", frozenset({"analyst", "pii_reader"}))
    assert _rewrite("SELECT * FROM crm.customers AS c", spec, principal) == "SELECT * FROM crm.customers AS c"


def test_visible_schema_drops_denied_and_retypes_text_masks() -> None:
    spec = _spec(
        masks=(MaskSpec("customers", "id", "'hidden'"),), deny_columns=(DenyColumnSpec("customers", "ssn"),)
    )
    schema = visible_schema(_table(), Principal("p", frozenset({"pii_reader"})), spec)
    assert schema.names == ["id", "Name", "phone", "region"] and schema.field("id").type == pa.string()


@pytest.mark.parametrize(
    ("policies", "problem"),
    [
        ({"row_filters": (RowFilterSpec("customers", "nosuch = 1"),)}, "no column 'nosuch'"),
        ({"row_filters": (RowFilterSpec("customers", "id IN (SELECT 1)"),)}, "only the table's own columns"),
        ({"masks": (MaskSpec("customers", "phone", "other.phone"),)}, "names another table"),
        (
            {"row_filters": (RowFilterSpec("customers", "region = user_attribute(region)"),)},
            "one string literal",
        ),
    ],
)
def test_unapplicable_policies_are_errors(policies: dict[str, object], problem: str) -> None:
    from flightmesh.governance.policies import PolicyError

    with pytest.raises(PolicyError, match=problem):
        policy_for(_table(), ALICE, _spec(**policies))


def test_a_tag_mask_reads_only_value() -> None:
    from flightmesh.governance.policies import PolicyError

    spec = MeshSpec(name="m", products=_spec().products, tag_masks=(TagMaskSpec("pii", "phone"),))
    with pytest.raises(PolicyError, match="may read only 'value'"):
        policy_for(_table(), ALICE, spec)


def test_a_broken_policy_stops_the_mesh_from_opening(tmp_path: Path) -> None:
    import duckdb

    connection = duckdb.connect(str(tmp_path / "d.duckdb"))
    connection.execute("CREATE TABLE t AS SELECT 1 AS a")
    connection.close()
    (tmp_path / "mesh.yaml").write_text(
        "mesh: {name: m}\nproducts:\n  p:\n    engine: {kind: duckdb, path: d.duckdb}\n    tables: {t: {}}\n"
        "    access: {read: [r]}\n    policies:\n      row_filters:\n"
        '        - {table: t, where: "b = 1", for: [x]}\n'
    )
    with pytest.raises(DescriptorError, match=r"row_filter p\.t\[0\]: p\.t has no column 'b'"):
        MeshRuntime.open(tmp_path / "mesh.yaml")
