"""A contract's quality rules and latency SLA as statements inside the product's own engine.

Every statement is an AST built here, or the contract's SQL rule after it passed the same gates as
a client's query, rendered by sqlglot in the engine's dialect with every identifier quoted and
``unsupported_level=RAISE`` (``planner.render``). The contract's text never reaches an engine:

* library metrics are built from the table's engine name (``Connector.table_expression``) and
  the column as the engine spells it::

      nullValues on crm.customers.email  ->  SELECT COUNT(*), SUM(CASE WHEN "email" IS NULL THEN 1 ELSE 0 END)
                                             FROM "customers"
      duplicateValues on id              ->  SELECT COUNT("id"), COUNT("id") - COUNT(DISTINCT "id") FROM ...
      latency on updated_at              ->  SELECT MAX("updated_at") FROM ...

* a ``type: sql`` rule is parsed as one reading statement in the mesh's dialect
  (``planner.parse_statement``: no writes, no EXPLAIN, no parameters), must pass the closed
  language (``governance.check_statement``), may read only tables of its own product (by their
  descriptor names, qualified with the product or not; CTEs allowed), and gets the engine's names
  swapped in; ``${table}`` and ``${column}`` (the standard's placeholders) are replaced by quoted
  identifiers before parsing. Its first column of its first row is the measure.

``compile_rule`` raises ``ContractRuleError`` for a rule that cannot be checked; at open this is a
descriptor problem, so a contract whose SQL reads another product or calls ``read_csv`` refuses the
mesh instead of being skipped.
"""

from __future__ import annotations

import datetime
import decimal
import time
from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
from sqlglot import exp

from flightmesh.connectors import Connector, FragmentQuery
from flightmesh.governance import check_fragment, check_statement
from flightmesh.mesh import CancelScope, CatalogTable, FlightmeshError, ProductSpec
from flightmesh.mesh.contract_model import FreshnessRule, QualityRule
from flightmesh.planner import parse_statement
from flightmesh.planner.render import render

__all__ = ["ContractRuleError", "Measured", "compile_freshness", "compile_rule", "measure", "measure_freshness"]


class ContractRuleError(Exception):
    """A contract rule flightmesh will not run as written; the message says why."""


@dataclass(frozen=True)
class Measured:
    value: float | None      # the rule's measure (a count, a percentage, an age in seconds)
    passed: bool
    detail: str              # in words, without the measure (it may be hidden from some readers)


def _count(expression: exp.Expr | None = None, *, distinct: bool = False) -> exp.Expr:
    if expression is None:
        return exp.Count(this=exp.Star())
    return exp.Count(this=exp.Distinct(expressions=[expression]) if distinct else expression)


def _sum_when(condition: exp.Expr) -> exp.Expr:
    return exp.Sum(this=exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))],
                                 default=exp.Literal.number(0)))


def _column(table: CatalogTable, name: str) -> exp.Column:
    field = table.field_named(name)
    if field is None:
        raise ContractRuleError(f"table {table.qualified_name} has no column {name!r}")
    return exp.Column(this=exp.to_identifier(field.name, quoted=True))


def _select(connector: Connector, table: CatalogTable, *projections: exp.Expr) -> exp.Select:
    return exp.select(*projections).from_(connector.table_expression(table.spec.source).copy())


def compile_rule(rule: QualityRule, product: ProductSpec, tables: Mapping[str, CatalogTable], connector: Connector,
                 mesh_dialect: str, max_generated_values: int) -> exp.Query:
    """The statement measuring ``rule``: (total, bad) for library metrics, (value) for SQL rules."""
    if rule.kind == "sql":
        return _sql_rule(rule, product, tables, connector, mesh_dialect, max_generated_values)
    table = tables.get(rule.table)
    if table is None:
        raise ContractRuleError(f"table {product.name}.{rule.table} is not in the catalog")
    if rule.kind == "rowCount":
        return _select(connector, table, _count())
    if rule.kind == "duplicateValues" and rule.column is None:
        columns = [_column(table, name) for name in rule.columns]
        distinct = exp.select(*columns).distinct().from_(connector.table_expression(table.spec.source).copy())
        inner = exp.select(_count()).from_(distinct.subquery("d"))
        return _select(connector, table, _count(), exp.Sub(this=_count(), expression=inner.subquery()))
    assert rule.column is not None  # mesh.contracts puts column metrics on properties only
    column = _column(table, rule.column)
    literals = [exp.convert(value) for value in rule.values]
    if rule.kind == "nullValues":
        return _select(connector, table, _count(), _sum_when(exp.Is(this=column, expression=exp.Null())))
    if rule.kind == "missingValues":
        missing: exp.Expr = exp.Is(this=column.copy(), expression=exp.Null())
        if literals:
            missing = exp.or_(missing, exp.In(this=column.copy(), expressions=literals))
        return _select(connector, table, _count(), _sum_when(missing))
    if rule.kind == "invalidValues":
        invalid = exp.and_(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())),
                           exp.Not(this=exp.In(this=column.copy(), expressions=literals)))
        return _select(connector, table, _count(column.copy()), _sum_when(invalid))
    if rule.kind == "duplicateValues":
        return _select(connector, table, _count(column.copy()),
                       exp.Sub(this=_count(column.copy()), expression=_count(column.copy(), distinct=True)))
    raise ContractRuleError(f"metric {rule.kind} is not evaluated")


