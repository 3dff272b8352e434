"""Deliveries on real servers: a real aiosmtpd server and a webhook receiver that verifies
with the ``standardwebhooks`` package. Exactly one message per (event, recipient) across
repeated rounds and a restart; 451, 550, an SMTP outage, webhook 500 and 410, and a
webhook URL on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from services.notifier.deliveries import claim_next
from services.notifier.fanout import fan_out
from shared.domain.notifications_rules import RuleSpec, create_rule
from shared.domain.notifications_webhooks import WebhookUrlRefused, new_secret
from shared.models.notifications import Channel, EventType
from shared.states import DeliveryStatus
from tests.harness.smtp import SmtpServer, smtp_server
from tests.harness.webhooks import WebhookReceiver, webhook_receiver
from tests.integration.notifier_harness import ADMIN, NAME, World, start_world

RETRY = timedelta(seconds=11)  # past the first backoff (10 s)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with webhook_receiver(new_secret()) as receiver:
        yield receiver


@pytest.fixture
async def world(tmp_path: Path, smtp: SmtpServer, hooks: WebhookReceiver
                ) -> AsyncIterator[World]:
    started = await start_world(tmp_path, smtp, hooks)
    yield started
    await started.issuer.runtime.aclose()


async def test_each_recipient_gets_one_message_across_rounds_and_a_restart(world: World) -> None:
    await world.email_rule("a@example.org", "b@example.org")
    await world.webhook_rule(events=(EventType.CERTIFICATE_ISSUED,))
    cert = await world.issue()
    assert await world.notify() == 3
    for _ in range(3):
        assert await world.notify() == 0
    world.restart()
    assert await world.notify() == 0
    assert sorted(r.recipients[0] for r in world.smtp.received) == [
        "a@example.org", "b@example.org"]
    mail = world.smtp.to("a@example.org")[0]
    assert mail.subject == f"Certificate for {NAME} issued"
    text = mail.part("plain")
    assert cert.serial in text and cert.issuer in text and "What to do next" in text
    assert cert.serial in mail.part("html")
    [call] = world.hooks.calls
    assert call.error is None, call.error
    assert call.payload["type"] == "certificate.issued"
    assert call.payload["data"]["certificate_id"] == str(cert.id)
    assert call.payload["data"]["names"] == [NAME]
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= call.headers.keys()
    sent = await world.deliveries()
    assert [d.status for d in sent] == [DeliveryStatus.SENT] * 3
    assert all(d.attempts == 1 and d.sent_at is not None for d in sent)
    print("\nEMAIL Subject:", mail.subject, "\n" + text)
    print("WEBHOOK headers:", json.dumps({k: v for k, v in call.headers.items()
                                          if k.startswith("webhook-") or k == "content-type"}))
    print("WEBHOOK body:", call.body.decode())


async def test_a_claimed_delivery_is_not_claimed_by_a_second_notifier(world: World) -> None:
    await world.email_rule("a@example.org")
    await world.issue()
    first = world.notifier
    await fan_out(first)
    second = world.restart()
    now = world.issuer.clock()
    claimed = await claim_next(first, now)
    assert claimed is not None
    assert await claim_next(second, now) is None  # leased to the first
    assert await claim_next(second, now + first.lease + timedelta(seconds=1)) == claimed


def counted(outcome: str) -> float:
    """The process's ``certkeeper_notifications_total`` for email with this outcome."""
    value = REGISTRY.get_sample_value(
        "certkeeper_notifications_total", {"channel": "email", "outcome": outcome})
    return value or 0.0


async def test_smtp_451_is_retried_then_sent(world: World) -> None:
    failed, sent = counted("failed"), counted("sent")
    await world.email_rule("a@example.org")
    world.smtp.refuse_next("451 4.3.0 try again later")
    await world.issue()
    assert await world.notify() == 0
    [delivery] = await world.deliveries()
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.last_error is not None and "451" in delivery.last_error
    assert await world.notify() == 0  # not due before the backoff
    world.issuer.clock.now += RETRY
    assert await world.notify() == 1
    [delivery] = await world.deliveries()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)
    assert len(world.smtp.received) == 1
    assert (counted("failed") - failed, counted("sent") - sent) == (1, 1)  # the metric


