"""Reading YAML while remembering where each value came from.

The descriptor validator reports every mistake as ``file:line: key.path: what was expected``.
PyYAML forgets line numbers once it has built Python objects, so this loader builds dicts and
lists that keep the line of each key and item. It also refuses duplicate keys, which plain
PyYAML silently resolves by keeping the last one (a classic source of "my policy did nothing").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["LocatedDict", "LocatedList", "YamlProblem", "read_yaml"]


class LocatedDict(dict[str, Any]):
    """A mapping that knows its own line and the line of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    """A sequence that knows its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


class YamlProblem(Exception):
    """The text is not YAML we accept; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _LocatingLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type information
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LocatedDict:
        result = LocatedDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                raise YamlProblem(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LocatedList:
        result = LocatedList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LocatingLoader.construct_mapping
)
_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _LocatingLoader.construct_sequence
)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file with line tracking. Raises YamlProblem or OSError."""
    text = path.read_text(encoding="utf-8")
    return parse_yaml(text)


def parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_LocatingLoader)
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlProblem(f"not valid YAML: {error.problem or error.context}", line) from None
    except yaml.YAMLError as error:
        raise YamlProblem(f"not valid YAML: {error}", None) from None
