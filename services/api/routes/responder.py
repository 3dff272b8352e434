"""The built-in HTTP-01 responder. It reads the database, so every api replica answers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from services.api.deps import SessionDep
from shared.models import CertificateRequest, Challenge
from shared.states import ChallengeType, RequestStatus

router = APIRouter(tags=["acme-challenge"])

_ANSWERING = [RequestStatus.PROCESSING, RequestStatus.VALIDATING,
              RequestStatus.AWAITING_MANUAL_VALIDATION]


@router.get(
    "/.well-known/acme-challenge/{token}", operation_id="getAcmeChallengeResponse",
    response_class=PlainTextResponse, include_in_schema=False,
)
async def acme_challenge(token: str, session: SessionDep) -> PlainTextResponse:
    key_authorization = await session.scalar(
        select(Challenge.key_authorization)
        .join(CertificateRequest, Challenge.request_id == CertificateRequest.id)
        .where(
            Challenge.token == token,
            Challenge.type == ChallengeType.HTTP_01,
            CertificateRequest.status.in_(_ANSWERING),
        )
        .limit(1)
    )
    if key_authorization is None:
        return PlainTextResponse("not found", status_code=404)
    return PlainTextResponse(key_authorization)
