"""Azure DNS over REST against a local fake of the token endpoint and the record-set API
(tests/fakes/azure.py), asserting the exact calls."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.responses import JSONResponse, Response

from shared.dns.base import (
    DnsProvider,
    DnsProviderAuth,
    DnsProviderError,
    DnsProviderUnavailable,
    DnsZoneNotFound,
)
from shared.dns.registry import build_provider
from tests.dns.conformance import CASES, Case, Subject, case_ids
from tests.fakes.azure import AzureFake, Call, Fault
from tests.fakes.server import serve

TENANT, CLIENT, SECRET = "tenant-1", "client-1", "secret-" + secrets.token_hex(8)
ZONE = "example.test."
SETS = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Network/dnsZones"


@pytest.fixture(scope="module")
def fake() -> AzureFake:
    fake = AzureFake(tenant=TENANT, secrets_by_client={CLIENT: SECRET, "reader": "r"},
                     contributors={CLIENT})
    fake.zones = {"example.test": {}, "sub.example.test": {}, "other.test": {}}
    return fake


@pytest.fixture(scope="module")
def url(fake: AzureFake) -> Iterator[str]:
    with serve(fake.app) as base:
        yield base


def _provider(url: str, *, client: str = CLIENT, secret: str = SECRET, **config: str
              ) -> DnsProvider:
    settings = {"tenant_id": TENANT, "client_id": client, "subscription_id": "sub-1",
                "resource_group": "rg-1", "authority_url": url, "management_url": url, **config}
    return build_provider("azure", settings, {"client_secret": secret})


@pytest.fixture
async def provider(url: str) -> AsyncIterator[DnsProvider]:
    built = _provider(url, zone_name="example.test")
    yield built
    await built.aclose()


@pytest.fixture
def subject(fake: AzureFake, url: str, provider: DnsProvider) -> Subject:
    async def values(fqdn: str) -> set[str]:
        return fake.txt_values("example.test", fqdn.removesuffix("." + ZONE))

    return Subject(provider=provider, zone=ZONE, values=values,
                   wrong_credentials=lambda: _provider(url, secret="wrong"))


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
async def test_conformance(case: Case, subject: Subject) -> None:
    await case(subject)


def _relative() -> str:
    return f"_acme-challenge.a{secrets.token_hex(4)}"


async def test_exact_calls_conditional_on_the_etag(fake: AzureFake, url: str) -> None:
    provider = _provider(url, zone_name="example.test")
    relative, one, two = _relative(), "one-" + secrets.token_hex(4), "two-" + secrets.token_hex(4)
    fqdn, path = f"{relative}.{ZONE}", f"{SETS}/example.test/TXT/{relative}"
    fake.calls.clear()
    try:
        await provider.present(ZONE, fqdn, one)
        first = fake.zones["example.test"][relative]["etag"]
        await provider.present(ZONE, fqdn, two)
        second = fake.zones["example.test"][relative]["etag"]
        await provider.cleanup(ZONE, fqdn, one)
        third = fake.zones["example.test"][relative]["etag"]
        await provider.cleanup(ZONE, fqdn, two)
    finally:
        await provider.aclose()
    token = fake.calls[0]
    assert token.path == f"/{TENANT}/oauth2/v2.0/token" and token.body == {
        "grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET,
        "scope": f"{url}/.default"}
    body = lambda *values: {"properties": {"TTL": 60, "TXTRecords": [  # noqa: E731
        {"value": [v]} for v in values]}}
    assert fake.calls[1:] == [
        Call("GET", path, None, None),
        Call("PUT", path, "If-None-Match: *", body(one)),
        Call("GET", path, None, None),
        Call("PUT", path, f"If-Match: {first}", body(one, two)),
        Call("GET", path, None, None),
        Call("PUT", path, f"If-Match: {second}", body(two)),
        Call("GET", path, None, None),
        Call("DELETE", path, f"If-Match: {third}", None),
    ]
    assert relative not in fake.zones["example.test"]


async def test_a_concurrent_write_is_read_again_not_overwritten(
    fake: AzureFake, provider: DnsProvider
) -> None:
    relative = _relative()
    fake.faults.append(Fault("PUT", relative, JSONResponse(
        {"error": {"code": "PreconditionFailed", "message": "etag changed"}}, status_code=412)))
    fake.calls.clear()
    await provider.present(ZONE, f"{relative}.{ZONE}", "after-a-race")
    assert [c.method for c in fake.calls_to(relative)] == ["GET", "PUT", "GET", "PUT"]
    assert fake.txt_values("example.test", relative) == {"after-a-race"}


async def test_zone_is_the_longest_in_the_resource_group(fake: AzureFake, url: str) -> None:
    provider = _provider(url)
    relative = _relative()
    fake.calls.clear()
    try:
        await provider.present("sub.example.test.", f"{relative}.sub.example.test.", "deep")
    finally:
        await provider.aclose()
    assert fake.txt_values("sub.example.test", relative) == {"deep"}
    listings = [c for c in fake.calls if c.path == SETS]
    assert len(listings) == 3, "every page of zones is read (nextLink)"


async def test_the_token_is_reused_and_renewed_after_a_401(
    fake: AzureFake, provider: DnsProvider
) -> None:
    relative = _relative()
    await provider.present(ZONE, f"{relative}.{ZONE}", "v")
    before = fake.token_requests
    await provider.cleanup(ZONE, f"{relative}.{ZONE}", "v")
    assert fake.token_requests == before, "cached until shortly before it expires"
    fake.faults.append(Fault("GET", relative, JSONResponse(
        {"error": {"code": "ExpiredAuthenticationToken", "message": "expired"}}, status_code=401)))
    await provider.present(ZONE, f"{relative}.{ZONE}", "w")
    assert fake.token_requests == before + 1
    assert fake.txt_values("example.test", relative) == {"w"}
    await provider.cleanup(ZONE, f"{relative}.{ZONE}", "w")


HERE = f"_acme-challenge.refused.{ZONE}"


@pytest.mark.parametrize(("settings", "fqdn", "problem", "said"), [
    ({"secret": "wrong"}, HERE, DnsProviderAuth, "invalid_client: AADSTS7000215"),
    ({"tenant_id": "nope"}, HERE, DnsProviderAuth, "AADSTS90002"),
    ({"client": "reader", "secret": "r"}, HERE, DnsProviderAuth, "AuthorizationFailed"),
    ({"zone_name": "absent.test"}, "_acme-challenge.absent.test.", DnsZoneNotFound,
     "ParentResourceNotFound"),
    ({"zone_name": "other.test"}, HERE, DnsZoneNotFound, "not in the configured zone"),
    ({}, "_acme-challenge.nowhere.invalid.", DnsZoneNotFound,
     "no zone for _acme-challenge.nowhere.invalid."),
], ids=["wrong-secret", "wrong-tenant", "no-role", "absent-zone", "zone-mismatch", "no-zone"])
async def test_refusals_become_stable_problems(
    url: str, settings: dict[str, str], fqdn: str, problem: type[DnsProviderError], said: str
) -> None:
    provider = _provider(url, **settings)
    try:
        with pytest.raises(DnsProviderError) as raised:
            await provider.present(ZONE, fqdn, "x")
    finally:
        await provider.aclose()
    assert type(raised.value) is problem and not raised.value.retryable
    assert said in raised.value.detail


FAULTS = {
    "throttled": ("GET", JSONResponse({"error": {"code": "TooManyRequests", "message": "slow"}},
                                      status_code=429, headers={"Retry-After": "12"})),
    "server-error": ("PUT", Response("boom", status_code=500)),
    "unavailable": ("GET", JSONResponse({"error": {"code": "ServiceUnavailable",
                                                   "message": "later"}}, status_code=503)),
    "malformed-json": ("GET", Response('{"etag": ', status_code=200,
                                       media_type="application/json")),
    "token-endpoint-down": ("POST", Response("down", status_code=503)),
    "refused-body": ("PUT", JSONResponse({"error": {"code": "BadRequest",
                                                    "message": "TTL out of range"}},
                                         status_code=400)),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_faults_become_problems(fault: str, fake: AzureFake, url: str) -> None:
    method, response = FAULTS[fault]
    fake.faults.append(Fault(method, "/token" if method == "POST" else "/TXT/", response))
    provider = _provider(url, zone_name="example.test")
    try:
        with pytest.raises(DnsProviderError) as raised:
            await provider.present(ZONE, f"{_relative()}.{ZONE}", "x")
    finally:
        await provider.aclose()
    expected = DnsProviderError if fault == "refused-body" else DnsProviderUnavailable
    assert type(raised.value) is expected
    assert raised.value.retryable is (expected is DnsProviderUnavailable)
    if fault == "throttled":
        assert raised.value.extensions["retry_after_seconds"] == 12
    if fault == "refused-body":
        assert "BadRequest: TTL out of range" in raised.value.detail


async def test_unreachable_is_unavailable() -> None:
    from tests.harness.ports import free_port

    provider = _provider(f"http://127.0.0.1:{free_port()}", zone_name="example.test")
    try:
        with pytest.raises(DnsProviderUnavailable):
            await provider.cleanup(ZONE, f"{_relative()}.{ZONE}", "x")
    finally:
        await provider.aclose()