def compile_freshness(rule: FreshnessRule, product: ProductSpec, tables: Mapping[str, CatalogTable],
                      connector: Connector) -> exp.Query:
    table = tables.get(rule.table)
    if table is None:
        raise ContractRuleError(f"table {product.name}.{rule.table} is not in the catalog")
    return _select(connector, table, exp.Max(this=_column(table, rule.column)))


def _sql_rule(rule: QualityRule, product: ProductSpec, tables: Mapping[str, CatalogTable], connector: Connector,
              dialect: str, max_generated_values: int) -> exp.Query:
    assert rule.query is not None
    text = rule.query
    for placeholder, name in (("${table}", rule.table), ("${column}", rule.column)):
        if name is not None:
            text = text.replace(placeholder, exp.to_identifier(name, quoted=True).sql(dialect=dialect))
    try:
        statement = parse_statement(text, dialect)
        if statement.explain is not None or statement.parameter_count:
            raise ContractRuleError("expected one query without EXPLAIN or parameters")
        check_statement(statement.tree, max_generated_values)
    except FlightmeshError as error:
        raise ContractRuleError(str(error)) from None
    tree = statement.tree.copy()
    if not isinstance(tree, exp.Query):
        raise ContractRuleError("expected a query")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    declared = {name.lower(): spec for name, spec in product.tables.items()}
    read: list[CatalogTable] = []
    for node in list(tree.find_all(exp.Table)):
        if not node.args.get("db") and not node.args.get("catalog") and node.name.lower() in ctes:
            continue
        spec = declared.get(node.name.lower())
        qualifier = node.args.get("db")
        if spec is None or node.args.get("catalog") is not None or \
                (qualifier is not None and qualifier.name.lower() != product.name.lower()):
            raise ContractRuleError(f"reads {node.sql(dialect=dialect)}, which is not a table of product "
                                    f"{product.name}; a contract's rule may read only its own product")
        replacement = connector.table_expression(spec.source).copy()
        replacement.set("alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name)))
        node.replace(replacement)
        if spec.name in tables:
            read.append(tables[spec.name])
    for column in tree.find_all(exp.Column):
        field = next((f for table in read if (f := table.field_named(column.name)) is not None), None)
        if field is not None:
            column.set("this", exp.to_identifier(field.name, quoted=True))
    try:
        check_fragment(tree, max_generated_values)
    except FlightmeshError as error:
        raise ContractRuleError(str(error)) from None
    return tree


def _run(tree: exp.Query, connector: Connector, timeout: float, kind: pa.DataType) -> list[object]:
    """The first row of ``tree`` in its engine (empty: no row). Engines whose results carry no
    reliable types (SQLite) have them cast to ``kind``, one per output column."""
    sql = render(tree, connector.capabilities.dialect)
    cancel = CancelScope(deadline=_deadline(timeout))
    expected = None if connector.capabilities.typed_results else \
        pa.schema([pa.field(f"c{index}", kind) for index in range(len(tree.selects))])
    query = FragmentQuery(sql=sql, expected_schema=expected, timeout_seconds=timeout)
    table = connector.execute(query, cancel).read_all()
    if table.num_rows == 0:
        return []
    return [column[0].as_py() for column in table.columns]


def _deadline(timeout: float) -> float:
    return time.monotonic() + timeout


def measure(rule: QualityRule, tree: exp.Query, connector: Connector, timeout: float) -> Measured:
    row = _run(tree, connector, timeout, pa.float64())
    numbers = [_number(item) for item in row]
    if rule.kind == "sql":
        if not numbers or numbers[0] is None:
            return Measured(None, False, "the rule's query did not answer a number")
        value = numbers[0]
    elif rule.kind == "rowCount":
        value = numbers[0] or 0.0
    else:
        total, bad = (numbers[0] or 0.0, numbers[1] or 0.0) if len(numbers) == 2 else (0.0, 0.0)
        value = (100.0 * bad / total if total else 0.0) if rule.unit == "percent" else bad
    passed = rule.threshold.holds(value)
    what = {"rowCount": "row count", "nullValues": "null values", "missingValues": "missing values",
            "invalidValues": "invalid values", "duplicateValues": "duplicate values", "sql": "the query's value"}
    unit = " (percent)" if rule.unit == "percent" and rule.kind not in ("sql", "rowCount") else ""
    verdict = "meets" if passed else "fails"
    return Measured(value, passed, f"{what[rule.kind]}{unit} {verdict} {rule.threshold.text()}")


def measure_freshness(rule: FreshnessRule, tree: exp.Query, connector: Connector, timeout: float,
                      now: datetime.datetime, kind: pa.DataType) -> Measured:
    """``kind``: the column's type in the catalog."""
    row = _run(tree, connector, timeout, kind)
    newest = _instant(row[0] if row else None)
    if newest is None:
        return Measured(None, False, f"no timestamp in {rule.table}.{rule.column}: the data's age is unknown "
                                     f"(at most {rule.written} promised)")
    age = max((now - newest).total_seconds(), 0.0)
    passed = age <= rule.max_age_seconds
    verdict = "within" if passed else "older than"
    return Measured(age, passed, f"newest {rule.column} is {verdict} the promised latency of {rule.written}")


def _number(value: object) -> float | None:
    """A measure as a float: engines answer counts as int, sums as int, Decimal (PostgreSQL) or float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        return None
    return float(value)


def _instant(value: object) -> datetime.datetime | None:
    """A column's newest value as an aware UTC instant (naive timestamps are read as UTC)."""
    if isinstance(value, str):  # SQLite keeps timestamps as text
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
    return None
