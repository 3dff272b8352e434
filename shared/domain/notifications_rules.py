"""Notification rules (``/v1/notification-rules``) and the deliveries they made
(``/v1/notifications``). A rule is checked whole before it is written: an email rule has
recipients and no URL; a webhook rule has a URL (resolved and checked against private
addresses) and a secret (given as ``whsec_<base64>``, or generated and shown once)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID, uuid4

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.crypto import Keyring
from shared.domain import audit
from shared.domain.certificates import normalize_domain
from shared.domain.notifications import DEFAULT_THRESHOLDS_DAYS, normalized_thresholds
from shared.domain.notifications_webhooks import checked_target, new_secret, secret_bytes
from shared.domain.pagination import Page, paginate
from shared.domain.tokens import Principal
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.models import NotificationDelivery, NotificationRule
from shared.models.notifications import Channel, EventType
from shared.states import DeliveryStatus

TARGET = "notification_rule"


class InvalidRule(ValidationProblem):
    slug = "invalid-notification-rule"
    title = "The notification rule does not fit its channel"


@dataclass(frozen=True, slots=True)
class RuleSpec:
    name: str
    channel: Channel
    recipients: tuple[str, ...] = ()
    url: str | None = None
    secret: str | None = None
    events: tuple[EventType, ...] = ()
    domains: tuple[str, ...] = ()
    expiry_thresholds_days: tuple[int, ...] = DEFAULT_THRESHOLDS_DAYS
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class RuleChange:
    """A PATCH: ``None`` leaves a field as it is."""

    name: str | None = None
    recipients: tuple[str, ...] | None = None
    url: str | None = None
    secret: str | None = None
    events: tuple[EventType, ...] | None = None
    domains: tuple[str, ...] | None = None
    expiry_thresholds_days: tuple[int, ...] | None = None
    enabled: bool | None = None


def _suffix(domain: str) -> str:
    return normalize_domain(domain.strip().removeprefix("*.").strip("."))


def _checked(spec: RuleSpec) -> RuleSpec:
    """The spec as stored (domains normalised, thresholds sorted), or ``InvalidRule``."""
    if spec.channel is Channel.EMAIL:
        if not spec.recipients:
            raise InvalidRule("an email rule needs at least one address in recipients")
        if spec.url is not None or spec.secret is not None:
            raise InvalidRule("url and secret belong to webhook rules")
    else:
        if spec.url is None:
            raise InvalidRule("a webhook rule needs a url")
        if spec.recipients:
            raise InvalidRule("recipients belong to email rules; a webhook goes to its url")
        if spec.secret is not None:
            secret_bytes(spec.secret)
    if not spec.expiry_thresholds_days:
        raise InvalidRule("expiry_thresholds_days needs at least one threshold")
    return replace(
        spec, recipients=tuple(dict.fromkeys(r.strip() for r in spec.recipients)),
        events=tuple(dict.fromkeys(spec.events)),
        domains=tuple(dict.fromkeys(_suffix(d) for d in spec.domains)),
        expiry_thresholds_days=tuple(normalized_thresholds(spec.expiry_thresholds_days)),
    )


async def _commit(session: AsyncSession, name: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a notification rule named {name!r} exists already") from None


async def _require_unique_name(session: AsyncSession, name: str, own_id: UUID | None) -> None:
    found = await session.scalar(select(NotificationRule.id).where(NotificationRule.name == name))
    if found is not None and found != own_id:
        raise Conflict(f"a notification rule named {name!r} exists already")


def _apply(rule: NotificationRule, spec: RuleSpec, keyring: Keyring) -> None:
    rule.name, rule.channel, rule.url = spec.name, spec.channel, spec.url
    rule.recipients = list(spec.recipients)
    rule.events = [e.value for e in spec.events]
    rule.domains = list(spec.domains)
    rule.expiry_thresholds_days = list(spec.expiry_thresholds_days)
    rule.enabled = spec.enabled
    if spec.secret is not None:
        rule.secret_sealed = keyring.seal(spec.secret.encode(), rule.seal_context)


async def create_rule(
    session: AsyncSession, keyring: Keyring, settings: Settings, spec: RuleSpec,
    actor: Principal,
) -> tuple[NotificationRule, str | None]:
    """The new rule, and the secret when one was generated (shown this once)."""
    generated = None
    if spec.channel is Channel.WEBHOOK and spec.secret is None:
        generated = new_secret()
        spec = replace(spec, secret=generated)
    spec = _checked(spec)
    if spec.url is not None:  # resolved before any row is read or written
        await checked_target(spec.url, allow_private=settings.webhook_allow_private)
    await _require_unique_name(session, spec.name, None)
    rule = NotificationRule(id=uuid4(), secret_sealed=None)
    _apply(rule, spec, keyring)
    session.add(rule)
    audit.record(session, actor, "notification_rule.created", TARGET, rule.id,
                 name=rule.name, channel=rule.channel.value)
    await _commit(session, spec.name)
    return rule, generated


async def get_rule(session: AsyncSession, rule_id: UUID) -> NotificationRule:
    rule = await session.get(NotificationRule, rule_id)
    if rule is None:
        raise NotFound(f"no notification rule {rule_id}")
    return rule


async def list_rules(session: AsyncSession, cursor: str | None, limit: int
                     ) -> Page[NotificationRule]:
    return await paginate(session, select(NotificationRule),
                          created_at=NotificationRule.created_at, row_id=NotificationRule.id,
                          cursor=cursor, limit=limit)


async def update_rule(
    session: AsyncSession, keyring: Keyring, settings: Settings, rule_id: UUID,
    change: RuleChange, actor: Principal,
) -> NotificationRule:
    """Apply a PATCH, checked as a whole; a changed URL is resolved and checked again."""
    if change.url is not None:
        await checked_target(change.url, allow_private=settings.webhook_allow_private)
    rule = await get_rule(session, rule_id)
    current = RuleSpec(
        name=rule.name, channel=rule.channel, recipients=tuple(rule.recipients), url=rule.url,
        events=tuple(EventType(e) for e in rule.events), domains=tuple(rule.domains),
        expiry_thresholds_days=tuple(rule.expiry_thresholds_days), enabled=rule.enabled,
    )
    fields = {k: getattr(change, k) for k in RuleChange.__dataclass_fields__
              if getattr(change, k) is not None}
    spec = _checked(replace(current, **fields))
    if change.name is not None:
        await _require_unique_name(session, spec.name, rule.id)
    _apply(rule, spec, keyring)
    audit.record(session, actor, "notification_rule.updated", TARGET, rule.id,
                 name=rule.name, changed=sorted(fields))
    await _commit(session, rule.name)
    return rule


async def delete_rule(session: AsyncSession, rule_id: UUID, actor: Principal) -> None:
    """Its deliveries stay as history (their ``rule_id`` cleared); unsent ones go dead."""
    rule = await get_rule(session, rule_id)
    await session.execute(
        update(NotificationDelivery)
        .where(NotificationDelivery.rule_id == rule_id,
               NotificationDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.FAILED]))
        .values(status=DeliveryStatus.DEAD, last_error="the rule was deleted before sending")
        .execution_options(synchronize_session=False))
    await session.delete(rule)
    audit.record(session, actor, "notification_rule.deleted", TARGET, rule_id, name=rule.name)
    await session.commit()


async def list_deliveries(
    session: AsyncSession, *, status: DeliveryStatus | None, event: EventType | None,
    certificate_id: UUID | None, rule_id: UUID | None, cursor: str | None, limit: int,
) -> Page[NotificationDelivery]:
    stmt = select(NotificationDelivery)
    if status is not None:
        stmt = stmt.where(NotificationDelivery.status == status)
    if event is not None:
        stmt = stmt.where(NotificationDelivery.event == event)
    if certificate_id is not None:
        stmt = stmt.where(NotificationDelivery.certificate_id == certificate_id)
    if rule_id is not None:
        stmt = stmt.where(NotificationDelivery.rule_id == rule_id)
    return await paginate(session, stmt, created_at=NotificationDelivery.created_at,
                          row_id=NotificationDelivery.id, cursor=cursor, limit=limit)
