"""The FastAPI application. Its resources (database, queue) come from a factory, so the same
app serves the ``api`` process (Redis queue) and ``all-in-one`` (in-process queue)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from services.api import problems
from services.api.deps import AppResources
from services.api.middleware import RequestGate
from services.api.routes import (
    acme_accounts,
    agent_api,
    agents,
    certificate_requests,
    certificates,
    deployment_targets,
    dns_providers,
    domain_mappings,
    health,
    responder,
)
from services.api.schemas.common import ProblemBody
from shared.config import Settings
from shared.errors import ConfigError
from shared.queue import ArqQueue
from shared.runtime import build_runtime

ResourcesFactory = Callable[[], AbstractAsyncContextManager[AppResources]]

OPENAPI_TAGS = [
    {"name": "acme-accounts", "description": "Accounts registered with ACME CAs (admin)"},
    {"name": "certificate-requests", "description": "Ask for certificates and follow them"},
    {"name": "certificates", "description": "The certificate repository"},
    {"name": "dns-providers", "description": "DNS providers for automatic dns-01 (admin)"},
    {"name": "domain-mappings", "description": "Which DNS provider serves which domain (admin)"},
    {"name": "agents", "description": "Agents on end servers (admin)"},
    {"name": "agent", "description": "What agents call, with their own credential"},
    {"name": "deployment-targets",
     "description": "Where certificates are deployed (admin, operator)"},
    {"name": "health", "description": "Liveness and readiness"},
]


def create_app(resources: ResourcesFactory) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with resources() as opened:
            app.state.resources = opened
            try:
                yield
            finally:
                await opened.agent_waiters.aclose()

    app = FastAPI(
        title="Certkeeper",
        version="1.0.0",
        description="Certificate life-cycle service: ACME issuance, challenge solving, "
        "repository. Errors are RFC 9457 problem documents with a stable `type`.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(RequestGate)
    for router in (acme_accounts.router, certificate_requests.router, certificates.router,
                   dns_providers.router, domain_mappings.router, health.router,
                   responder.router, agents.router, agent_api.router,
                   deployment_targets.router):
        app.include_router(router)
    _register_problem_schema(app)
    return app


def _register_problem_schema(app: FastAPI) -> None:
    """Make ``ProblemBody`` a named component even where only referenced by media type."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("ProblemBody", ProblemBody.model_json_schema())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def api_resources(settings: Settings) -> ResourcesFactory:
    """The ``api`` process: Postgres or SQLite, and arq on Redis for the workers."""

    @asynccontextmanager
    async def opened() -> AsyncIterator[AppResources]:
        if settings.redis_url is None:
            raise ConfigError(
                "CERTKEEPER_REDIS_URL is required for `api`; `all-in-one` runs without Redis"
            )
        runtime = build_runtime(settings)
        queue = ArqQueue.lazy(settings.redis_url)
        try:
            yield AppResources(runtime=runtime, queue=queue)
        finally:
            await queue.aclose()
            await runtime.aclose()

    return opened
