"""A product's ``contract:``: an Open Data Contract Standard v3 document, read and checked.

Two spellings in the descriptor (the path is relative to the file that declares the product)::

    contract: contracts/crm.odcs.yaml
    contract: {path: contracts/crm.odcs.yaml, enforce: true}   # a drifting table is refused

The document is validated with the PyPI package ``open-data-contract-standard`` (its pydantic
model ``open_data_contract_standard.model.OpenDataContractStandard`` follows the standard's
``schema.json``). That model forbids unknown keys only at the top and leaves some of the
standard's rules to the JSON schema, so this module adds them: unknown keys anywhere, the
required ``apiVersion`` (v3.x), ``kind: DataContract``, ``id`` and ``version``, the enumerations of
``logicalType``, ``quality[].type``, ``metric`` and ``dimension``, and ``slaProperties[].property``
and ``value``. Every problem is reported as ``file:line: field.path: what was expected``, in the
descriptor's report, so a broken contract refuses the mesh (or the reload) like a broken descriptor.

Then what flightmesh does with it (``mesh.contract_model``): ``schema[].name`` must name the
product's tables; types are kept for the drift check; quality rules and the latency SLA become
``QualityRule`` / ``FreshnessRule``; owner, description, domain and tags fill what the descriptor
leaves empty (``enrich``), column descriptions, tags and classification reach the catalog
(``column_specs``). Entries the standard allows but flightmesh does not evaluate are listed in
``ContractSpec.not_evaluated`` with the reason (logged at open).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from open_data_contract_standard.model import (
    DataQuality,
    OpenDataContractStandard,
    SchemaObject,
    SchemaProperty,
    ServiceLevelAgreementProperty,
    Team,
)
from pydantic import ValidationError

from .contract_model import (
    LIBRARY_METRICS,
    THRESHOLD_OPERATORS,
    ContractColumn,
    ContractSpec,
    ContractTable,
    FreshnessRule,
    QualityRule,
    Threshold,
)
from .errors import QueryError
from .specs import ColumnSpec, ProductSpec, TableSpec
from .yaml_reader import YamlReader, kind_of
from .yaml_source import LocatedDict, LocatedList, YamlProblem, read_yaml

__all__ = ["ContractViolation", "column_specs", "enrich", "read_contract"]

# ODCS v3 schema.json enumerations the pydantic model leaves as plain strings.
_API_VERSIONS = ("v3.2.0", "v3.1.0", "v3.0.2", "v3.0.1", "v3.0.0")
_LOGICAL_TYPES = ("string", "date", "timestamp", "time", "number", "integer", "object", "array", "boolean", "map",
                  "vector")
_QUALITY_TYPES = ("text", "library", "sql", "custom")
_DIMENSIONS = ("accuracy", "completeness", "conformity", "consistency", "coverage", "timeliness", "uniqueness")
# ODCS SLA units ("d, day, days for days; y, yr, years for years, etc."), in seconds.
_UNITS = {**dict.fromkeys(("s", "sec", "second", "seconds"), 1),
          **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
          **dict.fromkeys(("h", "hr", "hour", "hours"), 3600),
          **dict.fromkeys(("d", "day", "days"), 86400),
          **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
          **dict.fromkeys(("y", "yr", "year", "years"), 365 * 86400)}


class ContractViolation(QueryError):
    """A query reads a table whose product's enforced contract it no longer meets (schema drift)."""

    def __init__(self, product: str, table: str, drift: Iterable[str]) -> None:
        self.product = product
        self.table = table
        self.drift = tuple(drift)
        super().__init__(f"table {product}.{table} is refused: it no longer matches the data contract of product "
                         f"{product} (enforce: true): {'; '.join(self.drift)}")


