"""String comparisons in MariaDB/MySQL the way the mesh dialect (DuckDB) makes them: by code point.

DuckDB compares VARCHARs byte by byte (UTF-8 byte order is code-point order), so 'a' <> 'A',
'é' <> 'e' and 'a' <> 'a '. A MariaDB column compares under its collation, by default
``utf8mb4_general_ci``: case- and accent-insensitive and PAD SPACE (trailing spaces ignored). That
leaks into every comparison, grouping, DISTINCT, ordering, min/max, LIKE and join pushed there.

The rewrite gives each string operand of those constructs an explicit collation,
``CAST(x AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_nopad_bin`` ("exact" below): binary over
code points and NO PAD (``utf8mb4_bin`` is PAD SPACE: 'a' = 'a ' there). The cast first makes
latin1 and utf8mb3 columns utf8mb4, for which alone that collation is valid. An explicit COLLATE
has the strongest coercibility, so one exact operand decides the comparison, and functions of it
(UPPER, CONCAT) keep it. Output values are unchanged: a collation changes how values compare, not
what they are (outputs are aliased to their old names).

Cost: a wrapped column can no longer be read through its index. Equality is kept index-friendly:
``col = 'x'`` becomes ``col = 'x' AND exact(col) = exact('x')`` -- exact equality implies equality
under any collation, so the first conjunct (served by the index, case-insensitively) only narrows
and the second decides. The same for ``IN (...)`` lists, for equality joins (``a.s = b.s`` keeps
its index lookups) and for LIKE patterns with a fixed prefix (an index range). Ranges, ORDER BY
and GROUP BY on strings give up the index (a filesort or a temporary table instead): the price of
the right answer. ``benchmarks/mysql_collation.py`` measures it (200k rows, 20k keys, medians on a
loaded machine): equality 0.3 ms plain / 126 ms exact / 2.4 ms narrowed; an equality join of 400
keys 6.8 ms / 26.6 s / 9.9 ms; a range 3 ms / 106-198 ms; GROUP BY 0.33 s / 5.7 s (its temporary
table spills to disk under the default tmp_table_size); ORDER BY ... LIMIT 10 0.3 s / 0.3 s (the
NULLS LAST rendering already kept the index from ordering).
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.expressions.datatypes import DType

from .typed import STRINGS, kind_of

__all__ = ["EXACT_COLLATION", "exact", "exact_strings", "unsure_comparison"]

EXACT_COLLATION = "utf8mb4_nopad_bin"

# Two-operand comparisons: both operands wrapped when either is a string.
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
# Equality-like comparisons an index can serve: narrowed by the raw comparison first.
_INDEXABLE = (exp.EQ, exp.NullSafeEQ)


def is_exact(node: exp.Expr) -> bool:
    return isinstance(node, exp.Collate) and node.expression.name == EXACT_COLLATION


def exact(node: exp.Expr) -> exp.Expr:
    """``node`` compared by code point, no padding: cast to utf8mb4, collated utf8mb4_nopad_bin."""
    if is_exact(node) or isinstance(node, exp.Null):
        return node
    cast = exp.Cast(this=node, to=exp.DataType(this=DType.CHARACTER_SET, kind=exp.Var(this="utf8mb4")))
    wrapped = exp.Collate(this=cast, expression=exp.Var(this=EXACT_COLLATION))
    wrapped.type = node.type
    return wrapped


# Functions that always return text: sqlglot's type inference leaves some of them untyped
# (LPAD, REPLACE), and their results compare under the connection's collation all the same.
_TEXT_FUNCTIONS = (exp.Pad, exp.Replace, exp.Upper, exp.Lower, exp.Trim, exp.Substring, exp.Concat, exp.DPipe,
                   exp.ConcatWs, exp.Left, exp.Right, exp.Reverse, exp.Repeat, exp.Initcap, exp.GroupConcat,
                   exp.Chr, exp.TimeToStr, exp.MD5, exp.Translate, exp.RegexpReplace, exp.Space, exp.ToChar)
# Expressions whose value is one of their arguments': text when an argument is.
_PASSING = (exp.Coalesce, exp.Case, exp.If, exp.Nullif, exp.Paren, exp.Min, exp.Max, exp.Greatest, exp.Least,
            exp.AnyValue, exp.First, exp.Last)


def _string(node: exp.Expr | None) -> bool:
    """Is ``node`` text: typed so by the planner, or, untyped, a text function or a choice among texts?"""
    if node is None:
        return False
    kind = kind_of(node)
    if kind is not None:
        return kind in STRINGS
    if isinstance(node, _TEXT_FUNCTIONS):
        return True
    if isinstance(node, exp.Case):
        return any(_string(branch.args.get("true")) for branch in node.args.get("ifs") or []) or \
            _string(node.args.get("default"))
    if isinstance(node, exp.If):
        return _string(node.args.get("true")) or _string(node.args.get("false"))
    return isinstance(node, _PASSING) and any(_string(child) for child in node.iter_expressions())


def _wrappable(node: exp.Expr) -> bool:
    # ANY (...) / ALL (...) are not values: the other operand's collation decides for them.
    return not isinstance(node, (exp.Any, exp.All, exp.Null))


def unsure_comparison(node: exp.Expr) -> bool:
    """A comparison of a string with an operand of unknown type: which rendering is right is unsure.

    Wrapping a number as a string would compare '10' < '9'; not wrapping a string would compare it
    under the column's collation. Such a node stays in the residual (see ``DIFFERENCES``).
    """
    if not isinstance(node, _COMPARISONS):
        return False
    left, right = node.this, node.expression
    sides = [side for side in (left, right) if _wrappable(side)]
    return any(_string(side) for side in sides) and \
        any(kind_of(side) is None and not _string(side) for side in sides)


def _strings_compared(*operands: exp.Expr) -> bool:
    """Do ``operands`` compare as strings? A string and a number compare as numbers in both engines
    (MariaDB as DOUBLEs, DuckDB casting the string), and a NULL or ANY (...) takes the other's type."""
    typed = [operand for operand in operands if _wrappable(operand)]
    return any(_string(operand) for operand in typed) and all(_string(operand) for operand in typed)


