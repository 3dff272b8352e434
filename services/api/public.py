"""The public listener (``CERTKEEPER_RESPONDER_PORT``): the HTTP-01 responder and ``/healthz``,
nothing else, so the port a CA must reach exposes no admin route. No OpenAPI, no docs: a
path that is not a challenge answers 404 like any unknown token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from services.api import problems
from services.api.deps import AppResources, ChallengeSource
from services.api.observe import Observe
from services.api.responder import ChallengeResponder
from services.api.routes import health
from shared.config import Settings
from shared.db import create_engine

ChallengeSourceFactory = Callable[
    [], AbstractAsyncContextManager[ChallengeSource | AppResources]
]


def create_public_app(resources: ChallengeSourceFactory) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with resources() as opened:
            app.state.resources = opened
            yield

    app = FastAPI(
        title="Certkeeper HTTP-01 responder", lifespan=lifespan,
        openapi_url=None, docs_url=None, redoc_url=None,
    )
    problems.install(app)
    app.add_middleware(ChallengeResponder)
    app.add_middleware(Observe)
    app.include_router(health.liveness)
    return app


def responder_resources(settings: Settings) -> ChallengeSourceFactory:
    """``certkeeper responder``: the database alone (no queue, no encryption keys)."""

    @asynccontextmanager
    async def opened() -> AsyncIterator[ChallengeSource]:
        engine = create_engine(settings)
        try:
            yield ChallengeSource(engine)
        finally:
            await engine.dispose()

    return opened
