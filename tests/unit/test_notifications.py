"""The notifier's pure decisions: matching, keys, thresholds, overdue, backoff; and the
templates render every event without a placeholder left."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from standardwebhooks import Webhook

from services.notifier.render import expires_in, render_email, webhook_body
from shared.domain.notifications import (
    MAX_ATTEMPTS,
    EventView,
    RuleView,
    crossed_threshold,
    days_left,
    is_overdue,
    name_in_domains,
    plan_deliveries,
    retry_delay,
    rule_threshold,
)
from shared.domain.notifications_webhooks import (
    InvalidWebhookSecret,
    new_secret,
    secret_bytes,
    signature,
)
from shared.models.notifications import Channel, EventType

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CERT = uuid4()


def rule(**changes: object) -> RuleView:
    values: dict[str, object] = {
        "id": uuid4(), "channel": Channel.EMAIL, "recipients": ("ops@example.org",),
        "events": frozenset(), "domains": (), "thresholds_days": (30, 14, 7, 3, 1)}
    values.update(changes)
    return RuleView(**values)  # type: ignore[arg-type]


def event(kind: EventType = EventType.CERTIFICATE_ISSUED, **changes: object) -> EventView:
    values: dict[str, object] = {"id": uuid4(), "type": kind, "certificate_id": CERT,
                                 "names": ("www.example.com",),
                                 "contact_email": "owner@example.org"}
    values.update(changes)
    return EventView(**values)  # type: ignore[arg-type]


def test_domains_are_suffixes_on_label_boundaries() -> None:
    assert name_in_domains("www.example.com", ["example.com"])
    assert name_in_domains("example.com", ["example.com"])
    assert name_in_domains("*.example.com", ["example.com"])
    assert not name_in_domains("badexample.com", ["example.com"])
    assert not name_in_domains("example.org", ["example.com"])


def test_rules_filter_by_event_and_domain_and_fall_back_to_the_contact() -> None:
    ops = rule(domains=("example.com",), events=frozenset({"certificate.renewed"}))
    assert plan_deliveries(event(EventType.CERTIFICATE_RENEWED), [ops])[0].rule_id == ops.id
    other = event(EventType.CERTIFICATE_RENEWED, names=("www.example.net",))
    assert plan_deliveries(other, [ops]) == []  # not a failure: nobody is due a fallback
    failed = plan_deliveries(event(EventType.RENEWAL_FAILED), [ops])
    assert [(p.rule_id, p.recipient) for p in failed] == [(None, "owner@example.org")]
    assert plan_deliveries(event(EventType.RENEWAL_FAILED), [rule(enabled=False)])[0].rule_id \
        is None


def test_one_delivery_per_recipient_with_distinct_keys() -> None:
    team = rule(recipients=("a@example.org", "b@example.org", "a@example.org"))
    planned = plan_deliveries(event(), [team])
    assert [p.recipient for p in planned] == ["a@example.org", "b@example.org"]
    assert len({p.key for p in planned}) == 2
    again = plan_deliveries(event(), [team])
    assert {p.key for p in again}.isdisjoint({p.key for p in planned})  # another event


def test_an_expiry_notice_is_keyed_by_certificate_and_the_rules_threshold() -> None:
    sparse = rule(thresholds_days=(30, 7))
    at14 = plan_deliveries(event(EventType.CERTIFICATE_EXPIRING, threshold_days=14), [sparse])
    at30 = plan_deliveries(event(EventType.CERTIFICATE_EXPIRING, threshold_days=30), [sparse])
    assert at14[0].threshold_days == 30 and at14[0].key == at30[0].key  # its 30 notice, once
    at7 = plan_deliveries(event(EventType.CERTIFICATE_EXPIRING, threshold_days=7), [sparse])
    assert at7[0].key != at30[0].key
    assert rule_threshold((30, 7), 45) is None


def test_the_most_urgent_crossed_threshold_counts_after_the_grace() -> None:
    not_after = NOW + timedelta(days=30)
    grace = timedelta(hours=1)
    thresholds = (30, 14, 7, 3, 1)
    assert crossed_threshold(not_after, NOW, thresholds, grace) is None  # renewed by then?
    assert crossed_threshold(not_after, NOW + grace, thresholds, grace) == 30
    assert crossed_threshold(not_after, not_after - timedelta(days=5), thresholds, grace) == 7
    assert crossed_threshold(not_after, not_after - timedelta(hours=2), thresholds, grace) == 1
    assert days_left(not_after, not_after - timedelta(days=7) + grace) == 7


def test_overdue_after_the_margin_bounded_by_the_time_left() -> None:
    margin = timedelta(hours=1)
    renewal_at, not_after = NOW, NOW + timedelta(days=30)
    assert not is_overdue(renewal_at, not_after, NOW + margin, margin)
    assert is_overdue(renewal_at, not_after, NOW + margin + timedelta(seconds=1), margin)
    short = NOW + timedelta(seconds=60)  # a two-minute certificate planned at one minute
    assert is_overdue(renewal_at, short, NOW + timedelta(seconds=31), margin)
    assert not is_overdue(renewal_at, short, short, margin)  # expired: that is another story
    assert not is_overdue(None, not_after, NOW + timedelta(days=1), margin)


def test_retries_back_off_then_give_up() -> None:
    delays = [retry_delay(n) for n in range(1, MAX_ATTEMPTS)]
    assert delays[0] == timedelta(seconds=10)
    assert all(d is not None and d <= timedelta(hours=1) for d in delays)
    assert delays == sorted(delays, key=lambda d: d or timedelta(0))
    assert retry_delay(MAX_ATTEMPTS) is None


def test_signatures_verify_with_the_standard_webhooks_package() -> None:
    secret = new_secret()
    body = webhook_body(EventType.CERTIFICATE_ISSUED, {"names": ["a.example.com"]}, NOW)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(datetime.now(UTC).timestamp()))}
    headers["webhook-signature"] = signature(secret_bytes(secret), "msg_1",
                                             int(headers["webhook-timestamp"]), body)
    assert Webhook(secret).verify(body, headers)["type"] == "certificate.issued"
    with pytest.raises(InvalidWebhookSecret):
        secret_bytes("whsec_not base64!")
    with pytest.raises(InvalidWebhookSecret):
        secret_bytes("whsec_" + base64.b64encode(b"short").decode())


@pytest.mark.parametrize("kind", list(EventType))
def test_every_event_renders_a_subject_text_and_html(kind: EventType) -> None:
    data = {"common_name": "www.example.com", "names": ["www.example.com", "example.com"],
            "serial": "0a1b", "issuer": "CN=Test CA", "not_after": "2030-02-01T00:00:00+00:00",
            "certificate_id": str(CERT), "request_id": str(uuid4()), "seconds_left": 7 * 86400,
            "problem": {"detail": "DNS provider refused credentials <b>"}, "attempts": 2,
            "retry_at": "2030-01-02T00:00:00+00:00", "reason": "superseded",
            "renewal_at": "2030-01-01T00:00:00+00:00", "challenge_type": "dns-01",
            "replaces_certificate_id": str(uuid4())}
    rendered = render_email(kind, data, NOW, 7)
    assert "www.example.com" in rendered.subject and "\n" not in rendered.subject
    for text in (rendered.subject, rendered.text, rendered.html):
        assert "$" not in text
    assert "Serial:" in rendered.text and "0a1b" in rendered.html
    assert "<b>" not in rendered.html  # CA text is escaped


def test_subjects_say_what_happened() -> None:
    data = {"common_name": "www.example.com", "names": ["www.example.com"],
            "seconds_left": 6 * 86400 + 3600,
            "problem": {"detail": "DNS provider refused credentials"}}
    assert render_email(EventType.CERTIFICATE_RENEWED, data, NOW).subject == \
        "Certificate for www.example.com renewed"
    assert render_email(EventType.CERTIFICATE_EXPIRING, data, NOW).subject == \
        "Certificate for www.example.com expires in 7 days"
    assert render_email(EventType.RENEWAL_FAILED, data, NOW).subject == \
        "Certificate for www.example.com: renewal failing: DNS provider refused credentials"


def test_time_to_expiry_reads_in_days_then_hours_then_minutes() -> None:
    assert expires_in(30 * 86400) == "30 days"
    assert expires_in(86400 + 1) == "2 days"
    assert expires_in(86400) == "1 day"
    assert expires_in(23 * 3600 - 5) == "23 hours"
    assert expires_in(100) == "2 minutes"
    assert expires_in(0) == "1 minute"
