"""The server's log: each request (method, path, status, duration, tenant; never the token or the
query string) and each scheduling decision at info level, as text or as JSON lines for a log
shipper (`cpnet serve --log-format json`).

A JSON line is one object: `ts` (ISO 8601, UTC), `level`, `logger`, `msg`, and the record's fields
(`method`, `path`, `status`, `duration_ms`, `tenant` for a request; `policy`, `placed`,
`preempted`, `infeasible` for a decision). API worker processes log the same way: the leader passes
the format and level in $CPNET_LOG.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

LOG_ENV = "CPNET_LOG"  # "FORMAT:LEVEL", for the API workers
FORMATS = ("text", "json")
REQUEST_LOGGER = "cpnet.api.request"
# Attributes every LogRecord has; the rest came in `extra=` and are the record's fields.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonLines(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(fields_of(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class Text(logging.Formatter):
    """`time level logger: message key=value ...`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in fields_of(record).items())
        line = super().format(record)
        return f"{line} {extra}" if extra else line


def configure(fmt: str = "text", level: str = "info") -> None:
    """Send cpnet's loggers to stderr in `fmt` at `level` (and tell the worker processes)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else Text())
    root = logging.getLogger("cpnet")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    os.environ[LOG_ENV] = f"{fmt}:{level}"


def configure_from_env() -> None:
    """In an API worker: the leader's format and level, if it set them."""
    value = os.environ.get(LOG_ENV)
    if value:
        fmt, _, level = value.partition(":")
        configure(fmt, level or "info")


_requests = logging.getLogger(REQUEST_LOGGER)


def log_request(method: str, path: str, status: int, started: float, tenant: str | None) -> None:
    """One answered request; `started` is its time.perf_counter() at arrival."""
    if _requests.isEnabledFor(logging.INFO):
        ms = round((time.perf_counter() - started) * 1000.0, 3)
        _requests.info("%s %s %d", method, path, status, extra={"method": method, "path": path, "status": status, "duration_ms": ms, "tenant": tenant})
