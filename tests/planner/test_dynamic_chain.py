"""Dynamic filters in a chain: a fact restricted by two small dimensions lends its own keys onward.

broad.py b06's shape: a month of dates and one manager's items restrict store_sales to a few
hundred rows; those rows' customers then restrict the 100,000-row customer fragment. The fact's
scanned rows (1.9 M) say it is too big to lend keys; what it lends once restricted is its rows
scaled by the share of its key column's distinct values the build's keys are.
"""

from __future__ import annotations

from flightmesh.planner.dynamic import choose_key_filters

EDGES = [("date", "d_sk", "sales", "s_date"), ("sales", "s_date", "date", "d_sk"),
         ("item", "i_sk", "sales", "s_item"), ("sales", "s_item", "item", "i_sk"),
         ("sales", "s_cust", "cust", "c_sk"), ("cust", "c_sk", "sales", "s_cust")]
ROWS = {"date": 5, "sales": 1_900_000, "item": 900, "cust": 100_000}
DISTINCT = {("date", "d_sk"): 5, ("item", "i_sk"): 900, ("cust", "c_sk"): 100_000,
            ("sales", "s_date"): 2_000, ("sales", "s_item"): 18_000, ("sales", "s_cust"): 100_000}


def _chosen(counts: dict[tuple[str, str], float]) -> list[tuple[str, str]]:
    filters = choose_key_filters(EDGES, ROWS, 100_000, 10_000, {"date", "item"}, key_counts=counts)
    return sorted((k.build, k.probe) for k in filters)


def test_a_restricted_fact_lends_its_keys_onward() -> None:
    # 1.9 M rows x 5 / 2,000 dates = 4,750 expected, far below 100,000: worth the customers' wait
    assert _chosen(DISTINCT) == [("date", "sales"), ("item", "sales"), ("sales", "cust")]


def test_without_the_probe_column_distinct_count_the_chain_stops() -> None:
    # no estimate of what the restricted fact lends: nothing waits for it (safe when unknown)
    counts = {key: value for key, value in DISTINCT.items() if key not in (("sales", "s_date"), ("sales", "s_item"))}
    assert _chosen(counts) == [("date", "sales"), ("item", "sales")]


def test_a_second_dimension_is_judged_against_the_rows_the_fact_reads() -> None:
    # after the dates, the fact is expected to lend 4,750 keys; 2,000 items' keys are still
    # compared with its 1.9 M scanned rows (not with those 4,750), so both dimensions restrict it
    rows = {**ROWS, "item": 2_000}
    counts = {**DISTINCT, ("item", "i_sk"): 2_000}
    chosen = choose_key_filters(EDGES, rows, 100_000, 10_000, {"date", "item"}, key_counts=counts)
    assert {(k.build, k.probe) for k in chosen} >= {("date", "sales"), ("item", "sales")}


# TPC-H q08's shape: lineitem (joined to orders in DuckDB) probed by SQLite's parts of one type
# and by PostgreSQL's customers of one region.
Q08_EDGES = [("part", "p_sk", "line", "l_part"), ("line", "l_part", "part", "p_sk"),
             ("cust", "c_sk", "line", "o_cust"), ("line", "o_cust", "cust", "c_sk")]
Q08_DISTINCT = {("part", "p_sk"): 200_000, ("line", "l_part"): 200_000, ("cust", "c_sk"): 150_000,
                ("line", "o_cust"): 100_000}


def _q08(part_rows: int) -> list[tuple[str, str]]:
    rows = {"part": part_rows, "line": 1_400_000, "cust": 30_000}
    filters = choose_key_filters(Q08_EDGES, rows, 100_000, 10_000, {"part", "cust"}, key_counts=Q08_DISTINCT)
    return sorted((k.build, k.probe) for k in filters)


def test_a_big_second_build_is_judged_against_what_the_probe_still_returns() -> None:
    # 1,451 parts' keys cut lineitem to ~10,000 rows: 30,000 customers' keys are not worth their wait
    assert _q08(1_451) == [("part", "line")]
    # 20,000 parts leave ~140,000 rows: the customers still restrict enough to wait for
    assert _q08(20_000) == [("cust", "line"), ("part", "line")]
