"""A CA that rate-limits, fails with 5xx, or rejects half its nonces loses no request."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, embedded_stack
from tests.harness.faults import Fault

RATE_LIMITED = json.dumps({
    "type": "urn:ietf:params:acme:error:rateLimited",
    "detail": "too many new orders recently",
}).encode()


@pytest.fixture(scope="module")
def faulty() -> Iterator[Stack]:
    with embedded_stack(faults=True) as stack:
        yield with_account(stack)


def _request(stack: Stack, name: str) -> str:
    created = stack.client().post("/v1/certificate-requests",
                                  json={"common_name": name, "key_type": "ec"})
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def test_rate_limited_order_waits_for_retry_after(faulty: Stack) -> None:
    assert faulty.proxy is not None
    faulty.proxy.faults.append(Fault(
        "POST", "/order-plz", 429, RATE_LIMITED,
        {"Content-Type": "application/problem+json", "Retry-After": "3"},
    ))
    request_id = _request(faulty, "limited.example.test")
    waiting = _wait_for_retry(faulty, request_id)
    assert waiting["last_error"]["type"] == "urn:certkeeper:problem:acme-rate-limited"
    done = faulty.wait_final(request_id)
    assert done["status"] == "issued", done
    orders = faulty.proxy.requests_to("POST", "/order-plz")
    limited = next(s for s in orders if s.status == 429)
    created = next(s for s in orders if s.status == 201 and s.at > limited.at)
    assert created.at - limited.at >= 3.0, "asked again before Retry-After"


def test_server_error_on_finalize_is_retried(faulty: Stack) -> None:
    assert faulty.proxy is not None
    faulty.proxy.faults.append(Fault(
        "POST", "/finalize-order/", 503, b"<html>upstream down</html>",
        {"Content-Type": "text/html"}, times=2,
    ))
    mark = len(faulty.proxy.seen)
    request_id = _request(faulty, "flaky.example.test")
    assert _wait_for_retry(faulty, request_id)["last_error"]["type"].endswith(
        "acme-unavailable"
    )
    done = faulty.wait_final(request_id, timeout=90)
    assert done["status"] == "issued", (done["error"], faulty.proxy.seen)
    statuses = [  # 400s are Pebble's routine badNonce rejections, retried at once
        s.status for s in faulty.proxy.seen[mark:]
        if "/finalize-order/" in s.path and s.status != 400
    ]
    assert statuses == [503, 503, 200]


def test_answer_cut_short_is_retried(faulty: Stack) -> None:
    """A CA whose answer breaks off mid-body (the connection closed before Content-Length
    bytes came) is unreachable for this attempt: the step is retried, nothing is lost."""
    assert faulty.proxy is not None
    body = json.dumps({"status": "valid", "certificate": "https://ca.invalid/cert"}).encode()
    faulty.proxy.faults.append(Fault(
        "POST", "/finalize-order/", 200, body, {"Content-Type": "application/json"},
        cut_after=len(body) // 2,
    ))
    request_id = _request(faulty, "cut-short.example.test")
    waiting = _wait_for_retry(faulty, request_id)
    assert waiting["last_error"]["type"] == "urn:certkeeper:problem:acme-unavailable", waiting
    done = faulty.wait_final(request_id, timeout=90)
    assert done["status"] == "issued", done


def test_nonce_storm_still_issues() -> None:
    """Pebble rejects half of all nonces; certbot's acme alone retries only once."""
    with embedded_stack({"PEBBLE_WFE_NONCEREJECT": "50"}) as stack:
        with_account(stack)
        request_id = _request(stack, "stormy.example.test")
        done = stack.wait_final(request_id)
    assert done["status"] == "issued", done
    assert done["last_error"] is None


def _wait_for_retry(stack: Stack, request_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    client = stack.client()
    while time.monotonic() < deadline:
        body = client.get(f"/v1/certificate-requests/{request_id}").json()
        if body["last_error"] is not None:
            assert body["retry_not_before"] is not None
            return dict(body)
        time.sleep(0.02)
    raise AssertionError("the fault never showed on the request")
