"""A product's data contract as flightmesh uses it: the typed, checked subset of an ODCS v3 document.

``mesh.contracts`` reads the Open Data Contract Standard document (through the PyPI package
``open-data-contract-standard``) and keeps what flightmesh checks or shows, in these frozen values:

* ``ContractTable`` / ``ContractColumn`` — the ``schema`` entries: the promised tables and columns,
  with the types the engine's schema is compared with (drift) and the descriptions, tags and
  classification the catalog shows;
* ``QualityRule`` — a ``quality`` entry of type ``library`` (``rowCount``, ``nullValues``,
  ``missingValues``, ``invalidValues``, ``duplicateValues``) or ``sql``, with its ``must*`` threshold;
* ``FreshnessRule`` — an ``slaProperties`` entry ``property: latency`` on a timestamp column.

Names are the descriptor's: ``table`` is the product's table name, ``column`` as the contract
spells it (matched case-insensitively, as SQL resolves unquoted names).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LIBRARY_METRICS",
    "THRESHOLD_OPERATORS",
    "ContractColumn",
    "ContractSpec",
    "ContractTable",
    "FreshnessRule",
    "QualityRule",
    "Threshold",
]

# ODCS v3 DataQualityLibrary.metric values (schema.json, $defs.DataQualityLibrary); all evaluated.
LIBRARY_METRICS = ("rowCount", "nullValues", "missingValues", "invalidValues", "duplicateValues")
# ODCS v3 DataQualityOperators, in the order a rule's threshold is looked for.
THRESHOLD_OPERATORS = ("mustBe", "mustNotBe", "mustBeGreaterThan", "mustBeGreaterOrEqualTo", "mustBeLessThan",
                       "mustBeLessOrEqualTo", "mustBeBetween", "mustNotBeBetween")


@dataclass(frozen=True)
class Threshold:
    """One ``must*`` operator and its operand (a number, or two for the ``Between`` forms)."""

    operator: str
    value: float | tuple[float, float]

    def holds(self, measured: float) -> bool:
        value = self.value
        if isinstance(value, tuple):
            low, high = value
            inside = low <= measured <= high
            return inside if self.operator == "mustBeBetween" else not inside
        return {
            "mustBe": measured == value, "mustNotBe": measured != value,
            "mustBeGreaterThan": measured > value, "mustBeGreaterOrEqualTo": measured >= value,
            "mustBeLessThan": measured < value, "mustBeLessOrEqualTo": measured <= value,
        }[self.operator]

    def text(self) -> str:
        value = self.value
        shown = f"[{_number(value[0])}, {_number(value[1])}]" if isinstance(value, tuple) else _number(value)
        return f"{self.operator} {shown}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class ContractColumn:
    name: str
    logical_type: str | None = None       # ODCS logicalType: string, integer, number, timestamp, ...
    physical_type: str | None = None      # ODCS physicalType, in the engine's own words: VARCHAR(40), BIGINT
    description: str = ""
    tags: tuple[str, ...] = ()
    classification: str | None = None     # ODCS classification: also a tag, so tag rules see it


@dataclass(frozen=True)
class ContractTable:
    name: str                             # the product's table (ODCS schema[].name)
    description: str = ""
    tags: tuple[str, ...] = ()
    columns: tuple[ContractColumn, ...] | None = None   # None: the contract lists no properties

    def column(self, name: str) -> ContractColumn | None:
        lowered = name.lower()
        return next((column for column in self.columns or () if column.name.lower() == lowered), None)


@dataclass(frozen=True)
class QualityRule:
    key: str                              # unique within the contract: "customers.email.nullValues"
    table: str
    column: str | None                    # None: a table-level rule
    kind: str                             # one of LIBRARY_METRICS, or "sql"
    threshold: Threshold
    name: str                             # ODCS name (or id), else a default built from the key
    unit: str = "rows"                    # "rows" or "percent" (of the rows the metric looks at)
    dimension: str = ""
    severity: str = ""
    description: str = ""
    values: tuple[object, ...] = ()       # missingValues / validValues arguments
    columns: tuple[str, ...] = ()         # table-level duplicateValues: arguments.properties
    query: str | None = None              # type sql: the contract's query (checked before it runs)
    origin: str = ""                      # "contracts/crm.odcs.yaml:20: schema[0].quality[0]"


@dataclass(frozen=True)
class FreshnessRule:
    key: str
    table: str
    column: str
    max_age_seconds: float
    written: str                          # "24 h", as the contract gives value and unit
    name: str
    description: str = ""
    origin: str = ""


@dataclass(frozen=True)
class ContractSpec:
    """``contract:`` of a product: where the document is, whether drift refuses, and what it says."""

    file: str                             # as the descriptor writes it (relative): for reports
    path: Path                            # absolute: read again on reload only
    enforce: bool = False                 # a drifting table is refused instead of served
    id: str = ""
    name: str = ""
    version: str = ""
    status: str = ""
    owner: str = ""
    description: str = ""
    domain: str = ""
    tags: tuple[str, ...] = ()
    tables: tuple[ContractTable, ...] = ()
    quality: tuple[QualityRule, ...] = ()
    freshness: tuple[FreshnessRule, ...] = ()
    not_evaluated: tuple[str, ...] = ()   # entries valid in ODCS that flightmesh does not check, and why

    def table(self, name: str) -> ContractTable | None:
        lowered = name.lower()
        return next((table for table in self.tables if table.name.lower() == lowered), None)
