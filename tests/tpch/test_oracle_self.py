"""The oracle deserves trust: its data is tpchgen-cli's, with the spec's types, and its answers
agree with paths that share nothing with it but the generated files (pyarrow compute; DuckDB
reading those files directly) -- and, at SF 1 when that data is built, with the answers
published in the TPC-H specification's validation answer set.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from benchmarks.tpch_mesh import LAYOUT, REPO, SCHEMA, TABLES, TpchData, load_queries, sf_tag
from tests.oracle import assert_same_result, order_keys, query_limit

SF = 0.01   # as built by conftest.py

# Cardinalities of TPC-H v3.0.1 §4.2.5 per unit of scale factor (lineitem varies, see below).
_ROWS_PER_SF = {"supplier": 10_000, "customer": 150_000, "part": 200_000, "partsupp": 800_000,
                "orders": 1_500_000}


def test_fixed_and_scaled_table_sizes(tpch_oracle: duckdb.DuckDBPyConnection) -> None:
    count = {t: tpch_oracle.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES}
    assert count["region"] == 5
    assert count["nation"] == 25
    for table, rows in _ROWS_PER_SF.items():
        assert count[table] == round(rows * SF), table
    # lineitem has 1 to 7 lines per order, so its size is only known per order.
    low, high, orders = tpch_oracle.sql(
        "SELECT min(n), max(n), count(*) FROM (SELECT count(*) AS n FROM lineitem GROUP BY l_orderkey)"
    ).fetchall()[0]
    assert (low, high, orders) == (1, 7, count["orders"])


def test_oracle_columns_have_the_spec_types(tpch_oracle: duckdb.DuckDBPyConnection) -> None:
    spec_to_duckdb = {"BIGINT": "BIGINT", "INTEGER": "INTEGER", "DATE": "DATE",
                      "DECIMAL(15,2)": "DECIMAL(15,2)"}
    for table, columns in SCHEMA.items():
        described = {row[0]: row[1] for row in tpch_oracle.sql(f"DESCRIBE {table}").fetchall()}
        assert list(described) == [name for name, _ in columns]
        for name, kind in columns:
            assert described[name] == spec_to_duckdb.get(kind, "VARCHAR"), f"{table}.{name}"


def _lineitem(data: TpchData) -> pa.Table:
    table = pq.read_table(data.source / "lineitem.parquet")
    # tpchgen-cli writes string_view, which pyarrow's filter cannot take yet.
    return table.cast(pa.schema([pa.field(f.name, pa.string() if f.type == pa.string_view() else f.type)
                                 for f in table.schema]))


def _money(table: pa.Table, column: str) -> pa.ChunkedArray:
    return pc.cast(table[column], pa.float64())


def test_q1_agrees_with_pyarrow_compute(tpch_data: TpchData, tpch_oracle: duckdb.DuckDBPyConnection) -> None:
    lineitem = _lineitem(tpch_data)
    cutoff = dt.date(1998, 12, 1) - dt.timedelta(days=90)
    rows = lineitem.filter(pc.less_equal(lineitem["l_shipdate"], pa.scalar(cutoff, pa.date32())))
    price, discount, tax = (_money(rows, c) for c in ("l_extendedprice", "l_discount", "l_tax"))
    disc_price = pc.multiply(price, pc.subtract(1.0, discount))
    work = pa.table({
        "l_returnflag": rows["l_returnflag"], "l_linestatus": rows["l_linestatus"],
        "qty": _money(rows, "l_quantity"), "price": price, "disc": discount, "disc_price": disc_price,
        "charge": pc.multiply(disc_price, pc.add(1.0, tax)),
    })
    grouped = work.group_by(["l_returnflag", "l_linestatus"]).aggregate(
        [("qty", "sum"), ("price", "sum"), ("disc_price", "sum"), ("charge", "sum"), ("qty", "mean"),
         ("price", "mean"), ("disc", "mean"), ("qty", "count")])
    expected = grouped.sort_by([("l_returnflag", "ascending"), ("l_linestatus", "ascending")])
    expected = expected.rename_columns(["l_returnflag", "l_linestatus", "sum_qty", "sum_base_price",
                                        "sum_disc_price", "sum_charge", "avg_qty", "avg_price", "avg_disc",
                                        "count_order"])
    actual = tpch_oracle.sql(load_queries()[1]).to_arrow_table()
    assert expected.num_rows == 4  # A/F, N/F, N/O, R/F
    assert_same_result(actual, expected, ordered=True)


def test_q6_agrees_with_pyarrow_compute(tpch_data: TpchData, tpch_oracle: duckdb.DuckDBPyConnection) -> None:
    lineitem = _lineitem(tpch_data)
    shipdate = lineitem["l_shipdate"]
    discount = lineitem["l_discount"]
    mask = pc.and_(
        pc.and_(pc.greater_equal(shipdate, pa.scalar(dt.date(1994, 1, 1), pa.date32())),
                pc.less(shipdate, pa.scalar(dt.date(1995, 1, 1), pa.date32()))),
        pc.and_(pc.and_(pc.greater_equal(discount, pa.scalar(Decimal("0.05"), discount.type)),
                        pc.less_equal(discount, pa.scalar(Decimal("0.07"), discount.type))),
                pc.less(lineitem["l_quantity"], pa.scalar(Decimal("24"), lineitem["l_quantity"].type))))
    rows = lineitem.filter(mask)
    revenue = pc.sum(pc.multiply(_money(rows, "l_extendedprice"), _money(rows, "l_discount"))).as_py()
    expected = pa.table({"revenue": pa.array([revenue], pa.float64())})
    assert rows.num_rows > 0
    assert_same_result(tpch_oracle.sql(load_queries()[6]).to_arrow_table(), expected, ordered=True)


@pytest.fixture(scope="module")
def parquet_duckdb(tpch_data: TpchData) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB over the generated Parquet files as they are (their types, not the oracle's)."""
    connection = duckdb.connect()
    for table in TABLES:
        path = str(tpch_data.source / f"{table}.parquet").replace("'", "''")
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
    yield connection
    connection.close()


