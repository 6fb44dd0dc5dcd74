"""The descriptor's differential-privacy keys, and the mesh's ``state`` store they need.

```yaml
products:
  sales:
    privacy:
      for: [researcher]                 # roles that read this product in privacy mode only
      epsilon_per_query: 0.1            # what one released query costs (split over its aggregates)
      budget: {epsilon: 1.0, per: day}  # per principal and product; per: day | week | month | total
      tables:
        orders:
          unit: customer_id             # the privacy unit: one person / entity
          max_rows_per_unit: 10         # contribution bound
          bounds: {amount: [0, 1000]}   # clamping range of each summed / averaged column
          public_keys: {region: [EMEA, AMER, APAC]}   # GROUP BY only on these, every value shown
state: {path: state/flightmesh.sqlite}  # the default; or {kind: postgresql, uri: ...}
```

Shapes are checked here; whether the named columns exist is known only from the engines and is
checked when the mesh opens (``governance.privacy.check_privacy``). Periods are calendar periods in
UTC (a day starts at 00:00 UTC, a week on Monday, a month on its 1st).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .yaml_reader import YamlReader, kind_of
from .yaml_source import LocatedDict, LocatedList

__all__ = ["PERIODS", "PrivacySpec", "PrivacyTableSpec", "StateSpec", "read_privacy", "read_state"]

PERIODS = ("day", "week", "month", "total")
DEFAULT_STATE_PATH = "state/flightmesh.sqlite"


@dataclass(frozen=True)
class StateSpec:
    """``state``: where the mesh keeps what must survive a restart (privacy ledger, history)."""

    kind: str = "sqlite"                  # sqlite | postgresql
    path: Path | None = None              # sqlite: absolute; None only for a MeshSpec built in code
    uri: str | None = None                # postgresql
    origin: str = ""


@dataclass(frozen=True)
class PrivacyTableSpec:
    unit: str
    max_rows_per_unit: int
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    public_keys: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    origin: str = ""


@dataclass(frozen=True)
class PrivacySpec:
    for_roles: tuple[str, ...]
    epsilon_per_query: float
    budget_epsilon: float
    per: str                              # one of PERIODS
    tables: Mapping[str, PrivacyTableSpec]
    origin: str = ""


def read_state(reader: YamlReader, root: LocatedDict) -> StateSpec:
    """The mesh-level ``state`` key; by default a SQLite file beside the descriptor."""
    default = StateSpec(path=(reader.path.parent / DEFAULT_STATE_PATH).resolve())
    node = reader.mapping(root, "state", "state")
    if node is None:
        return default
    where = reader.at(root, "state", "state")
    reader.only_keys(node, {"kind", "path", "uri"}, "state")
    kind = reader.string(node, "kind", "state.kind") or "sqlite"
    if kind == "sqlite":
        if "uri" in node:
            reader.problem(reader.at(node, "uri", "state.uri"), "a SQLite state store takes path, not uri")
        path = reader.string(node, "path", "state.path") or DEFAULT_STATE_PATH
        return StateSpec(kind="sqlite", path=(reader.path.parent / path).resolve(), origin=where)
    if kind == "postgresql":
        if "path" in node:
            reader.problem(reader.at(node, "path", "state.path"), "a PostgreSQL state store takes uri, not path")
        uri = reader.string(node, "uri", "state.uri", required=True)
        return StateSpec(kind="postgresql", uri=uri, origin=where)
    reader.problem(reader.at(node, "kind", "state.kind"), f"unknown state kind {kind!r}; expected sqlite or postgresql")
    return default


def read_privacy(reader: YamlReader, product: LocatedDict, path: str,
                 tables: Mapping[str, Any]) -> PrivacySpec | None:
    """A product's ``privacy`` key, problems reported on ``reader``; None when absent or wrong."""
    node = reader.mapping(product, "privacy", f"{path}.privacy")
    if node is None:
        return None
    ppath = f"{path}.privacy"
    where = reader.at(product, "privacy", ppath)
    reader.only_keys(node, {"for", "epsilon_per_query", "budget", "tables"}, ppath)
    roles = reader.names(node, "for", f"{ppath}.for")
    if not roles:  # fail closed: a privacy mode for nobody is a typo, not a choice
        reader.problem(reader.at(node, "for", f"{ppath}.for"), "expected at least one role")
    per_query = _epsilon(reader, node, "epsilon_per_query", f"{ppath}.epsilon_per_query")
    budget = reader.mapping(node, "budget", f"{ppath}.budget", required=True)
    total, per = None, "total"
    if budget is not None:
        reader.only_keys(budget, {"epsilon", "per"}, f"{ppath}.budget")
        total = _epsilon(reader, budget, "epsilon", f"{ppath}.budget.epsilon")
        per = reader.string(budget, "per", f"{ppath}.budget.per") or "total"
        if per not in PERIODS:
            reader.problem(reader.at(budget, "per", f"{ppath}.budget.per"),
                           f"expected one of {', '.join(PERIODS)}, got {per!r}")
        if per_query is not None and total is not None and per_query > total:
            reader.problem(reader.at(node, "epsilon_per_query", f"{ppath}.epsilon_per_query"),
                           f"is more than the whole budget ({total}): no query could ever be answered")
    table_specs = _tables(reader, node, ppath, tables)
    if not roles or per_query is None or total is None or per not in PERIODS:
        return None
    return PrivacySpec(for_roles=roles, epsilon_per_query=per_query, budget_epsilon=total, per=per,
                       tables=table_specs, origin=where)


