"""Shared by every test folder: the repository root on ``sys.path``, so a test can import the
shared helpers (``tests.oracle``) and the data builders (``benchmarks.tpch_mesh``)."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.demo_fixtures import demo, demo_oracle, demo_runtime  # noqa: E402, F401 - fixtures for every folder
