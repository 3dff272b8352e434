"""Racing writes: exactly one of two simultaneous verify calls wins and the other gets a 409;
a cancel racing the worker is never a 500, and an accepted cancel is never issued."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e.db import query
from tests.e2e.stack import Stack

PAIRS = 20
CANCELS = 40


def _create(client: httpx.Client, name: str, **extra: str) -> str:
    response = client.post("/v1/certificate-requests",
                           json={"common_name": name, "key_type": "ec", **extra})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _at_once(stack: Stack, calls: list[str]) -> list[httpx.Response]:
    """POST every path at the same moment, one client (connection) each."""
    clients = [stack.client() for _ in calls]
    for client in clients:
        assert client.get("/healthz").status_code == 200  # connect before the race
    barrier = threading.Barrier(len(calls))

    def post(i: int) -> httpx.Response:
        barrier.wait()
        return clients[i].post(calls[i])

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(post, range(len(calls))))


def test_simultaneous_verify_calls_have_one_winner(prod: Stack) -> None:
    client = prod.client()
    ids = [_create(client, f"verify-race{i}.example.test", validation="manual")
           for i in range(PAIRS)]
    for request_id in ids:
        prod.wait_status(request_id, "awaiting_manual_validation")
    outcomes = []
    for request_id in ids:
        pair = _at_once(prod, [f"/v1/certificate-requests/{request_id}/verify"] * 2)
        outcomes.append(sorted(r.status_code for r in pair))
        loser = max(pair, key=lambda r: r.status_code)
        assert loser.headers["content-type"].startswith("application/problem+json")
    assert outcomes == [[202, 409]] * PAIRS
    assert {prod.wait_final(i)["status"] for i in ids} == {"issued"}


def test_an_accepted_cancel_always_wins_over_the_worker(prod: Stack) -> None:
    client = prod.client()
    statuses: dict[str, int] = {}
    for i in range(CANCELS):
        request_id = _create(client, f"cancel-race{i}.example.test")
        cancel = _at_once(prod, [f"/v1/certificate-requests/{request_id}/cancel"])[0]
        statuses[request_id] = cancel.status_code
    assert set(statuses.values()) <= {200, 409}, statuses
    accepted = [i for i, code in statuses.items() if code == 200]
    assert accepted, "no cancel came early enough to be accepted"
    finals = {i: prod.wait_final(i)["status"] for i in statuses}
    assert {finals[i] for i in accepted} == {"cancelled"}, finals
    listed = ",".join(f"'{i}'" for i in accepted)
    rows = query(prod, "SELECT r.status, r.certificate_id, count(c.id) "
                       "FROM certificate_requests r LEFT JOIN certificates c "
                       f"ON c.request_id = r.id WHERE r.id IN ({listed}) "
                       "GROUP BY r.status, r.certificate_id")
    assert rows == [["cancelled", "", "0"]], rows