def read_contract(reader: YamlReader, product: LocatedDict, path: str,
                  tables: Mapping[str, TableSpec]) -> ContractSpec | None:
    """The product's ``contract`` key, problems reported on ``reader``; None when absent or wrong."""
    if product.get("contract") is None:
        return None
    cpath = f"{path}.contract"
    node = product["contract"]
    enforce = False
    if isinstance(node, LocatedDict):
        reader.only_keys(node, {"path", "enforce"}, cpath)
        written = reader.string(node, "path", f"{cpath}.path", required=True)
        if "enforce" in node:
            if isinstance(node["enforce"], bool):
                enforce = node["enforce"]
            else:
                reader.problem(reader.at(node, "enforce", f"{cpath}.enforce"),
                               f"expected true or false, got {kind_of(node['enforce'])}")
        where = reader.at(node, "path", f"{cpath}.path")
    elif isinstance(node, str):
        written, where = reader.substitute(node, reader.at(product, "contract", cpath)), \
            reader.at(product, "contract", cpath)
    else:
        reader.problem(reader.at(product, "contract", cpath),
                       f"expected a file name or a mapping with path and enforce, got {kind_of(node)}")
        return None
    if written is None:
        return None
    resolved = (reader.base / written).resolve()
    if not resolved.is_file():
        reader.problem(where, f"{written} is not a file (resolved to {resolved})")
        return None
    shown = str(resolved.relative_to(reader.path.parent)) if resolved.is_relative_to(reader.path.parent) else written
    return _ContractReader(reader, shown, product_name=path.split(".")[1], tables=tables).read(resolved, enforce)


