"""Garbage collection for a long-running server: the opened mesh frozen out of full collections.

Why: planning allocates many small container objects (sqlglot trees), so CPython's collector runs
often, and each full collection walks every tracked object of the process, the opened mesh
included (catalog, connectors, sqlglot's and pyarrow's module state: ~155,000 objects for the
TPC-H mesh). Measured in one process, TPC-H SF 0.1 mesh open and server listening, after planning
all 22 queries (load average ~4): a full collection took 91 ms (median of 5; max 106) unfrozen,
2.5 ms (max 3.0) after ``gc.freeze()``; RSS 296 -> 297 MB. Those collections were the single
worst plans (``benchmarks/server_planning.py`` charges each GC pause to the variant that ran:
gen-2 pauses of 80-170 ms). A raised generation-0 threshold (10,000 instead of 700) was measured
too and not adopted: ~14x fewer young collections but ~3x their total time (1,571 against 443 ms
over the same 10 rounds), medians no better.

Freezing must not leak: frozen objects are never examined by the collector, so garbage in
reference cycles among them would stay forever (the catalog has cycles). Hence a collection
right before every freeze (only live state is frozen), and ``settle_long_lived`` again after
anything that replaces the long-lived state (a reload, a catalog swap): unfreeze, collect what was
replaced, freeze what is current. Objects freed by reference counting are freed frozen or not.

Only the ``serve`` command calls this: a library user's process (or a test run opening many
meshes) keeps CPython's defaults.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["settle_long_lived"]

_lock = threading.Lock()


def settle_long_lived() -> None:
    """Collect, then freeze every surviving object (the permanent generation full collections skip)."""
    with _lock:
        gc.unfreeze()   # what an earlier settle froze is examined again: replaced state is collected now
        gc.collect()
        gc.freeze()
