"""The budget around a privacy-mode run: reserve the epsilon first, give it back if nothing was released.

``PrivacyGate.run(bound, execute)`` is how the runtime executes every plan. Plans without a
privacy release (and EXPLAIN, which releases nothing) pass straight through. For a release:

1. the ledger reserves the query's epsilon for (principal, product, current period), or refuses
   with PrivacyBudgetExhausted saying what remains and when it resets; nothing ran yet. The
   reservation is a ``BudgetHold``: the server takes it at DoGet's start (``hold_all``), before the
   stream's schema leaves, so the schema can say what remains once this query is paid;
2. the executor runs the exact aggregate and adds the noise (it reads the few cells whole, so an
   engine failure, a cancel or a timeout surfaces here, before anything reaches the client);
3. a failure there gives the reservation back: nothing was released. (A failure's occurrence must
   not depend on the rows, or it would be a free, noiseless yes/no answer: the privacy rewrite
   allows only conditions that cannot fail on a value, ``planner/rules/privacy_conditions.py``.)
   Once the noisy values exist they go to the client, and the hold is spent for good: a stream
   that fails or is cancelled after that keeps its charge;
4. the result's schema metadata gets the remaining budget (``flightmesh.privacy.remaining``,
   ``...resets_at``) beside what ``privacy_release`` put there (epsilon, noise scale per column).

The store is opened on the first privacy query, so meshes without a privacy mode never create it.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from flightmesh.mesh import AccessDenied, ProductSpec
from flightmesh.mesh.descriptor_privacy import StateSpec

from .bound import BoundPlan
from .privacy_ledger import PrivacyLedger, Reservation
from .privacy_release import REMAINING_KEY, RESETS_KEY
from .state_store import open_state_store

__all__ = ["BudgetHold", "PrivacyGate", "announced", "remaining_metadata"]

log = logging.getLogger(__name__)


class BudgetHold:
    """One plan's reserved epsilon: spent once its noisy values exist, else given back (once).

    A hold that could not be taken carries its ``refusal`` (PrivacyBudgetExhausted), raised when
    the plan is run, where a refusal is audited and recorded like any failing query."""

    def __init__(self, ledger: PrivacyLedger | None, reservation: Reservation | None,
                 refusal: BaseException | None = None) -> None:
        self._ledger = ledger
        self.reservation = reservation
        self.refusal = refusal
        self._settled = reservation is None
        self._lock = threading.Lock()

    def spend(self) -> None:
        """The noisy values exist and go to the client: the reservation can no longer be given back."""
        with self._lock:
            self._settled = True

    def give_back(self) -> None:
        """Nothing was released: the reservation returns to the budget (no-op once spent or given back)."""
        with self._lock:
            if self._settled:
                return
            self._settled = True
        assert self._ledger is not None and self.reservation is not None
        self._ledger.refund(self.reservation)


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

    def hold(self, bound: BoundPlan) -> BudgetHold | None:
        """Reserve ``bound``'s epsilon now (None: it releases nothing); PrivacyBudgetExhausted if spent."""
        release = bound.plan.privacy
        if release is None or bound.plan.explain is not None:
            return None
        if bound.principal is None:  # a plan restored without its principal cannot be charged to anyone
            raise AccessDenied("a privacy-mode query must be run by the principal it was planned for")
        ledger = self.ledger
        return BudgetHold(ledger, ledger.reserve(bound.principal.name, release.product, release.epsilon,
                                                 release.budget, release.per))

    def hold_all(self, plans: Sequence[Any]) -> list[BudgetHold | None]:
        """One hold per plan of a DoGet (one per parameter row), all or none: if one is refused, the
        others are given back and every plan carries the refusal, so the stream fails before any
        release instead of answering some rows."""
        holds: list[BudgetHold | None] = []
        try:
            for plan in plans:
                holds.append(self.hold(plan) if isinstance(plan, BoundPlan) else None)
        except Exception as error:
            for taken in holds:
                if taken is not None:
                    taken.give_back()
            return [BudgetHold(None, None, refusal=error) for _ in plans]
        return holds

    def run(self, bound: BoundPlan, execute: Callable[[], pa.RecordBatchReader],
            hold: BudgetHold | None = None) -> pa.RecordBatchReader:
        if hold is None:
            hold = self.hold(bound)
            if hold is None:
                return execute()
        if hold.refusal is not None:
            raise hold.refusal
        try:
            reader = execute()   # the exact aggregate and its noise; nothing has reached the client yet
        except BaseException:
            hold.give_back()
            raise
        hold.spend()
        return _with_remaining(reader, hold)

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


def remaining_metadata(holds: Sequence[BudgetHold | None]) -> dict[bytes, bytes]:
    """What remains once every held plan is paid (the last reservation's figure); {} if none holds."""
    taken = [hold.reservation for hold in holds if hold is not None and hold.reservation is not None]
    if not taken:
        return {}
    after = taken[-1].after
    return {REMAINING_KEY: f"{after.remaining:g}".encode(),
            RESETS_KEY: (after.resets_at.isoformat() if after.resets_at is not None else "never").encode()}


def announced(schema: pa.Schema, holds: Sequence[BudgetHold | None]) -> pa.Schema:
    """The DoGet schema of plans whose ``holds`` are taken: ``schema`` plus the remaining budget."""
    added = remaining_metadata(holds)
    return schema.with_metadata({**(schema.metadata or {}), **added}) if added else schema


def _with_remaining(reader: pa.RecordBatchReader, hold: BudgetHold) -> pa.RecordBatchReader:
    schema = announced(reader.schema, [hold])
    table = reader.read_all()    # a released result: a few cells
    return pa.Table.from_batches(table.to_batches(), schema=schema).to_reader()
