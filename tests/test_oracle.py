"""The result comparison must pass what is the same and fail, clearly, on what is not."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from tests.oracle import assert_same_result, order_keys, query_limit


def table(columns: dict[str, tuple[pa.DataType, list[Any]]]) -> pa.Table:
    return pa.table({name: pa.array(values, kind) for name, (kind, values) in columns.items()})


MONEY = pa.decimal128(15, 2)
SUMS = pa.decimal128(38, 4)


def orders(keys: list[int], totals: list[str], kind: pa.DataType = MONEY) -> pa.Table:
    return table({"o_orderkey": (pa.int64(), keys),
                  "total": (kind, [Decimal(t) for t in totals] if pa.types.is_decimal(kind)
                            else [float(t) for t in totals])})


def fails(actual: pa.Table, expected: pa.Table, **options: Any) -> str:
    options.setdefault("ordered", False)
    with pytest.raises(AssertionError) as raised:
        assert_same_result(actual, expected, **options)
    return str(raised.value)


# -- what is the same ----------------------------------------------------------------------------


def test_identical_tables_pass_ordered_and_unordered() -> None:
    t = orders([1, 2, 3], ["1.00", "2.50", "3.25"])
    assert_same_result(t, t, ordered=True)
    assert_same_result(t, t, ordered=False)


def test_rows_in_another_order_pass_when_unordered() -> None:
    assert_same_result(orders([3, 1, 2], ["3.25", "1.00", "2.50"]),
                       orders([1, 2, 3], ["1.00", "2.50", "3.25"]), ordered=False)


def test_decimal_float_and_int_are_compared_by_value() -> None:
    as_decimal = table({"n": (pa.decimal128(10, 2), [Decimal("5.00"), Decimal("-1.50")])})
    as_float = table({"n": (pa.float64(), [5.0, -1.5])})
    as_int = table({"n": (pa.int64(), [5])})
    as_decimal_int = table({"n": (pa.decimal128(10, 2), [Decimal("5.00")])})
    assert_same_result(as_decimal, as_float, ordered=True)
    assert_same_result(as_float, as_decimal, ordered=True)
    assert_same_result(as_int, as_decimal_int, ordered=True)


def test_floats_within_a_relative_billionth_pass() -> None:
    value = 123456789.123
    assert_same_result(table({"x": (pa.float64(), [value * (1 + 1e-12)])}),
                       table({"x": (pa.float64(), [value])}), ordered=True)


def test_money_may_differ_by_a_cent_from_a_float_computation() -> None:
    # avg(c_acctbal) rounded to cents by one engine, kept as double by the other.
    expected = table({"avg": (pa.float64(), [4512.3449999])})
    assert_same_result(table({"avg": (MONEY, [Decimal("4512.34")])}), expected, ordered=True)
    assert_same_result(table({"avg": (MONEY, [Decimal("4512.35")])}), expected, ordered=True)


def test_decimals_of_different_scales_compare_with_the_money_tolerance() -> None:
    assert_same_result(table({"s": (MONEY, [Decimal("100.01")])}),
                       table({"s": (SUMS, [Decimal("100.0050")])}), ordered=True)


def test_nulls_equal_nulls_and_nan_equals_nan() -> None:
    t = table({"a": (pa.int64(), [1, None]), "b": (pa.float64(), [math.nan, None])})
    assert_same_result(t, t, ordered=True)


def test_column_names_compare_case_insensitively() -> None:
    assert_same_result(table({"REVENUE": (pa.int64(), [1])}), table({"revenue": (pa.int64(), [1])}),
                       ordered=True)


def test_dates_equal_timestamps_at_midnight() -> None:
    assert_same_result(table({"d": (pa.timestamp("us"), [dt.datetime(1995, 3, 15)])}),
                       table({"d": (pa.date32(), [dt.date(1995, 3, 15)])}), ordered=True)


def test_string_and_large_string_and_view_are_the_same_strings() -> None:
    expected = table({"s": (pa.string(), ["BUILDING", "é"])})
    assert_same_result(table({"s": (pa.large_string(), ["BUILDING", "é"])}), expected, ordered=True)
    assert_same_result(table({"s": (pa.string_view(), ["BUILDING", "é"])}), expected, ordered=True)


def test_rows_tied_on_the_order_by_keys_may_come_in_any_order() -> None:
    expected = table({"revenue": (pa.int64(), [30, 20, 20, 20, 10]), "name": (pa.string(), list("abcde"))})
    actual = table({"revenue": (pa.int64(), [30, 20, 20, 20, 10]), "name": (pa.string(), list("adbce"))})
    assert_same_result(actual, expected, ordered=True, order_by=["REVENUE"])


def test_ties_on_float_keys_within_tolerance_count_as_ties() -> None:
    expected = table({"revenue": (pa.float64(), [2.0, 1.0 + 1e-13, 1.0]), "k": (pa.int64(), [1, 2, 3])})
    actual = table({"revenue": (pa.float64(), [2.0, 1.0, 1.0 + 1e-13]), "k": (pa.int64(), [1, 3, 2])})
    assert_same_result(actual, expected, ordered=True, order_by=["revenue"])


def test_a_limit_may_cut_the_last_run_of_ties_at_different_rows() -> None:
    # ORDER BY revenue DESC LIMIT 3 over revenues 9, 5, 5, 5: which 5s are kept is unspecified.
    expected = table({"revenue": (pa.int64(), [9, 5, 5]), "name": (pa.string(), ["a", "b", "c"])})
    actual = table({"revenue": (pa.int64(), [9, 5, 5]), "name": (pa.string(), ["a", "d", "b"])})
    assert_same_result(actual, expected, ordered=True, order_by=["revenue"], limit=3)


# -- what is different ---------------------------------------------------------------------------


def test_an_off_by_one_integer_fails_even_when_large() -> None:
    message = fails(table({"n": (pa.int64(), [10**12 + 1])}), table({"n": (pa.int64(), [10**12])}))
    assert "1000000000001" in message


def test_an_off_by_one_cent_in_an_exact_sum_fails() -> None:
    # Both engines compute exactly at the same scale: no tolerance.
    message = fails(table({"s": (SUMS, [Decimal("56586554400.7400")])}),
                    table({"s": (SUMS, [Decimal("56586554400.7300")])}))
    assert "56586554400.7300" in message


def test_money_off_by_more_than_a_cent_fails() -> None:
    fails(table({"p": (MONEY, [Decimal("10.02")])}), table({"p": (pa.float64(), [10.0])}))


def test_floats_off_by_more_than_a_relative_billionth_fail() -> None:
    fails(table({"x": (pa.float64(), [1.000001])}), table({"x": (pa.float64(), [1.0])}))


def test_a_missing_row_fails_and_is_shown() -> None:
    message = fails(orders([1, 2], ["1.00", "2.50"]), orders([1, 2, 3], ["1.00", "2.50", "3.25"]))
    assert "2 rows, expected 3" in message
    assert "missing (expected only): (3, 3.25)" in message


def test_a_duplicated_row_is_not_the_same_multiset() -> None:
    message = fails(orders([1, 1, 2], ["1.00", "1.00", "2.00"]), orders([1, 2, 2], ["1.00", "2.00", "2.00"]))
    assert "missing (expected only): (2, 2.00)" in message
    assert "unexpected (actual only): (1, 1.00)" in message


def test_swapped_rows_fail_an_ordered_comparison_and_show_where() -> None:
    expected = orders([1, 2, 3], ["1.00", "2.50", "3.25"])
    actual = orders([1, 3, 2], ["1.00", "3.25", "2.50"])
    message = fails(actual, expected, ordered=True)
    assert "row 1 differs in ['o_orderkey', 'total']" in message
    assert "> actual   row 1: (3, 3.25)" in message
    assert "> expected row 1: (2, 2.50)" in message
    # ... and with order_by naming the key that orders them, too.
    fails(actual, expected, ordered=True, order_by=["o_orderkey"])


def test_ties_must_still_hold_the_same_rows() -> None:
    expected = table({"revenue": (pa.int64(), [20, 20, 10]), "name": (pa.string(), ["a", "b", "c"])})
    actual = table({"revenue": (pa.int64(), [20, 20, 10]), "name": (pa.string(), ["a", "c", "b"])})
    message = fails(actual, expected, ordered=True, order_by=["revenue"])
    assert "rows 0..1, tied on ['revenue'], differ" in message


def test_without_a_limit_the_last_run_of_ties_is_compared_whole() -> None:
    expected = table({"revenue": (pa.int64(), [9, 5, 5]), "name": (pa.string(), ["a", "b", "c"])})
    actual = table({"revenue": (pa.int64(), [9, 5, 5]), "name": (pa.string(), ["a", "d", "b"])})
    fails(actual, expected, ordered=True, order_by=["revenue"])
    # A result shorter than the LIMIT was not cut: compared whole as well.
    fails(actual, expected, ordered=True, order_by=["revenue"], limit=10)


def test_a_different_value_in_a_tie_key_fails() -> None:
    expected = table({"revenue": (pa.int64(), [9, 5, 5]), "name": (pa.string(), ["a", "b", "c"])})
    actual = table({"revenue": (pa.int64(), [9, 5, 4]), "name": (pa.string(), ["a", "b", "c"])})
    fails(actual, expected, ordered=True, order_by=["revenue"], limit=3)


def test_null_is_not_zero_or_empty() -> None:
    fails(table({"n": (pa.int64(), [None])}), table({"n": (pa.int64(), [0])}))
    fails(table({"s": (pa.string(), [""])}), table({"s": (pa.string(), [None])}))


def test_strings_compare_exactly() -> None:
    fails(table({"s": (pa.string(), ["BUILDING  "])}), table({"s": (pa.string(), ["BUILDING"])}))
    fails(table({"s": (pa.string(), ["building"])}), table({"s": (pa.string(), ["BUILDING"])}))


def test_a_date_is_not_its_text_nor_another_date() -> None:
    expected = table({"d": (pa.date32(), [dt.date(1995, 3, 15)])})
    fails(table({"d": (pa.string(), ["1995-03-15"])}), expected)
    fails(table({"d": (pa.date32(), [dt.date(1995, 3, 16)])}), expected)


def test_a_number_is_not_its_text() -> None:
    fails(table({"n": (pa.string(), ["5"])}), table({"n": (pa.int64(), [5])}))


def test_column_names_and_counts_must_match() -> None:
    assert "column names" in fails(table({"a": (pa.int64(), [1])}), table({"b": (pa.int64(), [1])}))
    assert "1 columns" in fails(table({"a": (pa.int64(), [1])}),
                                table({"a": (pa.int64(), [1]), "b": (pa.int64(), [1])}))
    assert_same_result(table({"sum(l_quantity)": (pa.int64(), [1])}), table({"sum_qty": (pa.int64(), [1])}),
                       ordered=True, check_names=False)


def test_unknown_order_by_column_is_a_caller_mistake() -> None:
    t = orders([1], ["1.00"])
    with pytest.raises(ValueError, match="not among the result columns"):
        assert_same_result(t, t, ordered=True, order_by=["revenue"])


def test_readers_are_accepted() -> None:
    t = orders([1, 2], ["1.00", "2.00"])
    assert_same_result(pa.RecordBatchReader.from_batches(t.schema, t.to_batches()), t, ordered=True)


def test_large_unordered_results_with_float_noise_compare_quickly() -> None:
    n = 20_000
    expected = table({"k": (pa.int64(), list(range(n))), "v": (pa.float64(), [i / 7 for i in range(n)])})
    actual = table({"k": (pa.int64(), list(reversed(range(n)))),
                    "v": (pa.float64(), [i / 7 * (1 + 1e-13) for i in reversed(range(n))])})
    assert_same_result(actual, expected, ordered=False)


# -- reading ORDER BY and LIMIT from a query -----------------------------------------------------


def test_order_keys_and_limit_come_from_the_outermost_query() -> None:
    sql = """select l_orderkey, sum(x) as revenue, o_orderdate from t
             where a in (select b from u order by b limit 5)
             group by l_orderkey, o_orderdate order by revenue desc, o_orderdate limit 10"""
    assert order_keys(sql) == ("revenue", "o_orderdate")
    assert query_limit(sql) == 10
    assert order_keys("select 1 as a") is None
    assert query_limit("select 1 as a") is None
    with pytest.raises(ValueError, match="not an output column"):
        order_keys("select a from t order by a + 1")
