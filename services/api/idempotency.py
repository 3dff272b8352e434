"""The ``Idempotency-Key`` header on the POSTs that create certificate requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.domain import idempotency
from shared.domain.idempotency import IdempotentCall, KeptAnswer
from shared.domain.tokens import Principal
from shared.models import CertificateRequest
from shared.models.base import utcnow
from shared.models.idempotency import IDEMPOTENCY_KEY_LENGTH

REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", min_length=1, max_length=IDEMPOTENCY_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (e.g. a UUID), up to 255 visible ASCII characters. "
        "Repeating the POST with the same key and body within 24 hours answers with the "
        "first answer (header `Idempotent-Replayed: true`) instead of making a second "
        "request; the same key with a different body is a 422 `idempotency-key-reused`.",
    ),
]

Create = Callable[[Callable[[CertificateRequest], None] | None], Awaitable[CertificateRequest]]


async def create_once(
    session: AsyncSession,
    actor: Principal,
    key: str | None,
    *,
    route: str,
    body: object,
    status_code: int,
    public: Callable[[CertificateRequest], BaseModel],
    create: Create,
) -> CertificateRequest | JSONResponse:
    """Run ``create`` (which calls the hook it is given before its commit), unless ``key``
    was used before: then the kept answer. Without a key, just ``create``."""
    if key is None:
        return await create(None)
    call = IdempotentCall.of(actor, key, route, body)
    kept = await idempotency.kept_answer(session, call, utcnow())
    if kept is not None:
        return replayed(kept)

    def keep(request: CertificateRequest) -> None:
        answer = KeptAnswer(status_code, public(request).model_dump(mode="json"))
        idempotency.remember(session, call, answer, utcnow())

    try:
        return await create(keep)
    except IntegrityError as exc:
        if not idempotency.is_key_clash(exc):
            raise
        return replayed(await idempotency.answer_after_clash(session, call, utcnow()))


def replayed(kept: KeptAnswer) -> JSONResponse:
    return JSONResponse(kept.body, status_code=kept.status_code,
                        headers={REPLAYED_HEADER: "true"})
