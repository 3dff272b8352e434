"""Cloudflare through the official SDK against a local fake of the documented v4 API
(tests/fakes/cloudflare.py), asserting the exact calls."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.responses import Response

from shared.dns.base import (
    DnsProvider,
    DnsProviderAuth,
    DnsProviderError,
    DnsProviderUnavailable,
    DnsZoneNotFound,
)
from shared.dns.registry import build_provider
from tests.dns.conformance import CASES, Case, Subject, case_ids
from tests.fakes.cloudflare import Call, CloudflareFake, Fault
from tests.fakes.server import serve

ZONE = "example.test."
TOKEN = "token-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def fake() -> CloudflareFake:
    fake = CloudflareFake(tokens={TOKEN: None})
    fake.add_zone("example.test")
    return fake


@pytest.fixture(scope="module")
def api_url(fake: CloudflareFake) -> Iterator[str]:
    with serve(fake.app) as url:
        yield url


def _provider(api_url: str, token: str = TOKEN, **config: str) -> DnsProvider:
    return build_provider("cloudflare", {"api_url": api_url, **config}, {"api_token": token})


@pytest.fixture
async def provider(api_url: str) -> AsyncIterator[DnsProvider]:
    built = _provider(api_url)
    yield built
    await built.aclose()


@pytest.fixture
def subject(fake: CloudflareFake, api_url: str, provider: DnsProvider) -> Subject:
    async def values(fqdn: str) -> set[str]:
        return fake.txt_values(fqdn.rstrip("."))

    return Subject(provider=provider, zone=ZONE, values=values,
                   wrong_credentials=lambda: _provider(api_url, "not-a-token"))


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
async def test_conformance(case: Case, subject: Subject) -> None:
    await case(subject)


def _name() -> str:
    return f"_acme-challenge.c{secrets.token_hex(4)}.example.test"


def _zone_id(fake: CloudflareFake, name: str = "example.test") -> str:
    return next(zone_id for zone_id, zone in fake.zones.items() if zone == name)


async def test_exact_calls_for_present_and_cleanup(
    fake: CloudflareFake, provider: DnsProvider
) -> None:
    name, value, zone_id = _name(), secrets.token_urlsafe(32), _zone_id(fake)
    fake.calls.clear()
    await provider.present(ZONE, name + ".", value)
    await provider.cleanup(ZONE, name + ".", value)
    records = f"/zones/{zone_id}/dns_records"
    lookup = Call("GET", "/zones", {"name": "example.test", "per_page": "5"}, None)
    listing = {"type": "TXT", "name.exact": name, "per_page": "100"}
    assert fake.calls[:3] == [
        lookup,
        Call("GET", records, listing, None),
        Call("POST", records, {}, {"type": "TXT", "name": name, "content": f'"{value}"',
                                   "ttl": 60, "comment": "certkeeper dns-01"}),
    ]
    record_id = fake.calls[-1].path.rsplit("/", 1)[1]
    assert fake.calls[3:] == [  # the SDK asks for the page after a non-empty one
        lookup,
        Call("GET", records, listing, None),
        Call("GET", records, {**listing, "page": "2"}, None),
        Call("DELETE", f"{records}/{record_id}", {}, None),
    ]
    assert not fake.txt_values(name)


async def test_every_page_is_read(fake: CloudflareFake, provider: DnsProvider) -> None:
    """Our value on the second page of 100 is found: present adds nothing, cleanup deletes it."""
    name, zone_id = _name(), _zone_id(fake)
    for _ in range(120):
        fake.add_record(zone_id, name, f'"other-{secrets.token_hex(8)}"')
    value = "ours-" + secrets.token_hex(8)
    await provider.present(ZONE, name + ".", value)
    fake.calls.clear()
    await provider.present(ZONE, name + ".", value)
    assert [c.method for c in fake.calls_to("/dns_records")] == ["GET", "GET", "GET"]
    assert [c.query.get("page") for c in fake.calls_to("/dns_records")] == [None, "2", "3"]
    await provider.cleanup(ZONE, name + ".", value)
    assert value not in fake.txt_values(name) and len(fake.txt_values(name)) == 120


async def test_content_with_or_without_quotes_is_ours(
    fake: CloudflareFake, provider: DnsProvider
) -> None:
    name, zone_id, value = _name(), _zone_id(fake), secrets.token_hex(8)
    fake.add_record(zone_id, name, value)  # written unquoted by someone else
    fake.calls.clear()
    await provider.present(ZONE, name + ".", value)
    assert not [c for c in fake.calls if c.method == "POST"]
    await provider.cleanup(ZONE, name + ".", value)
    assert fake.txt_values(name) == set()


async def test_zone_is_found_walking_up_the_labels(fake: CloudflareFake, api_url: str) -> None:
    provider = _provider(api_url)
    fake.calls.clear()
    try:
        await provider.present("sub.example.test.", "_acme-challenge.sub.example.test.", "walk")
    finally:
        await provider.aclose()
    assert [c.query["name"] for c in fake.calls_to("/zones") if c.path == "/zones"] == [
        "sub.example.test", "example.test"]
    assert fake.txt_values("_acme-challenge.sub.example.test") == {"walk"}


async def test_no_zone_and_unknown_zone_id_are_zone_not_found(api_url: str) -> None:
    for provider, zone in ((_provider(api_url), "absent.test."),
                           (_provider(api_url, zone_id="f" * 32), ZONE)):
        try:
            with pytest.raises(DnsZoneNotFound) as missing:
                await provider.present(zone, f"_acme-challenge.{zone}", "x")
        finally:
            await provider.aclose()
        assert not missing.value.retryable


async def test_a_token_without_the_zone_is_an_auth_problem(
    fake: CloudflareFake, api_url: str
) -> None:
    other = fake.add_zone("other.test")
    fake.tokens["narrow"] = {other}
    provider = _provider(api_url, "narrow", zone_id=_zone_id(fake))
    try:
        with pytest.raises(DnsProviderAuth) as refused:
            await provider.present(ZONE, _name() + ".", "x")
    finally:
        await provider.aclose()
    assert "10000 Authentication error" in refused.value.detail


async def test_a_record_gone_before_delete_and_an_identical_create_are_fine(
    fake: CloudflareFake, provider: DnsProvider
) -> None:
    name, zone_id = _name(), _zone_id(fake)
    record_id = fake.add_record(zone_id, name, '"raced"')
    fake.faults.append(Fault("DELETE", record_id, Response(
        '{"success":false,"errors":[{"code":81044,"message":"Record does not exist."}],'
        '"messages":[],"result":null}', status_code=404, media_type="application/json")))
    await provider.cleanup(ZONE, name + ".", "raced")  # 404: already gone
    fake.faults.append(Fault("POST", "/dns_records", Response(
        '{"success":false,"errors":[{"code":81058,"message":"An identical record already '
        'exists."}],"messages":[],"result":null}', status_code=400,
        media_type="application/json")))
    await provider.present(ZONE, _name() + ".", "made-by-a-concurrent-present")


FAULTS = {
    "rate-limited": (Response('{"success":false,"errors":[{"code":971,"message":"Please wait '
                              'and consider throttling your request speed"}],"messages":[],'
                              '"result":null}', status_code=429, headers={"Retry-After": "7"},
                              media_type="application/json"), DnsProviderUnavailable),
    "server-error": (Response("upstream fell over", status_code=500), DnsProviderUnavailable),
    "bad-gateway": (Response("<html>502</html>", status_code=502, media_type="text/html"),
                    DnsProviderUnavailable),
    "malformed-json": (Response('{"success": tru', status_code=200,
                                media_type="application/json"), DnsProviderUnavailable),
    "refused-input": (Response('{"success":false,"errors":[{"code":9005,"message":"Content for '
                               'TXT record is invalid."}],"messages":[],"result":null}',
                               status_code=400, media_type="application/json"),
                      DnsProviderError),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_faults_become_problems(fault: str, fake: CloudflareFake, api_url: str) -> None:
    response, problem = FAULTS[fault]
    fake.faults.append(Fault("POST", "/dns_records", response))
    provider = _provider(api_url, zone_id=_zone_id(fake))
    fake.calls.clear()
    try:
        with pytest.raises(DnsProviderError) as raised:
            await provider.present(ZONE, _name() + ".", "x")
    finally:
        await provider.aclose()
    assert type(raised.value) is problem
    assert raised.value.retryable is (problem is DnsProviderUnavailable)
    assert len(fake.calls_to("/dns_records")) == 2, "one attempt: the issuer retries"
    if fault == "rate-limited":
        assert raised.value.extensions["retry_after_seconds"] == 7
        assert "971 Please wait" in raised.value.detail
    if fault == "refused-input":
        assert "9005 Content for TXT record is invalid." in raised.value.detail


async def test_unreachable_api_is_unavailable() -> None:
    from tests.harness.ports import free_port

    provider = _provider(f"http://127.0.0.1:{free_port()}", zone_id="a" * 32)
    try:
        with pytest.raises(DnsProviderUnavailable):
            await provider.cleanup(ZONE, _name() + ".", "x")
    finally:
        await provider.aclose()


async def test_only_the_stored_token_is_used(
    fake: CloudflareFake, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK would prefer a global API key from the environment to the token."""
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "global-key-of-someone-else")
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "someone@example.org")
    provider = _provider(api_url)
    name = _name()
    fake.calls.clear()
    try:
        await provider.present(ZONE, name + ".", "token-only")
    finally:
        await provider.aclose()
    assert fake.txt_values(name) == {"token-only"}
