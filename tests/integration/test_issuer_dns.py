"""Automatic dns-01 through ``advance()`` and the cleanup job: present, wait for
propagation by rescheduling, answer, clean up — against the scripted CA and an in-memory
DNS (tests/fakes/dns.py). BIND and Pebble prove the whole path in tests/e2e."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest

from services.issuer.sweeper import sweep_once
from shared.acme_resources import AuthorizationInfo
from shared.choices import ChallengeType
from shared.dns.base import DnsProviderAuth, DnsProviderUnavailable
from shared.states import RequestStatus
from tests.fakes.acme import authz, issuing_ca, order
from tests.integration.issuer_harness import Issuer, start_issuer

PROBLEM = "urn:certkeeper:problem:"
DNS01 = {"challenge_type": ChallengeType.DNS_01}
RECORD = "_acme-challenge.shop.example.test."


@pytest.fixture
async def issuer(tmp_path: Path) -> AsyncIterator[Issuer]:
    started = await start_issuer(tmp_path, order_retry_seconds=[60],
                                 dns_propagation_timeout_seconds=30)
    yield started
    await started.runtime.aclose()


def dns_authz(name: str, *, wildcard: bool = False, status: str = "pending") -> AuthorizationInfo:
    found = authz(name, challenge_type="dns-01", status=status,
                  token=f"token-{'w' if wildcard else 'a'}-{name}")
    return replace(found, wildcard=wildcard, url=found.url + ("/w" if wildcard else ""))


async def wildcard_and_apex(issuer: Issuer, **spec: object) -> UUID:
    """A pending order for *.shop.example.test and shop.example.test, and a CA that issues."""
    authorizations = [dns_authz("shop.example.test", wildcard=True),
                      dns_authz("shop.example.test")]
    issuer.fake.script("new_order", order("pending", authorizations))
    issuing_ca(issuer.fake, ["shop.example.test"])
    return await issuer.request("*.shop.example.test", "shop.example.test", **DNS01, **spec)


async def test_wildcard_and_apex_present_wait_answer_and_clean(issuer: Issuer) -> None:
    provider = await issuer.add_provider()
    await issuer.add_mapping("example.test", provider)
    issuer.dns.slow_checks = 2
    request_id = await wildcard_and_apex(issuer)
    # One job: the order, then both values presented; the first check finds them not yet.
    waiting = await issuer.step(request_id)
    assert waiting.status is RequestStatus.PROCESSING
    assert issuer.dns.values(RECORD) == {c.txt_value for c in waiting.challenges}
    assert all(c.presented_at and c.record_name == RECORD and c.zone == "example.test."
               and c.dns_provider_id == provider and c.propagated_at is None
               for c in waiting.challenges)
    assert issuer.fake.count("answer") == 0
    assert waiting.next_run_at == issuer.clock.now + timedelta(seconds=2)
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.ISSUED, done.error
    assert all(c.propagated_at for c in done.challenges)
    assert issuer.fake.count("answer") == 2
    assert issuer.dns.count("present") == 2
    assert [job[0] for job in issuer.jobs("cleanup")] == [f"cleanup:{request_id}:0"]
    await issuer.clean(request_id)
    await issuer.clean(request_id)  # a second run finds nothing to do
    cleaned = await issuer.row(request_id)
    assert all(c.cleaned_at for c in cleaned.challenges)
    assert issuer.dns.count("cleanup") == 2
    assert issuer.dns.values(RECORD) == set()
    assert issuer.dns.closed == len(issuer.dns.built)


async def test_never_served_fails_naming_the_server_and_is_never_answered(issuer: Issuer) -> None:
    await issuer.add_mapping("shop.example.test", await issuer.add_provider())
    issuer.dns.never_served_by = {"ns2.example.test."}
    request_id = await wildcard_and_apex(issuer)
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.FAILED
    assert done.error is not None and done.error["type"] == PROBLEM + "dns-propagation-timeout"
    assert done.error["servers"] == ["ns2.example.test. (not served yet)"]
    assert "ns2.example.test." in done.error["detail"]
    assert issuer.fake.count("answer") == 0
    assert issuer.dns.checks > 4  # looked again, by rescheduling, until the timeout
    assert done.finished_at is not None
    started = min(c.propagation_started_at for c in done.challenges if c.propagation_started_at)
    assert (done.finished_at - started).total_seconds() >= 30
    await issuer.clean(request_id)
    assert issuer.dns.values(RECORD) == set()


async def test_cname_delegation_writes_where_it_points(issuer: Issuer) -> None:
    await issuer.add_mapping("example.test", await issuer.add_provider())
    issuer.dns.zones.append("acme.other.test.")
    issuer.dns.cnames[RECORD] = "shop.acme.other.test."
    request_id = await wildcard_and_apex(issuer)
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.ISSUED, done.error
    assert {(c.record_name, c.zone) for c in done.challenges} == {
        ("shop.acme.other.test.", "acme.other.test.")}
    assert {call[1:3] for call in issuer.dns.calls} == {
        ("acme.other.test.", "shop.acme.other.test.")}


async def test_explicit_provider_and_mapping_overrides(issuer: Issuer) -> None:
    """A mapping's zone and secret apply when the mapping points at the provider used."""
    provider = await issuer.add_provider("global")
    mapping = await issuer.add_mapping("shop.example.test", provider, zone="shop.example.test.",
                                       tsig_secret="c2VjcmV0")
    request_id = await wildcard_and_apex(issuer, dns_provider_id=provider)
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.ISSUED, done.error
    assert {c.zone for c in done.challenges} == {"shop.example.test."}
    assert {c.domain_mapping_id for c in done.challenges} == {mapping}
    kind, config, credentials = issuer.dns.built[0]
    assert kind == "fake"
    assert config == {"zone": "shop.example.test."}
    assert credentials == {"token": "secret-of-global", "tsig_secret": "c2VjcmV0"}


