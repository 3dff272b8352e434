"""Every route, role and scope, generated from the app's own route list.

Each route declares its access on itself (``Viewer``/``Operator``/``Admin`` or ``Public``,
read back by ``services.api.access.route_access``). A route without a declaration fails
here. Every declared decision is then tried against the real app: no token, each role
unscoped, and operator and viewer tokens scoped to a domain that covers the target rows
("in") or does not ("out"). Bodies are deliberately invalid where a valid one would need
a live service, so an allowed call shows itself as "passed the gate" (not 401, not 403,
not a scope 404). Every refusal of an authenticated caller must be in the audit trail,
and the chain must verify afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import func, select

from services.api.access import SCOPED_PATH_PARAMS, RouteAccess, access_table
from services.api.app import create_app
from shared.domain.audit_trail import verify_chain
from shared.models import AuditEvent
from shared.roles import Role
from tests.integration.api_harness import Api, api_over, not_opened
from tests.integration.issuer_harness import start_issuer

IN_SCOPE, OUT_OF_SCOPE = "example.test", "elsewhere.test"
# Routes whose body names the certificate's names: a token scoped elsewhere gets a 403.
NAMES_IN_BODY = {"createCertificateRequest": {"common_name": "new.example.test",
                                              "key_type": "ec"}}
PROBE_BODY = {"not-a-field": True}  # every body schema forbids extra fields: a 422


@dataclass(frozen=True)
class Caller:
    role: Role | None  # None: no token
    scope: str  # "all", "in" or "out"

    @property
    def label(self) -> str:
        return "anonymous" if self.role is None else f"{self.role}/{self.scope}"


CALLERS = [
    Caller(None, "all"),
    *(Caller(role, "all") for role in Role),
    *(Caller(role, scope) for role in (Role.OPERATOR, Role.VIEWER) for scope in ("in", "out")),
]


def expected(access: RouteAccess, caller: Caller) -> int | None:
    """The status the gate answers, or None when the caller must get past it."""
    if access.public:
        return None
    if caller.role is None or access.agent:
        return 401  # no token; or an API token where only an agent's credential is taken
    assert access.role is not None
    if not caller.role.allows(access.role):
        return 403
    if caller.scope != "all" and access.unscoped_only:
        return 403
    if caller.scope == "out" and access.operation_id in NAMES_IN_BODY:
        return 403
    if caller.scope == "out" and access.scoped_target is not None:
        return 404
    return None


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    issuer = await start_issuer(tmp_path, order_retry_seconds=[60])
    started = api_over(issuer)
    yield started
    await started.aclose()
    await issuer.runtime.aclose()


def test_every_route_declares_its_access() -> None:
    app = create_app(not_opened)
    framework = {app.openapi_url, app.docs_url, app.redoc_url,
                 app.swagger_ui_oauth2_redirect_url}
    table = access_table(app)
    assert len(table) >= 38
    for access in table:
        if access.framework:
            assert access.path in framework, access
            continue
        assert access.declared, f"{access.method} {access.path} declares no access"
        if access.path.startswith("/v1/"):
            assert not access.public, f"{access.path} is under /v1 but public"
        for param, target in SCOPED_PATH_PARAMS.items():
            if param in access.path_params:
                assert access.scoped_target == target, f"{access.path}: {param} unchecked"
        if access.agent:
            assert access.path.startswith("/v1/agent/"), access
            continue
        if access.method != "GET" or access.path.endswith("/private-key"):
            assert access.role in {Role.OPERATOR, Role.ADMIN}, (
                f"{access.method} {access.path}: viewers only read, never private keys"
            )


async def _path_of(api: Api, access: RouteAccess) -> str:
    path = access.path
    if "{certificate_id}" in path:
        path = path.replace("{certificate_id}", str(await api.certificate()))
    if "{request_id}" in path:
        path = path.replace("{request_id}", str(await api.issuer.request("www.example.test")))
    while "{" in path:  # ids of resources without names: any id will do
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid4()) + path[end + 1:]
    return path


def _body(access: RouteAccess) -> Any:
    if access.operation_id in NAMES_IN_BODY:
        return NAMES_IN_BODY[access.operation_id]
    return PROBE_BODY if access.method in {"POST", "PATCH", "PUT"} else None


async def test_every_route_role_and_scope_gets_its_decision(api: Api) -> None:
    tokens: dict[Caller, str | None] = {}
    for caller in CALLERS:
        if caller.role is None:
            tokens[caller] = None
            continue
        domains = {"all": [], "in": [IN_SCOPE], "out": [OUT_OF_SCOPE]}[caller.scope]
        tokens[caller] = (await api.token(caller.role, caller.label, domains))[1]
    table = [a for a in access_table(api.app) if not a.framework]
    assert len(table) >= 36
    refusals, wrong = 0, []
    for access in table:
        for caller in CALLERS:
            path = await _path_of(api, access)
            body = _body(access)
            response = await api.client(tokens[caller]).request(
                access.method, path, **({"json": body} if body is not None else {})
            )
            want = expected(access, caller)
            got = response.status_code
            passed = got not in {401, 403} and not (access.scoped_target and got == 404)
            if (want is None and not (passed and got < 500)) or (want and got != want):
                wrong.append(f"{access.method} {access.path} as {caller.label}: {got} "
                             f"(wanted {want or 'through the gate'}) {response.text[:200]}")
            if want in {403, 404} and caller.role is not None:
                refusals += 1
    assert not wrong, "\n".join(wrong)
    async with api.issuer.runtime.sessions() as session:
        denied = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "denied")
        )
    assert denied == refusals
    report = await verify_chain(api.issuer.runtime.sessions)
    assert report.intact, report.reason
