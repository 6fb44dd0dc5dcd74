"""The descriptor's discovery keys: a product's ``freshness`` promise (``tags`` are plain names).

``freshness`` says how old the product's data may be, as its owner promises it; discovery
(``mesh.products``) shows it, nothing enforces it. Two spellings::

    freshness: 24h                                   # shorthand for {max_age: 24h}
    freshness: {max_age: 90m, note: loaded nightly at 02:00 UTC}

A duration is a whole number and a unit: ``s``, ``m``, ``h`` or ``d``.
"""

from __future__ import annotations

import re

from .specs import FreshnessSpec
from .yaml_reader import YamlReader, kind_of
from .yaml_source import LocatedDict

__all__ = ["DISCOVERY_SCHEMAS", "duration_seconds", "read_freshness"]

# Schemas flightmesh answers itself (governance.discovery); no product may take their names.
DISCOVERY_SCHEMAS = frozenset({"mesh", "information_schema"})

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int | None:
    """``"24h"`` -> 86400; None when ``text`` is not a duration."""
    match = _DURATION.match(text)
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def read_freshness(reader: YamlReader, product: LocatedDict, path: str) -> FreshnessSpec | None:
    """The product's ``freshness`` key, problems reported on ``reader``; None when absent or wrong."""
    if "freshness" not in product or product["freshness"] is None:
        return None
    fpath = f"{path}.freshness"
    node = product["freshness"]
    if isinstance(node, LocatedDict):
        reader.only_keys(node, {"max_age", "note"}, fpath)
        max_age = reader.string(node, "max_age", f"{fpath}.max_age", required=True)
        note = reader.string(node, "note", f"{fpath}.note") or ""
        where = reader.at(node, "max_age", f"{fpath}.max_age")
    elif isinstance(node, str):
        max_age, note, where = node, "", reader.at(product, "freshness", fpath)
    else:
        reader.problem(reader.at(product, "freshness", fpath),
                       f"expected a duration such as 24h or a mapping with max_age, got {kind_of(node)}")
        return None
    if max_age is None:
        return None
    seconds = duration_seconds(max_age)
    if seconds is None:
        reader.problem(where, f"expected a duration such as 90m, 24h or 7d, got {max_age!r}")
        return None
    return FreshnessSpec(max_age=max_age.strip(), max_age_seconds=seconds, note=note)
