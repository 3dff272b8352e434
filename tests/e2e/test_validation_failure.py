"""Validation that fails at the CA, through the api, the issuer and Pebble, in both
topologies: an automatic request gets a fresh order after each delay of
CERTKEEPER_ORDER_RETRY_SECONDS (``1,2`` in the test stacks), then fails; a name no dns-01
record can exist for fails after one order. Orders are counted in Pebble's own log."""

from __future__ import annotations

import pytest

from tests.e2e.stack import Stack

PROBLEM = "urn:certkeeper:problem:"
TOPOLOGIES = ["prod", "embedded"]


def _orders_placed(stack: Stack) -> int:
    return stack.pebble.log_path.read_text(errors="replace").count("Added order")


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_unreachable_name_gets_fresh_orders_then_fails(
    topology: str, request: pytest.FixtureRequest
) -> None:
    """The CA resolves the name to an address where nothing answers, so each order goes
    invalid (as when our responder is down while the CA looks)."""
    stack: Stack = request.getfixturevalue(topology)
    name = f"unreachable-{topology}.example.test"
    stack.dns.post("/add-a", {"host": f"{name}.", "addresses": ["127.0.0.2"]})
    before = _orders_placed(stack)
    created = stack.client().post("/v1/certificate-requests",
                                  json={"common_name": name, "key_type": "ec"})
    assert created.status_code == 202, created.text
    done = stack.wait_final(created.json()["id"], timeout=60)
    assert done["status"] == "failed", done
    assert done["error"]["type"] == PROBLEM + "validation-failed"
    assert done["error"]["authorizations"][0]["name"] == name
    assert done["last_error"]["type"] == PROBLEM + "validation-failed"
    assert _orders_placed(stack) - before == 3  # the first, then one per delay of "1,2"


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_name_too_long_for_dns01_is_refused_before_any_order(
    topology: str, request: pytest.FixtureRequest
) -> None:
    """``_acme-challenge.`` in front of a legal 253-octet name is longer than any DNS name,
    so no CA could validate it over dns-01: refused before a row is written or an order is
    placed (before the fix, each lease expiry placed another order, forever)."""
    stack: Stack = request.getfixturevalue(topology)
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, topology[0] * 48, "example", "test"])
    before = _orders_placed(stack)
    created = stack.client().post("/v1/certificate-requests", json={
        "common_name": name, "key_type": "ec", "challenge_type": "dns-01",
        "validation": "manual",
    })
    assert created.status_code == 422, created.text
    assert created.json()["invalid_names"][0]["reason"] == "challenge-name-too-long"
    assert _orders_placed(stack) == before
