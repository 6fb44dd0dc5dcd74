"""The privacy budget ledger over the state store: atomic under concurrency, durable, per period.

The end-to-end versions (queries through a runtime) are in test_privacy_budget.py; these drive
the ledger directly so the races are many and cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flightmesh.executor.privacy_ledger import PrivacyLedger, period_of
from flightmesh.executor.state_store import PostgresStateStore, SqliteStateStore
from flightmesh.mesh import PrivacyBudgetExhausted
from tests.connectors.conftest import postgres_database  # noqa: F401 - the fixture

COST, BUDGET = 0.05, 1.0   # the budget covers exactly 20 spends


def race(ledgers: list[PrivacyLedger], attempts: int) -> tuple[int, int]:
    """``attempts`` threads at once, spread over ``ledgers``; (reserved, refused)."""
    start = threading.Barrier(attempts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(index: int) -> None:
        ledger = ledgers[index % len(ledgers)]
        start.wait()
        try:
            ledger.reserve("rita", "sales", COST, BUDGET, "day")
            outcome = "ok"
        except PrivacyBudgetExhausted:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes.count("ok"), outcomes.count("refused")


def test_fifty_concurrent_spends_on_a_budget_of_twenty_sqlite(tmp_path: Path) -> None:
    ledger = PrivacyLedger(SqliteStateStore(tmp_path / "state.sqlite"))
    assert race([ledger], 50) == (20, 30)
    state = ledger.state("rita", "sales", BUDGET, "day")
    assert state.spent == pytest.approx(1.0) and state.remaining == 0.0


@pytest.mark.postgresql
def test_fifty_concurrent_spends_two_replicas_sharing_postgresql(postgres_database: str) -> None:  # noqa: F811
    first = PrivacyLedger(PostgresStateStore(postgres_database))
    second = PrivacyLedger(PostgresStateStore(postgres_database))   # another replica's store
    assert race([first, second], 50) == (20, 30)
    assert first.state("rita", "sales", BUDGET, "day").remaining == 0.0
    assert second.state("rita", "sales", BUDGET, "day").remaining == 0.0
    first.store.close()
    second.store.close()


def test_the_ledger_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "flightmesh.sqlite"
    ledger = PrivacyLedger(SqliteStateStore(path))
    for _ in range(3):
        ledger.reserve("rita", "sales", 0.25, BUDGET, "total")
    reopened = PrivacyLedger(SqliteStateStore(path))   # a new process would see the same file
    assert reopened.state("rita", "sales", BUDGET, "total").remaining == pytest.approx(0.25)
    reopened.reserve("rita", "sales", 0.25, BUDGET, "total")
    with pytest.raises(PrivacyBudgetExhausted, match="0 of 1 remains"):
        reopened.reserve("rita", "sales", 0.25, BUDGET, "total")


def test_a_refund_gives_the_spend_back_and_never_goes_below_zero(tmp_path: Path) -> None:
    ledger = PrivacyLedger(SqliteStateStore(tmp_path / "s.sqlite"))
    reservation = ledger.reserve("rita", "sales", 0.4, BUDGET, "day")
    assert reservation.after.remaining == pytest.approx(0.6)
    ledger.refund(reservation)
    assert ledger.state("rita", "sales", BUDGET, "day").spent == 0.0
    ledger.refund(reservation)   # twice: still zero, not negative
    assert ledger.state("rita", "sales", BUDGET, "day").spent == 0.0


def test_spends_are_per_principal_product_and_period(tmp_path: Path) -> None:
    now = [datetime(2026, 3, 31, 23, 0, tzinfo=UTC)]
    clock: Callable[[], datetime] = lambda: now[0]  # noqa: E731
    ledger = PrivacyLedger(SqliteStateStore(tmp_path / "s.sqlite"), clock=clock)
    ledger.reserve("rita", "sales", 1.0, BUDGET, "day")
    with pytest.raises(PrivacyBudgetExhausted, match="resets at 2026-04-01 00:00 UTC"):
        ledger.reserve("rita", "sales", 0.1, BUDGET, "day")
    ledger.reserve("sam", "sales", 1.0, BUDGET, "day")       # another principal
    ledger.reserve("rita", "crm", 1.0, BUDGET, "day")        # another product
    now[0] = datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC)       # the next day
    ledger.reserve("rita", "sales", 1.0, BUDGET, "day")


def test_periods_and_when_they_reset() -> None:
    wednesday = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    assert period_of("day", wednesday) == ("2026-12-02", datetime(2026, 12, 3, tzinfo=UTC))
    assert period_of("week", wednesday) == ("2026-W49", datetime(2026, 12, 7, tzinfo=UTC))
    assert period_of("month", wednesday) == ("2026-12", datetime(2027, 1, 1, tzinfo=UTC))
    assert period_of("total", wednesday) == ("total", None)
