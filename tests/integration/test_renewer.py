"""The renewer's decisions with a clock the test moves, on a real SQLite database: the
certificate comes from the real issuer steps (scripted CA), the renewal request is worked
by the same steps, and every decision is read back from the rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import func, select

from services.renewer.renewer import (
    ARI_RETRY_AFTER_FAILURE,
    IN_FLIGHT_RECHECK,
    Renewer,
    claim_due,
    renew_once,
)
from shared.acme_ari import RenewalWindow, ari_id_of_chain
from shared.db import read_connection
from shared.domain import certificates as repository
from shared.domain.renewals import change_renewal
from shared.errors import AcmeError
from shared.models import Certificate, CertificateRequest
from shared.states import CertificateStatus, RenewalSource, RequestStatus
from tests.fakes.acme import authz, issuing_ca, order
from tests.integration.issuer_harness import TESTER, Issuer, start_issuer

NAME = "www.example.test"


@pytest.fixture
async def issuer(tmp_path: Path) -> AsyncIterator[Issuer]:
    started = await start_issuer(tmp_path, order_retry_seconds=[60])
    yield started
    await started.runtime.aclose()


def renewer_of(issuer: Issuer) -> Renewer:
    return Renewer(issuer.settings, issuer.ctx.sessions, issuer.ctx.queue, issuer.fake,
                   clock=issuer.clock)


def script_order(issuer: Issuer, number: int) -> None:
    issuer.fake.script("new_order", order("pending", [authz(NAME, order=number)], number=number))


async def issued(issuer: Issuer, **spec: object) -> Certificate:
    script_order(issuer, 1)
    issuing_ca(issuer.fake, [NAME])
    done = await issuer.run(await issuer.request(NAME, **spec))
    assert done.status is RequestStatus.ISSUED, done.error
    assert done.certificate_id is not None
    return await cert_row(issuer, done.certificate_id)


async def cert_row(issuer: Issuer, certificate_id: UUID) -> Certificate:
    async with issuer.ctx.sessions() as session:
        row = await session.get(Certificate, certificate_id)
        assert row is not None
        return row


async def requests_of(issuer: Issuer, lineage_id: UUID) -> list[CertificateRequest]:
    async with issuer.ctx.sessions() as session:
        stmt = (select(CertificateRequest).where(CertificateRequest.lineage_id == lineage_id)
                .order_by(CertificateRequest.created_at))
        return list((await session.scalars(stmt)).all())


async def test_renewed_once_at_two_thirds_of_life_in_the_same_lineage(issuer: Issuer) -> None:
    old = await issued(issuer)
    lifetime = old.not_after - old.not_before
    assert old.renewal_source is RenewalSource.LIFETIME
    assert old.renewal_at == old.not_after - lifetime / 3
    renewer = renewer_of(issuer)
    issuer.clock.now = old.renewal_at - timedelta(seconds=1)
    assert await renew_once(renewer) == 0
    issuer.clock.now = old.renewal_at
    assert await renew_once(renewer) == 1
    assert await renew_once(renewer) == 0  # in flight: not started twice
    _first, renewal = await requests_of(issuer, old.lineage_id)
    assert renewal.replaces_certificate_id == old.id and renewal.names == [NAME]
    assert renewal.status is RequestStatus.PENDING
    script_order(issuer, 2)
    done = await issuer.run(renewal.id)
    assert done.status is RequestStatus.ISSUED, done.error
    assert done.certificate_id is not None
    new, old = await cert_row(issuer, done.certificate_id), await cert_row(issuer, old.id)
    assert (new.status, old.status) == (CertificateStatus.ACTIVE, CertificateStatus.RENEWED)
    assert (new.replaces_id, old.replaced_by_id) == (old.id, new.id)
    assert new.lineage_id == old.lineage_id and new.renewal_at is not None
    issuer.clock.now = new.renewal_at - timedelta(seconds=1)
    assert await renew_once(renewer) == 0  # the old one is renewed; the new one not yet due
    assert len(await requests_of(issuer, old.lineage_id)) == 2


async def test_failures_back_off_and_show_on_the_certificate(issuer: Issuer) -> None:
    """Each renewal request fails at once; the renewer, woken at each planned moment,
    starts the next one 1, 10, 100 minutes, then a day, then a day after each failure."""
    cert = await issued(issuer)
    renewer = renewer_of(issuer)
    starts = []
    for _ in range(20):
        assert cert.renewal_at is not None
        issuer.clock.now = cert.renewal_at
        if await renew_once(renewer):
            starts.append(issuer.clock.now)
            pending = (await requests_of(issuer, cert.lineage_id))[-1]
            issuer.fake.script("new_order", AcmeError("the CA refused", retryable=False))
            assert (await issuer.step(pending.id)).status is RequestStatus.FAILED
        cert = await cert_row(issuer, cert.id)
        if len(starts) == 6:
            break
    assert cert.renewal_attempts == 5
    assert cert.renewal_error is not None and "refused" in str(cert.renewal_error)
    minute, day = timedelta(minutes=1), timedelta(days=1)
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert gaps == [minute, 10 * minute, 100 * minute, day, day]


async def test_a_rate_limit_retry_time_is_honoured(issuer: Issuer) -> None:
    cert = await issued(issuer)
    renewer = renewer_of(issuer)
    issuer.clock.now = cert.renewal_at or cert.not_after
    assert await renew_once(renewer) == 1
    pending = (await requests_of(issuer, cert.lineage_id))[-1]
    issuer.fake.script("new_order", AcmeError("rateLimited", retryable=False))
    await issuer.step(pending.id)
    retry_at = issuer.clock.now + timedelta(hours=3)
    issuer.clock.now += IN_FLIGHT_RECHECK
    async with issuer.ctx.sessions.begin() as session:
        row = await session.get(CertificateRequest, pending.id)
        assert row is not None
        row.retry_not_before = retry_at
    assert await renew_once(renewer) == 0
    assert (await cert_row(issuer, cert.id)).renewal_at == retry_at


async def test_revoked_or_not_auto_renewing_certificates_are_left_alone(issuer: Issuer) -> None:
    cert = await issued(issuer)
    second = await issued(issuer, auto_renew=False)
    assert second.auto_renew is False
    await issuer.execute(f"UPDATE certificates SET status = 'revoked' WHERE id = '{cert.id.hex}'")
    issuer.clock.now = cert.not_after - timedelta(seconds=1)
    assert await renew_once(renewer_of(issuer)) == 0
    assert len(await requests_of(issuer, cert.lineage_id)) == 1
    assert len(await requests_of(issuer, second.lineage_id)) == 1


async def test_past_not_after_becomes_expired_and_leaves_the_active_list(issuer: Issuer) -> None:
    cert = await issued(issuer, auto_renew=False)
    issuer.clock.now = cert.not_after
    await renew_once(renewer_of(issuer))
    assert (await cert_row(issuer, cert.id)).status is CertificateStatus.EXPIRED
    async with read_connection(issuer.runtime.engine) as connection:
        page = await repository.list_certificates(
            connection, repository.CertificateFilter(status=CertificateStatus.ACTIVE),
            cursor=None, limit=10,
        )
    assert page.items == []


async def test_override_replans_and_wins(issuer: Issuer) -> None:
    cert = await issued(issuer)
    async with issuer.ctx.sessions() as session:
        changed = await change_renewal(
            session, cert.id, issuer.clock.now, TESTER, auto_renew=None,
            renew_before_seconds=3600, clear_renew_before=True,
        )
    assert changed.renewal_source is RenewalSource.OVERRIDE
    assert changed.renewal_at == cert.not_after - timedelta(hours=1)
    assert changed.renew_before_seconds == 3600


async def test_manual_lineage_gets_its_renewal_waiting_for_a_person(issuer: Issuer) -> None:
    cert = await issued(issuer)
    # The lineage now wants manual validation (as one created manual does).
    await issuer.execute(
        f"UPDATE lineages SET validation = 'manual' WHERE id = '{cert.lineage_id.hex}'"
    )
    renewer = renewer_of(issuer)
    issuer.clock.now = cert.renewal_at or cert.not_after
    assert await renew_once(renewer) == 1
    renewal = (await requests_of(issuer, cert.lineage_id))[-1]
    script_order(issuer, 2)
    waiting = await issuer.run(renewal.id)
    assert waiting.status is RequestStatus.AWAITING_MANUAL_VALIDATION
    issuer.clock.now += timedelta(days=1)
    assert await renew_once(renewer) == 0  # still waiting for the person: no second request
    assert len(await requests_of(issuer, cert.lineage_id)) == 2
    assert issuer.clock.now < cert.not_after


async def test_a_renewer_killed_after_its_claim_loses_nothing(issuer: Issuer) -> None:
    cert = await issued(issuer)
    first, second = renewer_of(issuer), renewer_of(issuer)
    issuer.clock.now = cert.renewal_at or cert.not_after
    claimed = await claim_due(first, issuer.clock.now)  # ...and dies here
    assert [certificate_id for certificate_id, _ask in claimed] == [cert.id]
    assert await renew_once(second) == 0  # the lease keeps the second out
    issuer.clock.now += timedelta(seconds=issuer.settings.job_lease_seconds + 1)
    assert await renew_once(second) == 1
    async with issuer.ctx.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(CertificateRequest)
                                     .where(CertificateRequest.lineage_id == cert.lineage_id))
    assert count == 2


async def ari_issued(issuer: Issuer) -> Certificate:
    """A certificate from a CA that serves ARI, issued at the scripted CA's real time."""
    issuer.fake.has_renewal_info = True
    issuer.clock.now = datetime.now(UTC)
    return await issued(issuer)


