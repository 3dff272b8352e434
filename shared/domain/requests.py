"""Certificate requests: validate everything, write one row, ring the doorbell."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.acme_ari import check_profile, directory_meta
from shared.acme_clients import AcmeClients
from shared.choices import ChallengeType, KeyType, ValidationMode
from shared.config import Settings
from shared.crypto import EC_CURVES, RSA_SIZES
from shared.dns.propagation import Propagation
from shared.domain import audit
from shared.domain.dns_routes import route_names
from shared.domain.pagination import Page, paginate
from shared.domain.scope import hide_unless_in_scope, requests_in_scope, require_names_in_scope
from shared.domain.tokens import Principal
from shared.errors import (
    AccountAmbiguous,
    Conflict,
    InvalidChallengeChoice,
    InvalidKeySpec,
    NotFound,
    Problem,
    ValidationProblem,
)
from shared.models import AcmeAccount, CertificateRequest, Lineage, RequestName
from shared.models.base import utcnow
from shared.names import normalize_names
from shared.queue import JobQueue
from shared.states import AccountStatus, RequestStatus

logger = logging.getLogger(__name__)

ADVANCE_REQUEST = "advance_request"
CLEANUP_REQUEST = "cleanup_request"
DEFAULT_RSA_SIZE = 2048
DEFAULT_CURVE = "p-256"


class DnsRecordsMissing(Problem):
    slug = "dns-records-missing"
    title = "The TXT records are not visible in DNS yet"
    status = 409


@dataclass(frozen=True, slots=True)
class RequestSpec:
    common_name: str
    subject_alternative_names: list[str]
    key_type: KeyType = KeyType.RSA
    key_size: int | None = None
    curve: str | None = None
    challenge_type: ChallengeType = ChallengeType.HTTP_01
    validation: ValidationMode = ValidationMode.AUTOMATIC
    dns_provider_id: UUID | None = None
    acme_account_id: UUID | None = None
    auto_renew: bool = True
    profile: str | None = None
    preferred_chain: str | None = None


def advance_job_id(request_id: UUID, version: int, origin: str = "advance") -> str:
    """One job per (request, version) and origin. The sweeper uses its own origin, so its
    doorbell is not refused because of a job that died in progress under the first id."""
    return f"{origin}:{request_id}:{version}"


async def enqueue_advance(
    queue: JobQueue, request_id: UUID, version: int, delay: float = 0.0, origin: str = "advance"
) -> bool:
    """Ask for the request's next step."""
    return await queue.enqueue(
        ADVANCE_REQUEST, str(request_id), job_id=advance_job_id(request_id, version, origin),
        defer_by=delay,
    )


def cleanup_job_id(request_id: UUID, attempt: int, origin: str = "cleanup") -> str:
    """One cleanup job per request and attempt; the sweeper rings under its own origin."""
    return f"{origin}:{request_id}:{attempt}"


async def enqueue_cleanup(
    queue: JobQueue, request_id: UUID, attempt: int = 0, delay: float = 0.0,
    origin: str = "cleanup",
) -> bool:
    """Ask for the request's DNS records to be removed (a no-op when it has none)."""
    return await queue.enqueue(
        CLEANUP_REQUEST, str(request_id), job_id=cleanup_job_id(request_id, attempt, origin),
        defer_by=delay,
    )


async def ring(queue: JobQueue, request: CertificateRequest, *, cleanup: bool = False) -> None:
    """Enqueue from the API the request's next step (or, with ``cleanup``, the removal of
    its DNS records). A lost doorbell is fine: the sweeper rings again."""
    try:
        if cleanup:
            await enqueue_cleanup(queue, request.id)
        else:
            await enqueue_advance(queue, request.id, request.version)
    except Exception:
        logger.warning("request.enqueue_failed", extra={"request_id": str(request.id)})


def key_spec(spec: RequestSpec) -> tuple[int | None, str | None]:
    """Validated (key_size, curve) with defaults filled in."""
    if spec.key_type is KeyType.RSA:
        if spec.curve is not None:
            raise InvalidKeySpec("curve applies to EC keys only")
        size = spec.key_size or DEFAULT_RSA_SIZE
        if size not in RSA_SIZES:
            raise InvalidKeySpec(f"RSA key_size must be one of {', '.join(map(str, RSA_SIZES))}")
        return size, None
    if spec.key_size is not None:
        raise InvalidKeySpec("key_size applies to RSA keys only; choose an EC curve")
    curve = (spec.curve or DEFAULT_CURVE).lower()
    if curve not in EC_CURVES:
        raise InvalidKeySpec(f"EC curve must be one of {', '.join(EC_CURVES)}")
    return None, curve


def is_automatic_dns(challenge_type: ChallengeType, validation: ValidationMode) -> bool:
    return challenge_type is ChallengeType.DNS_01 and validation is ValidationMode.AUTOMATIC