async def test_retryable_provider_error_retries(issuer: Issuer) -> None:
    await issuer.add_mapping("example.test", await issuer.add_provider())
    issuer.dns.fail_next("present", DnsProviderUnavailable("throttled", provider="dns"))
    request_id = await wildcard_and_apex(issuer)
    await issuer.step(request_id)
    retried = await issuer.step(request_id)
    assert retried.status is RequestStatus.PROCESSING
    assert retried.attempts == 1 and retried.last_error is not None
    assert retried.last_error["type"] == PROBLEM + "dns-provider-unavailable"
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.ISSUED, done.error


async def test_permanent_provider_error_fails_with_its_message(issuer: Issuer) -> None:
    await issuer.add_mapping("example.test", await issuer.add_provider())
    issuer.dns.fail_next("present", DnsProviderAuth("BADKEY: key ck-key unknown", provider="dns"))
    request_id = await wildcard_and_apex(issuer)
    done = await issuer.run(request_id)
    assert done.status is RequestStatus.FAILED
    assert done.error is not None and done.error["type"] == PROBLEM + "dns-provider-auth"
    assert done.error["detail"] == "BADKEY: key ck-key unknown"
    assert issuer.fake.count("answer") == 0
    assert len(issuer.jobs("cleanup")) == 1  # the record that may exist is cleaned


async def test_provider_disabled_after_creation_fails_fast(issuer: Issuer) -> None:
    provider = await issuer.add_provider("primary-dns")
    await issuer.add_mapping("example.test", provider)
    issuer.dns.slow_checks = 5
    request_id = await wildcard_and_apex(issuer)
    await issuer.step(request_id)
    await issuer.step(request_id)
    await issuer.set_enabled(provider, False)
    failed = await issuer.step(request_id)
    assert failed.status is RequestStatus.FAILED
    assert failed.error is not None and failed.error["type"] == PROBLEM + "dns-provider-disabled"
    assert failed.error["providers"] == ["primary-dns"]
    await issuer.clean(request_id)
    assert issuer.dns.values(RECORD) == set()


async def test_cancel_while_presented_cleans(issuer: Issuer) -> None:
    await issuer.add_mapping("example.test", await issuer.add_provider())
    issuer.dns.slow_checks = 5
    request_id = await wildcard_and_apex(issuer)
    await issuer.step(request_id)
    await issuer.step(request_id)
    assert len(issuer.dns.values(RECORD)) == 2
    issuer.cancel_from_elsewhere(request_id)
    assert (await issuer.step(request_id)).status is RequestStatus.CANCELLED
    await issuer.clean(request_id)
    assert issuer.dns.values(RECORD) == set()
    assert issuer.fake.count("answer") == 0


async def test_cleanup_failure_backs_off_and_the_sweeper_rings_again(issuer: Issuer) -> None:
    await issuer.add_mapping("example.test", await issuer.add_provider())
    request_id = await wildcard_and_apex(issuer)
    assert (await issuer.run(request_id)).status is RequestStatus.ISSUED
    issuer.dns.fail_next("cleanup", DnsProviderUnavailable("503 from the API", provider="dns"))
    await issuer.clean(request_id)
    half = await issuer.row(request_id)
    assert sorted(c.cleanup_attempts for c in half.challenges) == [0, 1]
    assert [c.cleanup_error["type"] for c in half.challenges if c.cleanup_error] == [
        PROBLEM + "dns-provider-unavailable"]
    retry = issuer.jobs("cleanup")[-1]
    assert retry[0] == f"cleanup:{request_id}:1" and retry[2] == 2.0
    assert await sweep_once(issuer.ctx) == 0  # the doorbell above is due first
    issuer.clock.now += timedelta(seconds=issuer.settings.sweep_interval_seconds + 1)
    assert await sweep_once(issuer.ctx) == 1  # as if that doorbell were lost
    assert issuer.jobs("cleanup-sweep")[-1][0] == f"cleanup-sweep:{request_id}:1"
    await issuer.clean(request_id)
    assert all(c.cleaned_at for c in (await issuer.row(request_id)).challenges)
    assert issuer.dns.values(RECORD) == set()


async def test_invalid_order_cleans_its_records_before_the_next(issuer: Issuer) -> None:
    await issuer.add_mapping("example.test", await issuer.add_provider())
    request_id = await wildcard_and_apex(issuer)
    invalid = dns_authz("shop.example.test", status="invalid")
    issuer.fake.always("fetch_order", order("invalid", [invalid], with_authorizations=False))
    issuer.fake.always("fetch_authorization", invalid)
    await issuer.step(request_id)  # the order
    await issuer.step(request_id)  # present, served: answer; the order went invalid
    retried = await issuer.row(request_id)
    assert retried.status is RequestStatus.PENDING, retried.error
    assert issuer.dns.count("cleanup") == 2
    assert issuer.dns.values(RECORD) == set()
