"""Strings in PostgreSQL as in DuckDB: code-point order and DuckDB's case mapping, whatever the collation.

DuckDB orders strings by code point (byte order of UTF-8). A PostgreSQL column or database often
has a linguistic collation (en_US.UTF-8, ICU) where 'a' < 'B' < 'b' and accents sort beside their
letters. Every ordering use of a string -- ``<``/``BETWEEN``, ORDER BY (also inside windows and
aggregates), min/max, GREATEST/LEAST -- gets ``COLLATE "C"``, which PostgreSQL defines as byte
order. Equality, IN, GROUP BY, DISTINCT and joins are left alone: deterministic collations (every
built-in one) compare equal only identical strings, and a collation on ``=`` would keep PostgreSQL
from using the column's index.

``upper``/``lower``/``ILIKE`` follow the collation's case rules: ICU maps 'ß' to 'SS' and 'İ' to two
code points, "C" maps ASCII only. DuckDB maps one code point to one; glibc's "C.utf8" does the
same (checked over every code point below U+30000: lower equal everywhere, upper different only
for 'ß', which DuckDB maps to 'ẞ'). Results are re-collated "C", so two explicit collations never
meet in one comparison (PostgreSQL refuses that).

Used by ``postgresql_semantics`` (the Differences and the faithful rendering).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from .typed import STRINGS, kind_of

__all__ = ["UNSAFE", "collate_distinct_on", "collate_first", "collate_first_argument", "collate_ordering", "collated",
           "copy_type", "int_literal", "lower", "lower_operands", "no_escape", "ordering", "ordering_unsure",
           "strings", "upper"]

_BYTE_ORDER = "C"            # PostgreSQL's byte-order collation: code-point order for UTF-8
_CASE_MAPPING = "C.utf8"     # glibc's C.UTF-8: one-to-one Unicode case mapping, as DuckDB
_TERM, _PROJECTIONS, UNSAFE = "term", "projections", "unsafe"


def int_literal(node: exp.Expr | None) -> int | None:
    """The value of an integer literal (``3``, ``-3``), else None."""
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.name)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_int:
        return -int(node.this.name)
    return None


def copy_type(new: exp.Expr, old: exp.Expr) -> exp.Expr:
    new.type = old.type
    return new


def strings(*nodes: exp.Expr | None) -> bool | None:
    """True if one of ``nodes`` is a string, False if all are known non-strings, None if unsure."""
    kinds = [kind_of(node) for node in nodes if node is not None]
    if any(kind in STRINGS for kind in kinds):
        return True
    return None if any(kind is None for kind in kinds) else False


def _query_of(ordered: exp.Ordered) -> exp.Query | None:
    """The SELECT or set operation whose ORDER BY holds ``ordered`` (None: a window or aggregate)."""
    order = ordered.parent
    if isinstance(order, exp.Order) and isinstance(order.parent, (exp.Select, exp.SetOperation)) \
            and order.arg_key == "order":
        return order.parent
    return None


def _leaf_selects(query: exp.Expr) -> list[exp.Select]:
    if isinstance(query, exp.SetOperation):
        return _leaf_selects(query.this) + _leaf_selects(query.expression)
    if isinstance(query, exp.Subquery):
        return _leaf_selects(query.this)
    return [query] if isinstance(query, exp.Select) else []


def _output_position(query: exp.Query, name: str) -> int | None:
    leaves = _leaf_selects(query)
    if not leaves:
        return None
    names = [projection.alias_or_name for projection in leaves[0].expressions]
    return names.index(name) if names.count(name) == 1 else None


def ordering(ordered: exp.Ordered) -> tuple[str, exp.Expr | None]:
    """How to order ``ordered`` by code point: collate the term itself, or the projections it names.

    PostgreSQL reads a bare ORDER BY name as an output column, but ``name COLLATE "C"`` as an
    input column, so a term naming an output column collates that column's projection instead
    (every branch's, under a set operation). Returns (how, the node whose type decides).
    """
    term = ordered.this
    query = _query_of(ordered)
    position = int_literal(term) if query is not None else None
    if query is not None and position is not None:  # ORDER BY 2: the second output column
        leaves = _leaf_selects(query)
        if not leaves or not 1 <= position <= len(leaves[0].expressions):
            return UNSAFE, None
        return _PROJECTIONS, leaves[0].expressions[position - 1].unalias()
    if query is None or not isinstance(term, exp.Column) or term.table:
        if isinstance(query, exp.SetOperation):
            return UNSAFE, None
        if isinstance(query, exp.Select) and query.args.get("distinct") and not \
                any(term == projection.unalias() for projection in query.expressions):
            return UNSAFE, None  # DISTINCT wants ORDER BY expressions in the select list
        return _TERM, term
    position = _output_position(query, term.name)
    if position is None:
        if isinstance(query, exp.SetOperation) or query.args.get("distinct"):
            return UNSAFE, None
        return _TERM, term
    projection = _leaf_selects(query)[0].expressions[position]
    return _PROJECTIONS, projection.unalias()


def ordering_unsure(node: exp.Expr) -> bool:
    assert isinstance(node, exp.Ordered)
    how, decider = ordering(node)
    known = strings(decider) if decider is not None else None
    return known is None if how != UNSAFE else known is not False


def collated(node: exp.Expr, collation: str = _BYTE_ORDER) -> exp.Expr:
    collate = exp.Collate(this=exp.Paren(this=node), expression=exp.Identifier(this=collation, quoted=True))
    collate.type = node.type
    return collate


def collate_first(node: exp.Expr) -> exp.Expr:
    node.set("this", collated(node.this))
    return node


def collate_ordering(node: exp.Expr) -> exp.Expr:
    assert isinstance(node, exp.Ordered)
    how, _ = ordering(node)
    if how == _TERM:
        return collate_first(node)
    query = _query_of(node)
    assert query is not None
    ordinal = int_literal(node.this)
    position = ordinal - 1 if ordinal is not None else _output_position(query, node.this.name)
    assert position is not None
    for select in _leaf_selects(query):
        projection = select.expressions[position]
        target = projection if not isinstance(projection, exp.Alias) else projection.this
        in_byte_order = collated(target)
        if isinstance(projection, exp.Alias):
            projection.set("this", in_byte_order)
        else:  # keep the output name the bare column gave
            target.replace(exp.alias_(in_byte_order, projection.alias_or_name, quoted=True))
    return node


def collate_first_argument(node: exp.Expr) -> exp.Expr:
    node.set("this", collated(node.this))
    return node


def collate_distinct_on(node: exp.Expr) -> exp.Expr:
    # PostgreSQL wants DISTINCT ON expressions to match the leading ORDER BY terms, which get
    # COLLATE "C": so do they (equality, what DISTINCT ON groups by, is the same under any collation).
    for on in list(node.args["on"].expressions):
        if strings(on):
            on.replace(collated(on.copy()))
    return node


def upper(node: exp.Expr) -> exp.Expr:
    sharp = exp.func("replace", node.this, exp.Literal.string("ß"), exp.Literal.string("ẞ"))
    node.set("this", collated(sharp, _CASE_MAPPING))
    return _byte_order_result(node)


def lower(node: exp.Expr) -> exp.Expr:
    node.set("this", collated(node.this, _CASE_MAPPING))
    return _byte_order_result(node)


def _byte_order_result(node: exp.Expr) -> exp.Expr:
    # The result would carry "C.utf8" explicitly, which PostgreSQL refuses to compare with an
    # operand collated "C" ("collation mismatch between explicit collations"): re-collate it.
    return collated(node)


def lower_operands(node: exp.Expr) -> exp.Expr:
    # ILIKE lowers both sides under the collation: the one-to-one mapping DuckDB uses. Both sides
    # get it, so neither brings another explicit collation (an upper() result's "C").
    node.set("this", collated(node.this, _CASE_MAPPING))
    node.set("expression", collated(node.expression, _CASE_MAPPING))
    return node


def no_escape(then: Callable[[exp.Expr], exp.Expr]) -> Callable[[exp.Expr], exp.Expr]:
    """LIKE without an escape character, as DuckDB's: PostgreSQL's default escape is a backslash."""

    def rewrite(node: exp.Expr) -> exp.Expr:
        return copy_type(exp.Escape(this=then(node), expression=exp.Literal.string("")), node)

    return rewrite