@pytest.mark.parametrize("number", range(1, 23))
def test_query_runs_on_the_oracle_and_agrees_with_the_parquet_files(
    number: int, tpch_queries: dict[int, str], tpch_expected: dict[int, pa.Table],
    parquet_duckdb: duckdb.DuckDBPyConnection,
) -> None:
    sql = tpch_queries[number]
    result = tpch_expected[number]
    assert result.num_rows > 0, f"Q{number} returned no rows at SF {SF:g}"
    keys = order_keys(sql)
    assert_same_result(result, parquet_duckdb.sql(sql).to_arrow_table(), ordered=keys is not None,
                       order_by=keys, limit=query_limit(sql))


def test_every_query_file_attributes_the_specification() -> None:
    for number, sql in load_queries().items():
        head = sql.split("\n\n", 1)[0]
        assert f"TPC-H Query {number} " in head
        assert "TPC Benchmark H Standard Specification" in head
        assert "validation substitution parameters" in head


# -- SF 1, against the specification's answer set ------------------------------------------------

_SF1 = REPO / "benchmarks" / "data" / f"tpch-sf{sf_tag(1)}"


def _sf1_oracle() -> Path:
    stamp = _SF1 / ".oracle.done"
    if not stamp.is_file() or json.loads(stamp.read_text()) != {"layout": LAYOUT, "sf": "1"}:
        pytest.skip(f"SF 1 data not built (python benchmarks/tpch_mesh.py --sf 1 builds it in {_SF1})")
    return _SF1 / "oracle.duckdb"


# First rows of the TPC-H answer set for SF 1 (values as the answer set prints them, rounded to
# two decimals), for queries whose answers are single numbers or short rows.
_SF1_ANSWERS = {
    1: ("A", "F", 37734107.00, 56586554400.73, 53758257134.87, 55909065222.83, 25.52, 38273.13, 0.05,
        1478493),
    6: (123141078.23,),
    13: (0, 50005),
    14: (16.38,),
    17: (348406.05,),
    19: (3083843.06,),
    22: ("13", 888, 6737713.99),
}


@pytest.mark.parametrize("number", sorted(_SF1_ANSWERS))
def test_sf1_first_row_matches_the_specification_answer(number: int) -> None:
    with duckdb.connect(str(_sf1_oracle()), read_only=True) as connection:
        first = connection.sql(load_queries()[number]).fetchall()[0]
    shown = tuple(round(float(v), 2) if isinstance(v, (float, Decimal)) else v for v in first)
    assert shown == _SF1_ANSWERS[number]
