"""The differential-privacy mode: who reads a product in it, and what a planned release is.

A principal whose roles are in a product's ``privacy.for`` and not in its ``access.read`` reads
that product only through noisy aggregates (the planner's ``planner/rules/privacy.py`` checks and
rewrites the query; ``executor/privacy_release.py`` adds the noise). This module holds what both
sides share: the test for the mode and ``PrivacyRelease``, the plan's description of one release.

Sensitivity (how much one privacy unit can move an exact aggregate, adding or removing the unit
with all its rows): each unit contributes at most ``max_rows_per_unit`` (k) rows, and every summed
value is clamped into ``[lower, upper]``, so

    COUNT(*), COUNT(col)   k
    SUM(col)               k * max(|lower|, |upper|)

and a GROUP BY over declared keys keeps these as L1 sensitivities of the whole column of groups
(each row is in one group). The query's epsilon is split evenly over its mechanisms (an AVG is a
noisy sum over a noisy count: two), and each cell gets Laplace noise of scale sensitivity / share.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from flightmesh.mesh import Catalog, Principal, ProductSpec

__all__ = ["Mechanism", "PrivacyRelease", "ReleasedColumn", "check_privacy", "count_sensitivity",
           "reads_in_privacy_mode", "sum_sensitivity"]


def reads_in_privacy_mode(product: ProductSpec, principal: Principal) -> bool:
    """Does ``principal`` read ``product`` only through its privacy mode?"""
    privacy = product.privacy
    return privacy is not None and principal.has_any(privacy.for_roles) and not principal.has_any(product.access.read)


def check_privacy(catalog: Catalog) -> list[str]:
    """Every privacy declaration naming a column its table lacks (or bounding one that is not a
    number): run when the mesh opens, the problems stop it, as for policies."""
    problems: list[str] = []
    for product in catalog.spec.products.values():
        if product.privacy is None or product.name in catalog.unavailable:
            continue
        tables = {table.name.lower(): table for table in catalog.all_tables() if table.product == product.name}
        for name, declared in product.privacy.tables.items():
            table = tables.get(name.lower())
            if table is None:
                continue
            fields = {field.name.lower(): field for field in table.schema}
            named = [("unit", declared.unit)] + [("public key", c) for c in declared.public_keys] + \
                [("bounded column", c) for c in declared.bounds]
            for role, column in named:
                field = fields.get(column.lower())
                if field is None:
                    problems.append(f"{declared.origin}: the {role} {column!r} is not a column of "
                                    f"{product.name}.{name}")
                elif role == "bounded column" and not _numeric(field.type):
                    problems.append(f"{declared.origin}: the bounded column {column!r} is not a number "
                                    f"({field.type}); only numbers can be clamped and summed")
                elif role == "public key" and not _castable(declared.public_keys[column], field.type):
                    problems.append(f"{declared.origin}: the public key {column!r} lists values that are not "
                                    f"of its column's type ({field.type})")
    return problems


def _castable(values: tuple[Any, ...], data_type: pa.DataType) -> bool:
    """Can the declared key values stand in the key column (the release builds its grid from them)?"""
    try:
        pa.array(list(values)).cast(data_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def _numeric(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_decimal(data_type))


def count_sensitivity(max_rows_per_unit: int) -> float:
    return float(max_rows_per_unit)


def sum_sensitivity(max_rows_per_unit: int, lower: float, upper: float) -> float:
    return max_rows_per_unit * max(abs(lower), abs(upper))


@dataclass(frozen=True)
class Mechanism:
    """One noisy quantity: a column of the exact (engine) result and the Laplace noise it gets."""

    column: str                        # its name in the exact result
    kind: str                          # "count" (integers, discrete Laplace) or "sum" (floats)
    sensitivity: float
    epsilon: float                     # this mechanism's share of the query's epsilon
    described: str                     # what it measures, for EXPLAIN: "COUNT(*)", "SUM(amount)"

    @property
    def scale(self) -> float:
        return self.sensitivity / self.epsilon


@dataclass(frozen=True)
class ReleasedColumn:
    """One column of the released result."""

    name: str
    kind: str                          # "key" | "count" | "sum" | "avg"
    sources: tuple[str, ...]           # key: its exact column; count/sum: the mechanism's; avg: (sum, count)
    values: tuple[Any, ...] = ()       # key: every declared value, each shown even when its group is empty
    bounds: tuple[float, float] | None = None   # avg: the clamping range (the mean is kept inside it)


@dataclass(frozen=True)
class PrivacyRelease:
    product: str
    table: str                         # "product.table"
    epsilon: float                     # what the query costs
    budget: float
    per: str
    columns: tuple[ReleasedColumn, ...]
    mechanisms: tuple[Mechanism, ...]
    order: tuple[tuple[int, bool], ...] = ()   # (released column index, descending), applied after the noise
    limit: int | None = None

    def mechanism(self, column: str) -> Mechanism:
        return next(m for m in self.mechanisms if m.column == column)

    def scale_of(self, column: ReleasedColumn) -> str:
        """The noise scale of a released column, as schema metadata and EXPLAIN show it."""
        if column.kind == "key":
            return ""
        if column.kind == "avg":
            total, count = (self.mechanism(name) for name in column.sources)
            return f"sum {total.scale:g} / count {count.scale:g}"
        return f"{self.mechanism(column.sources[0]).scale:g}"

    def explain_notes(self) -> tuple[str, ...]:
        notes = [f"privacy mode on {self.table}: this query costs epsilon {self.epsilon:g} of the "
                 f"{self.budget:g} per {self.per} budget of product {self.product}; nothing is spent by EXPLAIN"]
        for mechanism in self.mechanisms:
            notes.append(f"privacy: {mechanism.described} gets Laplace noise of scale {mechanism.scale:g} "
                         f"(sensitivity {mechanism.sensitivity:g}, epsilon {mechanism.epsilon:g})")
        return tuple(notes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrivacyRelease:
        columns = tuple(ReleasedColumn(name=c["name"], kind=c["kind"], sources=tuple(c["sources"]),
                                       values=tuple(c["values"]),
                                       bounds=tuple(c["bounds"]) if c["bounds"] is not None else None)
                        for c in data["columns"])
        return cls(product=data["product"], table=data["table"], epsilon=data["epsilon"], budget=data["budget"],
                   per=data["per"], columns=columns, mechanisms=tuple(Mechanism(**m) for m in data["mechanisms"]),
                   order=tuple((int(i), bool(d)) for i, d in data["order"]), limit=data["limit"])
