"""Releasing a privacy-mode result: the exact bounded aggregate in, the noisy answer out.

The engine computed the exact aggregate over bounded, clamped rows (``planner/rules/privacy.py``);
here, in the server, it becomes what the principal may see:

1. every declared public key appears: the grid of declared values, left-joined with the exact
   groups (a group the data has but the descriptor does not declare is dropped, an empty one is 0);
2. each cell of each mechanism gets Laplace noise from OpenDP's samplers (``make_laplace``: the
   discrete Laplace for counts, the continuous one for sums), never a sampler of our own;
3. post-processing only from then on: AVG = noisy sum / noisy count, kept inside its bounds
   (NULL where the noisy count is not positive), then ORDER BY and LIMIT over the noisy values.

The released schema carries what was spent: schema metadata ``flightmesh.privacy.epsilon``,
``...budget``, and per column ``flightmesh.privacy.noise_scale``; the runtime adds the remaining
budget once the ledger has charged the query.

Rows here are released cells (the product of the declared key lists), never the product's rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from flightmesh.governance.privacy import Mechanism, PrivacyRelease

__all__ = ["laplace_sampler", "release", "released_schema"]

EPSILON_KEY = b"flightmesh.privacy.epsilon"
BUDGET_KEY = b"flightmesh.privacy.budget"
SCALE_KEY = b"flightmesh.privacy.noise_scale"
REMAINING_KEY = b"flightmesh.privacy.remaining"
RESETS_KEY = b"flightmesh.privacy.resets_at"


@cache
def laplace_sampler(kind: str, scale: float) -> Callable[[Any], Any]:
    """OpenDP's Laplace measurement for one value: integers for counts, floats for sums."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    if kind == "count":
        return dp.m.make_laplace(dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=scale)
    return dp.m.make_laplace(dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float),
                             scale=scale)


def released_schema(plan: PrivacyRelease, exact: pa.Schema) -> pa.Schema:
    fields = []
    for column in plan.columns:
        if column.kind == "key":
            data_type = exact.field(column.sources[0]).type
        elif column.kind == "count":
            data_type = pa.int64()
        else:
            data_type = pa.float64()
        metadata = {} if column.kind == "key" else {SCALE_KEY: plan.scale_of(column).encode()}
        fields.append(pa.field(column.name, data_type, nullable=True, metadata=metadata or None))
    return pa.schema(fields, metadata={EPSILON_KEY: f"{plan.epsilon:g}".encode(),
                                       BUDGET_KEY: f"{plan.budget:g} per {plan.per}".encode()})


def release(plan: PrivacyRelease, exact: pa.Table, schema: pa.Schema,
            sampler: Callable[[Mechanism], Callable[[Any], Any]] | None = None) -> pa.Table:
    """The noisy result of ``exact`` (the engine's bounded aggregate) as ``schema`` says."""
    sample = sampler or (lambda mechanism: laplace_sampler(mechanism.kind, mechanism.scale))
    cells = _complete(plan, exact)
    noisy: dict[str, list[Any]] = {}
    for mechanism in plan.mechanisms:
        measure = sample(mechanism)
        values = cells.column(mechanism.column).to_pylist()
        if mechanism.kind == "count":
            noisy[mechanism.column] = [int(measure(int(v or 0))) for v in values]
        else:
            noisy[mechanism.column] = [float(measure(float(v or 0.0))) for v in values]
    arrays = []
    for column, field in zip(plan.columns, schema, strict=True):
        if column.kind == "key":
            arrays.append(cells.column(column.sources[0]).cast(field.type))
        elif column.kind in ("count", "sum"):
            arrays.append(pa.array(noisy[column.sources[0]], type=field.type))
        else:
            assert column.bounds is not None
            low, high = column.bounds
            means = [None if count <= 0 else min(high, max(low, total / count))
                     for total, count in zip(noisy[column.sources[0]], noisy[column.sources[1]], strict=True)]
            arrays.append(pa.array(means, type=field.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    if plan.order:
        positions = pa.array(range(table.num_rows))
        keyed = table.rename_columns([f"c{i}" for i in range(table.num_columns)]).append_column("__pos", positions)
        order = [(f"c{index}", "descending" if descending else "ascending") for index, descending in plan.order]
        indices = pc.sort_indices(keyed, sort_keys=[*order, ("__pos", "ascending")])
        table = table.take(indices)
    if plan.limit is not None:
        table = table.slice(0, plan.limit)
    return table


def _complete(plan: PrivacyRelease, exact: pa.Table) -> pa.Table:
    """One row per combination of declared key values (just one row without GROUP BY)."""
    keys = [column for column in plan.columns if column.kind == "key"]
    mechanism_columns = [mechanism.column for mechanism in plan.mechanisms]
    if not keys:
        if exact.num_rows == 1:
            return exact.select(mechanism_columns)
        return pa.table({name: pa.array([0], exact.schema.field(name).type) for name in mechanism_columns})
    # A key may be selected twice; the grid has one column per distinct exact key column.
    sources: list[str] = []
    values: list[tuple[Any, ...]] = []
    for column in keys:
        if column.sources[0] not in sources:
            sources.append(column.sources[0])
            values.append(column.values)
    grid = list(itertools.product(*values))
    arrays = {name: pa.array([row[i] for row in grid]).cast(exact.schema.field(name).type)
              for i, name in enumerate(sources)}
    arrays["__fm_cell"] = pa.array(range(len(grid)), pa.int64())
    cells = pa.table(arrays)
    joined = cells.join(exact.select([*sources, *mechanism_columns]), keys=sources, join_type="left outer")
    return joined.sort_by("__fm_cell")
