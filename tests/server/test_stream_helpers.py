"""The small pieces between the runtime and the wire: schema conformance, slicing, parameter rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from flightmesh.mesh import ParameterError
from flightmesh.server.statements import common_schema, parameter_rows
from flightmesh.server.streams import MAX_BATCH_BYTES, conform, split_large


def test_conform_relabels_nullability_and_metadata_without_copying() -> None:
    batch = pa.record_batch([pa.array([1, 2])], schema=pa.schema([pa.field("a", pa.int64(), nullable=False)]))
    announced = pa.schema([pa.field("a", pa.int64(), nullable=True)], metadata={"k": "v"})
    out = conform(batch, announced)
    assert out.schema.equals(announced, check_metadata=True)
    assert out.column(0).buffers()[1].address == batch.column(0).buffers()[1].address


def test_conform_casts_a_differing_type() -> None:
    batch = pa.record_batch([pa.array([1, 2], pa.int32())], names=["a"])
    out = conform(batch, pa.schema([pa.field("a", pa.int64())]))
    assert out.column(0).type == pa.int64() and out.column(0).to_pylist() == [1, 2]


def test_split_large_slices_big_batches_only() -> None:
    small = pa.record_batch([pa.array([1, 2, 3])], names=["a"])
    assert list(split_large(small)) == [small]
    rows = 3 * MAX_BATCH_BYTES // 8
    big = pa.record_batch([pa.array(np.arange(rows, dtype=np.int64))], names=["a"])
    pieces = list(split_large(big))
    assert len(pieces) >= 3
    assert all(piece.nbytes <= MAX_BATCH_BYTES for piece in pieces)
    assert pa.Table.from_batches(pieces).column(0).equals(pa.chunked_array([big.column(0)]))


def test_parameter_rows_by_position_with_unions_unwrapped() -> None:
    expected = pa.schema([pa.field("0", pa.null()), pa.field("1", pa.null())])
    union = pa.UnionArray.from_dense(pa.array([0, 1], pa.int8()), pa.array([0, 0], pa.int32()),
                                     [pa.array([7]), pa.array(["x"])], ["int64", "string"])
    table = pa.table({"param_0": union, "param_1": pa.array([None, 2.5])})
    assert parameter_rows(table, expected) == [(7, None), ("x", 2.5)]
    assert parameter_rows(pa.table({}), expected) == [()]  # ADBC's "no parameters"
    with pytest.raises(ParameterError, match="takes 2 parameter"):
        parameter_rows(pa.table({"0": [1]}), expected)


def test_common_schema() -> None:
    strict = pa.schema([pa.field("a", pa.int64(), nullable=False)])
    loose = pa.schema([pa.field("a", pa.int64(), nullable=True)])
    assert common_schema([strict, strict]).equals(strict)
    assert common_schema([strict, loose]).field("a").nullable
    with pytest.raises(ParameterError):
        common_schema([strict, pa.schema([pa.field("a", pa.utf8())])])