class _ContractReader:
    """One contract document: its problems go to the descriptor's reader, located in the contract."""

    def __init__(self, reader: YamlReader, shown: str, product_name: str, tables: Mapping[str, TableSpec]) -> None:
        self.reader = reader
        self.shown = shown
        self.product = product_name
        self.tables = {name.lower(): name for name in tables}
        self.data: Any = None
        self.not_evaluated: list[str] = []
        self.keys: set[str] = set()

    def problem(self, loc: tuple[str | int, ...], message: str) -> None:
        field = _dotted(loc)
        line = _line_of(self.data, loc)
        where = f"{self.shown}:{line}" if line else self.shown
        self.reader.problem(f"{where}: {field}" if field else where, message)

    def read(self, path: Path, enforce: bool) -> ContractSpec | None:
        try:
            self.data = read_yaml(path)
        except OSError as error:
            self.reader.problem(self.shown, f"cannot read: {error.strerror or error}")
            return None
        except YamlProblem as problem:
            self.reader.problem(f"{self.shown}:{problem.line}" if problem.line else self.shown, problem.message)
            return None
        if not isinstance(self.data, LocatedDict):
            self.reader.problem(self.shown, f"expected an ODCS data contract (a mapping), got {kind_of(self.data)}")
            return None
        before = len(self.reader.problems)
        try:
            model = OpenDataContractStandard.model_validate(self.data)
        except ValidationError as error:
            for item in error.errors():
                self.problem(_data_loc(self.data, item["loc"]), _pydantic_message(item))
            return None
        self._unknown_keys(self.data, model.model_dump(by_alias=True, exclude_unset=True), ())
        self._standard(model)
        if len(self.reader.problems) > before:
            return None
        tables = tuple(table for index, item in enumerate(model.schema_ or ())
                       if (table := self._table(item, index)) is not None)
        quality = [rule for index, item in enumerate(model.schema_ or ()) for rule in self._table_rules(item, index)]
        freshness = self._freshness(model)
        if len(self.reader.problems) > before:
            return None
        return ContractSpec(
            file=self.shown, path=path, enforce=enforce, id=model.id or "", name=model.name or "",
            version=model.version or "", status=model.status or "", owner=_owner(model.team),
            description=(model.description.purpose or model.description.usage or "") if model.description else "",
            domain=model.domain or "", tags=tuple(model.tags or ()), tables=tables, quality=tuple(quality),
            freshness=tuple(freshness),
            not_evaluated=tuple(self.not_evaluated),
        )

    # -- what the standard says and the package's model does not check -----------------------------

    def _unknown_keys(self, raw: Any, dumped: Any, loc: tuple[str | int, ...]) -> None:
        if isinstance(raw, dict) and isinstance(dumped, dict):
            for key, value in raw.items():
                if key not in dumped:
                    self.problem((*loc, key), "unknown key; the Open Data Contract Standard v3 has no such field")
                else:
                    self._unknown_keys(value, dumped[key], (*loc, key))
        elif isinstance(raw, list) and isinstance(dumped, list):
            for index, (item, kept) in enumerate(zip(raw, dumped, strict=False)):
                self._unknown_keys(item, kept, (*loc, index))

    def _standard(self, model: OpenDataContractStandard) -> None:
        for key in ("apiVersion", "kind", "id", "version"):
            if not getattr(model, key):
                self.problem((key,), "is required by the Open Data Contract Standard")
        if model.apiVersion and model.apiVersion not in _API_VERSIONS:
            self.problem(("apiVersion",), f"expected one of {', '.join(_API_VERSIONS)} (ODCS v3), "
                                          f"got {model.apiVersion!r}")
        if model.kind and model.kind != "DataContract":
            self.problem(("kind",), f"expected DataContract, got {model.kind!r}")
        for index, item in enumerate(model.schema_ or ()):
            loc: tuple[str | int, ...] = ("schema", index)
            if not item.name:
                self.problem((*loc, "name"), "is required (the product's table this entry describes)")
            if item.logicalType not in (None, "object"):
                self.problem((*loc, "logicalType"), f"expected object, got {item.logicalType!r}")
            self._properties(item.properties or [], (*loc, "properties"))
            self._quality(item.quality or [], (*loc, "quality"))
        for index, sla in enumerate(model.slaProperties or ()):
            for key in ("property", "value"):
                if getattr(sla, key) is None:
                    self.problem(("slaProperties", index, key), "is required by the Open Data Contract Standard")

    def _properties(self, properties: list[SchemaProperty], loc: tuple[str | int, ...]) -> None:
        for index, prop in enumerate(properties):
            if not prop.name:
                self.problem((*loc, index, "name"), "is required (the column's name)")
            if prop.logicalType is not None and prop.logicalType not in _LOGICAL_TYPES:
                self.problem((*loc, index, "logicalType"),
                             f"expected one of {', '.join(_LOGICAL_TYPES)}, got {prop.logicalType!r}")
            self._quality(prop.quality or [], (*loc, index, "quality"))
            self._properties(prop.properties or [], (*loc, index, "properties"))

    def _quality(self, rules: list[DataQuality], loc: tuple[str | int, ...]) -> None:
        for index, rule in enumerate(rules):
            kind = rule.type or "library"
            if kind not in _QUALITY_TYPES:
                self.problem((*loc, index, "type"), f"expected one of {', '.join(_QUALITY_TYPES)}, got {kind!r}")
            metric = rule.metric or rule.rule
            if kind == "library" and metric not in LIBRARY_METRICS:
                self.problem((*loc, index, "metric"), f"expected one of {', '.join(LIBRARY_METRICS)}, got {metric!r}")
            if kind == "sql" and not rule.query:
                self.problem((*loc, index, "query"), "is required for a quality rule of type sql")
            if rule.dimension is not None and rule.dimension not in _DIMENSIONS:
                self.problem((*loc, index, "dimension"),
                             f"expected one of {', '.join(_DIMENSIONS)}, got {rule.dimension!r}")

    # -- what flightmesh keeps -------------------------------------------------------------------------

    def _table_name(self, item: SchemaObject, index: int) -> str | None:
        named = self.tables.get((item.name or "").lower())
        if named is None:
            self.problem(("schema", index, "name"), f"no table {item.name!r} in product {self.product}; "
                                                    f"expected one of {', '.join(sorted(self.tables.values()))}")
        return named

    def _table(self, item: SchemaObject, index: int) -> ContractTable | None:
        name = self._table_name(item, index)
        if name is None:
            return None
        columns: list[ContractColumn] = []
        seen: set[str] = set()
        for position, prop in enumerate(item.properties or ()):
            assert prop.name is not None  # checked by _standard
            if prop.name.lower() in seen:
                self.problem(("schema", index, "properties", position, "name"), f"column {prop.name!r} is listed twice")
            seen.add(prop.name.lower())
            if prop.properties or prop.items:
                self.not_evaluated.append(f"schema[{index}].properties[{position}]: nested properties are not "
                                          f"compared (flightmesh checks top-level columns)")
            columns.append(ContractColumn(
                name=prop.name, logical_type=prop.logicalType, physical_type=prop.physicalType,
                description=prop.description or "", tags=tuple(prop.tags or ()), classification=prop.classification,
            ))
        return ContractTable(name=name, description=item.description or "", tags=tuple(item.tags or ()),
                             columns=tuple(columns) if item.properties is not None else None)

    def _table_rules(self, item: SchemaObject, index: int) -> list[QualityRule]:
        table = self.tables.get((item.name or "").lower())
        if table is None:
            return []
        loc: tuple[str | int, ...] = ("schema", index)
        rules = [rule for position, entry in enumerate(item.quality or ())
                 if (rule := self._rule(entry, (*loc, "quality", position), table, None)) is not None]
        for number, prop in enumerate(item.properties or ()):
            rules += [rule for position, entry in enumerate(prop.quality or ())
                      if (rule := self._rule(entry, (*loc, "properties", number, "quality", position), table,
                                             prop.name)) is not None]
        return rules + self._declared_rules(item, loc, table)

    def _declared_rules(self, item: SchemaObject, loc: tuple[str | int, ...], table: str) -> list[QualityRule]:
        """The checks a property's flags promise: ``required`` (no NULL), ``unique`` (no duplicate
        among the non-NULL values), ``primaryKey`` (both; several key properties are unique together)."""
        rules = []
        keys = [(number, prop) for number, prop in enumerate(item.properties or ()) if prop.primaryKey]
        for number, prop in enumerate(item.properties or ()):
            assert prop.name is not None  # checked by _standard
            where = (*loc, "properties", number)
            if prop.required or prop.primaryKey:
                rules.append(self._flag(table, prop.name, "nullValues", "required", "completeness", where))
            if prop.unique or (prop.primaryKey and len(keys) == 1):
                rules.append(self._flag(table, prop.name, "duplicateValues", "unique", "uniqueness", where))
        if len(keys) > 1:
            ordered = sorted(keys, key=lambda entry: (entry[1].primaryKeyPosition or 0, entry[0]))
            columns = tuple(str(prop.name) for _, prop in ordered)
            rule = self._flag(table, None, "duplicateValues", "primary_key", "uniqueness", loc)
            rules.append(replace(rule, columns=columns))
        return rules

    def _flag(self, table: str, column: str | None, kind: str, flag: str, dimension: str,
              loc: tuple[str | int, ...]) -> QualityRule:
        key = self._key(f"{table}.{column}.{flag}" if column else f"{table}.{flag}")
        return QualityRule(key=key, table=table, column=column, kind=kind, threshold=Threshold("mustBe", 0.0),
                           name=key, dimension=dimension, origin=self._origin(loc))

    def _rule(self, rule: DataQuality, loc: tuple[str | int, ...], table: str,
              column: str | None) -> QualityRule | None:
        kind = rule.type or "library"
        if kind in ("text", "custom"):
            why = "text rules are for people" if kind == "text" else "custom rules are a vendor's engine's to run"
            self.not_evaluated.append(f"{_dotted(loc)}: type {kind} is not evaluated ({why})")
            return None
        metric = "sql" if kind == "sql" else (rule.metric or rule.rule or "")
        arguments = rule.arguments or {}
        values: tuple[object, ...] = ()
        columns: tuple[str, ...] = ()
        if metric == "rowCount" and column is not None:
            self.problem((*loc, "metric"), "rowCount counts a table's rows: put it in the table's quality list")
            return None
        if metric in ("nullValues", "missingValues", "invalidValues") and column is None:
            self.problem((*loc, "metric"), f"{metric} counts a column's values: put it in a property's quality list")
            return None
        if metric == "duplicateValues" and column is None:
            named = arguments.get("properties")
            if not isinstance(named, list) or not named or not all(isinstance(n, str) and n for n in named):
                self.problem((*loc, "arguments", "properties"),
                             "expected the list of columns whose combination must be unique")
                return None
            columns = tuple(named)
        if metric == "missingValues":
            listed = arguments.get("missingValues", [])
            if not isinstance(listed, list) or not all(_literal(v) for v in listed):
                self.problem((*loc, "arguments", "missingValues"), "expected a list of strings or numbers")
                return None
            values = tuple(listed)
        if metric == "invalidValues":
            listed = arguments.get("validValues")
            if listed is None and "pattern" in arguments:
                self.not_evaluated.append(f"{_dotted(loc)}: invalidValues with a pattern is not evaluated (regular "
                                          f"expressions mean different things in each engine); list validValues")
                return None
            if not isinstance(listed, list) or not listed or not all(_literal(v) for v in listed):
                self.problem((*loc, "arguments", "validValues"), "expected a list of strings or numbers")
                return None
            values = tuple(listed)
        threshold = self._threshold(rule, loc)
        unit = (rule.unit or "rows").lower()
        if unit not in ("rows", "percent"):
            self.problem((*loc, "unit"), f"expected rows or percent, got {rule.unit!r}")
            return None
        if threshold is None:
            return None
        query = rule.query
        if query is not None and column is None and "${column}" in query:
            self.problem((*loc, "query"), "${column} is only known in a property's quality list")
            return None
        key = self._key(f"{table}.{column}.{metric}" if column else f"{table}.{metric}")
        return QualityRule(
            key=key, table=table, column=column, kind=metric, threshold=threshold, name=rule.name or rule.id or key,
            unit=unit, dimension=rule.dimension or "", severity=rule.severity or "",
            description=rule.description or "", values=values, columns=columns,
            query=query,
            origin=self._origin(loc),
        )

    def _threshold(self, rule: DataQuality, loc: tuple[str | int, ...]) -> Threshold | None:
        given = [(name, getattr(rule, name)) for name in THRESHOLD_OPERATORS if getattr(rule, name) is not None]
        if len(given) != 1:
            found = f"got {', '.join(name for name, _ in given)}" if given else "got none"
            self.problem(loc, f"expected exactly one threshold ({', '.join(THRESHOLD_OPERATORS)}); {found}")
            return None
        name, value = given[0]
        if isinstance(value, list):
            return Threshold(name, (float(value[0]), float(value[1])))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem((*loc, name), f"expected a number, got {kind_of(value)}")
            return None
        return Threshold(name, float(value))

    def _freshness(self, model: OpenDataContractStandard) -> list[FreshnessRule]:
        rules = []
        for index, sla in enumerate(model.slaProperties or ()):
            loc: tuple[str | int, ...] = ("slaProperties", index)
            if (sla.property or "").lower() != "latency":
                self.not_evaluated.append(f"{_dotted(loc)}: SLA property {sla.property!r} is not evaluated "
                                          f"(flightmesh measures latency: the age of the newest row)")
                continue
            rules += self._latency(sla, loc, model.slaDefaultElement)
        return rules

    def _latency(self, sla: ServiceLevelAgreementProperty, loc: tuple[str | int, ...],
                 default: str | None) -> list[FreshnessRule]:
        if isinstance(sla.value, bool) or not isinstance(sla.value, (int, float)) or sla.value <= 0:
            self.problem((*loc, "value"), f"expected a positive number, got {kind_of(sla.value)}")
            return []
        unit = (sla.unit or "").lower()
        if unit not in _UNITS:
            self.problem((*loc, "unit"), f"expected a time unit ({', '.join(('d', 'h', 'm', 's'))} or their "
                                         f"names), got {sla.unit!r}")
            return []
        element = sla.element or default
        if not element:
            self.problem((*loc, "element"), "expected table.column: the timestamp column whose newest value "
                                            "tells the data's age (or slaDefaultElement)")
            return []
        rules = []
        for part in (piece.strip() for piece in element.split(",")):
            table_name, _, column = part.partition(".")
            table = self.tables.get(table_name.lower())
            if table is None or not column:
                self.problem((*loc, "element"), f"expected table.column of product {self.product}, got {part!r}")
                continue
            key = self._key(f"{table}.{column}.latency")
            rules.append(FreshnessRule(key=key, table=table, column=column,
                                       max_age_seconds=float(sla.value) * _UNITS[unit],
                                       written=f"{_plain(sla.value)} {sla.unit}", name=sla.id or key,
                                       description=sla.description or "", origin=self._origin(loc)))
        return rules

    def _key(self, base: str) -> str:
        key, number = base, 2
        while key.lower() in self.keys:
            key, number = f"{base}#{number}", number + 1
        self.keys.add(key.lower())
        return key

    def _origin(self, loc: tuple[str | int, ...]) -> str:
        line = _line_of(self.data, loc)
        return f"{self.shown}:{line}: {_dotted(loc)}" if line else f"{self.shown}: {_dotted(loc)}"


