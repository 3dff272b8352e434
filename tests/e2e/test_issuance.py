"""Issue real certificates from Pebble through the HTTP API, in both topologies."""

from __future__ import annotations

import pytest

from tests.e2e.checks import assert_valid_certificate
from tests.e2e.stack import Stack

THREE_NAMES = ["www.example.test", "api.example.test", "mail.example.test"]


@pytest.mark.parametrize("topology", ["prod", "embedded"])
def test_http01_issues_three_names(topology: str, request: pytest.FixtureRequest) -> None:
    stack: Stack = request.getfixturevalue(topology)
    created = stack.client().post(
        "/v1/certificate-requests",
        json={
            "common_name": THREE_NAMES[0],
            "subject_alternative_names": THREE_NAMES[1:],
            "key_type": "rsa",
            "key_size": 2048,
            "challenge_type": "http-01",
        },
    )
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "pending"
    done = stack.wait_final(created.json()["id"])
    assert done["status"] == "issued", done
    assert [c["status"] for c in done["challenges"]] == ["valid"] * 3
    assert_valid_certificate(stack, done["certificate_id"], THREE_NAMES)


def test_manual_dns01_wildcard_and_apex(prod: Stack) -> None:
    """The test plays the person: it reads the TXT values, writes them into the DNS the CA
    queries (challtestsrv), then calls verify."""
    client = prod.client()
    created = client.post(
        "/v1/certificate-requests",
        json={
            "common_name": "*.shop.example.test",
            "subject_alternative_names": ["shop.example.test"],
            "key_type": "ec",
            "curve": "p-384",
            "challenge_type": "dns-01",
            "validation": "manual",
        },
    )
    assert created.status_code == 202, created.text
    request_id = created.json()["id"]
    waiting = prod.wait_status(request_id, "awaiting_manual_validation")
    challenges = waiting["challenges"]
    assert {c["txt_name"] for c in challenges} == {"_acme-challenge.shop.example.test"}
    assert len({c["txt_value"] for c in challenges}) == 2
    assert sorted(c["wildcard"] for c in challenges) == [False, True]
    prod.dns.set_txt(challenges[0]["txt_name"], challenges[0]["txt_value"])
    early = client.post(f"/v1/certificate-requests/{request_id}/verify")
    assert early.status_code == 409, early.text
    assert early.json()["type"] == "urn:certkeeper:problem:dns-records-missing"
    assert early.json()["missing"] == [
        {"name": challenges[1]["txt_name"], "value": challenges[1]["txt_value"]}
    ]
    unchanged = prod.wait_status(request_id, "awaiting_manual_validation")
    assert unchanged["updated_at"] == waiting["updated_at"]
    prod.dns.set_txt(challenges[1]["txt_name"], challenges[1]["txt_value"])
    try:
        verified = client.post(f"/v1/certificate-requests/{request_id}/verify")
        assert verified.status_code == 202, verified.text
        done = prod.wait_final(request_id)
    finally:
        prod.dns.clear_txt("_acme-challenge.shop.example.test")
    assert done["status"] == "issued", done
    assert_valid_certificate(prod, done["certificate_id"], ["*.shop.example.test",
                                                             "shop.example.test"])
