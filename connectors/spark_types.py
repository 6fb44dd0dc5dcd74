"""Arrow types of Spark Connect results, as the mesh names them.

Spark Connect ships results as Arrow (``ExecutePlanResponse.arrow_batch``), so the engine's own
types arrive exactly; only their spelling differs from what the other connectors give:

- ``STRING`` and ``BINARY`` may come as ``large_string`` / ``large_binary`` (Sail's metadata
  commands do); the mesh uses ``string`` / ``binary`` (offsets of 32 bits are enough for a batch).
- ``TIMESTAMP`` (Spark's instant, "with local time zone") is ``timestamp[us, tz=<session zone>]``;
  the mesh calls that ``timestamp[us, tz=UTC]`` as PostgreSQL's ``timestamptz`` is. The instant is
  the same whatever zone names it, so only the label changes. ``TIMESTAMP_NTZ`` is a plain
  ``timestamp[us]``.
- Everything else (``TINYINT``..``BIGINT``, ``FLOAT``/``DOUBLE``, ``DECIMAL(p,s)``, ``DATE``,
  ``BOOLEAN``, arrays, maps, structs) maps one to one and is kept as it is.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["mesh_schema", "mesh_type"]


def mesh_type(arrow: pa.DataType) -> pa.DataType:
    """The mesh's spelling of one Spark Connect result type."""
    if pa.types.is_large_string(arrow):
        return pa.string()
    if pa.types.is_large_binary(arrow):
        return pa.binary()
    if pa.types.is_timestamp(arrow) and arrow.tz is not None:
        return pa.timestamp(arrow.unit, tz="UTC")
    if pa.types.is_list(arrow) or pa.types.is_large_list(arrow):
        item = arrow.value_field
        return pa.list_(pa.field(item.name, mesh_type(item.type), nullable=item.nullable))
    if pa.types.is_struct(arrow):
        return pa.struct([pa.field(f.name, mesh_type(f.type), nullable=f.nullable) for f in arrow])
    if pa.types.is_map(arrow):
        return pa.map_(mesh_type(arrow.key_type), mesh_type(arrow.item_type))
    return arrow


def mesh_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` in the mesh's spelling, without transport metadata; nullability kept."""
    return pa.schema([pa.field(f.name, mesh_type(f.type), nullable=f.nullable) for f in schema])
