"""Mesh types on every node of the qualified query, for the engines' declared ``Difference``s.

Whether an engine computes what the mesh dialect means often depends on the types involved
(MariaDB compares strings under a case-insensitive collation but numbers exactly; PostgreSQL's
``//`` differs on doubles only). sqlglot infers the types once, in the mesh dialect, from the
catalog's column types; the annotation stays on the nodes through the rules (they rewrite in
place, and copies keep it) until each fragment is checked and rendered.
"""

from __future__ import annotations

import contextlib

from sqlglot import exp
from sqlglot.expressions.datatypes import DType
from sqlglot.optimizer.annotate_types import TypeAnnotator, annotate_types
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.schema import ensure_schema

from .binding import Binding, bind_scopes
from .resolve import Resolution

__all__ = ["annotate", "annotate_and_bind"]

# Functions whose result sqlglot's inference leaves unknown although DuckDB's is fixed; an unknown
# type counts as "maybe affected" for every Difference, so each would keep masks and filters out
# of engines that compute them exactly ('****' || right(card, 4) on PostgreSQL).
_RESULT_TYPES: dict[type[exp.Expr], DType] = {
    exp.Left: DType.VARCHAR, exp.Right: DType.VARCHAR, exp.Replace: DType.VARCHAR,
    exp.RegexpExtract: DType.VARCHAR, exp.RegexpReplace: DType.VARCHAR, exp.SplitPart: DType.VARCHAR,
    exp.Hex: DType.VARCHAR, exp.ByteLength: DType.BIGINT,
}


def annotate(tree: exp.Expr, resolution: Resolution, *, only_missing: bool = False) -> exp.Expr:
    """``tree`` (qualified) with ``node.type`` set where sqlglot can infer it; rewritten in place.

    ``only_missing``: the tree was annotated before and rules have since rewritten it; only the
    nodes they built (no type yet) are inferred, the others keep theirs. A tree with no such
    node is left as it is, without building its scopes again.
    """
    if only_missing:
        missing = _untyped_values(tree)
        if not missing:
            return tree
        for node in missing:
            # sqlglot skips a typed node with all it holds: the new node's ancestors are typed
            # again from their children (the new one among them), their other children keep theirs.
            parent = node.parent
            while parent is not None and parent is not tree.parent:
                parent.type = None
                parent = parent.parent
    # sqlglot's inference failing on an odd tree leaves types unknown, which every
    # ``Difference`` treats as possibly affected: fewer pushdowns, never a wrong answer.
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        annotate_types(tree, schema=resolution.schema(), dialect="duckdb", overwrite_types=not only_missing)
    _correct(tree)
    return tree


def annotate_and_bind(tree: exp.Expr, resolution: Resolution) -> Binding | None:
    """``annotate(tree, resolution)``, and the column binding of ``tree`` from the same scopes:
    sqlglot's annotation and the binding each walk the tree's scopes, and building them costs
    about as much as annotating. None when the scopes cannot be built (the rules bind again)."""
    try:
        scopes = traverse_scope(tree)
    except (ValueError, TypeError, KeyError, AttributeError):
        annotate(tree, resolution)
        return None
    with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
        # What annotate_types does, over the scopes built above instead of its own.
        annotator = TypeAnnotator(schema=ensure_schema(resolution.schema(), dialect="duckdb"))
        for scope in scopes:
            annotator.annotate_scope(scope)
        annotator.annotate(tree, annotate_scope=False)
    _correct(tree)
    return bind_scopes(scopes)


def _correct(tree: exp.Expr) -> None:
    """The mesh's corrections to sqlglot's types."""
    _doubles_from_division(tree)
    for node in tree.walk():
        known = _RESULT_TYPES.get(type(node))
        if known is not None and (node.type is None or node.is_type(DType.UNKNOWN)):
            node.type = known
        if isinstance(node, exp.Bracket) and node.this.type is not None \
                and not node.this.is_type(DType.ARRAY, DType.UNKNOWN):
            # The parser stored ``s[1]`` 0-based as if ``s`` were a list; the generator adds the
            # 1 back only for a list or an unknown type, so a known VARCHAR would print ``s[0]``.
            node.this.type = DType.UNKNOWN
        # sqlglot also records each query's row type in its meta; plans travel as JSON
        # (``serial``), where meta must be plain data, and nothing here reads it.
        if node._meta is not None:
            node._meta.pop("query_type", None)


def _untyped_values(tree: exp.Expr) -> list[exp.Expr]:
    """The value nodes of ``tree`` without a type, once the ones typed by their parts alone are.

    Clauses, tables, aliases of tables and identifiers carry no value whose type anything reads.
    The rules build AND chains, comparisons, parentheses and aliases over nodes that are typed:
    those take the type sqlglot would give them (BOOLEAN; the inner node's) without a scope walk.
    """
    nodes = list(tree.walk(bfs=True))
    missing: list[exp.Expr] = []
    for node in reversed(nodes):  # deeper levels first: a node's parts before it
        if node.type is not None or isinstance(node, _CLAUSES) or \
                (isinstance(node, exp.Subquery) and isinstance(node.parent, (exp.From, exp.Join))):
            continue
        if isinstance(node, exp.Binary) and isinstance(node, (exp.Connector, exp.Predicate)) \
                and _typed(node.args.get("this")) and _typed(node.args.get("expression")):
            node.type = DType.BOOLEAN
        elif isinstance(node, (exp.Paren, exp.Alias)) and node.this.type is not None:
            node.type = node.this.type
        else:
            missing.append(node)
    return missing


def _typed(node: object) -> bool:
    return isinstance(node, exp.Expr) and node.type is not None


_CLAUSES = (exp.Select, exp.From, exp.Where, exp.Join, exp.Group, exp.Having, exp.Order, exp.Limit, exp.Offset,
            exp.Table, exp.TableAlias, exp.Identifier)


# DuckDB's ``/`` divides as DOUBLE (FLOAT for two floats) whatever the operands, decimals
# included; sqlglot types DECIMAL / INTEGER as DECIMAL. The DOUBLE spreads to the arithmetic and
# conditionals around it (DECIMAL with DOUBLE is DOUBLE), so a cast of ``m / k + 1`` to text is
# known to cast a double.
_SPREADS = (exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.Paren, exp.Neg, exp.Abs, exp.Case, exp.If, exp.Coalesce,
            exp.Greatest, exp.Least, exp.Sum, exp.Max, exp.Min, exp.Avg)


def _doubles_from_division(tree: exp.Expr) -> None:
    for node in tree.walk(bfs=False):
        if not isinstance(node, exp.Div) or node.args.get("typed"):
            continue
        if node.is_type(DType.DOUBLE, DType.FLOAT):
            continue
        node.type = DType.DOUBLE
        parent = node.parent
        while isinstance(parent, _SPREADS) and parent.is_type(DType.DECIMAL, DType.UNKNOWN):
            parent.type = DType.DOUBLE
            parent = parent.parent
