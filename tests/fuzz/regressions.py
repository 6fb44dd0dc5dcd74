"""Shrunk differential-fuzz failures, kept as regression cases (run by test_regressions.py).

Each case is the minimal query the shrinker (shrink.py) reduced a failing random query to,
with its class (what kind of bug, on which engine) and whether it was still open at the last
run. ``open=True`` cases are strict xfails: when a fix lands they pass, the test says so, and
the case is closed here (``open=False``) and its class dropped from ``generator.KNOWN_OPEN``.
The findings behind them (what the mesh returned, the oracle's answer, the fragment sent) are
in the project's issue 10 note; ``benchmarks/differential_fuzz.py`` finds and shrinks new ones.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REGRESSIONS", "Regression"]


@dataclass(frozen=True)
class Regression:
    id: str
    sql: str
    klass: str        # e.g. "collation/MariaDB", "function semantics/SQLite", "internal error"
    open: bool = False


REGRESSIONS: tuple[Regression, ...] = (
)
