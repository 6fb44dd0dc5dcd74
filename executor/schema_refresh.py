"""The periodic schema refresh: every ``settings.schema_refresh_seconds`` the products' engines are
asked again for their tables' schemas, on a daemon thread of its own.

Queries never wait for it: a refresh describes a product's tables outside any query, then swaps the
new catalog in atomically (``CatalogState.refresh``), and only when something changed (so the plan
cache is cleared only then). ``stop()`` ends the thread; the runtime calls it on close.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["SchemaRefresher"]

log = logging.getLogger(__name__)


class SchemaRefresher:
    """Also runs the data contracts' checks on their own schedule (``name``: what the log calls the job).

    ``after`` runs after each round, changed or not: the contracts' drift is checked against the
    schemas just described (``executor.contracts``)."""

    def __init__(self, refresh_all: Callable[[], list[str]], interval: float, *, name: str = "schema refresh",
                 after: Callable[[], object] | None = None) -> None:
        self._refresh_all = refresh_all
        self.interval = interval
        self.name = name
        self._after = after
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"flightmesh-{self.name.replace(' ', '-')}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                changed = self._refresh_all()
                if self._after is not None:
                    self._after()
            except Exception:
                log.exception("the periodic %s failed", self.name)
                continue
            if changed:
                log.info("%s: %s", self.name, ", ".join(changed))

    def stop(self) -> None:
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
