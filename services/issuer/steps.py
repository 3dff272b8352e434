"""One step of a certificate request per job: each reads the row, talks to the CA, and
returns how long to wait before the next step (``None``: nothing to do until a person or
another event moves the request).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit
from uuid import uuid4

from services.issuer.agent_http01 import clean_up_agent_tokens
from services.issuer.context import Step
from services.issuer.dns01 import clean_before_new_order
from services.issuer.orders import check_fits, start_order
from services.issuer.outcomes import order_failed
from services.issuer.poll_pace import PhaseTimer, poll_delay
from services.issuer.solvers import make_answerable
from shared.acme_resources import OrderInfo
from shared.chains import order_chains
from shared.choices import ValidationMode
from shared.crypto import certificate_facts
from shared.domain.deployments import plan_deployments
from shared.domain.outbox import emit
from shared.domain.renewals import plan_new_certificate, supersede
from shared.errors import AcmeError, ValidationFailed
from shared.models import Certificate, CertificateName, CertificateRequest, Challenge, Lineage
from shared.models.notifications import EventType
from shared.states import AuthzStatus, CertificateStatus, RequestStatus

logger = logging.getLogger(__name__)

# How long one job may wait for the CA in place before handing the wait to the queue.
INLINE_WAIT_SECONDS = 1.0
MAX_ORDER_ROUNDS = 20


StepFunction = Callable[[Step], Awaitable[float | None]]


async def prepare_challenges(step: Step) -> float | None:
    """processing → awaiting_manual_validation, or → validating once the solver is ready."""
    req = step.request
    if req.validation is ValidationMode.MANUAL:
        req.status = RequestStatus.AWAITING_MANUAL_VALIDATION
        emit(step.session, EventType.REQUEST_AWAITING_MANUAL_VALIDATION, request=req,
             occurred_at=step.now)
        return None
    wait = await make_answerable(step)
    if wait is not None:
        return wait
    req.status = RequestStatus.VALIDATING
    req.polls = 0
    return await validate(step)


async def validate(step: Step) -> float | None:
    """validating: answer what is unanswered, then follow the order to a certificate."""
    req = step.request
    answered = False
    for row in req.challenges:
        if row.authz_status is AuthzStatus.PENDING and row.answered_at is None:
            await _answer(step, row)
            answered = True
    if req.order_url is None:
        raise AcmeError("request has no ACME order", retryable=False)
    if answered and req.finalize_url is not None:
        # The CA was just asked to validate: the order stays pending until it has, so the
        # first look waits like any poll instead of a signed POST that could only say so.
        return await _follow_order(step, _pending(req.order_url, req.finalize_url))
    return await _follow_order(step, await step.acme.fetch_order(req.order_url))


def _pending(order_url: str, finalize_url: str) -> OrderInfo:
    """The order as known right after answering its challenges."""
    return OrderInfo(url=order_url, status="pending", finalize_url=finalize_url,
                     certificate_url=None, authorization_urls=[], error=None)


async def _answer(step: Step, row: Challenge) -> None:
    """Tell the CA to validate one challenge. A challenge answered before a crash (the CA
    already moved it on) counts as answered: some CAs refuse a second answer."""
    if row.challenge_url is None:
        raise AcmeError(f"no challenge to answer for {row.identifier}", retryable=False)
    try:
        await step.acme.answer(row.type, row.challenge_url)
    except AcmeError as exc:
        if exc.retryable:
            raise
        authz = await step.acme.fetch_authorization(row.authz_url)
        challenge = authz.challenges.get(row.type.value)
        moved_on = challenge is not None and challenge.status in {"processing", "valid"}
        if authz.status == AuthzStatus.PENDING and not moved_on:
            raise
        row.authz_status = AuthzStatus(authz.status)
    row.answered_at = step.now


async def _follow_order(step: Step, order: OrderInfo) -> float | None:
    """Drive the order as far as it goes. Short waits (the CA validating or issuing) are
    spent here, asleep without blocking the loop, rather than on a round trip through the
    queue; longer ones, or a CA's Retry-After, go back to the queue."""
    req = step.request
    waited = 0.0
    ca = urlsplit(order.url).netloc
    clock = asyncio.get_running_loop().time
    phase = PhaseTimer(order.status, clock())
    for _ in range(MAX_ORDER_ROUNDS):
        phase.saw(order.status, clock(), step.pace, ca)
        req.order_status = order.status
        if order.status == "ready":
            order = await step.acme.finalize(order.url, order.finalize_url, _csr(req))
            req.polls = 0
            continue
        if order.status == "valid" and order.certificate_url:
            await _store_certificate(step, order.certificate_url)
            return None
        if order.status == "invalid":
            return await _order_invalid(step, order)
        req.polls += 1
        delay = poll_delay(req.polls, order.retry_after, step.pace.first_delay(ca, order.status))
        if waited + delay > INLINE_WAIT_SECONDS:
            return delay
        await asyncio.sleep(delay)
        waited += delay
        order = await step.acme.fetch_order(order.url)
    return poll_delay(req.polls, order.retry_after, step.pace.first_delay(ca, order.status))


