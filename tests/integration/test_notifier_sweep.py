"""Events no state change causes, with a clock the test moves: expiry thresholds crossed in
order, each once, across repeated sweeps and a restart; a renewed or revoked certificate
stops alerting; ``renewal.overdue`` when the renewer is stopped and the renewal time passes,
and not when it runs. Events in the same transaction as their cause: a change rolled back
leaves none. Without a matching rule the account contact hears of failures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from services.renewer.renewer import IN_FLIGHT_RECHECK, Renewer, renew_once
from shared.domain.notifications_rules import delete_rule
from shared.domain.renewals import supersede
from shared.errors import AcmeError
from shared.models.notifications import EventType
from shared.states import CertificateStatus, DeliveryStatus, RequestStatus
from tests.fakes.acme import authz, issuing_ca, order
from tests.harness.smtp import SmtpServer, smtp_server
from tests.harness.webhooks import WebhookReceiver, webhook_receiver
from tests.integration.notifier_harness import ADMIN, NAME, World, start_world

GRACE = timedelta(hours=1)  # the overdue margin also delays an expiry notice
EXPIRING = (EventType.CERTIFICATE_EXPIRING,)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with webhook_receiver("whsec_" + "MDEyMzQ1Njc4OWFiY2RlZg==") as receiver:
        yield receiver


@pytest.fixture
async def world(tmp_path: Path, smtp: SmtpServer, hooks: WebhookReceiver
                ) -> AsyncIterator[World]:
    started = await start_world(tmp_path, smtp, hooks)
    yield started
    await started.issuer.runtime.aclose()


def subjects(world: World, recipient: str) -> list[str]:
    return [m.subject for m in world.smtp.to(recipient)]


async def test_thresholds_are_crossed_in_order_each_once(world: World) -> None:
    await world.email_rule("ops@example.org", events=EXPIRING)
    await world.email_rule("late@example.org", events=EXPIRING, expiry_thresholds_days=(7,))
    cert = await world.issue(auto_renew=False)
    expected = []
    for days in (30, 14, 7, 3, 1):
        world.issuer.clock.now = cert.not_after - timedelta(days=days)
        await world.notify()
        assert subjects(world, "ops@example.org") == expected  # not before the grace
        world.issuer.clock.now += GRACE
        for _ in range(3):
            await world.notify()
        world.restart()
        await world.notify()
        left = "23 hours" if days == 1 else f"{days} days"  # counted from the grace on
        expected.append(f"Certificate for {NAME} expires in {left}")
        assert subjects(world, "ops@example.org") == expected
    assert subjects(world, "late@example.org") == [
        f"Certificate for {NAME} expires in 7 days"]  # its one threshold, once
    assert len(await world.events(EventType.CERTIFICATE_EXPIRING)) == 5


async def test_a_certificate_first_seen_late_gets_only_the_most_urgent_notice(
        world: World) -> None:
    await world.email_rule("ops@example.org", events=EXPIRING)
    cert = await world.issue(auto_renew=False)
    world.issuer.clock.now = cert.not_after - timedelta(days=5)
    for _ in range(2):
        await world.notify()
    assert subjects(world, "ops@example.org") == [f"Certificate for {NAME} expires in 5 days"]
    [delivery] = await world.deliveries()
    assert delivery.threshold_days == 7


async def test_renewed_or_revoked_certificates_stop_alerting(world: World) -> None:
    await world.email_rule("ops@example.org", events=EXPIRING)
    revoked = await world.issue(auto_renew=False)
    await world.issuer.execute(
        f"UPDATE certificates SET status = 'revoked' WHERE id = '{revoked.id.hex}'")
    world.issuer.clock.now = revoked.not_after - timedelta(days=2)
    await world.notify()
    assert world.smtp.received == []
    assert await world.events(EventType.CERTIFICATE_EXPIRING) == []


async def test_overdue_when_the_renewer_is_stopped_and_not_otherwise(world: World) -> None:
    await world.email_rule("ops@example.org", events=(EventType.RENEWAL_OVERDUE,))
    stalled = await world.issue()
    assert stalled.renewal_at is not None
    world.issuer.clock.now = stalled.renewal_at + GRACE  # due, within the margin
    await world.notify()
    assert world.smtp.received == []
    world.issuer.clock.now += timedelta(seconds=1)  # past it, and nobody renewed
    for _ in range(3):
        await world.notify()
    assert subjects(world, "ops@example.org") == [f"Certificate for {NAME}: renewal overdue"]
    body = world.smtp.received[0].part("plain")
    assert stalled.renewal_at.isoformat() in body and "renewer" in body


async def test_no_overdue_alert_while_the_renewer_renews(world: World) -> None:
    """A renewal that takes two hours (a slow CA), with the renewer looking at it every
    minute as it does: never overdue. Then it is issued and the old one stops alerting."""
    await world.email_rule("ops@example.org", events=(EventType.RENEWAL_OVERDUE,))
    cert = await world.issue()
    assert cert.renewal_at is not None
    renewer = Renewer(world.issuer.settings, world.issuer.ctx.sessions, world.issuer.ctx.queue,
                      world.issuer.fake,
                      clock=world.issuer.clock)
    world.issuer.clock.now = cert.renewal_at
    assert await renew_once(renewer) == 1
    for minute in range(120):
        world.issuer.clock.now += IN_FLIGHT_RECHECK
        await renew_once(renewer)
        if minute % 10 == 0:
            await world.notify()
    assert world.smtp.received == []
    request_id = (await world.certificate(cert.id)).renewal_request_id
    assert request_id is not None
    world.orders += 1
    world.issuer.fake.script("new_order", order("pending", [authz(NAME, order=world.orders)],
                                                number=world.orders))
    issuing_ca(world.issuer.fake, [NAME], number=world.orders)
    assert (await world.issuer.run(request_id)).status is RequestStatus.ISSUED
    world.issuer.clock.now += timedelta(days=1)
    await world.notify()
    old = await world.certificate(cert.id)
    assert old.status is CertificateStatus.RENEWED
    # (The scripted CA dates its certificates by the wall clock, so the successor is
    # itself past its planned renewal at the test's clock: only the old one is asked about.)
    assert [d for d in await world.deliveries() if d.certificate_id == cert.id] == []
    assert [e.certificate_id for e in await world.events(EventType.CERTIFICATE_RENEWED)] == [
        old.replaced_by_id]


async def test_a_change_rolled_back_leaves_no_event(world: World) -> None:
    old = await world.issue()
    new = await world.issue()
    before = await world.count_events()
    async with world.issuer.ctx.sessions() as session:
        assert await supersede(session, old.id, new.id)  # the event is in this session...
        await session.rollback()  # ...and goes with the change
    assert await world.count_events() == before
    assert (await world.certificate(old.id)).status is CertificateStatus.ACTIVE
    async with world.issuer.ctx.sessions() as session:
        assert await supersede(session, old.id, new.id)
        await session.commit()
    assert [e.certificate_id for e in await world.events(EventType.CERTIFICATE_RENEWED)] == [
        new.id]
    async with world.issuer.ctx.sessions() as session:
        assert not await supersede(session, old.id, new.id)  # once renewed, never again
        await session.commit()
    assert await world.count_events() == before + 1


async def test_without_a_rule_the_account_contact_hears_of_failures(world: World) -> None:
    await world.set_contact("owner@example.org")
    cert = await world.issue()
    assert cert.renewal_at is not None
    renewer = Renewer(world.issuer.settings, world.issuer.ctx.sessions, world.issuer.ctx.queue,
                      world.issuer.fake,
                      clock=world.issuer.clock)
    world.issuer.clock.now = cert.renewal_at
    assert await renew_once(renewer) == 1
    renewal = await world.certificate(cert.id)
    assert renewal.renewal_request_id is not None
    world.issuer.fake.script("new_order",
                             AcmeError("DNS provider refused credentials", retryable=False))
    failed = await world.issuer.step(renewal.renewal_request_id)
    assert failed.status is RequestStatus.FAILED
    world.issuer.clock.now += IN_FLIGHT_RECHECK
    await renew_once(renewer)
    await world.notify()
    assert sorted(subjects(world, "owner@example.org")) == sorted([
        f"Certificate for {NAME}: renewal failing: DNS provider refused credentials",
        f"Certificate request for {NAME} failed: DNS provider refused credentials",
    ])
    issued = await world.deliveries(EventType.CERTIFICATE_ISSUED)
    assert issued == []  # good news goes to rules only
    [event] = await world.events(EventType.RENEWAL_FAILED)
    assert event.data["attempts"] == 1 and event.certificate_id == cert.id


async def test_a_deleted_rule_leaves_its_history_and_sends_nothing_more(world: World) -> None:
    rule_id = await world.email_rule("ops@example.org")
    world.smtp.stop()
    await world.issue()
    await world.notify()
    async with world.issuer.ctx.sessions() as session:
        await delete_rule(session, rule_id, ADMIN)
    world.smtp.start()
    world.issuer.clock.now += timedelta(minutes=5)
    await world.notify()
    [delivery] = await world.deliveries()
    assert delivery.rule_id is None and delivery.status is DeliveryStatus.DEAD
    assert world.smtp.received == []