def _aliased(projection: exp.Expr) -> exp.Expr:
    """``projection`` made exact, keeping its output name."""
    if isinstance(projection, exp.Alias):
        projection.set("this", exact(projection.this))
        return projection
    name = projection.alias_or_name
    wrapped = exact(projection)
    return exp.alias_(wrapped, name, quoted=True) if name else wrapped


def _compare(node: exp.Expr) -> exp.Expr:
    left, right = node.this, node.expression
    if not _strings_compared(left, right):
        return node
    plain = node.copy() if isinstance(node, _INDEXABLE) and \
        (isinstance(left, exp.Column) or isinstance(right, exp.Column)) and _narrowable(left, right) else None
    for key, side in (("this", left), ("expression", right)):
        if _wrappable(side):
            node.set(key, exact(side))
    if plain is None:
        return node
    return _narrowed(node, plain)


def _narrowable(*operands: exp.Expr) -> bool:
    """Can the raw comparison run whatever the column's charset? A literal with a character latin1
    (cp1252) cannot hold ('日本' against a latin1 or utf8mb3 column) makes MariaDB refuse it:
    "Illegal mix of collations". The exact comparison alone has no such limit."""
    return all(all(ord(char) < 128 or 160 <= ord(char) < 256 for char in operand.name)
               for operand in operands if isinstance(operand, exp.Literal) and operand.is_string)


def _narrowed(exact_node: exp.Expr, plain: exp.Expr) -> exp.Expr:
    """``plain AND exact_node``: the raw comparison lets an index narrow, the exact one decides."""
    replacement = exp.Paren(this=exp.And(this=plain, expression=exact_node.copy()))
    replacement.type = exp.DataType.build("boolean")
    exact_node.replace(replacement)
    return replacement


def _in(node: exp.In) -> exp.Expr:
    subject = node.this
    values = node.expressions
    if not _strings_compared(subject, *values):
        return node
    plain = node.copy() if values and isinstance(subject, exp.Column) and \
        all(isinstance(value, exp.Literal) for value in values) and _narrowable(*values) else None
    node.set("this", exact(subject))
    if values:
        node.set("expressions", [exact(value) for value in values])
    return node if plain is None else _narrowed(node, plain)


def _between(node: exp.Between) -> None:
    if _strings_compared(*(node.args[key] for key in ("this", "low", "high"))):
        for key in ("this", "low", "high"):
            node.set(key, exact(node.args[key]))


def _like(node: exp.Like | exp.ILike) -> None:
    if not (_string(node.this) or kind_of(node.this) is None):
        return  # LIKE reads its subject as text in both engines: an untyped one is made exact too
    pattern = node.expression
    # A pattern with a fixed prefix lets an index narrow (the raw LIKE matches whatever the exact
    # one does: equal characters are equal under any collation). Not under ESCAPE: the wrapper
    # would separate the two; nor NOT LIKE (``negate``: the
    # NOT would then apply to each conjunct, and no index serves it anyway).
    prefixed = isinstance(pattern, exp.Literal) and pattern.is_string and pattern.name[:1] not in ("", "%", "_")
    plain = node.copy() if isinstance(node, exp.Like) and isinstance(node.this, exp.Column) and prefixed and \
        not isinstance(node.parent, exp.Escape) and not node.args.get("negate") and _narrowable(pattern) else None
    node.set("this", exact(node.this))
    if plain is not None:
        _narrowed(node, plain)


