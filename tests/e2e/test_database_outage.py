"""While Postgres is down every route answers 503 ``database-unavailable`` with Retry-After,
never 500; once it is back the same calls succeed without restarting the api."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, production_stack

P = "urn:certkeeper:problem:"
MISSING = "00000000-0000-4000-8000-000000000009"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with production_stack() as started:
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
