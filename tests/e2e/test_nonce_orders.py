"""A CA that refuses many nonces gets exactly one new order per request.

Only the POST that was refused is sent again: a retry never repeats a newOrder that
succeeded because a later authorization fetch lost its nonce. The retry signs with the fresh
nonce the refusal carried (RFC 8555 6.5), without asking ``newNonce`` for one.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.conftest import with_account
from tests.e2e.stack import embedded_stack
from tests.harness.faults import Fault

REQUESTS = 8
BAD_NONCE = json.dumps({"type": "urn:ietf:params:acme:error:badNonce",
                        "detail": "JWS has an invalid anti-replay nonce"}).encode()
NAMES_PER_REQUEST = 3  # three authorization fetches per order: three chances to lose a nonce


def test_nonce_rejections_place_one_order_per_request() -> None:
    with embedded_stack({"PEBBLE_WFE_NONCEREJECT": "40"}, faults=True) as stack:
        assert stack.proxy is not None
        with_account(stack)
        # Certain, not left to chance: the first newOrder loses its nonce (twice).
        stack.proxy.faults.append(Fault("POST", "/order-plz", 400, BAD_NONCE,
                                        {"Content-Type": "application/problem+json"}, times=2))
        client = stack.client()

        def issue(index: int) -> dict[str, object]:
            names = [f"n{n}.r{index}.nonce.example.test" for n in range(NAMES_PER_REQUEST)]
            created = client.post("/v1/certificate-requests", json={
                "common_name": names[0], "subject_alternative_names": names[1:],
                "key_type": "ec",
            })
            assert created.status_code == 202, created.text
            return stack.wait_final(created.json()["id"], timeout=90)

        with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
            done = list(pool.map(issue, range(REQUESTS)))
        new_orders = stack.proxy.requests_to("POST", "/order-plz")
        authz_fetches = stack.proxy.requests_to("POST", "/authZ/")
        refused = [seen for seen in stack.proxy.seen if seen.method == "POST"
                   and seen.status == 400]
        nonces_asked = stack.proxy.requests_to("HEAD", "/nonce-plz")

    assert [body["status"] for body in done] == ["issued"] * REQUESTS, done
    assert [seen.status for seen in new_orders[:2]] == [400, 400]
    assert any(seen.status == 400 for seen in authz_fetches), "no authorization lost a nonce"
    assert len([seen for seen in new_orders if seen.status == 201]) == REQUESTS
    # newNonce is asked once per conversation opened and after the two injected refusals,
    # which carry no nonce; Pebble's own refusals (40 % of POSTs) each carry one.
    assert len(refused) > 20, refused
    assert len(nonces_asked) < len(refused) / 2, (len(nonces_asked), len(refused))