def _select(select: exp.Select) -> None:
    """GROUP BY keys, DISTINCT outputs and ORDER BY aliases of one SELECT made exact."""
    projections = select.expressions
    group = select.args.get("group")
    if group is not None:
        keys = [key for key in group.expressions if _string(key) and not is_exact(key)]
        for key in keys:
            # The same expression in the outputs (MySQL's ONLY_FULL_GROUP_BY wants it spelt alike).
            for index, projection in enumerate(projections):
                if projection.unalias() == key and not is_exact(projection.unalias()):
                    projections[index] = _aliased(projection)
            key.replace(exact(key.copy()))
    if select.args.get("distinct") is not None:
        for index, projection in enumerate(projections):
            if _string(projection.unalias()):
                projections[index] = _aliased(projection)
    _parenthesized_order(select)
    order = select.args.get("order")
    if order is not None:
        aliases = {projection.alias: index for index, projection in enumerate(projections)
                   if isinstance(projection, exp.Alias)}
        for term in order.expressions:
            this = term.this
            if isinstance(this, exp.Column) and not this.table and this.name in aliases:
                # An output's alias: MySQL reads a name inside an ORDER BY expression as a
                # column, so the output itself gets the collation (ordering by it follows), and
                # the parentheses sqlglot's NULLS LAST rendering needs when it spells it out.
                index = aliases[this.name]
                output = projections[index].this
                if _string(output) and not is_exact(output):
                    projections[index] = _aliased(projections[index])
                elif isinstance(output, _OPERATORS):
                    projections[index].set("this", _parenthesized(output))
            elif _string(this) and not is_exact(this):
                term.set("this", exact(this))
    select.set("expressions", projections)


def _parenthesized_order(query: exp.Expr) -> None:
    """ORDER BY keys that are operators get parentheses: sqlglot renders NULLS LAST for MariaDB as
    ``CASE WHEN <key> IS NULL ...``, and ``NOT b IS NULL`` reads as ``NOT (b IS NULL)`` there."""
    order = query.args.get("order")
    for term in order.expressions if order is not None else []:
        if isinstance(term.this, _OPERATORS):
            term.set("this", _parenthesized(term.this))


_OPERATORS = (exp.Not, exp.Connector, exp.Predicate, exp.Binary)


def _parenthesized(node: exp.Expr) -> exp.Expr:
    wrapped = exp.Paren(this=node)
    wrapped.type = node.type
    return wrapped


def _set_operation(node: exp.SetOperation, ordered: bool = False) -> None:
    """UNION / INTERSECT / EXCEPT compare whole rows (ALL too, for INTERSECT and EXCEPT); an ORDER BY
    of the whole sorts its outputs by name, which then carry the collation from every branch."""
    ordered = ordered or node.args.get("order") is not None
    if isinstance(node, exp.Union) and not node.args.get("distinct") and not ordered:
        return
    for side in (node.this, node.expression):
        while isinstance(side, exp.Subquery):
            side = side.this
        if isinstance(side, exp.SetOperation):
            _set_operation(side, ordered)
        elif isinstance(side, exp.Select):
            side.set("expressions", [_aliased(projection) if _string(projection.unalias()) else projection
                                     for projection in side.expressions])


def exact_strings(tree: exp.Expr) -> exp.Expr:
    """``tree`` with every string comparison, grouping, ordering and DISTINCT made exact (in place)."""
    # Children before parents: a comparison copied for narrowing carries its rewritten insides.
    for node in reversed(list(tree.walk())):
        if isinstance(node, _COMPARISONS):
            replaced = _compare(node)
            if node is tree:
                tree = replaced
        elif isinstance(node, exp.In):
            replaced = _in(node)
            if node is tree:
                tree = replaced
        elif isinstance(node, exp.Between):
            _between(node)
        elif isinstance(node, (exp.Like, exp.ILike)):
            _like(node)
        elif isinstance(node, (exp.Min, exp.Max)) and _string(node.this):
            node.set("this", exact(node.this))
        elif isinstance(node, exp.Distinct) and isinstance(node.parent, exp.AggFunc):
            node.set("expressions", [exact(value) if _string(value) else value for value in node.expressions])
        elif isinstance(node, exp.Window):
            partition = node.args.get("partition_by") or []
            node.set("partition_by", [exact(key) if _string(key) else key for key in partition])
        elif isinstance(node, exp.Ordered) and _string(node.this) and node.parent is not None and \
                not isinstance(node.parent.parent, (exp.Select, exp.SetOperation)):
            # ORDER BY inside a window or an aggregate (GROUP_CONCAT); a query's own in ``_select``
            node.set("this", exact(node.this))
        elif isinstance(node, exp.StrPosition) and _strings_compared(node.this, node.args["substr"]):
            # LOCATE / INSTR search under the collation too
            node.set("this", exact(node.this))
            node.set("substr", exact(node.args["substr"]))
        elif isinstance(node, exp.Nullif) and _strings_compared(node.this, node.expression):
            node.set("this", exact(node.this))
            node.set("expression", exact(node.expression))
        elif isinstance(node, exp.Case) and _string(node.this):
            node.set("this", exact(node.this))
    for select in list(tree.find_all(exp.Select)):
        _select(select)
    for operation in list(tree.find_all(exp.SetOperation)):
        _set_operation(operation)
        _parenthesized_order(operation)
    for window in list(tree.find_all(exp.Window)):
        _parenthesized_order(window)
    return tree
