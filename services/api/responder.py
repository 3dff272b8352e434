"""The built-in HTTP-01 responder. It reads the database, so every replica answers. It is
served by the api's listener, or, with ``CERTKEEPER_RESPONDER_PORT``, only by the public
responder's own (``services.api.public``).

It is unauthenticated, so it is kept cheap: a token that is not base64url (ACME tokens are
``[A-Za-z0-9_-]``, at most 255 characters) is refused without the database, and at most
``RESPONDER_LOOKUPS`` lookups run at once per process, each one statement on a pooled
connection without an ORM session (:func:`shared.db.read_connection`), so a flood of
challenge requests cannot take the API's database connections. A CA asks for one token
several times at once: concurrent asks share one lookup (:mod:`shared.shared_lookups`).

It answers as a small ASGI layer in front of the app's routing (inside the layers that name,
count and secure every answer). A CA asks for each token several times, once per vantage
point and each on a new connection, and FastAPI's routing and dependencies cost more than
the lookup: the six such requests of a two-name certificate were a fifth of the all-in-one's
CPU per certificate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.deps import AppResources, ChallengeSource
from services.api.problems import database_error_response, render_problem
from shared.choices import ChallengeType
from shared.db import read_connection
from shared.db_errors import DATABASE_ERRORS
from shared.errors import NotFound
from shared.models import CertificateRequest, Challenge
from shared.states import RequestStatus

CHALLENGE_PREFIX = "/.well-known/acme-challenge/"
_ANSWERING = [RequestStatus.PROCESSING, RequestStatus.VALIDATING,
              RequestStatus.AWAITING_MANUAL_VALIDATION]
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,255}")


@dataclass(frozen=True)
class RouteName:
    """What :class:`services.api.observe.Observe` counts an answer under (a route's path)."""

    path: str


CHALLENGE_ROUTE = RouteName(CHALLENGE_PREFIX + "{token}")


class ChallengeResponder:
    """Answers ``GET /.well-known/acme-challenge/{token}``; passes anything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not path.startswith(
                CHALLENGE_PREFIX):
            await self.app(scope, receive, send)
            return
        scope["route"] = CHALLENGE_ROUTE
        response = await answer(challenge_source(scope["app"]), path[len(CHALLENGE_PREFIX):],
                                path)
        await response(scope, receive, send)


def challenge_source(app: Starlette) -> ChallengeSource:
    opened: ChallengeSource | AppResources = app.state.resources
    return opened.challenges if isinstance(opened, AppResources) else opened


async def answer(source: ChallengeSource, token: str, path: str) -> Response:
    """The key authorization of a challenge being validated, or a problem."""
    if _TOKEN_SHAPE.fullmatch(token) is None:
        return render_problem(NotFound("no such challenge token"))
    try:
        key_authorization = await source.lookups.get(token, lambda: _lookup(source, token))
    except DATABASE_ERRORS as exc:
        return database_error_response(path, exc)
    if key_authorization is None:
        return render_problem(NotFound("no such challenge token"))
    return PlainTextResponse(key_authorization)


# Built once: building it per request (operators, then its cache key) was a fifth of a
# lookup's CPU.
_KEY_AUTHORIZATION = (
    select(Challenge.key_authorization)
    .join(CertificateRequest, Challenge.request_id == CertificateRequest.id)
    .where(
        Challenge.token == bindparam("token"),
        Challenge.type == ChallengeType.HTTP_01,
        CertificateRequest.status.in_(_ANSWERING),
    )
    .limit(1)
)


async def _lookup(source: ChallengeSource, token: str) -> str | None:
    async with source.slots, read_connection(source.engine) as connection:
        return await connection.scalar(_KEY_AUTHORIZATION, {"token": token})
