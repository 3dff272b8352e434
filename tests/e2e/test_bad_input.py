"""Bad input gets a 4xx problem+json with a stable type and changes nothing."""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

import httpx
import pytest

from tests.e2e.db import query, row_counts
from tests.e2e.stack import CERTKEEPER, Stack
from tests.harness.ports import free_port

P = "urn:certkeeper:problem:"


def _req(**fields: Any) -> dict[str, Any]:
    return {"common_name": "ok.example.test", **fields}


BAD_REQUESTS: list[tuple[str, dict[str, Any], str]] = [
    ("101 names", _req(subject_alternative_names=[f"n{i}.example.test" for i in range(100)]),
     "invalid-names"),
    ("wildcard over http-01", _req(common_name="*.example.test"), "invalid-names"),
    ("double wildcard", _req(common_name="*.*.example.test", challenge_type="dns-01",
                             validation="manual"), "invalid-names"),
    ("inner wildcard", _req(common_name="a.*.example.test", challenge_type="dns-01",
                            validation="manual"), "invalid-names"),
    ("wildcard on a public suffix", _req(common_name="*.com", challenge_type="dns-01",
                                         validation="manual"), "invalid-names"),
    ("IPv4 literal", _req(common_name="192.0.2.1"), "invalid-names"),
    ("IPv6 literal", _req(subject_alternative_names=["::1"]), "invalid-names"),
    ("localhost", _req(common_name="localhost"), "invalid-names"),
    ("local", _req(subject_alternative_names=["printer.local"]), "invalid-names"),
    ("internal", _req(subject_alternative_names=["db.internal"]), "invalid-names"),
    ("bare public suffix", _req(common_name="com"), "invalid-names"),
    ("bare allowed suffix", _req(common_name="test"), "invalid-names"),
    ("underscore", _req(common_name="a_b.example.test"), "invalid-names"),
    ("space", _req(common_name="a b.example.test"), "invalid-names"),
    ("control character", _req(common_name="a\x07.example.test"), "invalid-names"),
    ("label over 63", _req(common_name="a" * 64 + ".example.test"), "invalid-names"),
    ("name over 253", _req(common_name=".".join(["a" * 60] * 4) + ".example.test"),
     "invalid-names"),
    ("empty label", _req(common_name="a..example.test"), "invalid-names"),
    ("mixed-script label (Cyrillic a in Latin)", _req(common_name="p\u0430ypal.example.test"),
     "invalid-names"),
    ("dns-01 name whose _acme-challenge name is over 253",
     _req(common_name=".".join(["a" * 63] * 3 + ["b" * 33]) + ".example.test",
          challenge_type="dns-01", validation="manual"), "invalid-names"),
    ("RSA 1024", _req(key_type="rsa", key_size=1024), "validation-error"),  # schema enum
    ("EC P-521", _req(key_type="ec", curve="p-521"), "validation-error"),  # schema enum
    ("RSA with a curve", _req(key_type="rsa", curve="p-256"), "invalid-key-spec"),
    ("EC with a size", _req(key_type="ec", key_size=2048), "invalid-key-spec"),
    ("automatic dns-01, no provider, no mapping", _req(challenge_type="dns-01"),
     "dns-provider-not-found"),
    ("unknown DNS provider", _req(challenge_type="dns-01",
                                  dns_provider_id="00000000-0000-4000-8000-000000000001"),
     "dns-provider-not-found"),
    ("provider with http-01", _req(dns_provider_id="00000000-0000-4000-8000-000000000001"),
     "invalid-challenge"),
    ("unknown account", _req(acme_account_id="00000000-0000-4000-8000-000000000002"),
     "validation-error"),
    ("unknown key type", _req(key_type="dsa"), "validation-error"),
    ("unknown field", _req(colour="blue"), "validation-error"),
    ("missing common name", {"key_type": "ec"}, "validation-error"),
]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(created_at: str) -> str:
    return _b64(json.dumps([created_at, "00000000-0000-4000-8000-000000000004"]).encode())


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == P + slug, body
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