async def check_challenge(session: AsyncSession, spec: RequestSpec, names: list[str]) -> None:
    """http-01 takes no DNS provider; automatic dns-01 needs a usable provider for every
    name (the one given, or each name's from the domain mappings)."""
    if spec.challenge_type is ChallengeType.HTTP_01 and spec.dns_provider_id is not None:
        raise InvalidChallengeChoice("dns_provider_id applies to dns-01 only")
    if is_automatic_dns(spec.challenge_type, spec.validation):
        await route_names(session, names, spec.dns_provider_id)


async def resolve_account(session: AsyncSession, account_id: UUID | None) -> AcmeAccount:
    if account_id is not None:
        account = await session.get(AcmeAccount, account_id)
        if account is None or account.status is not AccountStatus.VALID:
            raise ValidationProblem(f"no usable ACME account {account_id}")
        return account
    accounts = (
        await session.scalars(
            select(AcmeAccount).where(AcmeAccount.status == AccountStatus.VALID).limit(2)
        )
    ).all()
    if not accounts:
        raise AccountAmbiguous("register an ACME account first (POST /v1/acme-accounts)")
    if len(accounts) > 1:
        raise AccountAmbiguous("several ACME accounts exist: set acme_account_id")
    return accounts[0]


async def create_request(
    session: AsyncSession,
    queue: JobQueue,
    settings: Settings,
    spec: RequestSpec,
    actor: Principal,
    *,
    acme: AcmeClients | None = None,
    before_commit: WrittenHook | None = None,
) -> CertificateRequest:
    """Check the spec, write the request and ring the issuer. ``acme`` is needed for a
    ``profile``: it is checked against the CA's directory before anything is written.
    ``before_commit`` sees the written request in the transaction that commits it. Names
    outside the actor's domain scope are refused (403) before anything else."""
    names = normalize_names(
        spec.common_name, spec.subject_alternative_names,
        challenge_type=spec.challenge_type,
        allowed_private_suffixes=settings.allowed_private_suffixes,
        allow_mixed_scripts=settings.allow_mixed_script_names,
    )
    require_names_in_scope(names, actor.domains)
    key_size, curve = key_spec(spec)
    await check_challenge(session, spec, names)
    account = await resolve_account(session, spec.acme_account_id)
    if spec.profile is not None:
        if acme is None:
            raise TypeError("a profile is checked against the CA's directory: pass acme")
        await session.commit()  # no transaction held while the directory may be fetched
        directory = await acme.directory(account.directory_url)
        check_profile(directory_meta(directory), spec.profile)
    lineage = Lineage(
        common_name=names[0], names=names, key_type=spec.key_type, key_size=key_size,
        curve=curve, challenge_type=spec.challenge_type, validation=spec.validation,
        dns_provider_id=spec.dns_provider_id, acme_account_id=account.id,
        auto_renew=spec.auto_renew, profile=spec.profile, preferred_chain=spec.preferred_chain,
    )
    session.add(lineage)
    await session.flush()
    request = request_of(lineage, created_by=actor)
    session.add(request)
    await session.flush()
    audit.record(session, actor, "certificate_request.created", "certificate_request",
                 request.id, names=names)
    await written(session, request, before_commit)
    await session.commit()
    await ring(queue, request)
    return request


WrittenHook = Callable[[CertificateRequest], None]


async def written(
    session: AsyncSession, request: CertificateRequest, hook: WrittenHook | None
) -> None:
    """Flush the new request and show it to ``hook`` before the caller commits (e.g. to
    keep the answer for an Idempotency-Key in the same transaction)."""
    if hook is not None:
        await session.flush()
        hook(request)


def request_of(
    lineage: Lineage, *, created_by: Principal, replaces_certificate_id: UUID | None = None
) -> CertificateRequest:
    """A new attempt at what the lineage wants: the first, or a renewal."""
    return CertificateRequest(
        created_by_token_id=created_by.token_id, created_by_name=created_by.name,
        name_rows=[RequestName(name=name) for name in dict.fromkeys(lineage.names)],
        lineage_id=lineage.id, common_name=lineage.common_name, names=list(lineage.names),
        key_type=lineage.key_type, key_size=lineage.key_size, curve=lineage.curve,
        challenge_type=lineage.challenge_type, validation=lineage.validation,
        dns_provider_id=lineage.dns_provider_id, acme_account_id=lineage.acme_account_id,
        auto_renew=lineage.auto_renew, replaces_certificate_id=replaces_certificate_id,
        profile=lineage.profile, preferred_chain=lineage.preferred_chain,
        status=RequestStatus.PENDING, next_run_at=utcnow(),
        attempts=0, polls=0, challenges=[],
    )


