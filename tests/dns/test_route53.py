"""Route 53 against moto's server, signed with IAM keys moto issued (authentication on), plus a
fake endpoint for the answers moto never gives (throttling, 5xx, garbage).

moto cannot show: Route 53's refusal of a CREATE on an existing set (the provider only
UPSERTs and DELETEs, so it never relies on it), PENDING changes (moto is INSYNC at once; the
GetChange call is still made and asserted), hosted-zone ARNs in IAM resources (moto checks
the actions only) and DNS answers (moto serves none).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.requests import Request
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
from tests.fakes.server import serve
from tests.harness.moto import REGION, AccessKey, Change, MotoServer, moto_server

ZONE = "example.test."


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def zone_id(moto: MotoServer) -> str:
    return moto.create_zone(ZONE)


def _provider(moto: MotoServer, key: AccessKey | None, **config: str) -> DnsProvider:
    credentials = {} if key is None else {"access_key_id": key.access_key_id,
                                          "secret_access_key": key.secret_access_key}
    return build_provider("route53", {"region": REGION, "endpoint_url": moto.url, **config},
                          credentials)


@pytest.fixture
async def provider(moto: MotoServer, zone_id: str) -> AsyncIterator[DnsProvider]:
    built = _provider(moto, moto.dns_user, hosted_zone_id=zone_id)
    yield built
    await built.aclose()


@pytest.fixture
def subject(moto: MotoServer, zone_id: str, provider: DnsProvider) -> Subject:
    async def values(fqdn: str) -> set[str]:
        return await asyncio.to_thread(moto.txt_values, zone_id, fqdn)

    wrong = AccessKey("AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
    return Subject(provider=provider, zone=ZONE, values=values,
                   wrong_credentials=lambda: _provider(moto, wrong, hosted_zone_id=zone_id))


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
async def test_conformance(case: Case, subject: Subject) -> None:
    await case(subject)


def _name() -> str:
    return f"_acme-challenge.r{secrets.token_hex(4)}.{ZONE}"


async def test_present_and_cleanup_send_real_route53_batches(
    moto: MotoServer, provider: DnsProvider
) -> None:
    """UPSERT with our value added; UPSERT of the rest; DELETE of the exact last set; each
    change followed by GetChange. Presenting a value that is there changes nothing."""
    fqdn, one, two = _name(), "v1-" + secrets.token_hex(8), "v2-" + secrets.token_hex(8)
    get_changes = len(moto.calls("/change/"))
    await provider.present(ZONE, fqdn, one)
    await provider.present(ZONE, fqdn, two)
    await provider.present(ZONE, fqdn, two)
    await provider.cleanup(ZONE, fqdn, one)
    await provider.cleanup(ZONE, fqdn, two)
    await provider.cleanup(ZONE, fqdn, two)
    q1, q2 = f'"{one}"', f'"{two}"'
    assert moto.changes(fqdn) == [
        [Change("UPSERT", fqdn, "TXT", 60, (q1,))],
        [Change("UPSERT", fqdn, "TXT", 60, (q1, q2))],
        [Change("UPSERT", fqdn, "TXT", 60, (q2,))],
        [Change("DELETE", fqdn, "TXT", 60, (q2,))],
    ]
    assert len(moto.calls("/change/")) - get_changes == 4


async def test_delete_matches_the_set_as_route53_holds_it(
    moto: MotoServer, zone_id: str, provider: DnsProvider
) -> None:
    """A set another writer made (its own TTL) is deleted exactly as it is, or DELETE fails."""
    fqdn, value = _name(), secrets.token_hex(8)
    rrset = {"Name": fqdn, "Type": "TXT", "TTL": 300, "ResourceRecords": [{"Value": f'"{value}"'}]}
    batch = {"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrset}]}
    await asyncio.to_thread(moto.client("route53").change_resource_record_sets,
                            HostedZoneId=zone_id, ChangeBatch=batch)
    await provider.cleanup(ZONE, fqdn, value)
    assert moto.changes(fqdn)[-1] == [Change("DELETE", fqdn, "TXT", 300, (f'"{value}"',))]
    assert await asyncio.to_thread(moto.txt_values, zone_id, fqdn) == set()


async def test_zone_found_by_name_public_before_private(moto: MotoServer) -> None:
    zone = f"lookup{secrets.token_hex(3)}.test."
    private_id = moto.create_zone(zone, private=True)
    public_id = moto.create_zone(zone)
    provider = _provider(moto, moto.dns_user)
    fqdn = f"_acme-challenge.{zone}"
    try:
        await provider.present(zone, fqdn, "by-name")
        with pytest.raises(DnsZoneNotFound) as missing:
            await provider.present("absent.test.", "_acme-challenge.absent.test.", "x")
    finally:
        await provider.aclose()
    assert moto.txt_values(public_id, fqdn) == {"by-name"}
    assert moto.txt_values(private_id, fqdn) == set()
    assert "absent.test." in missing.value.detail and not missing.value.retryable


async def test_unknown_hosted_zone_id_is_zone_not_found(moto: MotoServer) -> None:
    provider = _provider(moto, moto.dns_user, hosted_zone_id="Z0NOSUCHZONE")
    try:
        with pytest.raises(DnsZoneNotFound) as missing:
            await provider.present(ZONE, _name(), "x")
    finally:
        await provider.aclose()
    assert "NoSuchHostedZone" in missing.value.detail


async def test_a_policy_without_change_rights_is_an_auth_problem(
    moto: MotoServer, zone_id: str
) -> None:
    """The README's policy is enough (the conformance run uses it); one action less is not."""
    from tests.harness.moto import _user

    reader = await asyncio.to_thread(
        _user, moto, f"reader{secrets.token_hex(3)}",
        ["route53:ListResourceRecordSets", "route53:GetChange"],
    )
    provider = _provider(moto, reader, hosted_zone_id=zone_id)
    try:
        with pytest.raises(DnsProviderAuth) as refused:
            await provider.present(ZONE, _name(), "x")
    finally:
        await provider.aclose()
    assert "AccessDenied" in refused.value.detail and not refused.value.retryable


