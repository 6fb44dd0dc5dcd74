"""The budget around a privacy-mode run: charge the ledger first, refund if nothing was released.

``PrivacyGate.run(bound, execute)`` is how the runtime executes every plan. Plans without a
privacy release (and EXPLAIN, which releases nothing) pass straight through. For a release:

1. the ledger reserves the query's epsilon for (principal, product, current period), or refuses
   with PrivacyBudgetExhausted saying what remains and when it resets; nothing ran yet;
2. the executor runs the exact aggregate and adds the noise (it reads the few cells whole, so an
   engine failure surfaces here, before anything reaches the client);
3. a failure refunds the reservation — unless whether the query fails depends on the rows: a
   value error (``WHERE CAST(x AS INTEGER) = 1`` fails iff some row holds a non-number) or a
   timeout tells something about the data, so it is a release and stays paid (its message says
   so), else failing queries would be a free, noiseless way to ask yes/no questions;
4. a success adds the remaining budget to the result's schema metadata
   (``flightmesh.privacy.remaining``, ``...resets_at``).

The store is opened on the first privacy query, so meshes without a privacy mode never create it.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from flightmesh.mesh import AccessDenied, DataError, ProductSpec, QueryTimeout
from flightmesh.mesh.descriptor_privacy import StateSpec

from .bound import BoundPlan
from .privacy_ledger import BudgetState, PrivacyLedger, Reservation
from .privacy_release import REMAINING_KEY, RESETS_KEY
from .state_store import open_state_store

__all__ = ["PrivacyGate"]

log = logging.getLogger(__name__)


class PrivacyGate:
    def __init__(self, state: StateSpec) -> None:
        self.spec = state
        self._ledger: PrivacyLedger | None = None
        self._lock = threading.Lock()

    @property
    def ledger(self) -> PrivacyLedger:
        with self._lock:
            if self._ledger is None:
                spec = self.spec
                if spec.kind == "sqlite" and spec.path is None:
                    # A mesh built in code, with no descriptor to sit beside: a private file, and said so.
                    path = Path(tempfile.mkdtemp(prefix="flightmesh-state-")) / "flightmesh.sqlite"
                    log.warning("no state path for this mesh: the privacy ledger is kept in %s", path)
                    spec = StateSpec(kind="sqlite", path=path)
                self._ledger = PrivacyLedger(open_state_store(spec))
            return self._ledger

    def run(self, bound: BoundPlan, execute: Callable[[], pa.RecordBatchReader]) -> pa.RecordBatchReader:
        release = bound.plan.privacy
        if release is None or bound.plan.explain is not None:
            return execute()
        if bound.principal is None:  # a plan restored without its principal cannot be charged to anyone
            raise AccessDenied("a privacy-mode query must be run by the principal it was planned for")
        ledger = self.ledger
        reservation = ledger.reserve(bound.principal.name, release.product, release.epsilon, release.budget,
                                     release.per)
        try:
            reader = execute()
        except DataError as error:
            raise DataError(error.scope, error.reason + _charged(reservation), product=error.product,
                            internal=error.internal) from None
        except QueryTimeout as error:
            raise QueryTimeout(error.message + _charged(reservation)) from None
        except BaseException:
            ledger.refund(reservation)
            raise
        return _with_remaining(reader, reservation.after)

    def lookup(self, principal: str, product: ProductSpec) -> tuple[float, str, datetime | None]:
        """(spent, period, resets at) of ``principal`` on ``product`` now: mesh.privacy_budget's rows."""
        privacy = product.privacy
        assert privacy is not None
        state = self.ledger.state(principal, product.name, privacy.budget_epsilon, privacy.per)
        return state.spent, state.period, state.resets_at

    def close(self) -> None:
        with self._lock:
            if self._ledger is not None:
                self._ledger.store.close()


def _charged(reservation: Reservation) -> str:
    after = reservation.after
    return (f" (privacy mode: this failure depends on the data, so its epsilon {reservation.cost_nano / 1e9:g} "
            f"is spent; {after.remaining:g} of {after.budget:g} remains)")


def _with_remaining(reader: pa.RecordBatchReader, after: BudgetState) -> pa.RecordBatchReader:
    metadata = dict(reader.schema.metadata or {})
    metadata[REMAINING_KEY] = f"{after.remaining:g}".encode()
    metadata[RESETS_KEY] = (after.resets_at.isoformat() if after.resets_at is not None else "never").encode()
    schema = reader.schema.with_metadata(metadata)
    table = reader.read_all()
    return pa.Table.from_batches(table.to_batches(), schema=schema).to_reader()
