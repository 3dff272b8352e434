"""The API in-process over the issuer harness: the real app (gate, routes, problems) on a
real SQLite database migrated with alembic, called through httpx's ASGI transport; the
certificates come from the real issuer steps against the scripted CA."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import httpx
from fastapi import FastAPI

from services.api.app import create_app
from services.api.deps import AppResources
from shared.domain.tokens import create_token
from shared.roles import Role
from shared.states import RequestStatus
from tests.fakes.acme import authz, issuing_ca, order
from tests.integration.issuer_harness import Issuer

NAME = "www.example.test"


@asynccontextmanager
async def not_opened() -> AsyncIterator[AppResources]:
    raise AssertionError("resources are set on app.state by the harness")
    yield  # pragma: no cover


@dataclass
class Api:
    issuer: Issuer
    app: FastAPI
    resources: AppResources
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def token(
        self, role: Role, name: str, domains: Sequence[str] = (),
        expires_at: datetime | None = None,
    ) -> tuple[UUID, str]:
        async with self.issuer.runtime.sessions() as session:
            row, token = await create_token(session, role=role, name=name, domains=domains,
                                            expires_at=expires_at)
            await session.commit()
        return row.id, token

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("192.0.2.7", 40000)),
            base_url="http://certkeeper.test", headers=headers,
        )
        self._clients.append(client)
        return client

    async def certificate(self, *names: str) -> UUID:
        """A certificate for ``names`` (default: :data:`NAME`) issued by the real issuer
        steps (scripted CA)."""
        names = names or (NAME,)
        self.issuer.fake.script("new_order", order("pending", [authz(n) for n in names]))
        issuing_ca(self.issuer.fake, list(names))
        done = await self.issuer.run(await self.issuer.request(*names))
        assert done.status is RequestStatus.ISSUED, done.error
        assert done.certificate_id is not None
        return done.certificate_id

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def api_over(issuer: Issuer) -> Api:
    app = create_app(not_opened)
    resources = AppResources(runtime=issuer.runtime, queue=issuer.ctx.queue)
    app.state.resources = resources
    return Api(issuer, app, resources)
