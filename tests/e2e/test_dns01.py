"""Automatic dns-01 end to end: Certkeeper writes TXT records into a real BIND over RFC 2136
with TSIG, checks them on BIND's authoritative servers, Pebble validates the real records,
and nothing of ours is left in the zone afterwards. Both topologies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.checks import assert_valid_certificate
from tests.e2e.dns_stack import ZONES, DnsStack, dns_stack
from tests.e2e.test_bad_input import assert_problem

P = "urn:certkeeper:problem:"


@pytest.fixture(scope="module", params=["prod", "embedded"])
def stack(request: pytest.FixtureRequest) -> Iterator[DnsStack]:
    with dns_stack(request.param, ZONES) as started:
        yield started


@pytest.fixture(scope="module")
def global_provider(stack: DnsStack) -> str:
    """The provider with BIND's global key (it may write in every zone)."""
    return stack.provider("bind-global")


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@pytest.mark.parametrize("shop", ["shop", "shop2"], ids=["first", "second"])
def test_wildcard_and_apex_over_rfc2136(stack: DnsStack, global_provider: str, shop: str,
                                        request: pytest.FixtureRequest) -> None:
    names = [f"*.{shop}.example.test", f"{shop}.example.test"]
    request_id = stack.request(*names, dns_provider_id=global_provider)
    done = stack.stack.wait_final(request_id)
    assert done["status"] == "issued", done
    assert_valid_certificate(stack.stack, done["certificate_id"], names)
    record = f"_acme-challenge.{shop}.example.test."
    assert {c["record_name"] for c in done["challenges"]} == {record}
    cleaned = stack.wait_cleaned(request_id)
    assert stack.served(record) == set()
    assert len(stack.log_events("dns.cleaned")) >= 2
    certificate = stack.stack.client().get(f"/v1/certificates/{done['certificate_id']}").json()
    _report_timings(request, cleaned, certificate["created_at"])


def _report_timings(request: pytest.FixtureRequest, body: dict[str, Any], issued_at: str
                    ) -> None:
    """How long the issuance took (request created to certificate stored) and how much of
    it was the propagation check (the figures are in the test report: ``pytest -rP`` or
    ``--junitxml``)."""
    challenges = body["challenges"]
    first = min(c["presented_at"] for c in challenges)
    served = max(c["propagated_at"] for c in challenges)
    figures = {
        "wall_seconds": _seconds(body["created_at"], issued_at),
        "present_to_served_seconds": _seconds(first, served),
    }
    for name, value in figures.items():
        request.node.user_properties.append((name, round(value, 3)))
    print(f"\n{request.node.name}: {figures}")


def test_mapping_with_its_own_zone_and_key_next_to_a_global_one(stack: DnsStack) -> None:
    """example.test's key may write only there; team.test's mapping carries its own zone and
    key: one order needs both."""
    example_key = stack.bind.zone_keys["example.test."]
    team_key = stack.bind.zone_keys["team.test."]
    provider = stack.provider("bind-example-key", example_key)
    stack.mapping("m.example.test", provider)
    stack.mapping("team.test", provider, zone="team.test.", tsig_key_name=team_key.name,
                  tsig_secret=team_key.secret)
    request_id = stack.request("www.m.example.test", "api.team.test")
    done = stack.stack.wait_final(request_id)
    assert done["status"] == "issued", done
    assert {(c["identifier"], c["zone"]) for c in done["challenges"]} == {
        ("www.m.example.test", "example.test."), ("api.team.test", "team.test.")}
    stack.wait_cleaned(request_id)
    assert stack.served("_acme-challenge.api.team.test.") == set()


def test_cname_delegation_into_another_zone(stack: DnsStack, global_provider: str) -> None:
    request_id = stack.request("app.example.test", dns_provider_id=global_provider)
    done = stack.stack.wait_final(request_id)
    assert done["status"] == "issued", done
    assert [(c["record_name"], c["zone"]) for c in done["challenges"]] == [
        ("app.delegated.test.", "delegated.test.")]
    stack.wait_cleaned(request_id)
    assert stack.served("app.delegated.test.") == set()


def test_provider_self_test(stack: DnsStack, global_provider: str) -> None:
    client = stack.stack.client()
    report = client.post(f"/v1/dns-providers/{global_provider}/test",
                         json={"domain": "probe.example.test"})
    assert report.status_code == 200, report.text
    assert report.json()["ok"] is True, report.json()
    assert [s["step"] for s in report.json()["steps"]] == ["present", "propagation", "cleanup"]
    assert stack.served("_acme-challenge.probe.example.test.") == set()
    wrong = stack.bind.zone_keys["delegated.test."]  # a real key, refused in example.test
    refused = stack.provider("bind-wrong-zone-key", wrong)
    failed = client.post(f"/v1/dns-providers/{refused}/test",
                         json={"domain": "probe.example.test"})
    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert body["ok"] is False
    assert body["steps"][0]["step"] == "present" and not body["steps"][0]["ok"]
    assert body["steps"][0]["detail"]


def test_credentials_are_write_only_and_patch_replaces_them(
    stack: DnsStack, global_provider: str
) -> None:
    client = stack.stack.client()
    shown = client.get(f"/v1/dns-providers/{global_provider}").json()
    assert shown["credentials_set"] == ["tsig_secret"]
    assert stack.bind.global_key.secret not in client.get("/v1/dns-providers").text
    provider = stack.provider("bind-rotating", stack.bind.zone_keys["delegated.test."])
    patched = client.patch(f"/v1/dns-providers/{provider}", json={
        "config": {"server": stack.bind.server, "tsig_key_name": stack.bind.global_key.name},
        "credentials": {"tsig_secret": stack.bind.global_key.secret},
    })
    assert patched.status_code == 200, patched.text
    request_id = stack.request("patched.example.test", dns_provider_id=provider)
    assert stack.stack.wait_final(request_id)["status"] == "issued"
    stack.wait_cleaned(request_id)
    in_use = client.delete(f"/v1/dns-providers/{provider}")
    assert in_use.status_code == 204, in_use.text


def test_a_provider_in_use_cannot_be_deleted(stack: DnsStack) -> None:
    provider = stack.provider("bind-mapped")
    mapping = stack.mapping("busy.example.test", provider)
    client = stack.stack.client()
    assert_problem(client.delete(f"/v1/dns-providers/{provider}"), 409, "conflict")
    assert client.delete(f"/v1/domain-mappings/{mapping}").status_code == 204
    assert client.delete(f"/v1/dns-providers/{provider}").status_code == 204
