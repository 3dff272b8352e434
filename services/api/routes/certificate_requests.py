from __future__ import annotations

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from services.api.deps import (
    DEFAULT_PAGE,
    Cursor,
    Limit,
    Operator,
    RequestInScope,
    ResourcesDep,
    SessionDep,
    Viewer,
)
from services.api.idempotency import IdempotencyKey, create_once
from services.api.schemas.common import page_of, problems
from services.api.schemas.requests import (
    CertificateRequestCreate,
    CertificateRequestPage,
    CertificateRequestPublic,
)
from shared.dns.propagation import Propagation
from shared.domain import requests
from shared.domain.requests import RequestSpec, WrittenHook
from shared.models import CertificateRequest
from shared.states import RequestStatus

router = APIRouter(prefix="/v1/certificate-requests", tags=["certificate-requests"])


@router.post(
    "", operation_id="createCertificateRequest", status_code=status.HTTP_202_ACCEPTED,
    response_model=CertificateRequestPublic, responses=problems(400, 409),
)
async def create_certificate_request(
    body: CertificateRequestCreate,
    session: SessionDep,
    resources: ResourcesDep,
    actor: Operator,
    idempotency_key: IdempotencyKey = None,
) -> CertificateRequestPublic | JSONResponse:
    """Ask for a certificate. Everything is validated before anything is stored; the issuer
    then works the request: poll it until ``issued``, ``failed`` or
    ``awaiting_manual_validation``. A scoped token may ask only for names in its scope
    (403 `names-out-of-scope`)."""
    spec = RequestSpec(**body.model_dump())

    async def create(hook: WrittenHook | None) -> CertificateRequest:
        return await requests.create_request(
            session, resources.queue, resources.runtime.settings, spec, actor,
            acme=resources.runtime.acme, before_commit=hook,
        )

    created = await create_once(
        session, actor, idempotency_key, route="POST /v1/certificate-requests",
        body=body.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED,
        public=CertificateRequestPublic.model_validate, create=create,
    )
    if isinstance(created, JSONResponse):
        return created
    return CertificateRequestPublic.model_validate(created)


@router.get("", operation_id="listCertificateRequests", responses=problems())
async def list_certificate_requests(
    session: SessionDep,
    viewer: Viewer,
    status: RequestStatus | None = Query(None),  # noqa: B008
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> CertificateRequestPage:
    """Newest first; a scoped token sees only requests whose every name is in its scope."""
    page = await requests.list_requests(session, status=status, cursor=cursor, limit=limit,
                                        domains=viewer.domains)
    return page_of(CertificateRequestPage, page)


@router.get("/{request_id}", operation_id="getCertificateRequest", responses=problems(404))
async def get_certificate_request(
    viewer: Viewer,
    session: SessionDep,
    request_id: RequestInScope,
) -> CertificateRequestPublic:
    return CertificateRequestPublic.model_validate(
        await requests.get_request(session, request_id, viewer.domains)
    )


@router.post(
    "/{request_id}/verify", operation_id="verifyCertificateRequest",
    status_code=status.HTTP_202_ACCEPTED, responses=problems(404, 409),
)
async def verify_certificate_request(
    actor: Operator,
    session: SessionDep,
    resources: ResourcesDep,
    request_id: RequestInScope,
    skip_dns_check: bool = Query(
        False, description="Ask the CA without first looking the TXT records up, e.g. when "
        "Certkeeper's resolvers cannot see the public zone"
    ),
) -> CertificateRequestPublic:
    """Manual validation: the records are in place; ask the CA to check them now. DNS-01
    records are looked up first (409 `dns-records-missing` if one is not visible yet)."""
    verified = await requests.verify_request(
        session, resources.queue, request_id, actor,
        dns=Propagation.from_settings(resources.runtime.settings), check_dns=not skip_dns_check,
    )
    return CertificateRequestPublic.model_validate(verified)


@router.post(
    "/{request_id}/cancel", operation_id="cancelCertificateRequest", responses=problems(404, 409)
)
async def cancel_certificate_request(
    actor: Operator,
    session: SessionDep,
    resources: ResourcesDep,
    request_id: RequestInScope,
) -> CertificateRequestPublic:
    """Stop the request; TXT records written for it are removed by a queued job."""
    return CertificateRequestPublic.model_validate(
        await requests.cancel_request(session, resources.queue, request_id, actor)
    )
