"""The noise of released counts and sums, over many releases through the runtime.

The exact values are the bound written by hand over the raw data: every customer but the big unit
has at most 5 rows (all kept), the big unit contributes 10 rows of EMEA/2024/500. Each release's
error (released - exact) must behave as Laplace(scale), scale being what the result's metadata
announces: at a fixed failure probability delta the error passes scale * ln(1/delta) in at most
about a fraction delta of cells, its mean absolute value is the scale, and a KS test does not
reject Laplace(scale). ``check_laplace`` is shown to fail when the noise is removed or mis-scaled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from flightmesh.executor import MeshRuntime, privacy_release
from tests.governance.privacy_mesh import BIG_UNIT, build_privacy_mesh, raw

RELEASES = 200
DELTA = 0.01
SQL = "SELECT region, year, COUNT(*) AS n, SUM(amount) AS s FROM sales.orders GROUP BY region, year"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dp_noise")
    build_privacy_mesh(folder, epsilon_per_query=1.0, budget=1e6, per="total")
    return folder


def exact_cells(folder: Path) -> dict[tuple[str, int], tuple[int, float]]:
    """(region, year) -> (bounded count, bounded clamped sum), by hand over the raw data."""
    cells: dict[tuple[str, int], tuple[int, float]] = {
        (region, year): (0, 0.0) for region in ("EMEA", "AMER", "APAC", "NORDICS") for year in (2023, 2024)}
    for region, year, count, total in raw(folder, f"""
            SELECT region, year, COUNT(*), SUM(LEAST(GREATEST(amount, 0), 1000)) FROM orders
            WHERE customer_id <> {BIG_UNIT} GROUP BY region, year"""):
        if (region, year) in cells:
            cells[(region, year)] = (count, total)
    count, total = cells[("EMEA", 2024)]
    cells[("EMEA", 2024)] = (count + 10, total + 10 * 500.0)
    return cells


def releases(folder: Path) -> tuple[list[float], list[float], float, float]:
    """Errors of counts and of sums over RELEASES queries, and the two announced scales."""
    cells = exact_cells(folder)
    count_errors: list[float] = []
    sum_errors: list[float] = []
    with MeshRuntime.open(folder / "mesh.yaml") as mesh:
        rita = mesh.authenticate("rita", "r")
        schema = None
        for _ in range(RELEASES):
            table = mesh.query(SQL, rita).read_all()
            schema = table.schema
            for row in table.to_pylist():
                count, total = cells[(row["region"], row["year"])]
                count_errors.append(row["n"] - count)
                sum_errors.append(row["s"] - total)
    assert schema is not None
    count_scale = float(schema.field("n").metadata[b"flightmesh.privacy.noise_scale"])
    sum_scale = float(schema.field("s").metadata[b"flightmesh.privacy.noise_scale"])
    return count_errors, sum_errors, count_scale, sum_scale


def check_laplace(errors: list[float], scale: float, *, discrete: bool = False) -> None:
    """Fail unless ``errors`` look like draws of Laplace(0, scale) (discrete: of integers)."""
    n = len(errors)
    threshold = scale * math.log(1 / DELTA)   # P(|X| > threshold) = DELTA for Laplace(scale)
    beyond = sum(1 for e in errors if abs(e) > threshold)
    # binomial(n, DELTA): mean n*DELTA; 2*n*DELTA is over 4 standard deviations above it here
    assert beyond <= 2 * n * DELTA, f"{beyond} of {n} errors beyond {threshold:g}"
    mean_absolute = sum(abs(e) for e in errors) / n
    assert 0.9 * scale < mean_absolute < 1.1 * scale, f"mean |error| {mean_absolute:g}, scale {scale:g}"
    if discrete:
        # Counts get the discrete Laplace (P(k) ~ exp(-|k|/scale)); KS needs a continuous law, so each
        # error is spread uniformly over [k - 1/2, k + 1/2] (seeded) and compared with that law exactly.
        jitter = np.random.default_rng(14).uniform(-0.5, 0.5, n)
        samples, cdf = np.asarray(errors, dtype=float) + jitter, _spread_discrete_laplace_cdf(scale)
    else:
        samples, cdf = np.asarray(errors, dtype=float), stats.laplace(loc=0, scale=scale).cdf
    result = stats.kstest(samples, cdf)
    assert result.pvalue > 0.001, f"KS rejects Laplace({scale:g}): D={result.statistic:.4f}, p={result.pvalue:.2g}"


def _spread_discrete_laplace_cdf(scale: float) -> Callable[[np.ndarray], np.ndarray]:
    law = stats.dlaplace(1 / scale)

    def cdf(x: np.ndarray) -> np.ndarray:
        k = np.floor(np.asarray(x) + 0.5)
        return law.cdf(k - 1) + (np.asarray(x) - (k - 0.5)) * law.pmf(k)  # type: ignore[no-any-return]

    return cdf


@pytest.fixture(scope="module")
def observed(folder: Path) -> tuple[list[float], list[float], float, float]:
    return releases(folder)


def test_the_announced_scales_follow_from_the_bounds(observed: tuple[list[float], list[float], float, float]) -> None:
    _, _, count_scale, sum_scale = observed
    # epsilon 1 over two mechanisms; sensitivity 10 rows, and 10 rows * 1000 for the sum
    assert count_scale == 10 / 0.5
    assert sum_scale == 10 * 1000 / 0.5


def test_released_counts_are_laplace_around_the_exact_bounded_count(
        observed: tuple[list[float], list[float], float, float]) -> None:
    count_errors, _, count_scale, _ = observed
    assert len(count_errors) == RELEASES * 8   # every declared (region, year) cell, every time
    check_laplace(count_errors, count_scale, discrete=True)


def test_released_sums_are_laplace_around_the_exact_bounded_sum(
        observed: tuple[list[float], list[float], float, float]) -> None:
    _, sum_errors, _, sum_scale = observed
    check_laplace(sum_errors, sum_scale)


def _sampler(factor: float) -> Callable[[str, float], Callable[[Any], Any]]:
    real = privacy_release.laplace_sampler.__wrapped__

    def sampler(kind: str, scale: float) -> Callable[[Any], Any]:
        if factor == 0:
            return lambda value: value
        return real(kind, scale * factor)  # type: ignore[no-any-return]

    return sampler


@pytest.fixture
def small_folder(tmp_path: Path) -> Iterator[Path]:
    build_privacy_mesh(tmp_path, epsilon_per_query=1.0, budget=1e6, per="total")
    yield tmp_path


@pytest.mark.parametrize("factor", [0.0, 0.5, 2.0], ids=["noise removed", "half the scale", "twice the scale"])
def test_the_check_fails_when_the_noise_is_removed_or_mis_scaled(
        small_folder: Path, monkeypatch: pytest.MonkeyPatch, factor: float) -> None:
    monkeypatch.setattr(privacy_release, "laplace_sampler", _sampler(factor))
    monkeypatch.setattr("tests.governance.test_privacy_noise.RELEASES", 40)
    count_errors, sum_errors, count_scale, sum_scale = releases(small_folder)
    with pytest.raises(AssertionError):
        check_laplace(count_errors, count_scale, discrete=True)
    with pytest.raises(AssertionError):
        check_laplace(sum_errors, sum_scale)
