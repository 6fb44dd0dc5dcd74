"""Fragment sharing: fragments that read the same rows from the same engine become one.

    f0 (sqlite): SELECT ps.partkey, ps.cost FROM partsupp ps JOIN supplier s ... WHERE n.name = 'GERMANY'
    f1 (sqlite): SELECT ps.cost FROM partsupp ps JOIN supplier s ... WHERE n.name = 'GERMANY'
    ->  f0 (sqlite): SELECT ps.partkey, ps.cost FROM ...;  the residual reads f0 where it read f1

Identical fragments run once. Plain fragments (no grouping, DISTINCT, LIMIT or window) with the
same FROM and WHERE merge into one that projects the union of their columns (TPC-H Q11 reads
partsupp joined with supplier for Germany twice, once with ps_partkey and once without).
A fragment the residual reads with ``SELECT *`` (one side of a set operation) merges only with
an identical one: more columns would change what the star reads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from sqlglot import exp

from ..split import FRAGMENT_KEY, FragmentDraft
from ..treecopy import copy_tree
from .base import Cut, RuleContext

__all__ = ["share_fragments"]


def share_fragments(cut: Cut, context: RuleContext) -> Cut:
    if not cut.placed or cut.tree is None:
        return cut
    kept: dict[tuple[str, str], FragmentDraft] = {}
    renamed: dict[str, str] = {}
    drafts: list[FragmentDraft] = []
    starred = _read_by_star(cut.tree)
    identities = Counter(draft.connector.identity() for draft in cut.fragments)
    for draft in cut.fragments:
        identity = draft.connector.identity()
        if identities[identity] == 1:  # the only fragment of its engine: nothing to share with
            drafts.append(draft)
            continue
        key = (identity, _body(draft.tree))
        survivor = kept.get(key)
        if survivor is None:
            kept[key] = draft
            drafts.append(draft)
            continue
        merged = _merge_projections(survivor.tree, draft.tree)
        if merged is not None and {survivor.name, draft.name} & starred \
                and not _names(merged) == _names(survivor.tree.expressions) == _names(draft.tree.expressions):
            merged = None  # SELECT * would read the other's columns too: a set operation's width changes
        if merged is None:
            drafts.append(draft)  # the same rows but a column name meaning two things: both stay
            continue
        survivor.tree.set("expressions", merged)
        renamed[draft.name] = survivor.name
    if not renamed:
        return cut
    for node in cut.tree.find_all(exp.Table):
        name = node.meta.get(FRAGMENT_KEY)
        if name in renamed:
            node.set("this", exp.to_identifier(renamed[name], quoted=True))
            node.meta[FRAGMENT_KEY] = renamed[name]
    return replace(cut, fragments=tuple(drafts))


def _names(projections: list[exp.Expr]) -> list[str]:
    return [projection.alias_or_name for projection in projections]


def _read_by_star(residual: exp.Expr) -> set[str]:
    """Fragments the residual reads with ``SELECT *`` (a whole query cut out, e.g. one side of a
    set operation): their columns are the query's, so they only ever merge with identical ones."""
    found: set[str] = set()
    for select in residual.find_all(exp.Select):
        if any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and p.is_star) for p in select.expressions):
            found |= {node.meta[FRAGMENT_KEY] for node in select.find_all(exp.Table) if node.meta.get(FRAGMENT_KEY)}
    return found


def _body(tree: exp.Query) -> str:
    """What decides a fragment's rows: everything but a plain SELECT's select list."""
    if not _plain(tree):
        return _text(tree)
    # A copy without the select list (often most of a wide fragment), which is read, not changed.
    projections = tree.args["expressions"]
    tree.args["expressions"] = []
    try:
        body = copy_tree(tree)
    finally:
        tree.args["expressions"] = projections
    body.set("expressions", [exp.Star()])
    return body.sql(dialect="duckdb", copy=False)  # a copy already: the generator may rewrite it


def _plain(tree: exp.Query) -> bool:
    return isinstance(tree, exp.Select) and not any(
        tree.args.get(key) for key in ("group", "having", "distinct", "limit", "offset", "order", "qualify")
    ) and not any(isinstance(node, (exp.AggFunc, exp.Window)) for p in tree.expressions for node in p.walk())


def _merge_projections(survivor: exp.Query, other: exp.Query) -> list[exp.Expr] | None:
    """``survivor``'s outputs plus ``other``'s; None when a name means two different things.

    The two have one ``_body``: the whole text when either is not plain, all but the select list
    when both are, so comparing select lists tells whether the two texts are the same."""
    plain = _plain(survivor), _plain(other)
    if not all(plain):
        # Neither plain: one key is one text. Only one: the texts tell.
        same = not any(plain) or _text(survivor) == _text(other)
        return list(survivor.expressions) if same else None
    assert isinstance(survivor, exp.Select) and isinstance(other, exp.Select)
    ours = [_text(p) for p in survivor.expressions]
    theirs = [_text(p) for p in other.expressions]
    if ours == theirs:
        return list(survivor.expressions)
    existing = {p.alias_or_name: text for p, text in zip(survivor.expressions, ours, strict=True)}
    additions = []
    for projection, text in zip(other.expressions, theirs, strict=True):
        known = existing.get(projection.alias_or_name)
        if known is None:
            additions.append(projection.copy())
        elif known != text:
            return None
    return [*survivor.expressions, *additions]


def _text(node: exp.Expr) -> str:
    """``node.sql(dialect="duckdb")`` over a copy sharing the nodes' types: ``sql()``'s own copy
    would deep-copy every inferred type of a whole fragment just to compare two texts."""
    return copy_tree(node).sql(dialect="duckdb", copy=False)
