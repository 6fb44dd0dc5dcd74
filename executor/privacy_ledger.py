"""The privacy budget ledger: what each principal has spent of each product's budget, per period.

One row per (principal, product, period), in the mesh's state store (``executor.state_store``),
so it survives restarts and replicas sharing a PostgreSQL store share it. Amounts are kept as
whole nano-epsilons: twenty spends of 0.05 must add up to exactly 1.0, which floating point does
not promise.

``reserve`` spends before the engine runs, in one transaction that reads the row with a write
lock and refuses (PrivacyBudgetExhausted, nothing written) if the spend would pass the budget:
concurrent queries on any number of replicas can never spend more than the budget. ``refund``
gives a reservation back when the query fails before anything was released. A process that dies
between the two keeps the spend: losing budget is safe, releasing an answer unpaid is not.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flightmesh.mesh import PrivacyBudgetExhausted

from .state_store import StateStore

__all__ = ["BudgetState", "PrivacyLedger", "Reservation", "period_of"]

NANO = 1_000_000_000

_DDL = (
    "CREATE TABLE IF NOT EXISTS flightmesh_privacy_ledger ("
    " principal TEXT NOT NULL, product TEXT NOT NULL, period TEXT NOT NULL,"
    " spent_nano BIGINT NOT NULL, updated_at TEXT NOT NULL,"
    " PRIMARY KEY (principal, product, period))",
)


def to_nano(epsilon: float) -> int:
    return round(epsilon * NANO)


def period_of(per: str, now: datetime) -> tuple[str, datetime | None]:
    """The ledger key of the period containing ``now`` (UTC) and when the next one starts."""
    now = now.astimezone(UTC)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if per == "day":
        return day.strftime("%Y-%m-%d"), day + timedelta(days=1)
    if per == "week":
        monday = day - timedelta(days=day.weekday())
        year, week, _ = monday.isocalendar()
        return f"{year}-W{week:02d}", monday + timedelta(days=7)
    if per == "month":
        days = calendar.monthrange(now.year, now.month)[1]
        first = datetime(now.year, now.month, 1, tzinfo=UTC)
        return first.strftime("%Y-%m"), first + timedelta(days=days)
    return "total", None


@dataclass(frozen=True)
class BudgetState:
    budget: float
    spent: float
    period: str
    resets_at: datetime | None            # None: the budget is for all time

    @property
    def remaining(self) -> float:
        return max(0.0, self.budget - self.spent)

    def resets_text(self) -> str:
        return "never (the budget is for all time)" if self.resets_at is None else \
            self.resets_at.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Reservation:
    principal: str
    product: str
    period: str
    cost_nano: int
    after: BudgetState                     # the budget once this reservation is spent


class PrivacyLedger:
    def __init__(self, store: StateStore, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        store.ensure(_DDL)

    def state(self, principal: str, product: str, budget: float, per: str) -> BudgetState:
        period, resets = period_of(per, self.clock())
        with self.store.transaction() as tx:
            rows = tx.execute("SELECT spent_nano FROM flightmesh_privacy_ledger"
                              " WHERE principal = ? AND product = ? AND period = ?", (principal, product, period))
        spent = int(rows[0][0]) if rows else 0
        return BudgetState(budget, spent / NANO, period, resets)

    def reserve(self, principal: str, product: str, cost: float, budget: float, per: str) -> Reservation:
        """Spend ``cost`` now, or raise PrivacyBudgetExhausted (spending nothing)."""
        now = self.clock()
        period, resets = period_of(per, now)
        cost_nano, budget_nano = to_nano(cost), to_nano(budget)
        key = (principal, product, period)
        with self.store.transaction() as tx:
            tx.execute("INSERT INTO flightmesh_privacy_ledger (principal, product, period, spent_nano, updated_at)"
                       " VALUES (?, ?, ?, 0, ?) ON CONFLICT DO NOTHING", (*key, now.isoformat()))
            rows = tx.execute("SELECT spent_nano FROM flightmesh_privacy_ledger"
                              " WHERE principal = ? AND product = ? AND period = ?" + tx.for_update, key)
            spent = int(rows[0][0])
            if spent + cost_nano > budget_nano:
                state = BudgetState(budget, spent / NANO, period, resets)
                raise PrivacyBudgetExhausted(
                    f"the privacy budget of product {product} is spent for this period: the query costs "
                    f"epsilon {cost:g}, {state.remaining:g} of {budget:g} remains; it resets "
                    f"{'at ' if resets else ''}{state.resets_text()}")
            tx.execute("UPDATE flightmesh_privacy_ledger SET spent_nano = ?, updated_at = ?"
                       " WHERE principal = ? AND product = ? AND period = ?",
                       (spent + cost_nano, now.isoformat(), *key))
        return Reservation(principal, product, period, cost_nano,
                           BudgetState(budget, (spent + cost_nano) / NANO, period, resets))

    def refund(self, reservation: Reservation) -> None:
        """Give back a reservation whose query released nothing (it failed)."""
        key = (reservation.principal, reservation.product, reservation.period)
        with self.store.transaction() as tx:
            rows = tx.execute("SELECT spent_nano FROM flightmesh_privacy_ledger"
                              " WHERE principal = ? AND product = ? AND period = ?" + tx.for_update, key)
            if not rows:
                return
            spent = max(0, int(rows[0][0]) - reservation.cost_nano)
            tx.execute("UPDATE flightmesh_privacy_ledger SET spent_nano = ?, updated_at = ?"
                       " WHERE principal = ? AND product = ? AND period = ?",
                       (spent, self.clock().isoformat(), *key))
