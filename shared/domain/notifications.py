"""Pure decisions of the notifier: which rule hears about which event, the key that makes
a delivery unique, when an expiry threshold is crossed, when a renewal is overdue, and how
long to wait after a failed send. Values in, values out: unit-tested alone."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from shared.models.notifications import Channel, EventType

DEFAULT_THRESHOLDS_DAYS: tuple[int, ...] = (30, 14, 7, 3, 1)
# Events the ACME account's contact hears about when no rule matches: nobody is left
# uninformed of an expiry or a failure by default.
FALLBACK_EVENTS = frozenset({
    EventType.CERTIFICATE_EXPIRING, EventType.RENEWAL_FAILED, EventType.RENEWAL_OVERDUE,
    EventType.REQUEST_FAILED,
})
FALLBACK = "account-contact"  # the rule part of a fallback delivery's key
# After each failed send: wait this long, then the last step again and again; give up
# (dead) after MAX_ATTEMPTS tries, about a day.
RETRY_DELAYS = (timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5),
                timedelta(minutes=15), timedelta(hours=1))
MAX_ATTEMPTS = 30


@dataclass(frozen=True, slots=True)
class RuleView:
    id: UUID
    channel: Channel
    recipients: tuple[str, ...]  # email addresses; a webhook's is its URL
    events: frozenset[str]  # empty: every event
    domains: tuple[str, ...]  # suffixes; empty: every name
    thresholds_days: tuple[int, ...]
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class EventView:
    id: UUID
    type: EventType
    certificate_id: UUID | None
    names: tuple[str, ...]
    threshold_days: int | None = None  # certificate.expiring only
    contact_email: str | None = None  # the ACME account's contact


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    key: str
    rule_id: UUID | None  # None: the account contact, no rule matched
    channel: Channel
    recipient: str
    threshold_days: int | None


def name_in_domains(name: str, domains: Iterable[str]) -> bool:
    """``name`` is one of the suffixes or under one (``*.example.com`` is under
    ``example.com``)."""
    bare = name.removeprefix("*.")
    return any(bare == d or bare.endswith("." + d) for d in domains)


def rule_threshold(thresholds_days: Sequence[int], crossed: int) -> int | None:
    """Which of a rule's thresholds an expiry event at ``crossed`` days stands for: the
    smallest that is at least ``crossed`` (a rule with 30 and 7 hears "14 days" as its 30
    notice, once). None: the rule has no threshold that far out."""
    fitting = [t for t in thresholds_days if t >= crossed]
    return min(fitting) if fitting else None


def rule_matches(rule: RuleView, event: EventView) -> bool:
    if not rule.enabled:
        return False
    if rule.events and event.type.value not in rule.events:
        return False
    if rule.domains and not any(name_in_domains(n, rule.domains) for n in event.names):
        return False
    return not (event.type is EventType.CERTIFICATE_EXPIRING
                and rule_threshold(rule.thresholds_days, event.threshold_days or 0) is None)


def delivery_key(event: EventView, rule_part: str, recipient: str,
                 threshold_days: int | None) -> str:
    """(event, certificate, threshold, rule, recipient) as one unique value. An expiry
    notice is keyed by the certificate and threshold, so it exists once per certificate
    whatever the events; any other notice by its event."""
    occurrence = (f"{event.certificate_id}:{threshold_days}d"
                  if event.type is EventType.CERTIFICATE_EXPIRING else str(event.id))
    raw = "|".join((event.type.value, occurrence, rule_part, recipient.lower()))
    return hashlib.sha256(raw.encode()).hexdigest()


def plan_deliveries(event: EventView, rules: Iterable[RuleView]) -> list[PlannedDelivery]:
    """One delivery per matching rule and recipient; the account contact's when no rule
    matches an expiry or failure notice."""
    planned: list[PlannedDelivery] = []
    for rule in rules:
        if not rule_matches(rule, event):
            continue
        threshold = None
        if event.type is EventType.CERTIFICATE_EXPIRING:
            threshold = rule_threshold(rule.thresholds_days, event.threshold_days or 0)
        for recipient in dict.fromkeys(rule.recipients):
            planned.append(PlannedDelivery(
                delivery_key(event, str(rule.id), recipient, threshold), rule.id, rule.channel,
                recipient, threshold,
            ))
    if not planned and event.type in FALLBACK_EVENTS and event.contact_email:
        planned.append(PlannedDelivery(
            delivery_key(event, FALLBACK, event.contact_email, event.threshold_days), None,
            Channel.EMAIL, event.contact_email, event.threshold_days,
        ))
    return planned


def crossed_threshold(
    not_after: datetime, now: datetime, thresholds_days: Iterable[int], grace: timedelta
) -> int | None:
    """The most urgent expiry threshold crossed at ``now`` (at least ``grace`` ago), or
    None. Larger thresholds crossed at the same time are passed over: a certificate first
    seen five days before expiry is "expiring in 5 days", not also "in 30". The grace keeps
    a certificate renewed at its threshold (day 60 of 90 is 30 days before expiry) from
    being announced as expiring."""
    crossed = [t for t in thresholds_days
               if now >= not_after - timedelta(days=t) + grace]
    return min(crossed) if crossed else None


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days to expiry, rounded up ("expires in 7 days" just past the 7-day mark)."""
    return max(0, math.ceil((not_after - now).total_seconds() / 86400))


def overdue_margin(renewal_at: datetime, not_after: datetime, margin: timedelta) -> timedelta:
    """How late a renewal may be before it is overdue: the setting, but at most half the
    time left between the planned renewal and expiry (a two-minute certificate planned at
    one minute is overdue after 30 seconds, not after an hour it does not have)."""
    return min(margin, max((not_after - renewal_at) / 2, timedelta(0)))


def is_overdue(renewal_at: datetime | None, not_after: datetime, now: datetime,
               margin: timedelta) -> bool:
    """The planned renewal has passed by the margin (and the certificate still lives)."""
    if renewal_at is None or now >= not_after:
        return False
    return now > renewal_at + overdue_margin(renewal_at, not_after, margin)


def retry_delay(attempts: int) -> timedelta | None:
    """How long after the ``attempts``-th failed try to try again; None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return RETRY_DELAYS[min(max(attempts, 1), len(RETRY_DELAYS)) - 1]


def normalized_thresholds(days: Iterable[int]) -> list[int]:
    """Distinct, most distant first."""
    return sorted(set(days), reverse=True)
