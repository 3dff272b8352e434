"""JSON logs: one object a line, with the event name and its context fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def configure_logging(level: str, *, log_sql: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # acme logs whole JWS payloads and responses at DEBUG: keep it quieter than ours.
    logging.getLogger("acme").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # SQL is logged only when asked for on its own (the engines hide parameters even then):
    # a root logger at DEBUG would otherwise switch SQLAlchemy's statement log on, and
    # aiosqlite logs every call with its arguments (token hashes, sealed keys) at DEBUG.
    sql_level = logging.INFO if log_sql else logging.WARNING
    for name in ("sqlalchemy.engine", "sqlalchemy.pool", "sqlalchemy.orm"):
        logging.getLogger(name).setLevel(sql_level)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
