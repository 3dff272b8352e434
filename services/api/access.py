"""Who may call which route, as the routes themselves declare it, and the audit of refusals.

A route declares its access with a dependency: ``Viewer``, ``Operator`` or ``Admin``
(a :class:`~services.api.deps.RoleCheck`), ``Public`` for the few routes anyone may call,
or ``AgentAuth`` for the agent API (agents' own credentials). A role route that is not
filtered by domain also declares ``Unscoped``: a token limited to domains gets a 403.
:func:`route_access` reads that declaration back, so the README's table and the test that
tries every route with every role and scope come from the app's own route list: a route
that declares nothing has no access and fails that test.

Domain scope is decided per resource: a route whose path names a certificate or a
certificate request declares ``CertificateInScope`` or ``RequestInScope`` for that id, and
answers 404 to a scoped token whose domains do not cover every name of that row (after the
role check, before the body is read); lists of those resources are filtered in SQL; asking
for names outside the scope is a 403.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from services.api.deps import (
    AppResources,
    RoleCheck,
    agent_route,
    caller_of,
    certificate_in_scope,
    public_route,
    request_in_scope,
    unscoped_only,
)
from shared.domain import audit
from shared.domain.scope import OutOfScope
from shared.errors import Forbidden, Problem
from shared.roles import Role

logger = logging.getLogger(__name__)

# Path parameters naming a row that a token's domain scope may hide, and the row's type;
# a route with one must check the scope with the matching dependency (CertificateInScope,
# RequestInScope), which is how it declares it.
SCOPED_PATH_PARAMS = {"certificate_id": "certificate", "request_id": "certificate_request"}
SCOPE_CHECKS: dict[Any, str] = {certificate_in_scope: "certificate",
                                request_in_scope: "certificate_request"}
DENIED_ACTION = "access.denied"
_RANK = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]


@dataclass(frozen=True, slots=True)
class RouteAccess:
    method: str
    path: str
    operation_id: str | None
    public: bool
    role: Role | None  # None on a public route, and on a route that declares nothing
    scoped_target: str | None  # the row type hidden (404) outside a token's scope
    framework: bool = False  # FastAPI's own route (OpenAPI document, docs)
    path_params: frozenset[str] = frozenset()
    agent: bool = False  # the agent API: the agent's own credential, never an API token
    unscoped_only: bool = False  # a token limited to domains is refused (403)

    @property
    def declared(self) -> bool:
        return [self.public, self.role is not None, self.agent].count(True) == 1


def _path_params(dependant: Dependant) -> set[str]:
    found = {param.name for param in dependant.path_params}
    for sub in dependant.dependencies:
        found |= _path_params(sub)
    return found


def _calls(dependant: Dependant) -> list[Any]:
    found = []
    for sub in dependant.dependencies:
        found.append(sub.call)
        found.extend(_calls(sub))
    return found


def route_access(route: Any) -> list[RouteAccess]:
    """The route's declared access, one entry per method. ``route`` is a route as the app
    serves it (a ``fastapi.routing.RouteContext``: the router's prefix and dependencies
    applied); a route without a ``dependant`` is the framework's own (OpenAPI, docs)."""
    dependant: Dependant | None = getattr(route, "dependant", None)
    calls = _calls(dependant) if dependant is not None else []
    roles = {call.role for call in calls if isinstance(call, RoleCheck)}
    role = max(roles, key=_RANK.index, default=None)
    scoped = next((SCOPE_CHECKS[c] for c in calls if c in SCOPE_CHECKS), None)
    params = _path_params(dependant) if dependant is not None else set()
    return [
        RouteAccess(method=method, path=str(route.path), operation_id=getattr(
                        route, "operation_id", None),
                    public=public_route in calls, role=role, scoped_target=scoped,
                    framework=dependant is None, path_params=frozenset(params),
                    agent=agent_route in calls, unscoped_only=unscoped_only in calls)
        for method in sorted(route.methods or ())
    ]


def access_table(app: FastAPI) -> list[RouteAccess]:
    """Every route's access, in the app's order (routers' prefixes applied)."""
    return [entry for route in iter_route_contexts(app.routes)
            for entry in route_access(route)]


def is_refusal(problem: Problem) -> bool:
    """A refusal for permission: a 403, or a 404 that hides a row outside the scope."""
    return isinstance(problem, Forbidden | OutOfScope)


async def audit_refusal(request: Request, problem: Problem) -> None:
    """Write the refusal to the audit trail in its own small transaction. A failure to
    write it is logged; the caller still gets its 403 or 404."""
    actor = caller_of(request)
    if actor is None:
        return
    target_type, target_id = _target(request, problem)
    route = request.scope.get("route")
    try:
        resources: AppResources = request.app.state.resources
        async with resources.runtime.sessions() as session:
            audit.record(
                session, actor, DENIED_ACTION, target_type, target_id,
                outcome=audit.Outcome.DENIED, status=problem.status, reason=problem.slug,
                method=request.method,
                operation=getattr(route, "operation_id", None) or request.url.path,
            )
            await session.commit()
    except Exception as exc:
        logger.warning("audit.refusal_not_recorded", extra={"error": type(exc).__name__})


def _target(request: Request, problem: Problem) -> tuple[str, UUID | None]:
    if isinstance(problem, OutOfScope):
        return problem.target_type, problem.target_id
    for name, value in sorted(request.path_params.items()):
        if name.endswith("_id"):
            target_type = SCOPED_PATH_PARAMS.get(name, name.removesuffix("_id"))
            try:
                return target_type, UUID(str(value))
            except ValueError:
                return target_type, None
    return request.url.path.removeprefix("/v1/").split("/")[0].replace("-", "_"), None