async def test_smtp_550_is_dead_with_the_reason(world: World) -> None:
    await world.email_rule("nobody@example.org")
    world.smtp.refuse_next("550 5.1.1 no such user")
    await world.issue()
    await world.notify()
    world.issuer.clock.now += timedelta(days=1)
    await world.notify()
    [delivery] = await world.deliveries()
    assert delivery.status is DeliveryStatus.DEAD and delivery.attempts == 1
    assert delivery.last_error is not None and "550" in delivery.last_error
    assert "no such user" in delivery.last_error
    assert world.smtp.received == []


async def test_smtp_down_queues_and_sends_when_it_returns(world: World) -> None:
    await world.email_rule("a@example.org")
    world.smtp.stop()
    await world.issue()
    assert await world.notify() == 0
    [delivery] = await world.deliveries()
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_error is not None and "unavailable" in delivery.last_error
    world.smtp.start()
    world.issuer.clock.now += RETRY
    assert await world.notify() == 1
    assert len(world.smtp.received) == 1


async def test_webhook_500_is_retried_and_410_is_dead(world: World) -> None:
    await world.webhook_rule()
    world.hooks.answer_next(500)
    first = await world.issue()
    assert await world.notify() == 0
    [delivery] = await world.deliveries()
    assert delivery.status is DeliveryStatus.FAILED and "500" in (delivery.last_error or "")
    world.issuer.clock.now += RETRY
    assert await world.notify() == 1
    calls = world.hooks.calls
    assert len(calls) == 2 and all(c.error is None for c in calls)
    assert calls[0].headers["webhook-id"] == calls[1].headers["webhook-id"]  # the same message
    assert calls[1].payload["data"]["certificate_id"] == str(first.id)
    world.hooks.answer_next(410)
    await world.issue()
    await world.notify()
    world.issuer.clock.now += timedelta(days=1)
    await world.notify()
    gone = (await world.deliveries())[-1]
    assert gone.status is DeliveryStatus.DEAD and "410" in (gone.last_error or "")
    assert len(world.hooks.calls) == 3


async def test_a_webhook_on_loopback_is_refused_unless_allowed(world: World) -> None:
    strict = world.issuer.settings.model_copy(update={"webhook_allow_private": False})
    spec = RuleSpec(name="internal", channel=Channel.WEBHOOK, url=world.hooks.url)
    async with world.issuer.ctx.sessions() as session:
        with pytest.raises(WebhookUrlRefused, match="loopback"):
            await create_rule(session, world.issuer.runtime.keyring, strict, spec, ADMIN)
    assert await world.deliveries() == []
    await world.webhook_rule()  # allowed when written; no longer when sent
    world.restart(webhook_allow_private=False)
    await world.issue()
    await world.notify()
    [delivery] = await world.deliveries()
    assert delivery.status is DeliveryStatus.DEAD
    assert "loopback" in (delivery.last_error or "")
    assert world.hooks.calls == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_and_a_login(tmp_path: Path, hooks: WebhookReceiver, security: str) -> None:
    """STARTTLS (required) or implicit TLS, verified against the server's CA, with a login;
    a wrong password is a 5xx, so the delivery is dead with the reason."""
    with smtp_server(security, login=("certkeeper", "s3cret")) as secure:
        world = await start_world(tmp_path, secure, hooks)
        try:
            await world.email_rule("a@example.org")
            await world.issue()
            assert await world.notify() == 1, [d.last_error for d in await world.deliveries()]
            assert len(secure.received) == 1
            world.restart(smtp_password=SecretStr("wrong"))
            await world.email_rule("b@example.org")
            await world.issue()
            await world.notify()
            dead = (await world.deliveries())[-2:]
            assert {d.status for d in dead} == {DeliveryStatus.DEAD}, [d.last_error for d in dead]
            assert all("535" in (d.last_error or "") for d in dead)
            assert len(secure.received) == 1
        finally:
            await world.issuer.runtime.aclose()