async def get_request(
    session: AsyncSession, request_id: UUID, domains: Sequence[str] = ()
) -> CertificateRequest:
    """The request; 404 when it is missing or outside the ``domains`` scope."""
    request = await session.get(CertificateRequest, request_id)
    if request is None:
        raise NotFound(f"no certificate request {request_id}")
    hide_unless_in_scope(request.names, domains, target_type="certificate_request",
                         target_id=request_id)
    return request


async def list_requests(
    session: AsyncSession, *, status: RequestStatus | None, cursor: str | None, limit: int,
    domains: Sequence[str] = (),
) -> Page[CertificateRequest]:
    stmt = select(CertificateRequest).where(requests_in_scope(domains))
    if status is not None:
        stmt = stmt.where(CertificateRequest.status == status)
    return await paginate(
        session, stmt, created_at=CertificateRequest.created_at, row_id=CertificateRequest.id,
        cursor=cursor, limit=limit,
    )


async def verify_request(
    session: AsyncSession,
    queue: JobQueue,
    request_id: UUID,
    actor: Principal,
    *,
    dns: Propagation,
    check_dns: bool = True,
) -> CertificateRequest:
    """Manual mode: the person placed the values; tell the CA to validate now. DNS-01
    records are looked up first (outside any transaction) with the same propagation check
    the automatic mode uses: a CA that finds no record fails the order for good. Of two
    racing calls exactly one wins; the other gets a 409."""
    request = await get_request(session, request_id, actor.domains)
    await session.commit()  # no transaction across the DNS lookups
    _require_status(request, RequestStatus.AWAITING_MANUAL_VALIDATION)
    if check_dns and request.challenge_type is ChallengeType.DNS_01:
        await _check_txt_records(request, dns)
    await _move(
        session, request_id, [RequestStatus.AWAITING_MANUAL_VALIDATION],
        (actor, "certificate_request.verified"),
        status=RequestStatus.VALIDATING, polls=0, next_run_at=utcnow(),
    )
    request = await _reread(session, request_id)
    await ring(queue, request)
    return request


async def _check_txt_records(request: CertificateRequest, dns: Propagation) -> None:
    """Each unanswered record must be served where the CA will look: after the CNAMEs on
    its name, by every authoritative server (or every resolver, as configured)."""
    missing: list[dict[str, str]] = []
    lacking: set[str] = set()
    for row in request.challenges:
        if row.txt_name is None or row.txt_value is None or row.answered_at is not None:
            continue
        servers = await dns.lacking(row.txt_name, row.txt_value)
        if servers:
            missing.append({"name": row.txt_name, "value": row.txt_value})
            lacking.update(servers)
    if missing:
        raise DnsRecordsMissing(
            f"{len(missing)} TXT record(s) not visible yet: "
            + ", ".join(m["name"] for m in missing) + "; not served by "
            + ", ".join(sorted(lacking)),
            missing=missing,
        )


async def cancel_request(
    session: AsyncSession, queue: JobQueue, request_id: UUID, actor: Principal
) -> CertificateRequest:
    """Stop a request that is not final. The version bump fences out a job in flight, so an
    accepted cancel always wins: the job's write fails and nothing is issued. The lease of
    such a job is left to run out: the DNS cleanup this enqueues waits for it, so a record
    the job is presenting right now is removed too."""
    await get_request(session, request_id, actor.domains)
    await _move(
        session, request_id, [s for s in RequestStatus if not s.is_final],
        (actor, "certificate_request.cancelled"),
        status=RequestStatus.CANCELLED, finished_at=utcnow(), private_key_sealed=None,
    )
    request = await _reread(session, request_id)
    if is_automatic_dns(request.challenge_type, request.validation):
        await ring(queue, request, cleanup=True)
    return request


def _require_status(request: CertificateRequest, wanted: RequestStatus) -> None:
    if request.status is not wanted:
        raise Conflict(f"request is {request.status}, not {wanted}")


async def _move(
    session: AsyncSession, request_id: UUID, allowed: list[RequestStatus],
    audited: tuple[Principal, str], **values: object,
) -> None:
    """One conditional UPDATE: apply ``values`` only while the status is in ``allowed``, and
    bump the version; ``audited`` (actor, action) is recorded in the same transaction.
    Raises NotFound or Conflict (with the status found) otherwise."""
    result = await session.execute(
        update(CertificateRequest)
        .where(CertificateRequest.id == request_id, CertificateRequest.status.in_(allowed))
        .values(version=CertificateRequest.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    moved = getattr(result, "rowcount", 0) == 1
    if moved:
        actor, action = audited
        audit.record(session, actor, action, "certificate_request", request_id)
    await session.commit()
    if not moved:
        current = await _reread(session, request_id)
        raise Conflict(f"request is {current.status}; this cannot be done now")


async def _reread(session: AsyncSession, request_id: UUID) -> CertificateRequest:
    request = await session.get(CertificateRequest, request_id, populate_existing=True)
    await session.commit()
    if request is None:
        raise NotFound(f"no certificate request {request_id}")
    return request
