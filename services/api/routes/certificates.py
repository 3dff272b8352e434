from __future__ import annotations

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from services.api.deps import (
    DEFAULT_PAGE,
    CertificateInScope,
    Cursor,
    Limit,
    Operator,
    ResourcesDep,
    SessionDep,
    Viewer,
)
from services.api.idempotency import IdempotencyKey, create_once
from services.api.schemas.certificates import (
    CertificatePage,
    CertificatePublic,
    CertificateUpdate,
    RevocationCreate,
)
from services.api.schemas.common import UtcDatetime, problems, rows_page
from services.api.schemas.requests import CertificateRequestPublic
from shared.choices import RevocationReason
from shared.db import read_connection
from shared.domain import certificates, renewals
from shared.domain.requests import WrittenHook, ring
from shared.models import CertificateRequest
from shared.models.base import utcnow
from shared.states import CertificateStatus

router = APIRouter(prefix="/v1/certificates", tags=["certificates"])

PEM_CHAIN = "application/pem-certificate-chain"
PEM_KEY = "application/x-pem-file"


@router.get("", operation_id="listCertificates", response_model=CertificatePage,
            responses=problems())
async def list_certificates(
    resources: ResourcesDep,
    viewer: Viewer,
    status: CertificateStatus | None = Query(None),  # noqa: B008
    domain: str | None = Query(
        None, max_length=1024, description="Certificates that contain this exact name"
    ),
    expires_before: UtcDatetime | None = Query(  # noqa: B008
        None, description="RFC 3339 time with an offset, e.g. 2030-01-01T00:00:00Z"
    ),
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Response:
    """Newest first; a scoped token sees only certificates whose every name is in its
    scope."""
    where = certificates.CertificateFilter(status=status, domain=domain,
                                           expires_before=expires_before, domains=viewer.domains)
    # The connection is taken here, not by a dependency: a generator dependency's exit
    # stack was a tenth of the cost of a one-row page.
    async with read_connection(resources.runtime.engine) as reader:
        page = await certificates.list_certificates(reader, where, cursor=cursor, limit=limit)
    return rows_page(page)


@router.get("/{certificate_id}", operation_id="getCertificate", responses=problems(404))
async def get_certificate(
    viewer: Viewer,
    session: SessionDep,
    certificate_id: CertificateInScope,
) -> CertificatePublic:
    return CertificatePublic.model_validate(
        await certificates.get_certificate(session, certificate_id, viewer.domains)
    )


@router.get(
    "/{certificate_id}/pem", operation_id="getCertificatePem", response_class=Response,
    responses={200: {"description": "The leaf certificate, then the intermediates (PEM)",
                     "content": {PEM_CHAIN: {"schema": {"type": "string"}}}},
               **problems(404)},
)
async def get_certificate_pem(
    viewer: Viewer,
    session: SessionDep,
    certificate_id: CertificateInScope,
    alternate: int | None = Query(
        None, ge=1, description="Return the CA's N-th alternate chain instead (1-based)"
    ),
) -> Response:
    """The certificate followed by its chain, as the CA issued it."""
    cert = await certificates.get_certificate(session, certificate_id, viewer.domains)
    return Response(certificates.chain_pem(cert, alternate), media_type=PEM_CHAIN)


@router.get(
    "/{certificate_id}/private-key", operation_id="getCertificatePrivateKey",
    response_class=Response,
    responses={200: {"description": "The private key, PKCS#8 PEM (the export is audited)",
                     "content": {PEM_KEY: {"schema": {"type": "string"}}}},
               **problems(404)},
)
async def get_certificate_private_key(
    actor: Operator,
    session: SessionDep,
    resources: ResourcesDep,
    certificate_id: CertificateInScope,
) -> Response:
    """The private key (operator or admin). Every export is written to the audit trail."""
    key_pem = await certificates.export_private_key(
        session, resources.runtime.keyring, certificate_id, actor
    )
    return Response(key_pem, media_type=PEM_KEY, headers={"Cache-Control": "no-store"})


@router.patch(
    "/{certificate_id}", operation_id="updateCertificate", responses=problems(400, 404)
)
async def update_certificate(
    actor: Operator,
    body: CertificateUpdate,
    session: SessionDep,
    certificate_id: CertificateInScope,
) -> CertificatePublic:
    """Change ``auto_renew`` or ``renew_before_seconds`` (kept in the certificate's lineage,
    so its renewals inherit them); the renewal time is planned again."""
    cert = await renewals.change_renewal(
        session, certificate_id, utcnow(), actor,
        auto_renew=body.auto_renew, renew_before_seconds=body.renew_before_seconds,
        clear_renew_before="renew_before_seconds" in body.model_fields_set,
    )
    return CertificatePublic.model_validate(cert)


@router.post(
    "/{certificate_id}/revoke", operation_id="revokeCertificate",
    responses=problems(400, 404, 422, 429, 502),
)
async def revoke_certificate(
    actor: Operator,
    body: RevocationCreate,
    session: SessionDep,
    resources: ResourcesDep,
    certificate_id: CertificateInScope,
) -> CertificatePublic:
    """Revoke at the CA; the certificate becomes ``revoked`` and is never renewed again.
    Revoking it again changes nothing."""
    cert = await certificates.revoke_certificate(
        session, resources.runtime, certificate_id, body.reason, actor
    )
    return CertificatePublic.model_validate(cert)


@router.post(
    "/{certificate_id}/renew", operation_id="renewCertificate",
    status_code=status.HTTP_202_ACCEPTED, response_model=CertificateRequestPublic,
    responses=problems(404, 409),
)
async def renew_certificate(
    actor: Operator,
    session: SessionDep,
    resources: ResourcesDep,
    certificate_id: CertificateInScope,
    idempotency_key: IdempotencyKey = None,
) -> CertificateRequestPublic | JSONResponse:
    """Renew now: a new request in the certificate's lineage, replacing it once issued.
    409 when the certificate is not active or a renewal is already in flight."""

    async def renew(hook: WrittenHook | None) -> CertificateRequest:
        request = await renewals.renew_now(session, certificate_id, utcnow(), actor,
                                           before_commit=hook)
        await ring(resources.queue, request)
        return request

    renewal = await create_once(
        session, actor, idempotency_key, route=f"POST /v1/certificates/{certificate_id}/renew",
        body=None, status_code=status.HTTP_202_ACCEPTED,
        public=CertificateRequestPublic.model_validate, create=renew,
    )
    if isinstance(renewal, JSONResponse):
        return renewal
    return CertificateRequestPublic.model_validate(renewal)


@router.delete(
    "/{certificate_id}", operation_id="deleteCertificate", status_code=204,
    response_class=Response, responses=problems(404, 422, 429, 502),
)
async def delete_certificate(
    actor: Operator,
    session: SessionDep,
    resources: ResourcesDep,
    certificate_id: CertificateInScope,
    revoke: bool = Query(False, description="Revoke at the CA first"),
    reason: RevocationReason = Query(  # noqa: B008
        RevocationReason.CESSATION_OF_OPERATION, description="With revoke=true"
    ),
) -> Response:
    """Remove the certificate and destroy its private key (an audit record keeps its
    serial, names and fingerprint). It stays valid at the CA unless ``revoke=true``."""
    await certificates.delete_certificate(
        session, resources.runtime, certificate_id, actor, revoke=reason if revoke else None
    )
    return Response(status_code=204)
