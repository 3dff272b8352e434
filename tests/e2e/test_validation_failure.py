"""Validation that fails at the CA, through the api, the issuer and Pebble: an automatic
request gets a fresh order after each delay of CERTKEEPER_ORDER_RETRY_SECONDS (``1,2`` in
the test stacks), then fails; a name no dns-01 record can exist for fails after one
order. Orders are counted at the proxy in front of Pebble."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, embedded_stack

PROBLEM = "urn:certkeeper:problem:"


@pytest.fixture(scope="module")
def proxied() -> Iterator[Stack]:
    with embedded_stack(faults=True) as stack:
        yield with_account(stack)


def _orders_placed(stack: Stack) -> int:
    assert stack.proxy is not None
    return sum(1 for s in stack.proxy.requests_to("POST", "/order-plz") if s.status == 201)


def test_unreachable_name_gets_fresh_orders_then_fails(proxied: Stack) -> None:
    """The CA resolves the name to an address where nothing answers, so each order goes
    invalid (as when our responder is down while the CA looks)."""
    name = "unreachable.example.test"
    proxied.dns.post("/add-a", {"host": f"{name}.", "addresses": ["127.0.0.2"]})
    before = _orders_placed(proxied)
    created = proxied.client().post("/v1/certificate-requests",
                                    json={"common_name": name, "key_type": "ec"})
    assert created.status_code == 202, created.text
    done = proxied.wait_final(created.json()["id"], timeout=60)
    assert done["status"] == "failed", done
    assert done["error"]["type"] == PROBLEM + "validation-failed"
    assert done["error"]["authorizations"][0]["name"] == name
    assert done["last_error"]["type"] == PROBLEM + "validation-failed"
    assert _orders_placed(proxied) - before == 3  # the first, then one per delay of "1,2"


def test_name_too_long_for_dns01_fails_after_one_order(proxied: Stack) -> None:
    """``_acme-challenge.`` in front of a legal 253-octet name is longer than any DNS
    name: the request fails with a clear problem, and one order is all it ever placed."""
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 48, "example", "test"])
    before = _orders_placed(proxied)
    created = proxied.client().post("/v1/certificate-requests", json={
        "common_name": name, "key_type": "ec", "challenge_type": "dns-01",
        "validation": "manual",
    })
    assert created.status_code == 202, created.text
    done = proxied.wait_final(created.json()["id"], timeout=30)
    assert done["status"] == "failed", done
    assert done["error"]["type"] == PROBLEM + "invalid-names"
    assert _orders_placed(proxied) - before == 1
