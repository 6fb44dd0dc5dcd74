"""The executor: runs plans (fragments on their engines, the residual in a merge DuckDB)."""

from .execute import Executor, FragmentStats
from .runtime import MeshRuntime, Prepared

__all__ = ["Executor", "FragmentStats", "MeshRuntime", "Prepared"]
