"""A scalar subquery over the query's own table, computed in the query's one scan of it, as a window.

PostgreSQL runs an uncorrelated scalar subquery as an InitPlan: a second scan of the table.
Where the subquery aggregates the very table its SELECT reads, and every row it aggregates is
a row the SELECT's own filters keep, one scan serves both: the aggregate becomes a window over
the SELECT's filtered rows, counting only the rows the subquery's WHERE keeps::

    SELECT c.k, c.b FROM customer AS c
    WHERE c.p IN ('13', '31') AND c.b > (SELECT AVG(d.b) FROM customer AS d WHERE d.b > 0 AND d.p IN ('13', '31'))
    ->  SELECT c.k, c.b FROM (SELECT c.k AS k, c.b AS b, AVG(CASE WHEN c.b > 0 THEN c.b END) OVER () AS scalar_value
                             FROM customer AS c WHERE c.p IN ('13', '31')) AS c
        WHERE c.b > c.scalar_value

TPC-H q22's PostgreSQL fragment is that shape (customer read twice, 19,000 rows kept): at SF 1
through ADBC, the fragment alone took 148 ms as written and 112 ms rewritten (medians).
Declared per engine (``Capabilities.scalar_subquery_rescans``): where it was measured.

Why the answer stays. Call W the SELECT's other WHERE conjuncts and P the subquery's. The rule
applies only when every conjunct of W is one of P's (compared as trees, the subquery's alias
read as the SELECT's): a row P keeps, W keeps too, so the window's rows (those W keeps) hold all
of P's rows, and on them P is P's conjuncts outside W (the others are true there). The aggregate
is one that skips NULLs (avg, sum, min, max, count of a value, not DISTINCT): fed NULL for every
other row it computes what the subquery computed over P's rows -- NULL, or 0 for count, when no
row passes P. An empty window means no row for the SELECT either. Nothing else changes: the
SELECT keeps its output, GROUP BY, ORDER BY and LIMIT over the same rows; the comparison compares
the same values. The aggregate is the same function over a value of the same type (a CASE of one
branch has its branch's type), so the engine answers in the type the fragment had before. No
expression is evaluated on a row it was not evaluated on before: P's conjuncts on rows of the
table (fewer of them), the aggregated value on P's rows only (CASE).

Where it stops: the SELECT reads one table directly (not a governed table's policy subquery, not
a join or sample) and has no other subquery; the subquery reads the same catalog table directly
and is uncorrelated (each column names its own alias); no random function in it; the value is
a number (count: any type). The window buffers the SELECT's filtered rows: W being all the
SELECT's other conjuncts, these are the rows the SELECT would test the comparison on anyway.
"""

from __future__ import annotations

from sqlglot import exp

from flightmesh.connectors import Pushdown
from flightmesh.governance import POLICY_KEY

from ..resolve import table_key
from ..split import conjuncts, within
from ..treecopy import copy_tree
from .base import Cut, RuleContext

__all__ = ["scalar_subquery_as_window"]

_AGGREGATES = (exp.Avg, exp.Sum, exp.Min, exp.Max, exp.Count)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
_RANDOM = (exp.Rand, exp.Randn, exp.Randstr, exp.Uuid)
_NOT_OF_VALUE = (exp.Query, exp.Subquery, exp.Window, exp.AggFunc, *_RANDOM)   # in P or the aggregated value
_TABLE_ARGS = frozenset({"this", "db", "catalog", "alias"})        # a table read directly, nothing more
_SELECT_ARGS = frozenset({"expressions", "from_", "where", "group", "having", "order", "limit", "offset",
                          "distinct"})
_SCALAR_ARGS = frozenset({"expressions", "from_", "where"})
_VALUE_NAME = "scalar_value"


def scalar_subquery_as_window(cut: Cut, context: RuleContext) -> Cut:
    for draft in cut.fragments:
        capabilities = draft.connector.capabilities
        if not (capabilities.scalar_subquery_rescans and capabilities.supports(Pushdown.WINDOW)):
            continue
        for select in list(draft.tree.find_all(exp.Select)):
            if not _in_policy(select):
                _one_scan(select)
    return cut


def _one_scan(select: exp.Select) -> None:
    table = _direct_table(select, _SELECT_ARGS)
    where = select.args.get("where")
    if table is None or where is None:
        return
    nested = [node for node in select.find_all(exp.Query)
              if node is not select and not isinstance(node, exp.Subquery)]   # (a Subquery is a Query)
    if len(nested) != 1 or not isinstance(nested[0], exp.Select):
        return
    scalar = nested[0]
    holder = scalar.parent
    comparison = holder.parent if holder is not None else None
    if not (isinstance(holder, exp.Subquery) and _set_args(holder) == {"this"}
            and isinstance(comparison, _COMPARISONS)):
        return
    found = _scalar_aggregate(scalar)
    alias = table.alias_or_name
    if found is None or table_key(found[0]) is None or table_key(found[0]) != table_key(table):
        return
    inner, aggregate, condition = found
    own = [column for column in select.find_all(exp.Column)
           if not within(column, holder) and not _names_output(column, select)]
    if not all(_qualified_by(column, alias) for column in own):
        return
    # The subquery's conditions and value as the SELECT's alias names them.
    name = _alias_name(table)
    renamed = [_renamed(term, inner.alias_or_name, name) for term in conjuncts(condition)]
    # Every conjunct but the comparison must be one of P's: else a row P keeps might be one the
    # SELECT filters out, which the window would miss. (So the comparison is a conjunct itself:
    # the conjunct holding it holds a subquery, which none of P's does.)
    others = [term for term in conjuncts(where) if term is not comparison]
    if not all(any(term == candidate for candidate in renamed) for term in others):
        return
    rest = [term for term in renamed if not any(term == other for other in others)]
    value = _renamed(aggregate.this, inner.alias_or_name, name)
    # What the SELECT still reads of the table once the filters W moved under the window.
    read = [column for column in own if not any(within(column, term) for term in others)]
    _rewrite(select, holder, comparison, others, read, _windowed(aggregate, value, rest))


