"""While Postgres is down every route answers 503 ``database-unavailable`` with Retry-After,
never 500; once it is back the same calls succeed without restarting the api."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.e2e.conftest import with_account
from tests.e2e.db import query
from tests.e2e.stack import Stack, production_stack
from tests.harness.faults import Hold

P = "urn:certkeeper:problem:"
MISSING = "00000000-0000-4000-8000-000000000009"
RESTART_LOAD_REQUESTS = 80


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with production_stack(faults=True) as started:
        yield with_account(started)


def _calls(stack: Stack, request_id: str, fresh_token: str) -> list[tuple[str, httpx.Response]]:
    """One call of every kind: reads, writes, a token not seen before, the responder."""
    client = stack.client()
    return [
        ("list certificates", client.get("/v1/certificates")),
        ("get request", client.get(f"/v1/certificate-requests/{request_id}")),
        ("list accounts", client.get("/v1/acme-accounts")),
        ("create request", client.post("/v1/certificate-requests",
                                       json={"common_name": "outage.example.test"})),
        ("verify", client.post(f"/v1/certificate-requests/{request_id}/verify")),
        ("cancel", client.post(f"/v1/certificate-requests/{MISSING}/cancel")),
        ("new token", stack.client(fresh_token).get("/v1/certificates")),
        ("responder", client.get("/.well-known/acme-challenge/abcDEF123_-")),
        ("readyz", client.get("/readyz")),
    ]


def test_database_outage_is_503_and_recovers(stack: Stack) -> None:
    assert stack.postgres is not None
    client = stack.client()
    created = client.post("/v1/certificate-requests", json={"common_name": "pre.example.test"})
    assert created.status_code == 202, created.text
    request_id = created.json()["id"]
    stack.wait_final(request_id)
    fresh_token = stack.create_token("viewer", "outage-viewer")
    stack.postgres.stop()
    try:
        for what, response in _calls(stack, request_id, fresh_token):
            assert response.status_code == 503, (what, response.text)
            assert response.headers["content-type"].startswith("application/problem+json"), what
            assert int(response.headers["retry-after"]) > 0, what
            slug = "not-ready" if what == "readyz" else "database-unavailable"
            assert response.json()["type"] == P + slug, (what, response.json())
    finally:
        stack.postgres.start()
    back = dict(_calls(stack, request_id, fresh_token))
    assert {what: r.status_code for what, r in back.items()} == {
        "list certificates": 200, "get request": 200, "list accounts": 200,
        "create request": 202, "verify": 409, "cancel": 404, "new token": 200,
        "responder": 404, "readyz": 200,
    }, {what: r.text for what, r in back.items()}


def test_postgres_restart_under_load_loses_no_request(stack: Stack) -> None:
    """Requests keep coming while Postgres restarts: each POST is accepted (202) or told to
    come back (503), never a 500; every accepted request ends issued. An order whose
    HTTP-01 validation met our responder's 503 is replaced by a fresh one, not failed."""
    assert stack.postgres is not None
    answers: list[httpx.Response] = []
    stop_posting = threading.Event()

    def post_until_stopped() -> None:
        with stack.client() as client:
            for i in range(RESTART_LOAD_REQUESTS):
                if stop_posting.is_set():
                    return
                answers.append(client.post("/v1/certificate-requests", json={
                    "common_name": f"restart{i}.example.test", "key_type": "ec"}))
                time.sleep(0.05)

    poster = threading.Thread(target=post_until_stopped)
    poster.start()
    try:
        _wait_until(lambda: sum(a.status_code == 202 for a in answers) >= 5)
        stack.postgres.stop()
        _wait_until(lambda: answers[-1].status_code == 503)
        time.sleep(2)  # the outage itself: the CA validates, the worker retries
    finally:
        stack.postgres.start()
        time.sleep(2)
        stop_posting.set()
        poster.join()
    statuses = {a.status_code for a in answers}
    assert statuses == {202, 503}, [(a.status_code, a.text[:200]) for a in answers]
    accepted = [a.json()["id"] for a in answers if a.status_code == 202]
    results = [stack.wait_final(i, timeout=90) for i in accepted]
    assert [r["status"] for r in results] == ["issued"] * len(accepted), [
        (r["status"], r["error"], r["last_error"]) for r in results]


def _wait_until(done: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_validation_that_met_our_outage_gets_a_fresh_order(stack: Stack) -> None:
    """The CA validates HTTP-01 while Postgres is down: our responder answers 503, the CA
    marks the order invalid. That failure was ours, so it is not final: a fresh order is
    placed after the retry delay and the request ends issued."""
    assert stack.postgres is not None and stack.proxy is not None
    hold = Hold("POST", "/chalZ/")  # the moment the issuer tells the CA to validate
    stack.proxy.holds.append(hold)
    created = stack.client().post("/v1/certificate-requests",
                                  json={"common_name": "ourfault.example.test", "key_type": "ec"})
    assert created.status_code == 202, created.text
    assert hold.held.wait(30), "the issuer never answered the challenge"
    stack.postgres.stop()
    try:
        hold.release.set()  # the CA validates now, against a responder without its database
        proxy = stack.proxy
        _wait_until(lambda: any(s.status == 200 for s in proxy.requests_to("POST", "/chalZ/")))
        time.sleep(1)  # Pebble's validation meets the 503
    finally:
        stack.postgres.start()
    done = stack.wait_final(created.json()["id"], timeout=60)
    assert done["status"] == "issued", done
    assert done["last_error"]["type"] == P + "validation-failed", done["last_error"]
    orders = query(stack, "SELECT orders_placed FROM certificate_requests "
                          f"WHERE id = '{created.json()['id']}'")
    assert orders == [["2"]]
