"""``Idempotency-Key`` on POST /v1/certificate-requests and POST /v1/certificates/{id}/renew,
on Postgres (the production stack): a repeat gets the first answer, a different body with
the same key a 422, concurrent duplicates make one request."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.e2e.db import query
from tests.e2e.stack import Stack

P = "urn:certkeeper:problem:"
REQUESTS = "/v1/certificate-requests"


def _lineages(stack: Stack, name: str) -> int:
    return int(query(stack, f"SELECT count(*) FROM lineages WHERE common_name = '{name}'")[0][0])


def _post(client: httpx.Client, key: str, body: dict[str, object]) -> httpx.Response:
    return client.post(REQUESTS, json=body, headers={"Idempotency-Key": key})


def test_a_repeat_gets_the_first_answer(prod: Stack) -> None:
    client = prod.client()
    key, body = str(uuid.uuid4()), {"common_name": "idem.example.test", "key_type": "ec"}
    first = _post(client, key, body)
    again = _post(client, key, body)
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _lineages(prod, "idem.example.test") == 1
    assert prod.wait_final(first.json()["id"])["status"] == "issued"
    # still the first answer once the request moved on
    assert _post(client, key, body).json()["status"] == "pending"


def test_the_same_key_with_another_body_is_refused(prod: Stack) -> None:
    client = prod.client()
    key = str(uuid.uuid4())
    assert _post(client, key, {"common_name": "idem-a.example.test"}).status_code == 202
    other = _post(client, key, {"common_name": "idem-b.example.test"})
    assert other.status_code == 422, other.text
    assert other.json()["type"] == P + "idempotency-key-reused"
    assert _lineages(prod, "idem-b.example.test") == 0


def test_keys_belong_to_their_token(prod: Stack) -> None:
    key, body = str(uuid.uuid4()), {"common_name": "idem-token.example.test", "key_type": "ec"}
    mine = _post(prod.client(), key, body)
    theirs = _post(prod.client(prod.create_token("operator", "idem-other")), key, body)
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]
    assert _lineages(prod, "idem-token.example.test") == 2


def _race(stack: Stack, key: str, body: dict[str, object], times: int) -> list[httpx.Response]:
    """``times`` identical POSTs with one Idempotency-Key, each on its own connection."""

    def one(_: int) -> httpx.Response:
        with httpx.Client(base_url=stack.base_url, timeout=30,
                          headers={"Authorization": f"Bearer {stack.admin_token}"}) as client:
            return _post(client, key, body)

    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(one, range(times)))


def test_concurrent_duplicates_make_one_request(prod: Stack) -> None:
    key, body = str(uuid.uuid4()), {"common_name": "idem-race.example.test", "key_type": "ec"}
    answers = _race(prod, key, body, 8)
    assert {a.status_code for a in answers} <= {202, 409}, [a.text for a in answers]
    ids = {a.json()["id"] for a in answers if a.status_code == 202}
    assert len(ids) == 1, ids
    assert _lineages(prod, "idem-race.example.test") == 1


def test_an_expired_key_is_purged_and_may_be_used_again(prod: Stack) -> None:
    client = prod.client()
    key, body = str(uuid.uuid4()), {"common_name": "idem-old.example.test", "key_type": "ec"}
    first = _post(client, key, body)
    query(prod, "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' "
                f"WHERE key = '{key}'")
    later = _post(client, key, body)
    assert later.status_code == 202 and later.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in later.headers
    assert query(prod, f"SELECT count(*) FROM idempotency_keys WHERE key = '{key}'") == [["1"]]


def test_renew_with_a_key_renews_once(prod: Stack) -> None:
    client = prod.client()
    created = client.post(REQUESTS, json={"common_name": "idem-renew.example.test",
                                          "key_type": "ec"})
    done = prod.wait_final(created.json()["id"])
    assert done["status"] == "issued", done
    renew = f"/v1/certificates/{done['certificate_id']}/renew"
    key = str(uuid.uuid4())
    first = client.post(renew, headers={"Idempotency-Key": key})
    again = client.post(renew, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    # a new key is a new renewal, refused while the first is in flight
    assert client.post(renew, headers={"Idempotency-Key": str(uuid.uuid4())}).status_code in (
        409, 202)
    # the key was used for another route
    reused = _post(client, key, {"common_name": "idem-renew.example.test"})
    assert reused.status_code == 422 and reused.json()["type"] == P + "idempotency-key-reused"


def test_malformed_keys_are_refused(prod: Stack) -> None:
    client = prod.client()
    for key in ("", "x" * 256, "with space", "caf\u00e9"):
        answer = client.post(REQUESTS, json={"common_name": "idem-bad.example.test"},
                             headers={"Idempotency-Key": key.encode()})
        assert answer.status_code == 422, (key, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert _lineages(prod, "idem-bad.example.test") == 0


def test_concurrent_duplicates_make_one_request_on_sqlite(embedded: Stack) -> None:
    """all-in-one on SQLite: the same constraint decides."""
    key, body = str(uuid.uuid4()), {"common_name": "idem-lite.example.test", "key_type": "ec"}
    answers = _race(embedded, key, body, 6)
    assert {a.status_code for a in answers} <= {202, 409}, [a.text for a in answers]
    [request_id] = {a.json()["id"] for a in answers if a.status_code == 202}
    assert embedded.wait_final(request_id)["status"] == "issued"
