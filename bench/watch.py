"""Watching a burst of requests from the database, not through the api being measured.

With a list call every 50 ms the single api process spent a good part of a core answering
the watcher while it was being measured (a page of 100 requests, each with its challenges,
twenty times a second). The floor client knows at once when its certificates are issued;
here one indexed query every 50 ms reads the burst's statuses from the stack's own database
(Postgres, or the all-in-one's SQLite file opened read-only), beside the api.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]

from tests.e2e.stack import Stack

_QUERY = "SELECT id, status FROM certificate_requests WHERE status <> 'issued'"


class Watcher:
    """Which requests are not issued yet (and their status), one query per look."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pg: Any = None
        self._sqlite: sqlite3.Connection | None = None

    def open(self) -> None:
        if self._stack.postgres is not None:
            self._loop = asyncio.new_event_loop()
            self._pg = self._loop.run_until_complete(asyncpg.connect(self._stack.postgres.dsn))
        else:
            path = Path(self._stack.env["CERTKEEPER_DATA_DIR"]) / "certkeeper.db"
            self._sqlite = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.run_until_complete(self._pg.close())
            self._loop.close()
        if self._sqlite is not None:
            self._sqlite.close()

    def unfinished(self, ids: set[str]) -> dict[str, str]:
        """Status of each request of ``ids`` that is not issued."""
        if self._loop is not None:
            rows = self._loop.run_until_complete(self._pg.fetch(_QUERY))
        elif self._sqlite is not None:
            rows = self._sqlite.execute(_QUERY).fetchall()
        else:
            raise RuntimeError("the watcher is not open")
        found = {str(UUID(str(row_id))): status for row_id, status in rows}
        return {request_id: found[request_id] for request_id in ids if request_id in found}


@contextmanager
def watching(stack: Stack) -> Iterator[Watcher]:
    watcher = Watcher(stack)
    watcher.open()
    try:
        yield watcher
    finally:
        watcher.close()
