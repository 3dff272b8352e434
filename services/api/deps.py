"""Request dependencies: the session, the process's resources, the caller and its role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.api.agent_waiters import AgentWaiters
from shared.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT
from shared.domain.scope import hide_unless_in_scope
from shared.domain.tokens import Principal, TokenVerifier
from shared.errors import Forbidden, Unauthenticated
from shared.models import Certificate, CertificateRequest
from shared.queue import JobQueue
from shared.roles import Role
from shared.runtime import Runtime
from shared.shared_lookups import SharedLookups

# Concurrent database lookups of the unauthenticated HTTP-01 responder, per api process:
# a flood of challenge requests waits here instead of taking the API's connections.
RESPONDER_LOOKUPS = 4


@dataclass
class ChallengeSource:
    """What the HTTP-01 responder reads: the database, behind a few lookup slots. The api
    shares its own database; the public responder process opens only this (no keyring)."""

    engine: AsyncEngine
    slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(RESPONDER_LOOKUPS)
    )
    lookups: SharedLookups[str | None] = field(default_factory=SharedLookups)


@dataclass
class AppResources:
    runtime: Runtime
    queue: JobQueue
    tokens: TokenVerifier = field(default_factory=TokenVerifier)
    challenges: ChallengeSource = field(init=False)

    def __post_init__(self) -> None:
        self.challenges = ChallengeSource(self.runtime.engine)
    agent_waiters: AgentWaiters = field(default_factory=AgentWaiters)


# Dependencies are ``async def`` even when they never await: FastAPI runs a plain ``def``
# dependency in its thread pool, a thread hop on every request.
async def get_resources(request: Request) -> AppResources:
    resources: AppResources = request.app.state.resources
    return resources


ResourcesDep = Annotated[AppResources, Depends(get_resources)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    async with resources.runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


PRINCIPAL_STATE = "principal"  # where the request gate leaves the caller in request.state
REQUEST_ID_STATE = "request_id"  # and the request id (X-Request-ID)

bearer = HTTPBearer(auto_error=False, description="A token from `certkeeper token create`")


async def get_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller the request gate authenticated (``_credentials`` only documents the
    scheme in OpenAPI; the gate has checked the token before the body was read), with the
    client's address and the request id, for the audit trail."""
    principal = caller_of(request)
    if principal is None:
        raise Unauthenticated("send Authorization: Bearer <token>")
    return principal


def caller_of(request: Request) -> Principal | None:
    principal = getattr(request.state, PRINCIPAL_STATE, None)
    if not isinstance(principal, Principal):
        return None
    return replace(
        principal, client_address=request.client.host if request.client else None,
        request_id=getattr(request.state, REQUEST_ID_STATE, None),
    )


class RoleCheck(HTTPBearer):
    """The dependency that lets a route's caller in by role. It is also the route's
    declared access (services.api.access reads ``role`` off the route's dependencies) and,
    being the bearer scheme itself rather than a dependency on it, the route's security
    requirement in OpenAPI: one level of dependencies fewer on every request."""

    def __init__(self, role: Role) -> None:
        super().__init__(auto_error=False, scheme_name=bearer.scheme_name,
                         description=bearer.model.description)
        self.role = role

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        principal = await get_principal(request, None)
        if not principal.role.allows(self.role):
            raise Forbidden(f"this needs the {self.role} role; the token has {principal.role}")
        return principal


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    return RoleCheck(role)


async def public_route() -> None:
    """Declares a route open to anyone (no token): the health checks."""


Public = Depends(public_route)


async def agent_route() -> None:
    """Declares a route of the agent API: its caller is an agent, with its enrollment token
    or its own credential (checked by the route), never an API token."""


AgentAuth = Depends(agent_route)


async def unscoped_only(principal: Annotated[Principal, Depends(get_principal)]) -> None:
    """Declares a route that is not filtered by domain: a token limited to domains gets a
    403 there (what it would see or make is not bounded by its domains)."""
    if principal.domains:
        raise Forbidden("a token limited to domains cannot use this route")


Unscoped = Depends(unscoped_only)


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]

Cursor = Annotated[str | None, Query(description="`next_cursor` from the previous page")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
DEFAULT_PAGE = DEFAULT_LIMIT


async def certificate_in_scope(
    certificate_id: UUID, session: SessionDep, caller: Annotated[Principal, Depends(get_principal)]
) -> UUID:
    """The path's certificate id, once a scoped caller is known to reach it: a certificate
    with a name outside the caller's domains is a 404, decided before the body is read."""
    if caller.scoped:
        cert = await session.get(Certificate, certificate_id)
        if cert is not None:
            hide_unless_in_scope(cert.names, caller.domains, target_type="certificate",
                                 target_id=certificate_id)
    return certificate_id


async def request_in_scope(
    request_id: UUID, session: SessionDep, caller: Annotated[Principal, Depends(get_principal)]
) -> UUID:
    """As :func:`certificate_in_scope`, for a certificate request."""
    if caller.scoped:
        row = await session.get(CertificateRequest, request_id)
        if row is not None:
            hide_unless_in_scope(row.names, caller.domains, target_type="certificate_request",
                                 target_id=request_id)
    return request_id


# Path ids of rows a token's domain scope may hide. Declare them after the role parameter:
# the role is checked first (403), then the scope (404).
CertificateInScope = Annotated[UUID, Depends(certificate_in_scope)]
RequestInScope = Annotated[UUID, Depends(request_in_scope)]
