"""The notifier on the issuer's test database (SQLite, migrated), with a real SMTP server
and a real webhook receiver: certificates come from the real issuer steps (scripted CA),
rules from the domain layer as the API writes them, and the clock is the issuer's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from services.notifier.context import Notifier
from services.notifier.notifier import notify_once
from shared.domain.notifications_rules import RuleSpec, create_rule
from shared.domain.tokens import Principal
from shared.models import Certificate, NotificationDelivery, NotificationEvent
from shared.models.notifications import Channel, EventType
from shared.roles import Role
from shared.states import RequestStatus
from tests.fakes.acme import authz, issuing_ca, order
from tests.harness.smtp import SmtpServer
from tests.harness.webhooks import WebhookReceiver
from tests.integration.issuer_harness import Issuer, start_issuer

NAME = "www.example.test"
ADMIN = Principal(token_id=None, name="test-admin", role=Role.ADMIN)


@dataclass
class World:
    issuer: Issuer
    smtp: SmtpServer
    hooks: WebhookReceiver
    notifier: Notifier
    orders: int = 0

    def restart(self, **settings: Any) -> Notifier:
        """A new notifier process (a new owner, nothing carried over), same database."""
        merged = self.issuer.settings.model_copy(update=settings)
        self.notifier = Notifier(merged, self.issuer.ctx.sessions, self.issuer.runtime.keyring,
                                 clock=self.issuer.clock)
        return self.notifier

    async def notify(self, *, sweep: bool = True) -> int:
        return await notify_once(self.notifier, sweep_now=sweep)

    async def email_rule(self, *recipients: str, **spec: Any) -> UUID:
        return await self._rule(RuleSpec(name=f"email-{recipients[0]}", channel=Channel.EMAIL,
                                         recipients=recipients, **spec))

    async def webhook_rule(self, **spec: Any) -> UUID:
        return await self._rule(RuleSpec(name="hook", channel=Channel.WEBHOOK,
                                         url=self.hooks.url, secret=self.hooks.secret, **spec))

    async def _rule(self, spec: RuleSpec) -> UUID:
        async with self.issuer.ctx.sessions() as session:
            rule, _secret = await create_rule(session, self.issuer.runtime.keyring,
                                              self.notifier.settings, spec, ADMIN)
        return rule.id

    async def issue(self, **spec: Any) -> Certificate:
        self.orders += 1
        self.issuer.fake.script("new_order", order(
            "pending", [authz(NAME, order=self.orders)], number=self.orders))
        issuing_ca(self.issuer.fake, [NAME], number=self.orders)
        done = await self.issuer.run(await self.issuer.request(NAME, **spec))
        assert done.status is RequestStatus.ISSUED, done.error
        assert done.certificate_id is not None
        return await self.certificate(done.certificate_id)

    async def certificate(self, certificate_id: UUID) -> Certificate:
        async with self.issuer.ctx.sessions() as session:
            row = await session.get(Certificate, certificate_id)
            assert row is not None
            return row

    async def deliveries(self, event: EventType | None = None) -> list[NotificationDelivery]:
        async with self.issuer.ctx.sessions() as session:
            stmt = select(NotificationDelivery).order_by(NotificationDelivery.created_at)
            if event is not None:
                stmt = stmt.where(NotificationDelivery.event == event)
            return list((await session.scalars(stmt)).all())

    async def events(self, kind: EventType | None = None) -> list[NotificationEvent]:
        async with self.issuer.ctx.sessions() as session:
            stmt = select(NotificationEvent).order_by(NotificationEvent.occurred_at)
            if kind is not None:
                stmt = stmt.where(NotificationEvent.type == kind)
            return list((await session.scalars(stmt)).all())

    async def count_events(self) -> int:
        async with self.issuer.ctx.sessions() as session:
            return int(await session.scalar(
                select(func.count()).select_from(NotificationEvent)) or 0)

    async def set_contact(self, email: str) -> None:
        await self.issuer.execute(f"UPDATE acme_accounts SET contact_email = '{email}' "
                                  f"WHERE id = '{self.issuer.account_id.hex}'")


async def start_world(tmp_path: Path, smtp: SmtpServer, hooks: WebhookReceiver) -> World:
    issuer = await start_issuer(tmp_path, order_retry_seconds=[60], webhook_allow_private=True,
                                **smtp.settings())
    # Webhook receivers check the signed timestamp against their own clock: start at now.
    issuer.clock.now = datetime.now(UTC)
    notifier = Notifier(issuer.settings, issuer.ctx.sessions, issuer.runtime.keyring,
                        clock=issuer.clock)
    return World(issuer, smtp, hooks, notifier)
