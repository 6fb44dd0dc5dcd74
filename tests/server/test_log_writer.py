"""The server log's writer thread: lines in the order logged, all written by flush and close."""

from __future__ import annotations

import io
import json
import logging

from flightmesh.server.query_log import BackgroundHandler, JsonFormatter


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger("flightmesh.test.log_writer")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


def test_flush_returns_once_every_line_is_written_in_order() -> None:
    stream = io.StringIO()
    handler = BackgroundHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = _logger(handler)
    try:
        values = [0]
        for n in range(500):
            values[0] = n
            logger.info("line %s", values)   # a mutable argument: the line keeps what it was when logged
        handler.flush()
        messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
        assert messages == [f"line [{n}]" for n in range(500)]
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_close_writes_what_is_queued_and_stops_the_writer() -> None:
    stream = io.StringIO()
    handler = BackgroundHandler(stream)
    logger = _logger(handler)
    for n in range(200):
        logger.info("line %d", n)
    logger.removeHandler(handler)
    handler.close()
    assert stream.getvalue().splitlines() == [f"line {n}" for n in range(200)]
    assert not handler._writer.is_alive()
