"""The server log as JSON lines, and the one line written for every query.

``configure(level)`` (the ``serve`` command calls it) sends every log record to stderr as one
JSON object: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and for a query the
fields of ``query_line``::

    {"time": "2026-12-01T23:04:05.120Z", "level": "INFO", "logger": "flightmesh.query",
     "message": "query 1a2b... ok", "event": "query", "query_id": "1a2b...", "user": "alice",
     "outcome": "ok", "started": "2026-12-01T23:04:05.101Z", "elapsed_ms": 19.2, "rows": 500,
     "bytes": 4000, "products": ["crm", "sales"], "sql": "SELECT ...", "error": null}

A collector (Loki, Elasticsearch, CloudWatch) then filters on fields instead of parsing text.

Lines are formatted and written by one writer thread (``BackgroundHandler``), in the order they
were logged: a query logs three lines, and formatting and writing them on the query's own thread
was a tenth of a millisecond of every query. ``flush`` (which ``logging.shutdown`` calls at exit)
and ``close`` return once every line logged before them is written.
Errors in a query line are the messages the client got (written for the client, so they hold no
value a policy hides); unexpected errors appear by type only, their details in their own record.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import queue
import sys
import threading
from typing import IO, Any

__all__ = ["QUERY_LOG", "BackgroundHandler", "JsonFormatter", "configure", "query_line"]

QUERY_LOG = logging.getLogger("flightmesh.query")
_FIELDS = "query"  # the LogRecord attribute carrying a query line's fields


def query_line(fields: dict[str, Any]) -> None:
    """Write the line of one finished (or refused) query."""
    QUERY_LOG.info("query %s %s", fields.get("query_id") or "-", fields.get("outcome"),
                   extra={_FIELDS: {"event": "query", **fields}})


def utc_iso(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return _second_prefix(moment.replace(microsecond=0)) + f"{moment.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=2)
def _second_prefix(second: dt.datetime) -> str:
    """strftime was most of a log line's formatting; lines of the same second share their prefix."""
    return second.strftime("%Y-%m-%dT%H:%M:%S.")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"time": utc_iso(record.created), "level": record.levelname,
                                "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, _FIELDS, None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class BackgroundHandler(logging.Handler):
    """Hands records to a writer thread that formats them and writes them to ``stream``, in order."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__()
        self.stream = stream
        self._queue: queue.Queue[logging.LogRecord | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write, name="flightmesh-log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        # The message is fixed now: its arguments may change after this call returns.
        record.msg, record.args = record.getMessage(), None
        self._queue.put(record)

    def flush(self) -> None:
        if self._writer.is_alive():
            self._queue.join()

    def close(self) -> None:
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        super().close()

    def _write(self) -> None:
        while True:
            record = self._queue.get()
            try:
                if record is None:
                    return
                try:
                    self.stream.write(self.format(record) + "\n")
                    if self._queue.empty():   # one flush for a burst of lines
                        self.stream.flush()
                except Exception:
                    self.handleError(record)
            finally:
                self._queue.task_done()


def configure(level: str) -> None:
    """Every record of the process as a JSON line on stderr, from ``level`` up.

    Called again (the descriptor's level, once read), it replaces its own handler; handlers others
    installed (a host application's, pytest's) are left alone."""
    handler = BackgroundHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for previous in list(root.handlers):
        if isinstance(previous.formatter, JsonFormatter):
            root.removeHandler(previous)
            previous.close()   # its lines written first, in order
    root.addHandler(handler)
    root.setLevel(level.upper())
    # No record's caller is looked up: these lines do not show it, and walking the stack for it
    # was a third of each log call (the logging module's own switch, see its ``_srcfile``).
    logging._srcfile = None
