"""The FastAPI application. Its resources (database, queue) come from a factory, so the same
app serves the ``api`` process (Redis queue) and ``all-in-one`` (in-process queue)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from services.api import problems
from services.api.boundary import ResponseBoundary
from services.api.deps import AppResources
from services.api.middleware import RequestGate
from services.api.observe import Observe
from services.api.responder import ChallengeResponder
from services.api.routes import (
    acme_accounts,
    agent_api,
    agents,
    audit_events,
    certificate_requests,
    certificates,
    deployment_targets,
    dns_providers,
    domain_mappings,
    health,
    metrics,
    notification_rules,
    notifications,
    tokens,
)
from services.api.schemas.common import NAMED_SCHEMAS
from shared.config import Settings
from shared.errors import ConfigError
from shared.queue import ArqQueue
from shared.runtime import build_runtime
from shared.version import VERSION

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
    {"name": "notification-rules", "description": "Who hears about what (admin)"},
    {"name": "notifications", "description": "Every notice sent or tried"},
    {"name": "tokens", "description": "API tokens: roles, expiry, domain scope (admin)"},
    {"name": "audit-events", "description": "The hash-chained audit trail (admin)"},
]


def create_app(resources: ResourcesFactory, *, serve_challenges: bool = True) -> FastAPI:
    """The api. ``serve_challenges`` False: the HTTP-01 responder is left to the public
    listener (``CERTKEEPER_RESPONDER_PORT``, see ``services.api.public``)."""
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
        version=VERSION,
        description="Certificate life-cycle service: ACME issuance, challenge solving, "
        "repository. Errors are RFC 9457 problem documents with a stable `type`.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    problems.install(app)
    app.add_middleware(RequestGate)
    if serve_challenges:
        app.add_middleware(ChallengeResponder)  # in front of the routes and the gate
    app.add_middleware(ResponseBoundary)  # security headers and one error path
    app.add_middleware(Observe)  # added last: outermost, sees every answer, the gate's too
    # Routes are matched in this order, each failed match costing a regex per route: the
    # repository's routes, which clients call most, come first. They go on the app's own
    # router, one flat list, rather than through ``include_router``: since FastAPI 0.137 that
    # keeps each router as a node every request walks, setting and restoring scope keys at
    # every route it tries, which was a quarter of a bare ``/healthz`` (0.108 ms of CPU
    # against 0.080). A route carries its router's prefix, tags and dependencies from the
    # moment it is declared, and the routers set nothing else that inclusion would add.
    for router in (certificates.router, certificate_requests.router, acme_accounts.router,
                   dns_providers.router, domain_mappings.router, health.liveness,
                   health.router, metrics.router, notification_rules.router,
                   notifications.router, tokens.router, audit_events.router, agents.router,
                   agent_api.router, deployment_targets.router):
        app.router.routes.extend(router.routes)
    _register_named_schemas(app)
    return app


def _register_named_schemas(app: FastAPI) -> None:
    """Add the schemas only referenced by ``$ref`` (``ProblemBody``, ``KeySize``, ``Curve``)."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = original()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, named in NAMED_SCHEMAS.items():
                components.setdefault(name, named)
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
