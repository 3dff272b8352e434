"""Automatic dns-01 when things go wrong, against real BIND and Pebble: a second
authoritative server that never gets the record, a cancel while records are out, the worker
killed right after presenting, and bad input that must change nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.db import row_counts
from tests.e2e.dns_stack import ZONES, DnsStack, dns_stack
from tests.e2e.stack import WorkerProcess
from tests.e2e.test_bad_input import assert_problem

PROPAGATION_TIMEOUT = 4


@pytest.fixture(scope="module")
def stale() -> Iterator[DnsStack]:
    """BIND's second authoritative server (::1) serves a copy of the zones made at start and
    never receives an update."""
    with dns_stack("embedded", ["example.test."], secondary="stale", settings={
        "CERTKEEPER_DNS_PROPAGATION_TIMEOUT_SECONDS": str(PROPAGATION_TIMEOUT),
    }) as started:
        yield started


def test_a_server_that_never_serves_the_record_fails_the_request(stale: DnsStack) -> None:
    provider = stale.provider("bind-stale")
    request_id = stale.request("*.never.example.test", "never.example.test",
                               dns_provider_id=provider)
    done = stale.stack.wait_final(request_id)
    assert done["status"] == "failed", done
    assert done["error"]["type"] == "urn:certkeeper:problem:dns-propagation-timeout"
    assert any(s.startswith("ns2.example.test.") for s in done["error"]["servers"])
    assert not any(s.startswith("ns1.example.test.") for s in done["error"]["servers"])
    assert all(c["answered_at"] is None for c in done["challenges"])  # the CA never asked
    assert all(c["propagated_at"] is None for c in done["challenges"])
    stale.wait_cleaned(request_id)
    assert stale.served("_acme-challenge.never.example.test.") == set()


def test_cancel_while_presented_cleans_up(stale: DnsStack) -> None:
    provider = stale.provider("bind-cancel")
    request_id = stale.request("cancel.example.test", dns_provider_id=provider)
    client = stale.stack.client()
    deadline = time.monotonic() + 10
    while not all(c["presented_at"] for c in _challenges(stale, request_id)):
        assert time.monotonic() < deadline, stale.stack.logs()
        time.sleep(0.02)
    assert stale.served("_acme-challenge.cancel.example.test.")
    cancelled = client.post(f"/v1/certificate-requests/{request_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    stale.wait_cleaned(request_id)
    assert stale.served("_acme-challenge.cancel.example.test.") == set()


def _challenges(stack: DnsStack, request_id: str) -> list[dict[str, Any]]:
    body = stack.stack.client().get(f"/v1/certificate-requests/{request_id}").json()
    challenges: list[dict[str, Any]] = body["challenges"]
    return challenges or [{"presented_at": None}]


@pytest.fixture(scope="module")
def slow_ca() -> Iterator[DnsStack]:
    """Production topology; Pebble waits a few random seconds before validating, so the
    request is still working when the worker is killed."""
    with dns_stack("prod", ZONES, pebble_env={"PEBBLE_VA_NOSLEEP": "0"}) as started:
        yield started


def test_worker_killed_after_presenting_resumes_and_cleans_once(slow_ca: DnsStack) -> None:
    stack = slow_ca.stack
    assert stack.worker is not None
    provider = slow_ca.provider("bind-crash")
    request_id = slow_ca.request("*.crash.example.test", "crash.example.test",
                                 dns_provider_id=provider)
    deadline = time.monotonic() + 30
    while not slow_ca.log_events("dns.presented"):
        assert time.monotonic() < deadline, stack.logs()
        time.sleep(0.005)
    stack.worker.kill()
    killed_at = stack.client().get(f"/v1/certificate-requests/{request_id}").json()
    assert killed_at["status"] not in {"issued", "failed", "cancelled"}, killed_at
    assert slow_ca.served("_acme-challenge.crash.example.test.")
    stack.worker = WorkerProcess(stack.env, stack.log_dir / "worker-restarted.log")
    stack.worker.start()
    done = stack.wait_final(request_id, timeout=90)
    assert done["status"] == "issued", done
    slow_ca.wait_cleaned(request_id, timeout=60)
    assert slow_ca.served("_acme-challenge.crash.example.test.") == set()
    cleaned = [e for e in slow_ca.log_events("dns.cleaned") if e["request_id"] == request_id]
    assert len(cleaned) == 2, cleaned  # one per value, once each


def test_bad_dns_input_is_refused_and_writes_nothing(slow_ca: DnsStack) -> None:
    client = slow_ca.stack.client()
    disabled = slow_ca.provider("bind-disabled")
    patched = client.patch(f"/v1/dns-providers/{disabled}", json={"enabled": False})
    assert patched.status_code == 200 and patched.json()["enabled"] is False
    before = row_counts(slow_ca.stack)
    refused = client.post("/v1/certificate-requests", json={
        "common_name": "off.example.test", "challenge_type": "dns-01",
        "dns_provider_id": disabled})
    body = assert_problem(refused, 422, "dns-provider-disabled")
    assert "bind-disabled" in body["detail"] and body["names"] == ["off.example.test"]
    unmapped = client.post("/v1/certificate-requests", json={
        "common_name": "nowhere.example.test", "subject_alternative_names": ["x.team.test"],
        "challenge_type": "dns-01"})
    body = assert_problem(unmapped, 422, "dns-provider-not-found")
    assert body["names"] == ["nowhere.example.test", "x.team.test"]
    for bad in (
        {"name": "no-kind", "kind": "carrier-pigeon", "config": {}},
        {"name": "no-server", "kind": "rfc2136", "config": {"tsig_key_name": "k."},
         "credentials": {"tsig_secret": "c2VjcmV0"}},
        {"name": "not-base64", "kind": "rfc2136",
         "config": {"server": "127.0.0.1", "tsig_key_name": "k."},
         "credentials": {"tsig_secret": "not base64!"}},
        {"name": "extra", "kind": "rfc2136", "config": {"server": "127.0.0.1",
         "tsig_key_name": "k.", "colour": "blue"}, "credentials": {"tsig_secret": "c2VjcmV0"}},
    ):
        response = client.post("/v1/dns-providers", json=bad)
        problem = assert_problem(response, 422, "invalid-dns-provider")
        assert "not base64!" not in problem["detail"]
    assert_problem(client.post("/v1/dns-providers", json={"name": "x"}), 422, "validation-error")
    assert_problem(client.post("/v1/domain-mappings", json={
        "domain": "*.example.test", "dns_provider_id": disabled}), 422, "invalid-domain-mapping")
    assert_problem(client.post("/v1/domain-mappings", json={
        "domain": "example.test", "dns_provider_id": "00000000-0000-4000-8000-000000000009"}),
        422, "dns-provider-not-found")
    assert row_counts(slow_ca.stack) == before
