"""Arrow tables as text for a terminal: the output of ``flightmesh query`` and ``explain``.

``format_table`` draws an aligned grid in the style of psql (numbers right-aligned, NULL spelled
out, long cells cut with an ellipsis, a row count at the end); ``format_explain`` prints an
EXPLAIN result one step per paragraph, with each step's SQL below it, because SQL does not fit in
a grid cell.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable

import pyarrow as pa

__all__ = ["format_cell", "format_explain", "format_table", "privacy_footer"]

NULL = "NULL"


def format_cell(value: object, max_width: int = 40) -> str:
    """One value as display text, at most ``max_width`` characters."""
    if value is None:
        text = NULL
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = _float(value)
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    elif isinstance(value, decimal.Decimal):
        text = format(value, "f")
    elif isinstance(value, bytes):
        text = "\\x" + value.hex()
    else:
        text = str(value)
    text = text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\t", " ")
    if len(text) > max_width:
        text = text[: max(max_width - 1, 1)] + "…"
    return text


def _float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):  # NaN, infinities
        return str(value)
    if value == 0 or 1e-4 <= abs(value) < 1e15:
        # Six decimals hide binary noise (7250.000000000002) without hiding cents.
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return f"{value:.6g}"


def format_table(table: pa.Table, *, max_rows: int = 1000, max_width: int = 40) -> str:
    """``table`` as an aligned text grid with a row count; at most ``max_rows`` rows are drawn."""
    shown = table.slice(0, max_rows)
    names = [format_cell(name, max_width) for name in table.column_names]
    columns = [[format_cell(value, max_width) for value in column.to_pylist()] for column in shown.columns]
    numeric = [_is_numeric(field.type) for field in table.schema]
    widths = [
        max([len(name), *(len(cell) for cell in cells)]) for name, cells in zip(names, columns, strict=True)
    ]

    def line(cells: Iterable[str], right: Iterable[bool]) -> str:
        parts = [cell.rjust(width) if align else cell.ljust(width)
                 for cell, width, align in zip(cells, widths, right, strict=True)]
        return (" " + " | ".join(parts)).rstrip()

    out = [line(names, [False] * len(names)), "-" + "-+-".join("-" * width for width in widths) + "-"]
    out.extend(line(row, numeric) for row in zip(*columns, strict=True))
    total = table.num_rows
    if total > shown.num_rows:
        out.append(f"(showing the first {shown.num_rows} of {total} rows)")
    else:
        out.append(f"({total} row{'' if total == 1 else 's'})")
    return "\n".join(out)


def format_explain(table: pa.Table) -> str:
    """An EXPLAIN result: one paragraph per step, its SQL indented below it."""
    paragraphs = []
    for row in table.to_pylist():
        head = " ".join(str(row[key]) for key in ("step", "kind", "name") if row.get(key) not in (None, ""))
        where = ", ".join(f"{key}: {row[key]}" for key in ("products", "engine") if row.get(key))
        measured = ", ".join(
            f"{key}: {format_cell(row[key])}" for key in ("rows", "ms") if row.get(key) is not None
        )
        lines = [" — ".join(part for part in (head, where, row.get("detail") or "", measured) if part)]
        extra = {key: value for key, value in row.items() if key not in _EXPLAIN_KNOWN and value is not None}
        lines.extend(f"    {key}: {value}" for key, value in extra.items())
        if row.get("sql"):
            lines.extend(f"    {sql_line}" for sql_line in str(row["sql"]).splitlines())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


_EXPLAIN_KNOWN = frozenset({"step", "kind", "name", "products", "engine", "detail", "rows", "ms", "sql"})


def _is_numeric(type_: pa.DataType) -> bool:
    return bool(pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_))


def privacy_footer(schema: pa.Schema) -> str:
    """What a privacy-mode result spent and left, from its schema metadata; "" for other results."""
    # Imported here: the keys' module brings the planner's libraries, which `flightmesh query` needs not.
    from flightmesh.executor.privacy_release import BUDGET_KEY, EPSILON_KEY, REMAINING_KEY, RESETS_KEY, SCALE_KEY

    metadata = schema.metadata or {}
    if EPSILON_KEY not in metadata:
        return ""
    line = f"privacy mode: epsilon {metadata[EPSILON_KEY].decode()} spent of {metadata.get(BUDGET_KEY, b'?').decode()}"
    if REMAINING_KEY in metadata:
        line += f"; {metadata[REMAINING_KEY].decode()} remains, resets {metadata.get(RESETS_KEY, b'never').decode()}"
    scales = [f"{field.name} {field.metadata[SCALE_KEY].decode()}" for field in schema
              if field.metadata and SCALE_KEY in field.metadata]
    if scales:
        line += "\nLaplace noise scale: " + ", ".join(scales)
    return line