async def test_ambient_credentials_are_used_when_none_are_stored(
    moto: MotoServer, zone_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.dns_user.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.dns_user.secret_access_key)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    provider = _provider(moto, None, hosted_zone_id=zone_id)
    fqdn = _name()
    try:
        await provider.present(ZONE, fqdn, "ambient")
        assert moto.txt_values(zone_id, fqdn) == {"ambient"}
        await provider.cleanup(ZONE, fqdn, "ambient")
    finally:
        await provider.aclose()


def _aws_error(status: int, code: str, message: str) -> Response:
    body = (f'<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error>'
            f"<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>r-1</RequestId></ErrorResponse>")
    return Response(body, status_code=status, media_type="text/xml")


ANSWERS = {
    "throttled": (_aws_error(400, "Throttling", "Rate exceeded"), DnsProviderUnavailable),
    "prior-request": (_aws_error(400, "PriorRequestNotComplete", "still busy"),
                      DnsProviderUnavailable),
    "server-error": (Response("oops", status_code=500), DnsProviderUnavailable),
    "unavailable": (_aws_error(503, "ServiceUnavailable", "try later"), DnsProviderUnavailable),
    "garbage": (Response("<not xml", status_code=200, media_type="text/xml"),
                DnsProviderUnavailable),
    "denied": (_aws_error(403, "AccessDenied", "not allowed"), DnsProviderAuth),
    "signature": (_aws_error(403, "SignatureDoesNotMatch", "bad signature"), DnsProviderAuth),
    "invalid-input": (_aws_error(400, "InvalidInput", "Invalid XML ; the name is odd"),
                      DnsProviderError),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
async def test_error_answers_become_problems(answer: str) -> None:
    response, problem = ANSWERS[answer]
    seen: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        seen.append(Request(scope).url.path)
        await response(scope, receive, send)  # type: ignore[arg-type]

    with serve(app) as url:
        provider = build_provider(
            "route53", {"region": REGION, "endpoint_url": url, "hosted_zone_id": "Z1"},
            {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "secret"},
        )
        try:
            with pytest.raises(DnsProviderError) as raised:
                await provider.present(ZONE, _name(), "x")
        finally:
            await provider.aclose()
    assert type(raised.value) is problem
    assert raised.value.retryable is (problem is DnsProviderUnavailable)
    assert seen == ["/2013-04-01/hostedzone/Z1/rrset"], "one attempt: the issuer retries"
    if answer not in ("server-error", "garbage"):
        assert ANSWERS[answer][0].body.decode().split("<Message>")[1].split("<")[0] in (
            raised.value.detail
        )


async def test_unreachable_endpoint_is_unavailable() -> None:
    from tests.harness.ports import free_port

    provider = build_provider(
        "route53",
        {"region": REGION, "endpoint_url": f"http://127.0.0.1:{free_port()}",
         "hosted_zone_id": "Z1"},
        {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "secret"},
    )
    try:
        with pytest.raises(DnsProviderUnavailable):
            await provider.cleanup(ZONE, _name(), "x")
    finally:
        await provider.aclose()
