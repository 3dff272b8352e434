"""Notifications end to end. ``certkeeper all-in-one`` with Pebble issuing one-minute
certificates, one email rule and one webhook rule (its secret generated and shown once):
issue, renew (by the running renewer), revoke; each notice arrives once, by a real SMTP
server and a receiver verifying with ``standardwebhooks``. ``certkeeper worker notifier``
as its own process in the production topology. Rules refused before anything is written."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, WorkerProcess, embedded_stack, production_stack
from tests.harness.smtp import SmtpServer, smtp_server
from tests.harness.webhooks import WebhookReceiver, webhook_receiver

LIFETIME = {"certificateValidityPeriod": 60}
FAST = {"CERTKEEPER_NOTIFIER_POLL_SECONDS": "0.2", "CERTKEEPER_NOTIFIER_SWEEP_SECONDS": "1"}
TEAM = "team@example.org"
LIFECYCLE = ["certificate.issued", "certificate.renewed", "certificate.revoked"]


def wait(what: str, check: Any, stack: Stack, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen after {timeout}s\n" + stack.logs())


def issue(stack: Stack, name: str) -> dict[str, Any]:
    client = stack.client()
    created = client.post("/v1/certificate-requests", json={"common_name": name,
                                                             "key_type": "ec"})
    assert created.status_code == 202, created.text
    done = stack.wait_final(created.json()["id"])
    assert done["status"] == "issued", done
    body: dict[str, Any] = client.get(f"/v1/certificates/{done['certificate_id']}").json()
    return body


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def hooks() -> Iterator[WebhookReceiver]:
    with webhook_receiver(secret="whsec_unset") as receiver:
        yield receiver


def test_issue_renew_revoke_in_all_in_one(smtp: SmtpServer, hooks: WebhookReceiver) -> None:
    settings = {**smtp.env(), **FAST, "CERTKEEPER_WEBHOOK_ALLOW_PRIVATE": "true"}
    with embedded_stack(pebble_config=LIFETIME, settings=settings) as started:
        stack = with_account(started)
        client = stack.client()
        email_rule = client.post("/v1/notification-rules", json={
            "name": "team", "channel": "email", "recipients": [TEAM], "events": LIFECYCLE})
        assert email_rule.status_code == 201, email_rule.text
        hook_rule = client.post("/v1/notification-rules", json={
            "name": "hook", "channel": "webhook", "url": hooks.url,
            "domains": ["example.test"]})
        assert hook_rule.status_code == 201, hook_rule.text
        created = hook_rule.json()
        assert created["secret"].startswith("whsec_") and created["secret_set"] == ["secret"]
        hooks.secret = created["secret"]
        shown = client.get(f"/v1/notification-rules/{created['id']}").json()
        assert "secret" not in shown and shown["secret_set"] == ["secret"]

        first = issue(stack, "notify.example.test")
        second_id = wait("the renewal", lambda: client.get(
            f"/v1/certificates/{first['id']}").json()["replaced_by_id"], stack, 150)
        wait("the renewed certificate active", lambda: client.get(
            f"/v1/certificates/{second_id}").json()["status"] == "active", stack)
        revoked = client.post(f"/v1/certificates/{second_id}/revoke",
                              json={"reason": "superseded"})
        assert revoked.status_code == 200, revoked.text

        subjects = wait("three emails", lambda: len(smtp.to(TEAM)) >= 3 and [
            m.subject for m in smtp.to(TEAM)], stack)
        assert subjects == [
            "Certificate for notify.example.test issued",
            "Certificate for notify.example.test renewed",
            "Certificate for notify.example.test revoked",
        ]
        seen = wait("the webhooks", lambda: {"certificate.issued", "certificate.renewed",
                                             "certificate.revoked"} <= {
            p["type"] for p in hooks.verified} and hooks.verified, stack)
        assert all(call.error is None for call in hooks.calls)
        kinds = Counter((p["type"], p["data"].get("certificate_id"),
                         p["data"].get("threshold_days")) for p in seen)
        assert max(kinds.values()) == 1, kinds  # each notice once
        ids = [call.headers["webhook-id"] for call in hooks.calls]
        assert len(ids) == len(set(ids))
        renewed = next(p for p in seen if p["type"] == "certificate.renewed")
        assert renewed["data"]["replaces_certificate_id"] == first["id"]
        assert renewed["data"]["certificate_id"] == second_id

        listed = client.get("/v1/notifications", params={"limit": 500}).json()["items"]
        assert {n["status"] for n in listed} == {"sent"}, listed
        emails = [n for n in listed if n["channel"] == "email"]
        assert sorted(n["event"] for n in emails) == sorted(LIFECYCLE)
        assert all(n["recipient"] == TEAM and n["attempts"] == 1 for n in emails)
        time.sleep(2)  # more sweeps and polls: nothing is sent again
        assert len(smtp.to(TEAM)) == 3
        assert len(hooks.calls) == len(ids)
        secret = created["secret"].removeprefix("whsec_").encode()
        stored = list((stack.log_dir / "data").glob("certkeeper.db*"))
        assert stored, "no database file to look at"
        for path in [*stack.log_dir.glob("*.log"), *stored]:
            assert secret not in path.read_bytes(), f"the webhook secret is in {path.name}"


def test_rules_are_refused_before_anything_is_written(embedded: Stack) -> None:
    client = embedded.client()
    bad = [
        ({"name": "x", "channel": "webhook", "url": "http://127.0.0.1:9/hook"},
         "webhook-url-not-allowed"),
        ({"name": "x", "channel": "webhook", "url": "http://10.1.2.3/hook"},
         "webhook-url-not-allowed"),
        ({"name": "x", "channel": "webhook", "url": "http://[::1]/hook"},
         "webhook-url-not-allowed"),
        ({"name": "x", "channel": "webhook", "url": "ftp://example.org/hook"},
         "webhook-url-not-allowed"),
        ({"name": "x", "channel": "webhook", "url": "https://u:p@example.org/"},
         "webhook-url-not-allowed"),
        ({"name": "x", "channel": "email", "recipients": []}, "invalid-notification-rule"),
        ({"name": "x", "channel": "email", "recipients": ["a@example.org"],
          "url": "https://example.org/"}, "invalid-notification-rule"),
        ({"name": "x", "channel": "webhook", "url": "https://example.org/",
          "secret": "whsec_%%%"}, "invalid-webhook-secret"),
        ({"name": "x", "channel": "email", "recipients": ["not an address"]},
         "validation-error"),
        ({"name": "x", "channel": "email", "recipients": ["a@example.org"],
          "events": ["certificate.exploded"]}, "validation-error"),
        ({"name": "x", "channel": "email", "recipients": ["a@example.org"],
          "expiry_thresholds_days": [0]}, "validation-error"),
        ({"name": "x", "channel": "email", "recipients": ["a@example.org"],
          "domains": ["bad..name"]}, "invalid-names"),
    ]
    for body, slug in bad:
        answer = client.post("/v1/notification-rules", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == f"urn:certkeeper:problem:{slug}", (body, answer.text)
    assert client.get("/v1/notification-rules").json()["items"] == []
    good = {"name": "dup", "channel": "email", "recipients": ["a@example.org"],
            "domains": ["*.Example.ORG."], "expiry_thresholds_days": [7, 30, 7]}
    made = client.post("/v1/notification-rules", json=good)
    assert made.status_code == 201, made.text
    assert made.json()["domains"] == ["example.org"]
    assert made.json()["expiry_thresholds_days"] == [30, 7]
    assert made.json()["secret"] is None
    assert client.post("/v1/notification-rules", json=good).status_code == 409
    rule_id = made.json()["id"]
    patched = client.patch(f"/v1/notification-rules/{rule_id}", json={"enabled": False})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    assert client.patch(f"/v1/notification-rules/{rule_id}",
                        json={"url": "https://example.org/"}).status_code == 422
    viewer = embedded.client(embedded.create_token("viewer", "notif-viewer"))
    operator = embedded.client(embedded.create_token("operator", "notif-operator"))
    assert viewer.get("/v1/notifications").status_code == 403
    assert operator.get("/v1/notifications").status_code == 200
    assert operator.get("/v1/notification-rules").status_code == 403
    assert client.delete(f"/v1/notification-rules/{rule_id}").status_code == 204
    assert client.get(f"/v1/notification-rules/{rule_id}").status_code == 404


def test_worker_notifier_is_its_own_process(smtp: SmtpServer) -> None:
    """Production topology: the notifier runs as ``certkeeper worker notifier`` (no Redis
    needed) and mails what the api and the issuer did."""
    with production_stack() as started:
        stack = with_account(started)
        env = {**stack.env, **smtp.env(), **FAST}
        env.pop("CERTKEEPER_REDIS_URL")
        notifier = WorkerProcess(env, stack.log_dir / "notifier.log", kind="notifier")
        notifier.start()
        try:
            client = stack.client()
            rule = client.post("/v1/notification-rules", json={
                "name": "prod", "channel": "email", "recipients": ["prod@example.org"],
                "events": ["certificate.issued"]})
            assert rule.status_code == 201, rule.text
            cert = issue(stack, "prod-notify.example.test")
            [mail] = wait("the email", lambda: smtp.to("prod@example.org"), stack)
            assert mail.subject == "Certificate for prod-notify.example.test issued"
            assert cert["serial"] in mail.part("plain")
        finally:
            notifier.stop()
