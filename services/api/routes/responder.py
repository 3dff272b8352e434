"""The built-in HTTP-01 responder. It reads the database, so every replica answers. It is
served by the api's listener, or, with ``CERTKEEPER_RESPONDER_PORT``, only by the public
responder's own (``services.api.public``).

It is unauthenticated, so it is kept cheap: a token that is not base64url (ACME tokens are
``[A-Za-z0-9_-]``, at most 255 characters) is refused without the database, and at most
``RESPONDER_LOOKUPS`` lookups run at once per process, each one statement on a pooled
connection without an ORM session (:func:`shared.db.read_connection`), so a flood of
challenge requests cannot take the API's database connections. A CA asks for one token
several times at once: concurrent asks share one lookup (:mod:`shared.shared_lookups`).
"""

from __future__ import annotations

import re

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from services.api.deps import ChallengeSource, ChallengeSourceDep, Public
from shared.choices import ChallengeType
from shared.db import read_connection
from shared.errors import NotFound
from shared.models import CertificateRequest, Challenge
from shared.states import RequestStatus

router = APIRouter(tags=["acme-challenge"], dependencies=[Public])

_ANSWERING = [RequestStatus.PROCESSING, RequestStatus.VALIDATING,
              RequestStatus.AWAITING_MANUAL_VALIDATION]
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,255}")


@router.get(
    "/.well-known/acme-challenge/{token}", operation_id="getAcmeChallengeResponse",
    response_class=PlainTextResponse, include_in_schema=False,
)
async def acme_challenge(token: str, source: ChallengeSourceDep) -> PlainTextResponse:
    if _TOKEN_SHAPE.fullmatch(token) is None:
        raise NotFound("no such challenge token")
    key_authorization = await source.lookups.get(token, lambda: _lookup(source, token))
    if key_authorization is None:
        raise NotFound("no such challenge token")
    return PlainTextResponse(key_authorization)


async def _lookup(source: ChallengeSource, token: str) -> str | None:
    async with source.slots, read_connection(source.engine) as connection:
        return await connection.scalar(
            select(Challenge.key_authorization)
            .join(CertificateRequest, Challenge.request_id == CertificateRequest.id)
            .where(
                Challenge.token == token,
                Challenge.type == ChallengeType.HTTP_01,
                CertificateRequest.status.in_(_ANSWERING),
            )
            .limit(1)
        )
