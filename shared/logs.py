"""Logs: one JSON object a line (time, level, logger, event, its context fields, and the
HTTP request's id while one is served), or the same as readable text when stderr is a
terminal. Secrets are never passed to a log call; nothing here could tell them apart."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

# The id of the HTTP request being served (``X-Request-ID``), set by the api's middleware.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
        "level": record.levelname,
        "logger": record.name,
        "event": record.getMessage(),
    }
    request_id = request_id_var.get()
    if request_id is not None:
        body["http_request_id"] = request_id
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            body[key] = value
    return body


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = _fields(record)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: ``time LEVEL event key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        body = _fields(record)
        head = f"{body.pop('time')} {body.pop('level'):<7} {body.pop('event')}"
        body.pop("logger")
        line = " ".join([head, *(f"{key}={value}" for key, value in body.items())])
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class ArqJobLines(logging.Filter):
    """Drops arq's per-job INFO lines (``"%6.2fs → job(...)"``, ``"... ← ... ●"``, retries,
    aborts) and its periodic health records; warnings and errors always pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        template = str(record.msg)
        return not template.startswith(("%6.2fs", "recording health"))


def configure_logging(level: str, *, log_sql: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if sys.stderr.isatty() else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # acme logs whole JWS payloads and responses at DEBUG: keep it quieter than ours.
    logging.getLogger("acme").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # arq logs every job start and end at INFO: our jobs log what they did instead. Its
    # start-up and shutdown lines stay.
    arq_worker = logging.getLogger("arq.worker")
    arq_worker.filters[:] = [] if level == "DEBUG" else [ArqJobLines()]
    # SQL is logged only when asked for on its own (the engines hide parameters even then):
    # a root logger at DEBUG would otherwise switch SQLAlchemy's statement log on, and
    # aiosqlite logs every call with its arguments (token hashes, sealed keys) at DEBUG.
    sql_level = logging.INFO if log_sql else logging.WARNING
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "sqlalchemy.orm"):
        logging.getLogger(name).setLevel(sql_level)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
