"""Reading a located YAML document key by key, collecting problems instead of stopping.

``YamlReader`` is the descriptor loader's toolbox: typed getters that report a wrong type as
``file:line: key.path: expected ..., got ...``, ``${ENV}`` substitution, SQL parse checks.
The readers of each part of the descriptor build on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot.errors import ParseError

from .yaml_source import LocatedDict, LocatedList

__all__ = ["YamlReader", "kind_of"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class YamlReader:
    """Typed, located access to a parsed descriptor; every problem is kept in ``problems``."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.base = path.parent
        self.env = env
        self.problems: list[str] = []
        self.file = path.name
        self.dialect = "duckdb"

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def at(self, node: Any, key: str | int, path: str) -> str:
        line = None
        if isinstance(node, LocatedDict):
            line = node.key_lines.get(str(key), node.line)
        elif isinstance(node, LocatedList) and isinstance(key, int) and key < len(node.item_lines):
            line = node.item_lines[key]
        return f"{self.file}:{line}: {path}" if line else f"{self.file}: {path}"

    def mapping(self, parent: Any, key: str, path: str, *, required: bool = False) -> LocatedDict | None:
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            if required:
                self.problem(self.at(parent, key, path), "is required (a mapping)")
            return None
        if not isinstance(value, LocatedDict):
            self.problem(self.at(parent, key, path), f"expected a mapping, got {kind_of(value)}")
            return None
        return value

    def string(self, parent: Any, key: str, path: str, *, required: bool = False) -> str | None:
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            if required:
                self.problem(self.at(parent, key, path), "is required (a string)")
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problem(self.at(parent, key, path), f"expected a string, got {kind_of(value)}")
            return None
        return self.substitute(value, self.at(parent, key, path))

    def names(self, parent: Any, key: str, path: str) -> tuple[str, ...] | None:
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(self.at(parent, key, path), f"expected a list of names, got {kind_of(value)}")
            return None
        return tuple(value)

    def only_keys(self, node: LocatedDict, allowed: frozenset[str] | set[str], path: str) -> None:
        for key in node:
            if key not in allowed:
                self.problem(
                    self.at(node, key, f"{path}.{key}" if path else key),
                    f"unknown key; expected one of {', '.join(sorted(allowed))}",
                )

    def substitute(self, value: str, where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.env:
                self.problem(where, f"environment variable {name} is not set")
                return ""
            return self.env[name]

        return _ENV.sub(replace, value)

    def sql(self, text: str | None, where: str, parse: Callable[[str], Any]) -> None:
        if text is None:
            return
        try:
            parse(text)
        except ParseError as error:
            detail = error.errors[0]["description"] if error.errors else str(error)
            self.problem(where, f"not valid SQL ({self.dialect}): {detail}")

    def identifier(self, name: str, where: str, what: str) -> bool:
        if not _NAME.match(name):
            self.problem(where, f"{what} name {name!r} must be letters, digits and _ (not starting with a digit)")
            return False
        return True

    def items(self, node: LocatedDict, key: str, path: str, allowed: set[str]) -> list[tuple[LocatedDict, str]]:
        value = node.get(key)
        if value is None:
            return []
        if not isinstance(value, LocatedList):
            self.problem(self.at(node, key, f"{path}.{key}"), f"expected a list, got {kind_of(value)}")
            return []
        result = []
        for index, item in enumerate(value):
            ipath = f"{path}.{key}[{index}]"
            if not isinstance(item, LocatedDict):
                self.problem(self.at(value, index, ipath), f"expected a mapping, got {kind_of(item)}")
                continue
            self.only_keys(item, allowed, ipath)
            result.append((item, ipath))
        return result

    def existing_file(self, node: LocatedDict, key: str, path: str) -> Path | None:
        value = self.string(node, key, path)
        if value is None:
            return None
        resolved = (self.base / value).resolve()
        if not resolved.is_file():
            self.problem(self.at(node, key, path), f"{value} is not a file (resolved to {resolved})")
        return resolved

    def parse_condition(self, text: str) -> Any:
        return sqlglot.parse_one(text, read=self.dialect, into=sqlglot.exp.Condition)

    def parse_expression(self, text: str) -> Any:
        return sqlglot.parse_one(text, read=self.dialect, into=sqlglot.exp.Condition)


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    return f"{type(value).__name__} {value!r}"
