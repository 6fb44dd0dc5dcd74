
"""The conformance queries: DuckDB SQL over the dataset, one per kind of pushdown and per function.

Each query is rendered by sqlglot from one AST into every connector's dialect (``harness.render``)
and its result compared with DuckDB over the same Arrow tables (the oracle). ``ordered`` says
the query fixes its row order, so the comparison keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FUNCTION_CASES", "PUSHDOWN_CASES", "Case"]


@dataclass(frozen=True)
class Case:
    id: str
    sql: str
    ordered: bool = False


PUSHDOWN_CASES = [
    Case("scan", "SELECT * FROM orders"),
    Case("filter", "SELECT id, amount FROM orders WHERE amount > 40 AND status = 'shipped' OR qty = 3"),
    Case("filter_null", "SELECT id FROM customers WHERE region IS NULL OR name IS NULL"),
    Case("filter_in_between", "SELECT id FROM orders WHERE customer_id IN (1, 2, 3) "
         "AND ordered BETWEEN DATE '2024-02-01' AND DATE '2024-09-30'"),
    Case("filter_like", "SELECT id FROM customers WHERE name LIKE 'customer 1%'"),
    Case("projection", "SELECT id, qty * 2 + 1 AS twice, amount * qty AS total, upper(status) AS s FROM orders"),
    Case("case_when", "SELECT id, CASE WHEN qty > 5 THEN 'big' WHEN qty > 2 THEN 'mid' ELSE 'small' END AS size "
         "FROM orders"),
    Case("cast", "SELECT id, CAST(qty AS DOUBLE) / 4 AS quarter, CAST(id AS VARCHAR) AS label FROM orders"),
    Case("join", "SELECT o.id, c.name, o.amount FROM orders AS o JOIN customers AS c ON c.id = o.customer_id"),
    Case("left_join", "SELECT o.id, c.region FROM orders AS o LEFT JOIN customers AS c ON c.id = o.customer_id"),
    Case("full_join", "SELECT o.id AS oid, c.id AS cid FROM (SELECT * FROM orders WHERE qty = 1) AS o "
         "FULL OUTER JOIN customers AS c ON c.id = o.customer_id"),
    Case("aggregate", "SELECT status, count(*) AS n, sum(amount) AS total, avg(qty) AS mean, min(ordered) AS first, "
         "max(amount) AS top FROM orders GROUP BY status"),
    Case("having", "SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id HAVING count(*) > 8"),
    Case("count_distinct", "SELECT count(DISTINCT customer_id) AS n, count(amount) AS priced FROM orders"),
    Case("distinct", "SELECT DISTINCT status, qty FROM orders"),
    Case("top_n", "SELECT id, amount FROM orders WHERE amount IS NOT NULL ORDER BY amount DESC, id LIMIT 7",
         ordered=True),
    Case("order", "SELECT id, qty FROM orders ORDER BY qty, id DESC", ordered=True),
    Case("window", "SELECT id, customer_id, row_number() OVER (PARTITION BY customer_id ORDER BY id) AS rn, "
         "sum(qty) OVER (PARTITION BY customer_id) AS per_customer FROM orders"),
    Case("window_running", "SELECT id, sum(qty) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
         "AS running, lag(id) OVER (ORDER BY id) AS previous FROM orders"),
    Case("subquery_in", "SELECT id FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE qty = 9)"),
    Case("subquery_exists", "SELECT c.id FROM customers AS c WHERE NOT EXISTS "
         "(SELECT 1 FROM orders AS o WHERE o.customer_id = c.id AND o.status = 'returned')"),
    Case("subquery_scalar", "SELECT id, qty - (SELECT max(qty) FROM orders WHERE status = 'open') AS below "
         "FROM orders WHERE id < 20"),
    Case("average", "SELECT customer_id, avg(qty) AS mean, avg(amount) AS mean_amount FROM orders "
         "GROUP BY customer_id"),
    Case("derived", "SELECT region, max(total) AS best FROM (SELECT c.region, o.customer_id, sum(o.qty) AS total "
         "FROM orders AS o JOIN customers AS c ON c.id = o.customer_id GROUP BY 1, 2) AS t GROUP BY region"),
    Case("union", "SELECT customer_id AS k FROM orders WHERE qty = 1 UNION SELECT id FROM customers WHERE id < 4"),
    Case("union_all", "SELECT status AS s FROM orders WHERE id < 5 UNION ALL SELECT region FROM customers "
         "WHERE id < 5"),
    Case("intersect", "SELECT customer_id AS k FROM orders INTERSECT SELECT id FROM customers"),
    Case("except", "SELECT id AS k FROM customers EXCEPT SELECT customer_id FROM orders WHERE qty > 4"),
    Case("cte", "WITH big AS (SELECT customer_id, sum(qty) AS q FROM orders GROUP BY customer_id) "
         "SELECT c.name, big.q FROM big JOIN customers AS c ON c.id = big.customer_id WHERE big.q > 40"),
    Case("date_parts", "SELECT id, extract(year FROM ordered) AS y, extract(month FROM ordered) AS m FROM orders"),
    Case("coalesce_nullif", "SELECT id, coalesce(name, 'anonymous') AS who, nullif(region, 'north') AS r "
         "FROM customers"),
    Case("string_functions", "SELECT id, length(name) AS len, lower(name) AS low, substring(name, 1, 4) AS pre, "
         "trim('  x ') AS t, name || '!' AS bang FROM customers"),
    Case("math", "SELECT id, abs(score - 5) AS a, floor(score) AS f, ceil(score) AS c, mod(id, 4) AS m, "
         "sqrt(score) AS r FROM customers"),
]

# One expression each, over ``customers`` (x = id, y = score, s = name or region, b a predicate).
# Scalars run per row; aggregates over the table.
FUNCTION_CASES = [
    Case(name, f"SELECT {expression} AS v FROM customers" if aggregate
         else f"SELECT id, {expression} AS v FROM customers")
    for name, expression, aggregate in [
        ("stddev_samp", "stddev_samp(score)", True),
        ("var_pop", "var_pop(score)", True),
        ("corr", "corr(id, score)", True),
        ("covar_samp", "covar_samp(id, score)", True),
        ("approx_count_distinct", "approx_count_distinct(region)", True),
        ("median", "median(score)", True),
        ("quantile_cont", "quantile_cont(score, 0.25)", True),
        ("count_if", "count_if(score > 5)", True),
        ("bool_or", "bool_or(score > 13)", True),
        ("arg_max", "arg_max(name, score)", True),
        ("string_agg", "string_agg(region, ',' ORDER BY region)", True),
        ("array_agg", "array_agg(id ORDER BY id)", True),
        ("filter_clause", "count(*) FILTER (WHERE score > 5)", True),
        ("mode", "mode(id < 12)", True),
        ("regexp_matches", "regexp_matches(name, 'er 1.')", False),
        ("regexp_extract", "regexp_extract(name, 'r ([0-9])', 1)", False),
        ("regexp_replace", "regexp_replace(name, 'customer', 'c')", False),
        ("starts_with", "starts_with(name, 'customer 1')", False),
        ("contains", "contains(name, '1')", False),
        ("split_part", "split_part(name, ' ', 2)", False),
        ("levenshtein", "levenshtein(name, 'customer 10')", False),
        ("left", "left(name, 3)", False),
        ("lpad", "lpad(region, 6, '*')", False),
        ("reverse", "reverse(region)", False),
        ("concat_ws", "concat_ws('-', region, name)", False),
        ("md5", "md5(name)", False),
        ("round", "round(score, 1)", False),
        ("log10", "log10(score)", False),
        ("cbrt", "cbrt(score)", False),
        ("power", "power(score, 2)", False),
        ("greatest", "greatest(id, 10)", False),
        ("isnan", "isnan(score)", False),
        ("date_trunc", "date_trunc('month', DATE '2024-03-17' + id)", False),
        ("date_diff", "date_diff('day', DATE '2024-01-01', DATE '2024-03-01' + id)", False),
        ("make_date", "make_date(2024, 1, id)", False),
        ("strftime", "strftime(DATE '2024-01-01' + id, '%Y-%m-%d')", False),
        ("dayofweek", "dayofweek(DATE '2024-01-01' + id)", False),
        ("try_cast", "try_cast(name AS INTEGER)", False),
        ("hash", "hash(id)", False),
        ("list_value", "[id, id]", False),
    ]
]
