"""Did a partitioned read's second range begin while the first range's statement ran?

Wraps ``cls.execute`` (a connector class): the first call, once its statement has run up to
what ``execute`` runs (SQLite and MariaDB: the first batch), waits up to ``wait`` seconds for the
second call to begin and records whether it did. Ranges that ran one after the other record
False after the wait; ranges that overlap record True at once.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest


def record_overlap(monkeypatch: pytest.MonkeyPatch, cls: Any, wait: float = 10.0) -> list[bool]:
    real = cls.execute
    calls: list[int] = []
    lock = threading.Lock()
    second_started = threading.Event()
    overlapped: list[bool] = []

    def execute(self: Any, query: Any, cancel: Any) -> Any:
        with lock:
            index = len(calls)
            calls.append(index)
        if index == 1:
            second_started.set()
        result = real(self, query, cancel)
        if index == 0:
            overlapped.append(second_started.wait(wait))
        return result

    monkeypatch.setattr(cls, "execute", execute)
    return overlapped