# -- the contract in the catalog ----------------------------------------------------------------------


def enrich(product: ProductSpec) -> ProductSpec:
    """``product`` with its contract's owner, description, domain and tags where the descriptor is
    silent (the descriptor's own words win), and its tables' descriptions and tags likewise."""
    contract = product.contract
    if contract is None:
        return product
    tables = {}
    for name, table in product.tables.items():
        promised = contract.table(name)
        if promised is not None:
            table = replace(table, description=table.description or promised.description,
                            tags=_union(table.tags, promised.tags))
        tables[name] = table
    return replace(product, owner=product.owner or contract.owner, domain=product.domain or contract.domain,
                   description=product.description or contract.description,
                   tags=_union(product.tags, contract.tags), tables=tables)


def column_specs(contract: ContractSpec | None, table: str, declared: Mapping[str, ColumnSpec],
                 engine_columns: Iterable[str], protective_tags: set[str]) -> dict[str, ColumnSpec]:
    """``declared`` (the descriptor's ``columns:`` of ``table``) with the contract's columns added.

    A contract column brings its description (when the descriptor gives none), its tags and its
    classification as a tag, so tag rules mask it. A column the engine lacks is drift, reported by
    the contract check, and left out, unless one of its tags is ``protective`` (a tag rule reads
    it): then it stays, so the policy check refuses the table (fail closed: a renamed column
    would otherwise be served unmasked).
    """
    promised = contract.table(table) if contract is not None else None
    result = dict(declared)
    if promised is None:
        return result
    present = {name.lower() for name in engine_columns}
    by_lower = {name.lower(): name for name in declared}
    for column in promised.columns or ():
        tags = column.tags + ((column.classification,) if column.classification else ())
        if column.name.lower() not in present and not set(tags) & protective_tags:
            continue
        name = by_lower.get(column.name.lower(), column.name)
        own = result.get(name, ColumnSpec())
        result[name] = replace(own, tags=_union(own.tags, tags), description=own.description or column.description,
                               origin=own.origin or f"{contract.file if contract else ''}: {table}.{column.name}")
    return result


