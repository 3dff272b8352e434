"""``/metrics`` for Prometheus: what this process counted, plus what the database knows
(``shared.metrics_state``), read at each scrape. A database that cannot be read leaves
``certkeeper_database_up 0`` and the process's own metrics: the scrape itself never fails."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from services.api.deps import Public, ResourcesDep
from shared.db_errors import DATABASE_ERRORS
from shared.metrics_state import StateCollector, StateSnapshot, read_state

router = APIRouter(tags=["health"], dependencies=[Public])  # scraped without a token
logger = logging.getLogger(__name__)

STATE_TIMEOUT_SECONDS = 5.0
_STATE_ERRORS: tuple[type[Exception], ...] = (*DATABASE_ERRORS, TimeoutError)


@router.get("/metrics", include_in_schema=False)
async def metrics(resources: ResourcesDep) -> Response:
    snapshot: StateSnapshot | None = None
    try:
        async with asyncio.timeout(STATE_TIMEOUT_SECONDS), resources.runtime.sessions() as s:
            snapshot = await read_state(s, datetime.now(UTC))
    except _STATE_ERRORS as exc:
        logger.warning("metrics.state_unavailable", extra={"error": type(exc).__name__})
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector(snapshot))
    body = generate_latest(REGISTRY) + generate_latest(state)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
