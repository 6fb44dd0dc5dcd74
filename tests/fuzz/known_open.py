"""The bug classes still open, named so the CI seed steers around them explicitly (never silently).

Each ``KnownOpen`` gives the (construct, engine) features that provoke the class -- the
generator records them for every query (``Generated.features``) -- and the id of its shrunk
case in regressions.py, which is a strict xfail there. When a fix lands, that xfail passes and
fails the run: the case is closed, its entry here removed, and the CI seed fuzzes the construct
again. ``test_regressions.py`` checks every entry names a case that is still open.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["KNOWN_OPEN", "KnownOpen", "hits"]



@dataclass(frozen=True)
class KnownOpen:
    """An open bug class: the features that provoke it and the regression case that shows it."""

    features: frozenset[tuple[str, str]]   # (construct, engine); engine "*" matches any
    regression: str                        # the id of its case in regressions.py
    note: str
    all_of: bool = False                   # provoked only by all the features together (else any one)


def _open(regression: str, note: str, *features: tuple[str, str], all_of: bool = False) -> KnownOpen:
    return KnownOpen(frozenset(features), regression, note, all_of)


# The classes still open at the last run, each with its shrunk case in regressions.py (a strict
# xfail there). A fix that lands makes that xfail pass: then the entry goes, and the CI seed
# fuzzes the construct again.
KNOWN_OPEN: dict[str, KnownOpen] = {
    "parenthesized join tree under a LEFT JOIN (refused)": _open(
        "nested-join-tree-under-left-join", "UnsupportedQuery: write the joins without parentheses",
        ("nested-join-under-left", "*")),
}



def hits(features: Iterable[tuple[str, str]], known: dict[str, KnownOpen]) -> list[str]:
    """The known-open classes a query with these features would provoke."""
    features = list(features)
    found = []
    for name, open_class in known.items():
        matched = [any(_matches(pattern, feature) for feature in features) for pattern in open_class.features]
        if all(matched) if open_class.all_of else any(matched):
            found.append(name)
    return found


def _matches(pattern: tuple[str, str], feature: tuple[str, str]) -> bool:
    """``("like", "mysql")`` matches itself; ``"*"`` any construct or engine; ``"cast-*"`` a prefix."""
    construct, engine = pattern
    if engine not in ("*", feature[1]):
        return False
    if construct.endswith("*"):
        return feature[0].startswith(construct[:-1])
    return construct == feature[0]

