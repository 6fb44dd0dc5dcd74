"""Audit: every query and every refusal as one JSON line, and as a table an admin role can query.

One record per event::

    {"time": "2025-06-01T12:00:00.123456+00:00", "kind": "query", "user": "sam", "roles": ["support"],
     "statement": "SELECT * FROM crm.customers", "statement_hash": "9f2c...", "products": ["crm"],
     "tables": ["crm.customers"], "policies": ["row_filter crm.customers[1]", "deny crm.customers.ssn"],
     "rows": 18, "duration_ms": 4.2, "outcome": "ok", "error": null}

``kind`` is ``query`` or ``authentication``. ``outcome`` is ``ok``, ``refused`` (the statement
was not run: bad SQL, unknown table, denied, bad credentials), ``failed`` (it ran and an engine
failed or a deadline passed), ``cancelled``, or ``closed early`` (the client stopped reading).
``error`` is the message the client saw — never an engine's internal message, which may hold
row values. ``statement_hash`` is the SHA-256 of the statement as sent: it groups repeats and
matches a statement against the record even when the text kept was cut.

**Bounded.** The statement, the error and the user name are the client's to choose (a refused
statement of a megabyte, a user name as long as a header), so each is kept to
``settings.audit_statement_max_chars`` characters, in memory and on disk, with a note of how long
the whole was; the hash is always of the full text. With ``keep`` records in a ring (a deque with
``maxlen``), the memory the audit holds is bounded by about ``keep`` x 3 x that many characters.

``AuditLog`` appends each line to ``governance.audit.file`` (if set) and keeps the last
``governance.audit.keep`` records in memory, which ``audit_product`` serves as the system table
``flightmesh.audit`` to the roles in ``governance.audit.read`` only: for everyone else it does
not exist, exactly like an ungranted product. Its columns are flat (lists joined by ", ") so
every Flight SQL client can show them.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from flightmesh.mesh import (
    AccessSpec,
    AuditSpec,
    DescriptorError,
    EngineSpec,
    MeshSpec,
    Principal,
    ProductSpec,
    Settings,
    TableSpec,
)

__all__ = [
    "AUDIT_SCHEMA", "SYSTEM_PRODUCT", "AuditLog", "AuditRecord", "audit_product", "statement_hash", "truncated",
]

SYSTEM_PRODUCT = "flightmesh"  # reserved in the descriptor: no data product can take the name

AUDIT_SCHEMA = pa.schema([
    pa.field("time", pa.timestamp("us", tz="UTC")),
    pa.field("kind", pa.string()),
    pa.field("user", pa.string()),
    pa.field("roles", pa.string()),
    pa.field("statement", pa.string()),
    pa.field("statement_hash", pa.string()),
    pa.field("products", pa.string()),
    pa.field("tables", pa.string()),
    pa.field("policies", pa.string()),
    pa.field("rows", pa.int64()),
    pa.field("duration_ms", pa.float64()),
    pa.field("outcome", pa.string()),
    pa.field("error", pa.string()),
])


DEFAULT_MAX_CHARS = 4096  # settings.audit_statement_max_chars


def statement_hash(sql: str) -> str:
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def truncated(text: str | None, max_chars: int) -> str | None:
    """``text`` cut to ``max_chars`` characters, the cut marked with the full length."""
    if text is None or len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... [truncated: {len(text)} characters]"


@dataclass(frozen=True)
class AuditRecord:
    kind: str
    user: str | None
    outcome: str
    roles: tuple[str, ...] = ()
    statement: str | None = None
    products: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    rows: int | None = None
    duration_ms: float = 0.0
    error: str | None = None
    time: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))

    @classmethod
    def for_principal(cls, principal: Principal | None, **values: Any) -> AuditRecord:
        if principal is None:
            return cls(user=values.pop("user", None), **values)
        return cls(user=principal.name, roles=tuple(sorted(principal.roles)), **values)

    def as_json(self) -> dict[str, Any]:
        # The fields are flat (text, numbers, tuples of text): a shallow copy, not asdict's deep one,
        # which cost a tenth of a millisecond per query.
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["time"] = self.time.isoformat()
        data["statement_hash"] = statement_hash(self.statement) if self.statement is not None else None
        for key in ("roles", "products", "tables", "policies"):
            data[key] = list(data[key])
        data["duration_ms"] = round(self.duration_ms, 3)
        return data


_FIELD_NAMES = tuple(f.name for f in fields(AuditRecord))


class AuditLog:
    """Appends records as JSON lines and keeps the most recent ones for SQL. Thread-safe."""

    def __init__(self, file: Path | None = None, keep: int = 10_000, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.file = file
        self.max_chars = max_chars
        self._records: deque[dict[str, Any]] = deque(maxlen=keep)  # the ring: oldest dropped
        self._lock = threading.Lock()
        self._stream: IO[str] | None = None

    @classmethod
    def from_spec(cls, spec: AuditSpec, settings: Settings | None = None) -> AuditLog:
        """The mesh's audit log; a missing folder for ``governance.audit.file`` is created here
        (DescriptorError if it cannot be)."""
        max_chars = settings.audit_statement_max_chars if settings is not None else DEFAULT_MAX_CHARS
        if spec.file is not None:
            try:
                spec.file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DescriptorError([f"governance.audit.file: cannot create folder {spec.file.parent}: "
                                       f"{error.strerror or error}"]) from None
        return cls(spec.file, spec.keep, max_chars)

    def write(self, record: AuditRecord) -> None:
        data = record.as_json()  # the hash is taken here, from the full statement
        for key in ("statement", "error", "user"):
            data[key] = truncated(data[key], self.max_chars)
        line = json.dumps(data, separators=(",", ":"), default=str)
        with self._lock:
            self._records.append(data)
            if self.file is not None:
                if self._stream is None:
                    self._stream = self.file.open("a", encoding="utf-8")
                self._stream.write(line + "\n")
                self._stream.flush()  # one line per event, visible to `tail -f` at once

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    def table(self) -> pa.Table:
        """The kept records as ``AUDIT_SCHEMA`` rows (what ``flightmesh.audit`` serves)."""
        rows = []
        for data in self.records():
            row = dict(data)
            row["time"] = datetime.datetime.fromisoformat(data["time"])
            for key in ("roles", "products", "tables", "policies"):
                row[key] = ", ".join(data[key])
            rows.append(row)
        return pa.Table.from_pylist(rows, schema=AUDIT_SCHEMA)

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None


def audit_product(spec: MeshSpec) -> ProductSpec | None:
    """The system product ``flightmesh`` with its table ``audit``, when a role may read it."""
    if not spec.audit.read:
        return None
    return ProductSpec(
        name=SYSTEM_PRODUCT, engine=EngineSpec(kind="virtual", origin="governance.audit"),
        tables={"audit": TableSpec(name="audit", source="audit", description="One row per query or refusal")},
        description="flightmesh's own tables: the audit log", access=AccessSpec(read=tuple(spec.audit.read)),
        origin="governance.audit",
    )


def touched(tables: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(products, tables) of "product.table" keys, sorted and without repeats."""
    unique = sorted(set(tables))
    return tuple(sorted({key.split(".")[0] for key in unique})), tuple(unique)
