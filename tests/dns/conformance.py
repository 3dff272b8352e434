"""The DNS provider conformance suite, after cert-manager's DNS-01 conformance tests: every
provider runs the same cases against a real server (BIND, moto) or a fake that follows the
vendor's documented contract (Cloudflare, Azure).

A provider's test module builds a :class:`Subject` in a fixture and runs every case:

    @pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
    async def test_conformance(case: Case, subject: Subject) -> None:
        await case(subject)
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import pytest

from shared.dns.base import DnsProvider, DnsProviderAuth


@dataclass
class Subject:
    """A provider under test. ``values(fqdn)`` reads the TXT values the backend serves for
    ``fqdn`` (from the authoritative server where there is one, else the backend's API);
    ``wrong_credentials`` is the same provider built with credentials the backend refuses."""

    provider: DnsProvider
    zone: str  # "example.test."
    values: Callable[[str], Awaitable[set[str]]]
    wrong_credentials: Callable[[], DnsProvider]


Case = Callable[[Subject], Awaitable[None]]


def _name(subject: Subject) -> str:
    """A fresh record name under the zone, so cases never see each other's records."""
    return f"_acme-challenge.c{secrets.token_hex(4)}.{subject.zone}"


def _value() -> str:
    return secrets.token_urlsafe(32)  # the shape of a DNS-01 value: 43 base64url characters


async def present_is_served_and_cleanup_removes_it(subject: Subject) -> None:
    fqdn, value = _name(subject), _value()
    await subject.provider.present(subject.zone, fqdn, value)
    assert await subject.values(fqdn) == {value}
    await subject.provider.cleanup(subject.zone, fqdn, value)
    assert await subject.values(fqdn) == set()


async def two_values_under_one_name_cleanup_keeps_the_other(subject: Subject) -> None:
    """The apex and the wildcard of one order share ``_acme-challenge.<name>``."""
    fqdn, first, second = _name(subject), _value(), _value()
    await subject.provider.present(subject.zone, fqdn, first)
    await subject.provider.present(subject.zone, fqdn, second)
    assert await subject.values(fqdn) == {first, second}
    await subject.provider.cleanup(subject.zone, fqdn, first)
    assert await subject.values(fqdn) == {second}
    await subject.provider.cleanup(subject.zone, fqdn, second)
    assert await subject.values(fqdn) == set()


async def present_twice_is_one_value(subject: Subject) -> None:
    fqdn, value = _name(subject), _value()
    await subject.provider.present(subject.zone, fqdn, value)
    await subject.provider.present(subject.zone, fqdn, value)
    assert await subject.values(fqdn) == {value}
    await subject.provider.cleanup(subject.zone, fqdn, value)
    assert await subject.values(fqdn) == set()


async def cleanup_of_an_absent_record_is_a_no_op(subject: Subject) -> None:
    fqdn = _name(subject)
    await subject.provider.cleanup(subject.zone, fqdn, _value())
    other, kept = _name(subject), _value()
    await subject.provider.present(subject.zone, other, kept)
    await subject.provider.cleanup(subject.zone, other, _value())  # a value never presented
    assert await subject.values(other) == {kept}
    await subject.provider.cleanup(subject.zone, other, kept)
    await subject.provider.cleanup(subject.zone, other, kept)  # twice: still a no-op
    assert await subject.values(other) == set()


async def wrong_credentials_are_a_stable_problem(subject: Subject) -> None:
    provider = subject.wrong_credentials()
    try:
        with pytest.raises(DnsProviderAuth) as refused:
            await provider.present(subject.zone, _name(subject), _value())
    finally:
        await provider.aclose()
    assert not refused.value.retryable
    assert refused.value.detail, "the provider's own message is kept"


CASES: Sequence[Case] = (
    present_is_served_and_cleanup_removes_it,
    two_values_under_one_name_cleanup_keeps_the_other,
    present_twice_is_one_value,
    cleanup_of_an_absent_record_is_a_no_op,
    wrong_credentials_are_a_stable_problem,
)


def case_ids(cases: Sequence[Case]) -> list[str]:
    return [case.__name__ for case in cases]