def _epsilon(reader: YamlReader, node: LocatedDict, key: str, path: str) -> float | None:
    value = node.get(key)
    if value is None:
        reader.problem(reader.at(node, key, path), "is required (a positive number)")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        reader.problem(reader.at(node, key, path), f"expected a positive number, got {kind_of(value)}")
        return None
    return float(value)


def _tables(reader: YamlReader, node: LocatedDict, ppath: str,
            tables: Mapping[str, Any]) -> dict[str, PrivacyTableSpec]:
    section = reader.mapping(node, "tables", f"{ppath}.tables", required=True)
    result: dict[str, PrivacyTableSpec] = {}
    if section is None:
        return result
    if not section:
        reader.problem(reader.at(node, "tables", f"{ppath}.tables"), "expected at least one table")
    for name, table in section.items():
        tpath = f"{ppath}.tables.{name}"
        where = reader.at(section, name, tpath)
        if name not in tables:
            reader.problem(where, f"no table {name!r} in this product")
            continue
        if not isinstance(table, LocatedDict):
            reader.problem(where, f"expected a mapping, got {kind_of(table)}")
            continue
        reader.only_keys(table, {"unit", "max_rows_per_unit", "bounds", "public_keys"}, tpath)
        unit = reader.string(table, "unit", f"{tpath}.unit", required=True)
        bound = table.get("max_rows_per_unit")
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
            reader.problem(reader.at(table, "max_rows_per_unit", f"{tpath}.max_rows_per_unit"),
                           f"expected a whole number of at least 1, got {kind_of(bound)}")
            bound = None
        bounds = _bounds(reader, table, f"{tpath}.bounds")
        keys = _public_keys(reader, table, f"{tpath}.public_keys")
        if unit is not None and bound is not None:
            result[name] = PrivacyTableSpec(unit=unit, max_rows_per_unit=bound, bounds=bounds, public_keys=keys,
                                            origin=where)
    return result


def _bounds(reader: YamlReader, table: LocatedDict, path: str) -> dict[str, tuple[float, float]]:
    node = reader.mapping(table, "bounds", path)
    result: dict[str, tuple[float, float]] = {}
    for column, pair in (node or {}).items():
        where = reader.at(node, column, f"{path}.{column}")
        numbers = isinstance(pair, list) and len(pair) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pair)
        if not numbers:
            reader.problem(where, f"expected [lower, upper], two numbers, got {kind_of(pair)}")
            continue
        low, high = float(pair[0]), float(pair[1])
        if low > high:
            reader.problem(where, f"the lower bound {pair[0]} is above the upper bound {pair[1]}")
            continue
        result[column] = (low, high)
    return result


def _public_keys(reader: YamlReader, table: LocatedDict, path: str) -> dict[str, tuple[Any, ...]]:
    node = reader.mapping(table, "public_keys", path)
    result: dict[str, tuple[Any, ...]] = {}
    for column, values in (node or {}).items():
        where = reader.at(node, column, f"{path}.{column}")
        if not isinstance(values, LocatedList) or not values or not all(
                isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            reader.problem(where, f"expected a non-empty list of the key's values (text or whole numbers), "
                                  f"got {kind_of(values)}")
            continue
        if len(set(values)) != len(values):
            reader.problem(where, "a value is listed twice")
            continue
        result[column] = tuple(values)
    return result
