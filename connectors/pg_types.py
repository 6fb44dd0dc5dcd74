"""PostgreSQL types as Arrow types, and the conversion of ADBC results to them.

One mapping (``pg_arrow_type``) serves both ``describe`` (from the catalog) and results (from
the ``POSTGRESQL:type`` metadata the ADBC driver attaches to each field), so a table's declared
schema and a ``SELECT *`` over it agree exactly.

The driver returns a few types that are not plain Arrow; they are converted column-wise:

- ``numeric(p, s)`` arrives as text (an opaque extension type) and becomes ``decimal128(p, s)``
  (``decimal256`` above 38 digits). Unconstrained ``numeric`` has no fixed scale; like DuckDB's
  postgres scanner we read it as ``float64``.
- ``uuid`` (arrow.uuid) and ``json``/``jsonb`` (arrow.json) become plain strings, as the DuckDB
  connector reports them, so every engine's uuid and json columns look alike to the merge.
- ``timestamptz`` is ``timestamp[us, tz=UTC]``; ``interval`` is ``month_day_nano_interval``.

Types outside the mapping (``inet``, ``money``, ``timetz``, geometric types, ranges...) are
refused with a clear error naming the column rather than passed on as undecodable bytes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["UnknownPgType", "convert_batch", "pg_arrow_type", "result_schema"]

_SIMPLE: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "citext": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "interval": pa.month_day_nano_interval(),
    "uuid": pa.string(),
    "json": pa.string(),
    "jsonb": pa.string(),
}
_METADATA_TYPE = b"POSTGRESQL:type"
_METADATA_TYPMOD = b"POSTGRESQL:typmod"


class UnknownPgType(Exception):
    """A column whose PostgreSQL type has no Arrow mapping; ``args[0]`` is the type's name."""


def pg_arrow_type(typname: str, typmod: int = -1, element: str | None = None, *,
                  is_enum: bool = False) -> pa.DataType:
    """The Arrow type of a PostgreSQL type (``typname`` as in ``pg_type``; arrays as ``_int4``)."""
    if element is not None or typname.startswith("_"):
        inner = element or typname[1:]
        return pa.list_(pg_arrow_type(inner, typmod))
    if is_enum:
        return pa.string()
    if typname == "numeric":
        return _numeric(typmod)
    simple = _SIMPLE.get(typname)
    if simple is None:
        raise UnknownPgType(typname)
    return simple


def _numeric(typmod: int) -> pa.DataType:
    if typmod < 4:
        return pa.float64()
    precision = ((typmod - 4) >> 16) & 0xFFFF
    scale = (typmod - 4) & 0x7FF
    if scale & 0x400:  # PostgreSQL 15 stores negative scales in 11-bit two's complement
        scale -= 0x800
    if scale < 0 or scale > precision:
        return pa.float64()  # numeric(3, 5) or numeric(3, -2): no Arrow decimal holds these as declared
    if precision <= 38:
        return pa.decimal128(precision, scale)
    if precision <= 76:
        return pa.decimal256(precision, scale)
    return pa.float64()


def _field_target(field: pa.Field) -> pa.DataType:
    metadata = field.metadata or {}
    typname = metadata.get(_METADATA_TYPE)
    if typname is None:
        if isinstance(field.type, pa.BaseExtensionType):
            raise UnknownPgType(str(field.type))
        return field.type
    typmod = int(metadata.get(_METADATA_TYPMOD, b"-1"))
    try:
        return pg_arrow_type(typname.decode(), typmod)
    except UnknownPgType:
        # Enums and domains over text come back typed by the driver; only undecodable types fail.
        if isinstance(field.type, pa.BaseExtensionType) or pa.types.is_nested(field.type):
            raise
        return field.type


def result_schema(raw: pa.Schema) -> pa.Schema:
    """The schema a driver result has after ``convert_batch``: plain Arrow types, no metadata.

    Raises UnknownPgType naming the first column it cannot map (``args``: type, column).
    """
    fields = []
    for field in raw:
        try:
            fields.append(pa.field(field.name, _field_target(field), nullable=True))
        except UnknownPgType as error:
            raise UnknownPgType(error.args[0], field.name) from None
    return pa.schema(fields)


def convert_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` as ``schema`` (from ``result_schema``): one vectorised conversion per column."""
    columns = [_convert(column, target.type) for column, target in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _convert(array: pa.Array, target: pa.DataType) -> pa.Array:
    source = array.type
    if source == target:
        return array
    if isinstance(source, pa.BaseExtensionType):
        if source.extension_name == "arrow.uuid":
            return _uuid_text(array.storage)
        return _convert(array.storage, target)
    if pa.types.is_list(source) and pa.types.is_list(target):
        values = _convert(array.values, target.value_type)
        return pa.ListArray.from_arrays(array.offsets, values, type=target, mask=array.is_null())
    return array.cast(target)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# positions of the 32 hex digits inside the 36-character canonical form
_DIGIT_POSITIONS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def _uuid_text(storage: pa.Array) -> pa.Array:
    """16-byte UUIDs as canonical lower-case text, built with numpy over the whole column."""
    count = len(storage)
    raw = np.frombuffer(storage.buffers()[1], dtype=np.uint8, count=(storage.offset + count) * 16,
                        offset=0)[storage.offset * 16:].reshape(count, 16)
    digits = np.empty((count, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 0x0F]
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    text[:, _DIGIT_POSITIONS] = digits
    offsets = np.arange(0, 36 * (count + 1), 36, dtype=np.int32)
    validity = storage.buffers()[0]
    if validity is not None and storage.offset:
        validity = pa.array(storage.is_valid()).buffers()[1]
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(text.tobytes())]
    return pa.Array.from_buffers(pa.string(), count, buffers, null_count=storage.null_count)