# -- helpers ------------------------------------------------------------------------------------------


def _owner(team: Team | list[Any] | None) -> str:
    """ODCS v3.1 ``team: {name, members}`` or v3.0 ``team: [members]``: the team's name, else the
    first member whose role says owner."""
    if isinstance(team, Team):
        if team.name:
            return team.name
        team = team.members or []
    for member in team or ():
        if "owner" in (member.role or "").lower():
            return str(member.username or member.name or "")
    return ""


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return first + tuple(tag for tag in second if tag not in first)


def _literal(value: object) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _data_loc(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """A pydantic error location as a path into ``data``: the union members' names it inserts
    (``Team``, ``list[TeamMember]``) and the aliases' field names are dropped or mapped back."""
    path: list[str | int] = []
    node = data
    for part in loc:
        key = "schema" if part == "schema_" else part
        present = (isinstance(node, dict) and key in node) or \
            (isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node))
        if present:
            path.append(key)
            node = node[key]
        elif isinstance(node, dict) and isinstance(key, str) and not key[:1].isupper() and "[" not in key:
            path.append(key)  # a missing field: name it
            break
    return tuple(path)


def _line_of(data: Any, loc: tuple[str | int, ...]) -> int | None:
    line: int | None = getattr(data, "line", None) or None
    node = data
    for part in loc:
        if isinstance(node, LocatedDict) and isinstance(part, str):
            line = node.key_lines.get(part, line)
            if part not in node:
                break
            node = node[part]
        elif isinstance(node, LocatedList) and isinstance(part, int) and part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def _pydantic_message(item: Mapping[str, Any]) -> str:
    """pydantic's message, without the input (a contract value never needs echoing back)."""
    if item.get("type") == "extra_forbidden":
        return "unknown key; the Open Data Contract Standard v3 has no such field"
    message = str(item.get("msg", "invalid"))
    return message[0].lower() + message[1:] if message else "invalid"
