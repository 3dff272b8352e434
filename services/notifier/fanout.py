"""Outbox events become deliveries: one per matching rule and recipient (the account's
contact when no rule matches an expiry or failure), all written with the event marked
done in one transaction. A delivery's key is unique, so an event fanned out twice (two
notifiers at once) still makes each delivery once."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import select, update

from services.notifier.context import Notifier
from services.notifier.store import insert_new
from shared.domain.notifications import EventView, RuleView, plan_deliveries
from shared.models import AcmeAccount, NotificationDelivery, NotificationEvent, NotificationRule
from shared.models.notifications import Channel
from shared.states import DeliveryStatus

logger = logging.getLogger(__name__)

BATCH = 100


def rule_view(rule: NotificationRule) -> RuleView:
    recipients = rule.recipients if rule.channel is Channel.EMAIL else [rule.url or ""]
    return RuleView(
        id=rule.id, channel=rule.channel, recipients=tuple(recipients),
        events=frozenset(rule.events), domains=tuple(rule.domains),
        thresholds_days=tuple(rule.expiry_thresholds_days), enabled=rule.enabled,
    )


def event_view(event: NotificationEvent, contacts: dict[str, str | None]) -> EventView:
    data = event.data if isinstance(event.data, dict) else {}
    threshold = data.get("threshold_days")
    names = data.get("names")
    return EventView(
        id=event.id, type=event.type, certificate_id=event.certificate_id,
        names=tuple(str(n) for n in names) if isinstance(names, list) else (),
        threshold_days=threshold if isinstance(threshold, int) else None,
        contact_email=contacts.get(str(data.get("acme_account_id"))),
    )


async def fan_out(notifier: Notifier) -> int:
    """Fan out up to ``BATCH`` events; returns how many (0: the outbox is empty)."""
    now = notifier.clock()
    async with notifier.sessions() as session:
        events = list((await session.scalars(
            select(NotificationEvent).where(NotificationEvent.fanned_out_at.is_(None))
            .order_by(NotificationEvent.occurred_at).limit(BATCH))).all())
        if not events:
            await session.commit()
            return 0
        rules = [rule_view(r) for r in (await session.scalars(
            select(NotificationRule).where(NotificationRule.enabled.is_(True)))).all()]
        contacts = {str(account_id): email for account_id, email in (await session.execute(
            select(AcmeAccount.id, AcmeAccount.contact_email))).all()}
        rows: list[dict[str, Any]] = []
        for event in events:
            for planned in plan_deliveries(event_view(event, contacts), rules):
                rows.append({
                    "id": uuid4(), "key": planned.key, "event_id": event.id,
                    "rule_id": planned.rule_id, "event": event.type,
                    "certificate_id": event.certificate_id, "request_id": event.request_id,
                    "threshold_days": planned.threshold_days, "channel": planned.channel,
                    "recipient": planned.recipient, "status": DeliveryStatus.PENDING,
                    "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now,
                })
        await insert_new(session, NotificationDelivery, rows, "key")
        ids: list[UUID] = [e.id for e in events]
        await session.execute(
            update(NotificationEvent)
            .where(NotificationEvent.id.in_(ids), NotificationEvent.fanned_out_at.is_(None))
            .values(fanned_out_at=now).execution_options(synchronize_session=False))
        await session.commit()
    logger.info("notifier.fanned_out", extra={"events": len(events), "deliveries": len(rows)})
    return len(events)
