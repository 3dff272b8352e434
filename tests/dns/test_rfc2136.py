"""The RFC 2136 provider against a real BIND 9 with TSIG: the conformance suite, values
read back by querying BIND directly, plus the ways a server refuses an update."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from shared.dns.base import (
    DnsProvider,
    DnsProviderAuth,
    DnsProviderError,
    DnsProviderUnavailable,
    DnsZoneNotFound,
)
from shared.dns.registry import InvalidProviderSettings, build_provider, validated
from tests.dns.conformance import CASES, Case, Subject, case_ids
from tests.harness.bind import BindServer, TsigKey, bind_server
from tests.harness.ports import free_port

ZONE = "example.test."
OTHER_ZONE = "delegated.test."
WRONG_SECRET = "c2VjcmV0LXRoYXQtYmluZC1kb2VzLW5vdC1rbm93LTEyMzQ="


@pytest.fixture(scope="module")
def bind() -> Iterator[BindServer]:
    # "synced": ::1 serves the same zones, so the [v6]:port server form is tested too
    with bind_server([ZONE, OTHER_ZONE], secondary="synced") as server:
        yield server


def provider(
    key: TsigKey, server: str, *, secret: str | None = None, **config: str
) -> DnsProvider:
    return build_provider(
        "rfc2136",
        {"server": server, "tsig_key_name": key.name, "tsig_algorithm": key.algorithm, **config},
        {"tsig_secret": secret or key.secret},
    )


@pytest.fixture
def subject(bind: BindServer) -> Subject:
    async def values(fqdn: str) -> set[str]:
        return await asyncio.to_thread(bind.txt_values, fqdn)

    return Subject(
        provider=provider(bind.global_key, bind.server),
        zone=ZONE,
        values=values,
        wrong_credentials=lambda: provider(bind.global_key, bind.server, secret=WRONG_SECRET),
    )


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
async def test_conformance(case: Case, subject: Subject) -> None:
    await case(subject)


async def test_an_unknown_key_name_is_an_auth_problem(bind: BindServer) -> None:
    unknown = TsigKey("nobody-knows-me.", bind.global_key.algorithm, bind.global_key.secret)
    with pytest.raises(DnsProviderAuth) as refused:
        await provider(unknown, bind.server).present(ZONE, f"_acme-challenge.a.{ZONE}", "v")
    assert not refused.value.retryable
    assert "nobody-knows-me." in refused.value.detail
    assert bind.global_key.secret not in refused.value.detail


async def test_a_zone_key_writes_its_zone_only(bind: BindServer) -> None:
    """Per-domain keys: the key of delegated.test. is refused (REFUSED, by policy) in
    example.test. and works in its own zone; the value is then served on both addresses."""
    zone_key = bind.zone_keys[OTHER_ZONE]
    own = provider(zone_key, bind.server)
    with pytest.raises(DnsProviderError) as refused:
        await own.present(ZONE, f"_acme-challenge.k.{ZONE}", "v")
    assert type(refused.value) is DnsProviderError
    assert not refused.value.retryable
    assert "REFUSED" in refused.value.detail
    fqdn = f"_acme-challenge.k.{OTHER_ZONE}"
    await own.present(OTHER_ZONE, fqdn, "mine")
    assert bind.txt_values(fqdn) == bind.txt_values(fqdn, address="::1") == {"mine"}
    await own.cleanup(OTHER_ZONE, fqdn, "mine")
    assert bind.txt_values(fqdn) == set()


async def test_the_configured_zone_wins_and_a_name_outside_it_is_no_zone(
    bind: BindServer,
) -> None:
    pinned = provider(bind.global_key, bind.server, zone=OTHER_ZONE.rstrip("."))
    with pytest.raises(DnsZoneNotFound) as outside:
        await pinned.present(ZONE, f"_acme-challenge.z.{ZONE}", "v")
    assert "NOTZONE" in outside.value.detail
    fqdn = f"_acme-challenge.z.{OTHER_ZONE}"
    await pinned.present(ZONE, fqdn, "pinned")  # the caller's zone is overridden
    assert bind.txt_values(fqdn) == {"pinned"}
    await pinned.cleanup(ZONE, fqdn, "pinned")


async def test_a_zone_the_server_does_not_serve_is_no_zone(bind: BindServer) -> None:
    with pytest.raises(DnsZoneNotFound) as missing:
        await provider(bind.global_key, bind.server).present(
            "nowhere.test.", "_acme-challenge.nowhere.test.", "v"
        )
    assert "NOTAUTH" in missing.value.detail
    assert not missing.value.retryable


async def test_an_ipv6_server_with_a_port(bind: BindServer) -> None:
    fqdn = f"_acme-challenge.v6.{ZONE}"
    v6 = provider(bind.global_key, f"[::1]:{bind.port}")
    await v6.present(ZONE, fqdn, "six")
    assert bind.txt_values(fqdn) == {"six"}
    await v6.cleanup(ZONE, fqdn, "six")
    assert bind.txt_values(fqdn) == set()


async def test_an_unreachable_server_is_retryable(bind: BindServer) -> None:
    closed = provider(bind.global_key, f"127.0.0.1:{free_port()}")
    with pytest.raises(DnsProviderUnavailable) as down:
        await closed.cleanup(ZONE, f"_acme-challenge.{ZONE}", "v")
    assert down.value.retryable
    assert "unreachable" in down.value.detail


@pytest.mark.parametrize(
    ("config", "credentials", "field"),
    [
        ({"server": "127.0.0.1:abc"}, {}, "server"),
        ({"server": "[::1"}, {}, "server"),
        ({"server": "127.0.0.1:0"}, {}, "server"),
        ({"tsig_algorithm": "hmac-sha3"}, {}, "tsig_algorithm"),
        ({"tsig_key_name": "a..b"}, {}, "tsig_key_name"),
        ({"zone": "a..b"}, {}, "zone"),
        ({"port": 53}, {}, "port"),
        ({}, {"tsig_secret": "not base64 at all!"}, "tsig_secret"),
        ({}, {"tsig_secret": ""}, "tsig_secret"),
    ],
)
def test_bad_settings_are_refused_without_echoing_the_secret(
    config: dict[str, object], credentials: dict[str, str], field: str
) -> None:
    good_config = {"server": "192.0.2.1", "tsig_key_name": "k"}
    good_credentials = {"tsig_secret": WRONG_SECRET}
    with pytest.raises(InvalidProviderSettings) as refused:
        validated("rfc2136", good_config | config, good_credentials | credentials)
    assert field in refused.value.detail
    assert "not base64 at all" not in refused.value.detail


def test_settings_are_normalised() -> None:
    config, _ = validated(
        "rfc2136",
        {"server": " ns1.example.test:5353 ", "tsig_key_name": "Key", "tsig_algorithm":
         "HMAC-SHA512.", "zone": "Example.Test"},
        {"tsig_secret": WRONG_SECRET},
    )
    assert config.model_dump() == {
        "server": "ns1.example.test:5353", "tsig_key_name": "key.",
        "tsig_algorithm": "hmac-sha512", "zone": "example.test.",
    }
