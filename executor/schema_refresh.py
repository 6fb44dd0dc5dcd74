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
    def __init__(self, refresh_all: Callable[[], list[str]], interval: float) -> None:
        self._refresh_all = refresh_all
        self.interval = interval
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="flightmesh-schema-refresh", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                changed = self._refresh_all()
            except Exception:
                log.exception("the periodic schema refresh failed")
                continue
            if changed:
                log.info("schema refresh: %s changed", ", ".join(changed))

    def stop(self) -> None:
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