@pytest.mark.parametrize(("case", "body", "slug"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_certificate_request_is_refused_and_writes_nothing(
    prod: Stack, case: str, body: dict[str, Any], slug: str
) -> None:
    before = row_counts(prod)
    assert_problem(prod.client().post("/v1/certificate-requests", json=body), 422, slug)
    assert row_counts(prod) == before, case


def test_invalid_names_lists_every_refused_name(prod: Stack) -> None:
    response = prod.client().post(
        "/v1/certificate-requests",
        json=_req(subject_alternative_names=["localhost", "fine.example.test", "a_b.example.test"]),
    )
    body = assert_problem(response, 422, "invalid-names")
    assert [(n["name"], n["reason"]) for n in body["invalid_names"]] == [
        ("localhost", "not-public"), ("a_b.example.test", "invalid-characters"),
    ]


def test_malformed_json_is_a_problem(prod: Stack) -> None:
    response = prod.client().post(
        "/v1/certificate-requests", content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("path", ["/v1/certificate-requests", "/v1/acme-accounts"])
def test_a_body_that_is_not_text_is_a_documented_problem(prod: Stack, path: str) -> None:
    """Found by fuzzing: bytes that are not UTF-8 got a 400 the OpenAPI document did not list."""
    before = row_counts(prod)
    response = prod.client().post(
        path, content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "bad-request")
    documented = prod.client().get("/openapi.json").json()["paths"][path]["post"]["responses"]
    assert "400" in documented
    assert row_counts(prod) == before


def test_account_input_is_checked_before_the_ca_is_called(prod: Stack) -> None:
    """The directory points at a closed port: a CA call would answer 503, not 422."""
    closed = f"https://127.0.0.1:{free_port()}/dir"
    before = row_counts(prod)
    client = prod.client()
    cases = [
        ({"directory_url": closed, "terms_of_service_agreed": False}, "validation-error"),
        ({"directory_url": closed, "terms_of_service_agreed": True, "eab_kid": "kid"},
         "validation-error"),
        ({"directory_url": closed, "terms_of_service_agreed": True, "contact_email": "nope"},
         "validation-error"),
    ]
    for body, slug in cases:
        assert_problem(client.post("/v1/acme-accounts", json=body), 422, slug)
    unreachable = client.post("/v1/acme-accounts",
                              json={"directory_url": closed, "terms_of_service_agreed": True})
    assert_problem(unreachable, 503, "acme-unavailable")
    assert row_counts(prod) == before


def test_tokens_and_roles(prod: Stack) -> None:
    viewer = prod.client(prod.create_token("viewer", "e2e-viewer"))
    operator = prod.client(prod.create_token("operator", "e2e-operator"))
    anonymous = httpx.Client(base_url=prod.base_url)
    before = row_counts(prod)
    unauth = anonymous.get("/v1/certificates")
    assert_problem(unauth, 401, "unauthenticated")
    assert unauth.headers["www-authenticate"] == "Bearer"
    wrong = anonymous.get("/v1/certificates", headers={"Authorization": "Bearer ck_nope"})
    assert_problem(wrong, 401, "unauthenticated")
    assert_problem(viewer.post("/v1/certificate-requests", json=_req()), 403, "forbidden")
    assert_problem(operator.post("/v1/acme-accounts", json={"terms_of_service_agreed": True}),
                   403, "forbidden")
    assert viewer.get("/v1/certificates").status_code == 200
    anonymous.close()
    after = row_counts(prod)
    # Nothing changed but the audit trail: each refusal for permission is an event.
    assert after.pop("audit_events") == before.pop("audit_events") + 2
    assert after == before
    denied = query(prod, "SELECT actor_name FROM audit_events WHERE outcome = 'denied' "
                         "AND actor_name IN ('e2e-viewer', 'e2e-operator') ORDER BY seq")
    assert denied == [["e2e-viewer"], ["e2e-operator"]]


@pytest.mark.parametrize(
    ("path", "status", "slug"),
    [
        ("/v1/certificates/00000000-0000-4000-8000-000000000003", 404, "not-found"),
        ("/v1/certificate-requests/not-a-uuid", 422, "validation-error"),
        ("/v1/certificates?cursor=!!!", 422, "invalid-cursor"),
        ("/v1/certificates?limit=0", 422, "validation-error"),
        ("/v1/certificates?status=bogus", 422, "validation-error"),
        ("/v1/nothing-here", 404, "not-found"),
        ("/v1/certificates?expires_before=2030-01-01T00:00:00", 422, "validation-error"),
        ("/v1/certificates?expires_before=2030-01-01", 422, "validation-error"),
        ("/v1/certificates?expires_before=9999-12-31T23:59:59-14:00", 422, "validation-error"),
        ("/v1/certificates?expires_before=0001-01-01T00:00:00%2B14:00", 422, "validation-error"),
        ("/v1/certificates?expires_before=0.5", 422, "validation-error"),  # found by fuzzing
        ("/v1/certificates?expires_before=1700000000", 422, "validation-error"),
        ("/v1/certificates?cursor=" + _cursor("9999-12-31T23:59:59-14:00"), 422,
         "invalid-cursor"),
        ("/v1/certificate-requests?cursor=" + _cursor("0001-01-01T00:00:00+14:00"), 422,
         "invalid-cursor"),
        ("/v1/acme-accounts?cursor=" + _b64(b"[" * 3000), 422, "invalid-cursor"),
        ("/v1/certificates?cursor=" + _b64(b'["2030-01-01T00:00:00+00:00", 1e999]'), 422,
         "invalid-cursor"),
        ("/.well-known/acme-challenge/abc%00def", 404, "not-found"),
        ("/.well-known/acme-challenge/" + "a" * 256, 404, "not-found"),
        ("/.well-known/acme-challenge/t%C3%B6ken", 404, "not-found"),
    ],
)
def test_bad_reads_are_problems(prod: Stack, path: str, status: int, slug: str) -> None:
    before = row_counts(prod)
    assert_problem(prod.client().get(path), status, slug)
    assert row_counts(prod) == before


def test_verify_and_cancel_refuse_the_wrong_state(prod: Stack) -> None:
    client = prod.client()
    created = client.post("/v1/certificate-requests", json=_req(common_name="state.example.test"))
    request_id = created.json()["id"]
    assert prod.wait_final(request_id)["status"] == "issued"
    before = row_counts(prod)
    assert_problem(client.post(f"/v1/certificate-requests/{request_id}/verify"), 409, "conflict")
    assert_problem(client.post(f"/v1/certificate-requests/{request_id}/cancel"), 409, "conflict")
    assert row_counts(prod) == before


@pytest.mark.parametrize("name", ["x" * 129, " ", "tab\there"], ids=["too long", "blank", "tab"])
def test_token_name_that_does_not_fit_is_refused_by_the_cli(prod: Stack, name: str) -> None:
    before = row_counts(prod)
    done = subprocess.run([CERTKEEPER, "token", "create", "--role", "viewer", "--name", name],
                          env=prod.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stdout == "", done
    assert "--name: must be 1 to 128 printable characters" in done.stderr
    assert "Traceback" not in done.stderr
    assert row_counts(prod) == before