def _csr(req: CertificateRequest) -> bytes:
    if req.csr_pem is None:
        raise AcmeError("request has no CSR", retryable=False)
    return req.csr_pem.encode()


async def _store_certificate(step: Step, certificate_url: str) -> None:
    req = step.request
    chain = await step.acme.download(certificate_url)
    facts = certificate_facts(chain.chain_pem)
    default_chain, alternates = order_chains([chain.chain_pem, *chain.alternates_pem],
                                             req.preferred_chain)
    if req.private_key_sealed is None:
        raise AcmeError("request lost its private key", retryable=False)
    key_pem = step.keyring.open(req.private_key_sealed, req.seal_context)
    with step.session.no_autoflush:  # what the step changed is written by the flush below
        lineage = await step.session.get(Lineage, req.lineage_id)
    if lineage is None:
        raise AcmeError("request lost its lineage", retryable=False)
    cert = Certificate(
        id=uuid4(), request_id=req.id, acme_account_id=req.acme_account_id,
        replaces_id=req.replaces_certificate_id, common_name=req.common_name,
        names=facts.names, serial=facts.serial_hex, not_before=facts.not_before,
        not_after=facts.not_after, issuer=facts.issuer,
        fingerprint_sha256=facts.fingerprint_sha256, key_type=req.key_type,
        chain_pem=default_chain, alternate_chains_pem=alternates,
        status=CertificateStatus.ACTIVE, auto_renew=lineage.auto_renew, lineage=lineage,
        private_key_sealed=b"", created_by_token_id=req.created_by_token_id,
        created_by_name=req.created_by_name,
    )
    plan_new_certificate(cert, lineage, step.now, ca_has_ari=step.acme.has_renewal_info)
    cert.private_key_sealed = step.keyring.seal(key_pem, cert.seal_context)
    rows = [cert, *(CertificateName(certificate=cert, name=n) for n in set(facts.names))]
    for row in rows:
        check_fits(row)
    step.session.add_all(rows)
    for challenge in req.challenges:  # in the same UPDATE as this step's answer time
        challenge.authz_status = AuthzStatus.VALID
    # All of it is written by the step's commit, in one flush, unless a renewal's
    # supersede (its UPDATE names the new row) or a deployment needs the row first.
    renewed = req.replaces_certificate_id is not None and await supersede(
        step.session, req.replaces_certificate_id, cert.id)
    if not renewed:
        emit(step.session, EventType.CERTIFICATE_ISSUED, certificate=cert, request=req,
             occurred_at=step.now)
    await plan_deployments(step.session, cert, step.now)
    await clean_up_agent_tokens(step)
    req.private_key_sealed = None
    req.certificate_id = cert.id
    req.status = RequestStatus.ISSUED
    req.finished_at = step.now
    logger.info(
        "request.issued",
        extra={"request_id": str(req.id), "certificate_id": str(cert.id)},
    )


async def _order_invalid(step: Step, order: OrderInfo) -> float | None:
    req = step.request
    problems = []
    for row in req.challenges:
        if row.authz_status is AuthzStatus.VALID:
            continue
        authz = await step.acme.fetch_authorization(row.authz_url)
        row.authz_status = AuthzStatus(authz.status)
        row.error = authz.error
        if authz.status != AuthzStatus.VALID:
            problems.append({"name": row.identifier, "problem": authz.error})
    names = ", ".join(str(p["name"]) for p in problems) or "the order"
    await clean_before_new_order(step)
    failure = ValidationFailed(
        f"the CA could not validate {names}", order_error=order.error, authorizations=problems
    )
    return order_failed(req, failure, step.settings.order_retry_seconds, step.now)


STEPS: dict[RequestStatus, StepFunction] = {
    RequestStatus.PENDING: start_order,
    RequestStatus.PROCESSING: prepare_challenges,
    RequestStatus.VALIDATING: validate,
}