def _rewrite(select: exp.Select, holder: exp.Subquery, comparison: exp.Expr, others: list[exp.Expr],
             read: list[exp.Column], window: exp.Window) -> None:
    from_ = select.args["from_"]
    table = from_.this
    name = _alias_name(table)
    first: dict[str, exp.Column] = {}
    for column in read:
        first.setdefault(column.name, column)
    value_name = exp.to_identifier(_fresh(set(first)), quoted=True)   # quoted and lower case: the mesh's form
    projections: list[exp.Expr] = [exp.Alias(this=copy_tree(column), alias=column.this.copy())
                                   for column in first.values()]
    projections.append(exp.Alias(this=window, alias=value_name))
    derived = exp.Select(expressions=projections)
    derived.set("from_", exp.From(this=table.pop()))
    if others:
        derived.set("where", exp.Where(this=exp.and_(*(term.pop() for term in others), copy=False)))
    reference = exp.Column(this=value_name.copy(), table=name.copy())
    reference.type = window.type
    holder.replace(reference)
    select.set("where", exp.Where(this=comparison.pop()))
    from_.set("this", exp.Subquery(this=derived, alias=exp.TableAlias(this=name.copy())))


def _windowed(aggregate: exp.Expr, value: exp.Expr, rest: list[exp.Expr]) -> exp.Window:
    """``agg(CASE WHEN rest THEN value END) OVER ()``, typed as ``agg`` and ``value`` were."""
    argument = value
    if rest:
        argument = exp.Case(ifs=[exp.If(this=exp.and_(*rest, copy=False), true=value)])
        argument.type = value.type
    windowed = copy_tree(aggregate)   # (DuckDB's count keeps its BIGINT flag)
    windowed.set("this", argument)
    window = exp.Window(this=windowed, over="OVER")
    window.type = aggregate.type
    return window


def _scalar_aggregate(scalar: exp.Select) -> tuple[exp.Table, exp.Expr, exp.Expr | None] | None:
    """(its table, ``agg(value)``, its WHERE) of ``SELECT agg(value) FROM table WHERE ...``, or None."""
    table = _direct_table(scalar, _SCALAR_ARGS)
    if table is None or len(scalar.expressions) != 1:
        return None
    projection = scalar.expressions[0]
    aggregate = projection.this if isinstance(projection, exp.Alias) else projection
    if not isinstance(aggregate, _AGGREGATES) or _set_args(aggregate) - {"big_int"} != {"this"}:
        return None
    value = aggregate.this
    where = scalar.args.get("where")
    condition = where.this if where is not None else None
    if isinstance(value, (exp.Star, exp.Distinct)) or any(
            part is not None and part.find(*_NOT_OF_VALUE) is not None for part in (value, condition)):
        return None
    if not isinstance(aggregate, exp.Count) and not (value.type is not None
                                                     and value.type.this in exp.DataType.NUMERIC_TYPES):
        return None   # min/max of strings follow a collation: not worth reasoning about here
    alias = table.alias_or_name
    if not all(_qualified_by(column, alias) for column in scalar.find_all(exp.Column)):
        return None   # correlated, or a name the rule cannot place
    return table, aggregate, condition


def _direct_table(select: exp.Select, allowed: frozenset[str]) -> exp.Table | None:
    """The one table ``select`` reads directly, if that and only ``allowed`` clauses is all it has."""
    if not _set_args(select) <= allowed:
        return None
    from_ = select.args.get("from_")
    table = from_.this if from_ is not None else None
    if not isinstance(table, exp.Table) or not _set_args(table) <= _TABLE_ARGS or not table.alias_or_name:
        return None
    return table


def _set_args(node: exp.Expr) -> set[str]:
    return {key for key, value in node.args.items() if value}


def _qualified_by(column: exp.Column, alias: str) -> bool:
    return (column.table == alias and not column.args.get("db") and not column.args.get("catalog")
            and not isinstance(column.this, exp.Star))


def _alias_name(table: exp.Table) -> exp.Identifier:
    """The identifier the SELECT's columns qualify ``table``'s with (its alias, or its name)."""
    alias = table.args.get("alias")
    name = alias.this if isinstance(alias, exp.TableAlias) and alias.this else table.this
    assert isinstance(name, exp.Identifier)
    return name


def _names_output(column: exp.Column, select: exp.Select) -> bool:
    """An ORDER BY key naming one of ``select``'s outputs, which the rewrite leaves as they are."""
    key = column.parent
    return (not column.table and isinstance(key, exp.Ordered) and key.parent is select.args.get("order")
            and column.name in select.named_selects)


def _renamed(node: exp.Expr, old: str, new: exp.Identifier) -> exp.Expr:
    """A copy of ``node`` whose columns qualified by ``old`` are qualified by ``new``."""
    copied = copy_tree(node)
    for column in copied.find_all(exp.Column):
        if column.table == old:
            column.set("table", new.copy())
    return copied


def _fresh(taken: set[str]) -> str:
    name, number = _VALUE_NAME, 0
    while name in taken:
        number += 1
        name = f"{_VALUE_NAME}_{number}"
    return name


def _in_policy(select: exp.Select) -> bool:
    """Inside a governed table's policy subquery: left as the policy wrote it."""
    node: exp.Expr | None = select.parent
    while node is not None:
        if isinstance(node, exp.Subquery) and node.meta.get(POLICY_KEY):
            return True
        node = node.parent
    return False
