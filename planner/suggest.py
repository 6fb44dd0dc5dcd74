""""Did you mean ...?" for unknown names, from the names the principal may see and nothing else.

Callers pass only visible names (granted tables, columns that are not denied), so a suggestion
can never reveal a hidden object; the suggestion for a name depends only on what was written and
on what is visible, so a hidden table gets exactly the message of a missing one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "did_you_mean", "phrase"]

MAX_SUGGESTIONS = 3
# difflib's ratio (its default cutoff): keeps one-letter typos even of three-letter names
# ("ssm" for ssn is 0.67) and drops names that merely share a few letters.
CUTOFF = 0.6


def did_you_mean(written: str, candidates: Iterable[str]) -> str:
    """``"did you mean a?"`` / ``"did you mean a or b?"``, or "" when nothing is close."""
    return phrase(closest(written, candidates))


def closest(written: str, candidates: Iterable[str]) -> list[str]:
    """The candidates closest to ``written`` (case-insensitive), best first; the name itself excluded."""
    by_lower: dict[str, str] = {}
    for name in candidates:
        by_lower.setdefault(name.lower(), name)
    target = written.lower()
    by_lower.pop(target, None)  # the written name itself is not a suggestion (e.g. a wrong product)
    close = difflib.get_close_matches(target, sorted(by_lower), n=MAX_SUGGESTIONS, cutoff=CUTOFF)
    return [by_lower[name] for name in close]


def phrase(names: list[str]) -> str:
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"
    return f"did you mean {listed}?"
