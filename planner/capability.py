"""Can this engine run that piece? The planner's side of the pushdown negotiation.

A piece of a query is offered to an engine whole. It is taken only if the engine declares every
kind of work the piece needs (``Pushdown``), can evaluate every expression in it, and sqlglot can
render it in the engine's dialect without dropping anything (``unsupported_level=RAISE``).
Like Trino's SPI, a partly supported piece is refused whole; the caller then offers less.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from flightmesh.connectors import Capabilities, Difference, Pushdown

from .treecopy import copy_tree

__all__ = ["PLAIN_NODES", "features_of", "render_check", "takes"]


def features_of(tree: exp.Expr) -> set[Pushdown]:
    """The kinds of work ``tree`` asks of an engine."""
    return _survey(tree)[0]


def _survey(tree: exp.Expr) -> tuple[set[Pushdown], bool]:
    """``features_of(tree)``, and whether every node of ``tree`` is one of ``PLAIN_NODES``: one
    walk for both, as ``takes`` asks both of each piece it is offered."""
    features: set[Pushdown] = {Pushdown.PROJECTION}
    plain = True
    for node in tree.walk():
        if plain and type(node) not in PLAIN_NODES:
            plain = False
        if isinstance(node, exp.Join):
            side = (node.side or "").upper()
            features.add(Pushdown.OUTER_JOIN if side in ("LEFT", "RIGHT", "FULL") else Pushdown.JOIN)
        elif isinstance(node, exp.Where):
            features.add(Pushdown.FILTER)
        elif isinstance(node, (exp.AggFunc, exp.Group, exp.Having)):
            features.add(Pushdown.AGGREGATE)
        elif isinstance(node, exp.Window):
            features.add(Pushdown.WINDOW)
        elif isinstance(node, exp.SetOperation):
            features.add(Pushdown.SET_OPERATION)
        elif isinstance(node, exp.With):
            features.add(Pushdown.CTE)
        elif isinstance(node, exp.Select):
            if node.args.get("distinct"):
                features.add(Pushdown.DISTINCT)
            limited = node.args.get("limit") is not None or node.args.get("offset") is not None
            ordered = node.args.get("order") is not None
            if limited:
                features.add(Pushdown.TOP_N if ordered else Pushdown.LIMIT)
            elif ordered:
                features.add(Pushdown.ORDER)
        if isinstance(node, (exp.Exists, exp.Subquery)) and not isinstance(node.parent, (exp.From, exp.Join)):
            if node is not tree:
                features.add(Pushdown.SUBQUERY)
                if _correlated(node):
                    features.add(Pushdown.CORRELATED_SUBQUERY)
        elif isinstance(node, exp.In) and node.args.get("query") is not None:
            features.add(Pushdown.SUBQUERY)
            if _correlated(node.args["query"]):
                features.add(Pushdown.CORRELATED_SUBQUERY)
    return features, plain


def _correlated(subquery: exp.Expr) -> bool:
    """Does ``subquery`` read a column of a table defined outside it (the query around it)?

    Columns are qualified by then; one naming no table is taken as the subquery's own. Any table,
    derived table or CTE named inside counts as its own, at any depth: a false "no" would be a
    plan an engine runs once per outer row, a false "yes" only keeps the subquery in the residual.
    """
    own = {table.alias_or_name for table in subquery.find_all(exp.Table)}
    own |= {node.alias for node in subquery.find_all(exp.Subquery, exp.CTE) if node.alias}
    return any(column.table and column.table not in own for column in subquery.find_all(exp.Column))


# Node classes every sqlglot dialect prints as they are (a name, a literal, a comparison, a
# connective): a piece made only of these renders everywhere, so it is not rendered to find out.
# tests/planner/test_render_check.py holds this against each connector's dialect.
PLAIN_NODES: frozenset[type[exp.Expr]] = frozenset({
    exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.Not, exp.And, exp.Or,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.Alias, exp.Table, exp.TableAlias,
})


def render_check(tree: exp.Expr, dialect: str) -> bool:
    """True when sqlglot can render ``tree`` in ``dialect`` without losing anything."""
    if all(type(node) in PLAIN_NODES for node in tree.walk()):
        return True
    return _renders(tree, dialect)


def _renders(tree: exp.Expr, dialect: str) -> bool:
    """``render_check`` for a tree known to hold a node outside ``PLAIN_NODES``."""
    try:
        copy_tree(tree).sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE, copy=False)
    except (UnsupportedError, ValueError, NotImplementedError):
        return False
    return True


def takes(capabilities: Capabilities, tree: exp.Expr) -> bool:
    """Does an engine with ``capabilities`` take ``tree`` whole?"""
    features, plain = _survey(tree)
    if not all(capabilities.supports(feature) for feature in features):
        return False
    if (capabilities.missing or capabilities.differences) and \
            any(not _supports_node(capabilities, node) for node in tree.walk()):
        return False
    return plain or _renders(tree, capabilities.dialect)


# Per Capabilities and node class: whether the class is one the engine lacks (``missing``), and
# the declared differences that can affect a node of the class (those about the class or one of
# its bases). ``Capabilities.supports(node)`` answers the same, but asks every missing class and
# every difference of every node; each piece of a query is offered several times, and an engine
# with dozens of differences (PostgreSQL) asked them all of each typed node.
_CLASSES: dict[int, tuple[Capabilities, dict[type, tuple[bool, tuple[Difference, ...]]]]] = {}


def _supports_node(capabilities: Capabilities, node: exp.Expr) -> bool:
    """``capabilities.supports(node)``, with the per-class part remembered."""
    entry = _CLASSES.get(id(capabilities))
    if entry is None or entry[0] is not capabilities:
        if len(_CLASSES) > 256:
            _CLASSES.clear()
        entry = (capabilities, {})
        _CLASSES[id(capabilities)] = entry
    classes = entry[1]
    cls = type(node)
    known = classes.get(cls)
    if known is None:
        # ``Difference.affects`` holds only nodes of its ``kind``; another ``affects`` is asked always.
        known = classes[cls] = (capabilities.supports(cls), tuple(
            difference for difference in capabilities.differences
            if issubclass(cls, difference.kind) or type(difference).affects is not Difference.affects))
    supported, differences = known
    if not supported:
        return False
    if isinstance(node, exp.DataType) and node.this in capabilities.missing_types:
        return False
    return not any(difference.affects(node) for difference in differences)
