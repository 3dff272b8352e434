"""Request dependencies: the session, the process's resources, the caller and its role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.agent_waiters import AgentWaiters
from shared.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT
from shared.domain.tokens import Principal, TokenVerifier
from shared.errors import Forbidden, Unauthenticated
from shared.queue import JobQueue
from shared.roles import Role
from shared.runtime import Runtime

# Concurrent database lookups of the unauthenticated HTTP-01 responder, per api process:
# a flood of challenge requests waits here instead of taking the API's connections.
RESPONDER_LOOKUPS = 4


@dataclass
class AppResources:
    runtime: Runtime
    queue: JobQueue
    tokens: TokenVerifier = field(default_factory=TokenVerifier)
    responder_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(RESPONDER_LOOKUPS)
    )
    agent_waiters: AgentWaiters = field(default_factory=AgentWaiters)


def get_resources(request: Request) -> AppResources:
    resources: AppResources = request.app.state.resources
    return resources


ResourcesDep = Annotated[AppResources, Depends(get_resources)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    async with resources.runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

PRINCIPAL_STATE = "principal"  # where the request gate leaves the caller in request.state

bearer = HTTPBearer(auto_error=False, description="A token from `certkeeper token create`")


async def get_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller the request gate authenticated (``_credentials`` only documents the
    scheme in OpenAPI; the gate has checked the token before the body was read)."""
    principal = getattr(request.state, PRINCIPAL_STATE, None)
    if not isinstance(principal, Principal):
        raise Unauthenticated("send Authorization: Bearer <token>")
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.role.allows(role):
            raise Forbidden(f"this needs the {role} role; the token has {principal.role}")
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]

Cursor = Annotated[str | None, Query(description="`next_cursor` from the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
DEFAULT_PAGE = DEFAULT_LIMIT
