"""A plan as plain data (JSON-ready), and back: plans travel inside signed tickets (DESIGN.md §10).

Connector objects do not travel: each fragment names the product whose connector runs it, and
``plan_from_dict`` resolves that against the restoring runtime's connectors. Fragment trees keep
their meta (the planner's tags: tables, fragments, applied policies) through sqlglot's serde.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

import pyarrow as pa
from sqlglot import exp
from sqlglot.serde import dump, load

from flightmesh.connectors import Connector
from flightmesh.governance.privacy import PrivacyRelease

from .plan import Fragment, KeyFilter, LateRead, Partition, Plan

__all__ = ["plan_from_dict", "plan_to_dict", "schema_from_text", "schema_to_text"]

_PLAN_VERSION = 1


def plan_to_dict(plan: Plan, connectors: Mapping[str, Connector]) -> dict[str, Any]:
    """``plan`` as JSON-ready data; ``connectors`` (product -> connector) names fragment connectors."""
    return {
        "version": _PLAN_VERSION,
        "sql": plan.sql,
        "fragments": [_fragment_to_dict(fragment, connectors) for fragment in plan.fragments],
        "residual": plan.residual,
        "output_names": list(plan.output_names),
        "key_filters": [asdict(key_filter) for key_filter in plan.key_filters],
        "explain": plan.explain,
        "planning_ms": plan.planning_ms,
        "notes": list(plan.notes),
        "materialize": sorted(plan.materialize),
        "merge_rows": [list(pair) for pair in plan.merge_rows],
        "shown_residual": plan.shown_residual,
        "reveal_policies": plan.reveal_policies,
        "privacy": plan.privacy.to_dict() if plan.privacy is not None else None,
        "late": asdict(plan.late) if plan.late is not None else None,
    }


def plan_from_dict(data: Mapping[str, Any], connectors: Mapping[str, Connector]) -> Plan:
    if data.get("version") != _PLAN_VERSION:
        raise ValueError(f"a plan of version {data.get('version')!r} cannot be restored (expected {_PLAN_VERSION})")
    return Plan(
        sql=data["sql"], fragments=tuple(_fragment_from_dict(item, connectors) for item in data["fragments"]),
        residual=data["residual"], output_names=tuple(data["output_names"]),
        key_filters=tuple(KeyFilter(**item) for item in data["key_filters"]), explain=data["explain"],
        planning_ms=data["planning_ms"], notes=tuple(data["notes"]), materialize=frozenset(data["materialize"]),
        merge_rows=tuple((str(name), int(rows)) for name, rows in data.get("merge_rows", ())),
        shown_residual=data["shown_residual"], reveal_policies=data["reveal_policies"],
        privacy=PrivacyRelease.from_dict(data["privacy"]) if data.get("privacy") is not None else None,
        late=LateRead(**data["late"]) if data.get("late") is not None else None,
    )


def _fragment_to_dict(fragment: Fragment, connectors: Mapping[str, Connector]) -> dict[str, Any]:
    # The fragment's connector is the one of one of its products (the splitter takes a table's);
    # products sharing an engine may have distinct connector objects, so look for that very one.
    product = next((name for name in fragment.products if connectors.get(name) is fragment.connector), None)
    if product is None:
        raise ValueError(f"fragment {fragment.name}: its connector is none of its products' connectors")
    data: dict[str, Any] = {}
    for item in fields(Fragment):
        value = getattr(fragment, item.name)
        if item.name == "connector":
            data["connector_product"] = product
        elif item.name == "tree":
            data["tree"] = dump(value)
        elif item.name == "partitions":
            data["partitions"] = [{"sql": p.sql, "tree": dump(p.tree), "range": p.range} for p in value]
        elif item.name == "typing_tables":
            data["typing_tables"] = [[name, schema_to_text(schema)] for name, schema in value]
        elif isinstance(value, tuple):
            data[item.name] = list(value)
        else:
            data[item.name] = value
    return data


def _fragment_from_dict(data: Mapping[str, Any], connectors: Mapping[str, Connector]) -> Fragment:
    values = dict(data)
    values["connector"] = connectors[values.pop("connector_product")]
    tree = load(values["tree"])
    if not isinstance(tree, exp.Query):
        raise ValueError(f"fragment {values.get('name')}: its tree is not a query")
    values["tree"] = tree
    values["typing_tables"] = tuple((name, schema_from_text(text)) for name, text in values["typing_tables"])
    values["partitions"] = tuple(_partition_from_dict(item, values.get("name"))
                                 for item in values.get("partitions", ()))
    for key in ("products", "tables", "output", "policies"):
        values[key] = tuple(values[key])
    return Fragment(**values)


def _partition_from_dict(data: Mapping[str, Any], fragment: object) -> Partition:
    tree = load(data["tree"])
    if not isinstance(tree, exp.Query):
        raise ValueError(f"fragment {fragment}: a partition's tree is not a query")
    return Partition(sql=data["sql"], tree=tree, range=data["range"])


def schema_to_text(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def schema_from_text(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
