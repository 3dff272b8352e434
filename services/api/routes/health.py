from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from services.api.deps import Public, ResourcesDep
from services.api.problems import problem_response
from services.api.schemas.common import problems
from shared.db_errors import RETRY_AFTER_SECONDS
from shared.errors import PROBLEM_BASE

router = APIRouter(tags=["health"], dependencies=[Public])
liveness = APIRouter(tags=["health"], dependencies=[Public])  # also on the public responder
logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 3.0


@liveness.get("/healthz", operation_id="getHealth")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz", operation_id="getReadiness", response_model=None,
    responses=problems(503, gated=False),
)
async def readyz(resources: ResourcesDep) -> dict[str, str] | JSONResponse:
    """The database and the queue answer."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), resources.runtime.sessions() as s:
            await s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = type(exc).__name__
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await resources.queue.ping()
        checks["queue"] = "ok"
    except Exception as exc:
        checks["queue"] = type(exc).__name__
    if all(v == "ok" for v in checks.values()):
        return {"status": "ok", **checks}
    logger.warning("api.not_ready", extra=checks)
    return problem_response(
        {"type": PROBLEM_BASE + "not-ready", "title": "Not ready", "status": 503,
         "detail": ", ".join(f"{k}: {v}" for k, v in checks.items()), "checks": checks},
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
