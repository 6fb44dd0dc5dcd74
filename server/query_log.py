"""The server log as JSON lines, and the one line written for every query.

``configure(level)`` (the ``serve`` command calls it) sends every log record to stderr as one
JSON object: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and for a query the
fields of ``query_line``::

    {"time": "2026-12-01T23:04:05.120Z", "level": "INFO", "logger": "flightmesh.query",
     "message": "query 1a2b... ok", "event": "query", "query_id": "1a2b...", "user": "alice",
     "outcome": "ok", "started": "2026-12-01T23:04:05.101Z", "elapsed_ms": 19.2, "rows": 500,
     "bytes": 4000, "products": ["crm", "sales"], "sql": "SELECT ...", "error": null}

A collector (Loki, Elasticsearch, CloudWatch) then filters on fields instead of parsing text.
Errors in a query line are the messages the client got (written for the client, so they hold no
value a policy hides); unexpected errors appear by type only, their details in their own record.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

__all__ = ["QUERY_LOG", "JsonFormatter", "configure", "query_line"]

QUERY_LOG = logging.getLogger("flightmesh.query")
_FIELDS = "query"  # the LogRecord attribute carrying a query line's fields


def query_line(fields: dict[str, Any]) -> None:
    """Write the line of one finished (or refused) query."""
    QUERY_LOG.info("query %s %s", fields.get("query_id") or "-", fields.get("outcome"),
                   extra={_FIELDS: {"event": "query", **fields}})


def utc_iso(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


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


def configure(level: str) -> None:
    """Every record of the process as a JSON line on stderr, from ``level`` up.

    Called again (the descriptor's level, once read), it replaces its own handler; handlers others
    installed (a host application's, pytest's) are left alone."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for previous in list(root.handlers):
        if isinstance(previous.formatter, JsonFormatter):
            root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())