def window(cert: Certificate, start: float, end: float, retry_after: int) -> RenewalWindow:
    lifetime = cert.not_after - cert.not_before
    return RenewalWindow(cert.not_before + lifetime * start, cert.not_before + lifetime * end,
                         retry_after_seconds=retry_after)


async def test_the_cas_window_decides_is_asked_again_after_retry_after_and_named_in_replaces(
    issuer: Issuer,
) -> None:
    cert = await ari_issued(issuer)
    first, moved = window(cert, 0.5, 0.6, 3600), window(cert, 0.2, 0.25, 3600)
    issuer.fake.script("renewal_info", first, first, moved)
    renewer = renewer_of(issuer)
    asked_at = issuer.clock.now
    assert await renew_once(renewer) == 0  # a new certificate's CA is asked at once
    row = await cert_row(issuer, cert.id)
    assert row.renewal_source is RenewalSource.ARI and row.renewal_at is not None
    assert first.start <= row.renewal_at < first.end
    assert row.ari_check_at == asked_at + timedelta(hours=1)
    drawn = row.renewal_at

    issuer.clock.now += timedelta(minutes=59)
    assert await renew_once(renewer) == 0
    assert issuer.fake.count("renewal_info") == 1  # not asked again before its Retry-After
    issuer.clock.now += timedelta(minutes=1)
    assert await renew_once(renewer) == 0
    assert issuer.fake.count("renewal_info") == 2
    assert (await cert_row(issuer, cert.id)).renewal_at == drawn  # same window: same moment

    issuer.clock.now += timedelta(hours=1)
    assert await renew_once(renewer) == 0
    row = await cert_row(issuer, cert.id)
    assert row.renewal_at is not None and moved.start <= row.renewal_at < moved.end

    issuer.fake.always("renewal_info", moved)
    issuer.clock.now = row.renewal_at
    assert await renew_once(renewer) == 1
    _first, renewal = await requests_of(issuer, cert.lineage_id)
    script_order(issuer, 2)
    assert (await issuer.run(renewal.id)).status is RequestStatus.ISSUED
    assert issuer.fake.order_options[-1]["replaces"] == ari_id_of_chain(cert.chain_pem)
    assert issuer.fake.order_options[0]["replaces"] is None  # the first order replaced nothing


