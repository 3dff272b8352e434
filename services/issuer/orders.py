"""Placing an order, or resuming the one already placed, and recording its challenges.

A CA order is never lost by a later write: the order (its URL, the sealed key and the CSR)
is committed on its own right after ``new_order``, and a pending request that already has
an order resumes it instead of placing another. Values the CA sends are checked against
their columns here, so a value that cannot be stored ends the request with a clear
problem rather than a database error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from functools import cache

from services.issuer.context import Step
from shared.acme_ari import ALREADY_REPLACED, ari_id_of_chain
from shared.acme_errors import AcmeResponseInvalid
from shared.acme_protocol import AcmeConversation
from shared.acme_resources import AuthorizationInfo, OrderInfo, dns01_txt_value
from shared.choices import ChallengeType
from shared.cpu import generate_key
from shared.crypto import make_csr
from shared.errors import AcmeError
from shared.models import Certificate, Challenge
from shared.models.base import Base
from shared.names import DNS01_PREFIX
from shared.states import AuthzStatus, RequestStatus

logger = logging.getLogger(__name__)


def check_fits(row: Base) -> None:
    """Refuse a row whose text does not fit its columns, before the database does."""
    for key, limit in _text_limits(type(row)):
        value = getattr(row, key, None)
        if isinstance(value, str) and len(value) > limit:
            raise AcmeResponseInvalid(
                f"{row.__tablename__}.{key} from the CA is {len(value)} characters "
                f"long; at most {limit} can be stored", retryable=False, field=key,
            )


@cache
def _text_limits(model: type[Base]) -> tuple[tuple[str, int], ...]:
    """The model's columns that have a length, with it (read once per model: walking
    every column of a request's table on every check was a percent of the issuer's CPU)."""
    return tuple((column.key, limit) for column in model.__table__.columns
                 if (limit := getattr(column.type, "length", None)) is not None)


async def start_order(step: Step) -> float | None:
    """pending → processing: place the order (or resume the one placed by an earlier try
    whose result was never written), then record its challenges."""
    req = step.request
    if req.order_url is None:
        order = await _place_order(step)
    else:
        order = await _resume_order(step.acme, req.order_url)
    req.order_status = order.status
    req.challenges = [
        challenge_row(position, authz, req.challenge_type, step.acme)
        for position, authz in enumerate(order.authorizations)
    ]
    req.status = RequestStatus.PROCESSING
    return 0.0


async def _place_order(step: Step) -> OrderInfo:
    req = step.request
    csr_pem = await _csr_for_order(step)
    replaces = await _replaces(step)
    await step.hold()
    try:
        order = await step.acme.new_order(csr_pem, profile=req.profile, replaces=replaces)
    except AcmeError as exc:
        if replaces is None or exc.acme_type != ALREADY_REPLACED:
            raise
        # An earlier order of ours (its URL lost in a crash) or another client's already
        # replaces it: RFC 9773 lets the renewal go on as a plain order.
        logger.info("request.already_replaced", extra={"request_id": str(req.id)})
        order = await step.acme.new_order(csr_pem, profile=req.profile)
    req.order_url = order.url
    req.finalize_url = order.finalize_url
    req.order_status = order.status
    req.orders_placed += 1
    check_fits(req)
    await step.commit()
    logger.info("request.order_created", extra={"request_id": str(req.id), "order": order.url})
    return order


async def _replaces(step: Step) -> str | None:
    """For a renewal at a CA that serves ARI: the RFC 9773 identifier of the certificate
    it replaces (still in the repository; a deleted one is replaced by a plain order)."""
    old_id = step.request.replaces_certificate_id
    if old_id is None or not step.acme.has_renewal_info:
        return None
    old = await step.session.get(Certificate, old_id)
    return None if old is None else ari_id_of_chain(old.chain_pem)


async def _csr_for_order(step: Step) -> bytes:
    """The CSR to order with, made with a new key the first time. A key whose order went
    invalid was never used, so the next order reuses it."""
    req = step.request
    if req.csr_pem is not None and req.private_key_sealed is not None:
        return req.csr_pem.encode()
    key_pem = await generate_key(req.key_type, req.key_size, req.curve)
    csr_pem = await asyncio.to_thread(make_csr, key_pem, req.names)
    req.private_key_sealed = step.keyring.seal(key_pem, req.seal_context)
    req.csr_pem = csr_pem.decode()
    return csr_pem


async def _resume_order(acme: AcmeConversation, order_url: str) -> OrderInfo:
    order = await acme.fetch_order(order_url)
    authorizations = [await acme.fetch_authorization(url) for url in order.authorization_urls]
    return replace(order, authorizations=authorizations)


def challenge_row(
    position: int, authz: AuthorizationInfo, challenge_type: ChallengeType,
    acme: AcmeConversation,
) -> Challenge:
    chosen = authz.challenges.get(challenge_type.value)
    if chosen is None and authz.status != AuthzStatus.VALID:
        raise AcmeError(
            f"the CA offers no {challenge_type} challenge for {authz.identifier}",
            retryable=False,
        )
    row = Challenge(
        position=position, identifier=authz.identifier, wildcard=authz.wildcard,
        authz_url=authz.url, authz_status=AuthzStatus(authz.status), type=challenge_type,
    )
    if chosen is not None:
        row.challenge_url = chosen.url
        row.token = chosen.token
        row.key_authorization = acme.key_authorization(chosen.token)
        if challenge_type is ChallengeType.DNS_01:
            row.txt_name = DNS01_PREFIX + authz.identifier
            row.txt_value = dns01_txt_value(row.key_authorization)
    check_fits(row)
    return row

