"""Sending deliveries exactly once. Each delivery is recorded before anything is sent; a
notifier claims one with a lease (one conditional UPDATE, so of many notifiers exactly one
takes it), reads what it needs and ends the transaction, sends, then marks the outcome
(only while it still holds the lease). A notifier killed mid-send leaves one claimed
delivery, sent again once the lease runs out: SMTP cannot be made transactional, so at
most that one message may arrive twice, never the batch."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from uuid import UUID

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from services.notifier.context import Notifier
from services.notifier.render import email_message, render_email, webhook_body
from services.notifier.senders import (
    SendOutcome,
    WebhookCall,
    permanent,
    post_webhook,
    send_email,
)
from shared import metrics
from shared.domain.notifications import retry_delay
from shared.domain.notifications_webhooks import InvalidWebhookSecret, secret_bytes
from shared.models import NotificationDelivery, NotificationEvent, NotificationRule
from shared.models.notifications import Channel
from shared.states import DeliveryStatus

logger = logging.getLogger(__name__)

MAX_PER_ROUND = 500
_OPEN = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


def _due(now: datetime) -> list[ColumnElement[bool]]:
    return [
        NotificationDelivery.status.in_(_OPEN),
        NotificationDelivery.next_attempt_at <= now,
        or_(NotificationDelivery.lease_until.is_(None), NotificationDelivery.lease_until < now),
    ]


async def claim_next(notifier: Notifier, now: datetime) -> UUID | None:
    """Lease the most overdue delivery to this notifier; None when nothing is due."""
    first = (select(NotificationDelivery.id).where(*_due(now))
             .order_by(NotificationDelivery.next_attempt_at).limit(1))
    stmt = (
        update(NotificationDelivery)
        .where(NotificationDelivery.id == first.scalar_subquery(), *_due(now))
        .values(lease_owner=notifier.owner, lease_until=now + notifier.lease)
        .returning(NotificationDelivery.id)
        .execution_options(synchronize_session=False)
    )
    async with notifier.sessions.begin() as session:
        return (await session.scalars(stmt)).first()


@dataclass(frozen=True, slots=True)
class Prepared:
    """What one send needs, read in a short transaction before any network I/O."""

    delivery_id: UUID
    channel: Channel
    recipient: str
    refusal: str | None = None
    email: EmailMessage | None = None
    webhook: WebhookCall | None = None


async def _prepare(notifier: Notifier, delivery_id: UUID, now: datetime) -> Prepared | None:
    async with notifier.sessions() as session:
        delivery = await session.get(NotificationDelivery, delivery_id)
        if delivery is None:
            return None
        event = await session.get(NotificationEvent, delivery.event_id)
        rule = None if delivery.rule_id is None else await session.get(
            NotificationRule, delivery.rule_id)
        await session.commit()
    base = Prepared(delivery.id, delivery.channel, delivery.recipient)
    if event is None:
        return _refused(base, "the event is gone")
    if rule is not None and not rule.enabled:
        return _refused(base, "the rule was disabled before the message was sent")
    if delivery.channel is Channel.EMAIL:
        rendered = render_email(event.type, event.data, event.occurred_at,
                                delivery.threshold_days)
        message = email_message(rendered, sender=notifier.settings.smtp_from,
                                recipient=delivery.recipient, delivery_id=delivery.id, now=now)
        return Prepared(delivery.id, delivery.channel, delivery.recipient, email=message)
    if rule is None or rule.secret_sealed is None:
        return _refused(base, "the webhook rule was deleted before the message was sent")
    try:
        key = secret_bytes(notifier.keyring.open(rule.secret_sealed, rule.seal_context).decode())
    except InvalidWebhookSecret as exc:
        return _refused(base, exc.detail)
    body = webhook_body(event.type, event.data, event.occurred_at, delivery.threshold_days)
    call = WebhookCall(delivery.recipient, key, f"msg_{delivery.id.hex}", body)
    return Prepared(delivery.id, delivery.channel, delivery.recipient, webhook=call)


def _refused(base: Prepared, reason: str) -> Prepared:
    return Prepared(base.delivery_id, base.channel, base.recipient, refusal=reason)


async def _send(notifier: Notifier, prepared: Prepared, now: datetime) -> SendOutcome:
    if prepared.refusal is not None:
        return permanent(prepared.refusal)
    if prepared.webhook is not None:
        return await post_webhook(notifier.settings, prepared.webhook, now)
    if prepared.email is None:
        return permanent("nothing to send")
    return await send_email(notifier.settings, prepared.email)


async def _record(notifier: Notifier, delivery_id: UUID, outcome: SendOutcome) -> None:
    """Write the outcome, only if this notifier still holds the lease."""
    now = notifier.clock()
    async with notifier.sessions.begin() as session:
        delivery = await session.get(NotificationDelivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.lease_owner != notifier.owner:
            return
        delivery.attempts += 1
        delivery.lease_owner = delivery.lease_until = None
        delivery.updated_at = now
        if outcome.sent:
            delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, now, None
        elif outcome.permanent:
            delivery.status, delivery.last_error = DeliveryStatus.DEAD, outcome.reason
        else:
            delay = retry_delay(delivery.attempts)
            if delay is None:
                delivery.status = DeliveryStatus.DEAD
                delivery.last_error = f"gave up after {delivery.attempts} tries: {outcome.reason}"
            else:
                delivery.status, delivery.last_error = DeliveryStatus.FAILED, outcome.reason
                delivery.next_attempt_at = now + delay
        status, channel = delivery.status, delivery.channel
    metrics.notification_sent(channel.value, status.value)
    log = logger.info if status is DeliveryStatus.SENT else logger.warning
    log("notification.delivery", extra={
        "delivery_id": str(delivery_id), "status": status.value, "reason": outcome.reason})


async def deliver_one(notifier: Notifier, delivery_id: UUID) -> SendOutcome | None:
    """Send one claimed delivery and record what became of it. A message that cannot even
    be built is a bug: logged with its traceback, and the delivery is dead, not retried."""
    try:
        prepared = await _prepare(notifier, delivery_id, notifier.clock())
    except SQLAlchemyError:
        raise  # the database: the lease runs out and the delivery is tried again
    except Exception as exc:
        logger.exception("notification.build_failed", extra={"delivery_id": str(delivery_id)})
        prepared = Prepared(delivery_id, Channel.EMAIL, "",
                            refusal=f"the message could not be built: {type(exc).__name__}")
    if prepared is None:
        return None
    outcome = await _send(notifier, prepared, notifier.clock())
    await _record(notifier, delivery_id, outcome)
    return outcome


async def deliver_due(notifier: Notifier) -> int:
    """Send every due delivery, one claim at a time; returns how many were sent."""
    sent = 0
    for _ in range(MAX_PER_ROUND):
        delivery_id = await claim_next(notifier, notifier.clock())
        if delivery_id is None:
            break
        outcome = await deliver_one(notifier, delivery_id)
        sent += bool(outcome and outcome.sent)
    return sent
