"""The running renewer follows the CA's renewal window (RFC 9773). Pebble 2.4.0 has no ARI,
so the proxy in front of it lists ``renewalInfo`` in the directory and serves the windows:
the first certificate gets a window that is already over (the CA asks for renewal now),
every later one a window a month away. The renewal's newOrder must name the certificate it
replaces, and the successor's planned moment must lie inside its window."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.acme_ari import ari_id_of_chain
from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, embedded_stack
from tests.harness.faults import FaultProxy, Window

NEW_ORDER = "/order-plz"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(faults=True) as started:
        _proxy(started).advertise_ari()  # before anything reads the directory
        yield with_account(started)


def _proxy(stack: Stack) -> FaultProxy:
    assert stack.proxy is not None
    return stack.proxy


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_the_renewer_renews_when_the_ca_says_and_names_what_it_replaces(stack: Stack) -> None:
    proxy, client = _proxy(stack), stack.client()
    now = datetime.now(UTC).replace(microsecond=0)
    later = (now + timedelta(days=30), now + timedelta(days=31))
    proxy.later_window = Window(_iso(later[0]), _iso(later[1]), retry_after=3600)
    proxy.next_windows.append(Window(_iso(now - timedelta(hours=2)),
                                     _iso(now - timedelta(hours=1)), retry_after=60))
    created = client.post("/v1/certificate-requests",
                          json={"common_name": "ari.example.test", "key_type": "ec"})
    assert created.status_code == 202, created.text
    done = stack.wait_final(created.json()["id"])
    assert done["status"] == "issued", done
    first_id = done["certificate_id"]

    renewed = stack.wait_certificate(first_id, lambda c: c["status"] == "renewed", timeout=60)
    first_chain = client.get(f"/v1/certificates/{first_id}/pem").text
    replaced = ari_id_of_chain(first_chain)
    assert replaced is not None
    orders = [o.payload for o in proxy.signed_to(NEW_ORDER) if o.payload is not None]
    assert [o.get("replaces") for o in orders if o.get("replaces")] and all(
        o["replaces"] == replaced for o in orders if o.get("replaces")
    ), orders

    second_id = renewed["replaced_by_id"]
    second = stack.wait_certificate(second_id, lambda c: c["renewal_source"] == "ari",
                                    timeout=30)
    assert second["status"] == "active" and second["replaces_id"] == first_id
    planned = datetime.fromisoformat(second["renewal_at"])
    assert later[0] <= planned < later[1], second

    second_chain = client.get(f"/v1/certificates/{second_id}/pem").text
    second_ari = f"/renewalInfo/{ari_id_of_chain(second_chain)}"
    time.sleep(6)  # longer than the renewer's wake poll: it must not ask before Retry-After
    assert len(proxy.requests_to("GET", second_ari)) == 1
    assert len(proxy.requests_to("GET", f"/renewalInfo/{replaced}")) == 1
