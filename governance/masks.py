"""Which mask wins when several apply to one column: the most restrictive one.

A column can be masked by its product (``policies.masks``) and by any number of mesh-wide tag
rules (``governance.tag_masks``) at once. SQL can return only one value per column, so one mask
is chosen. "Most restrictive" is defined by what a mask lets the reader learn about the row:

1. A mask that reads no column (a constant: ``NULL``, ``'***'``, ``0``) reveals nothing about the
   row, so it beats any mask that reads a column (``'***' || right(phone, 4)``, ``md5(email)``).
   Among constants, ``NULL`` wins, then the first in descriptor order (product masks before tag
   masks), so the choice is deterministic.
2. If every applicable mask reads a column and they are all the same expression, that one.
3. If they read columns and differ, no order between them exists (``left(phone, 3)`` and
   ``right(phone, 4)`` each reveal what the other hides, and showing either is more than the
   other's owner allowed), so the column becomes ``NULL``: reveal neither.

Denying a column (``deny_columns``) is more restrictive still and is decided before masks:
a denied column is not in the table at all.

Example::

    >>> most_restrictive([Mask("mask crm.customers.phone", parse("'***' || right(phone, 4)")),
    ...                   Mask("tag_mask pii", parse("NULL"))]).expression
    NULL
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot import exp

__all__ = ["Mask", "MaskChoice", "most_restrictive", "reads_columns"]


@dataclass(frozen=True)
class Mask:
    """One applicable mask: where it comes from (for audit and EXPLAIN notes) and its expression."""

    source: str
    expression: exp.Expr


@dataclass(frozen=True)
class MaskChoice:
    expression: exp.Expr
    sources: tuple[str, ...]      # the masks that were considered, in order
    reason: str                   # which rule of the module docstring decided


def reads_columns(expression: exp.Expr) -> bool:
    """True when ``expression`` depends on the row (names a column)."""
    return expression.find(exp.Column) is not None


def most_restrictive(masks: Sequence[Mask]) -> MaskChoice | None:
    """The mask to apply, or None when ``masks`` is empty. See the module docstring."""
    if not masks:
        return None
    sources = tuple(mask.source for mask in masks)
    constants = [mask for mask in masks if not reads_columns(mask.expression)]
    if constants:
        nulls = [mask for mask in constants if isinstance(mask.expression, exp.Null)]
        chosen = (nulls or constants)[0]
        return MaskChoice(chosen.expression, sources, "constant" if len(masks) > 1 else "only")
    texts = {mask.expression.sql() for mask in masks}
    if len(texts) == 1:
        return MaskChoice(masks[0].expression, sources, "only" if len(masks) == 1 else "identical")
    return MaskChoice(exp.Null(), sources, "incomparable")