async def test_a_ca_without_ari_is_never_asked_and_a_failing_one_again_later(
    issuer: Issuer,
) -> None:
    issuer.clock.now = datetime.now(UTC)
    plain = await issued(issuer)  # has_renewal_info is False: the CA lists no renewalInfo
    assert (await cert_row(issuer, plain.id)).ari_check_at is None  # nothing to ask it
    renewer = renewer_of(issuer)
    await renew_once(renewer)
    row = await cert_row(issuer, plain.id)
    assert row.ari_check_at is None and row.renewal_source is RenewalSource.LIFETIME

    failing = await ari_issued(issuer)
    issuer.fake.script("renewal_info", AcmeError("the CA is down", retryable=True))
    await renew_once(renewer)
    row = await cert_row(issuer, failing.id)
    assert row.ari_check_at == issuer.clock.now + ARI_RETRY_AFTER_FAILURE
    assert (row.renewal_at, row.renewal_source) == (failing.renewal_at, RenewalSource.LIFETIME)


async def test_a_window_already_over_renews_now(issuer: Issuer) -> None:
    cert = await ari_issued(issuer)
    over = RenewalWindow(issuer.clock.now - timedelta(hours=2),
                         issuer.clock.now - timedelta(hours=1), retry_after_seconds=60)
    issuer.fake.script("renewal_info", over)
    renewer = renewer_of(issuer)
    assert await renew_once(renewer) == 1  # asked, and due at once, in the same pass
    row = await cert_row(issuer, cert.id)
    assert row.renewal_source is RenewalSource.ARI and row.renewal_request_id is not None
    assert row.ari_check_at is None  # while its renewal is in flight the CA is not asked
