"""SQL LIKE patterns as regular expressions: ``%`` any run, ``_`` one character, ``\\`` escapes.

Flight SQL metadata filters (server/metadata.py) and MariaDB's database-level grants
(connectors/privileges.py) both use this syntax; callers compile with the flags they need
(metadata matching is case-sensitive, grant names are not).
"""

from __future__ import annotations

import re

__all__ = ["like_regex"]


def like_regex(pattern: str) -> str:
    """The regular expression (for ``re.fullmatch``) that matches what ``pattern`` matches.

        >>> like_regex("crm\\\\_%")
        'crm_.*'
    """
    parts: list[str] = []
    characters = iter(pattern)
    for character in characters:
        if character == "\\":
            parts.append(re.escape(next(characters, "\\")))  # a trailing backslash matches itself
        elif character == "%":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
    return "".join(parts)
