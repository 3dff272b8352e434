"""Bounds at the boundary of the live service: the page size cap on every list, query text
bounded, and the security headers on answers of the running all-in-one."""

from __future__ import annotations

import pytest

from services.api.boundary import SECURITY_HEADERS
from shared.domain.pagination import MAX_LIMIT
from tests.e2e.stack import Stack

LISTS = ["/v1/certificates", "/v1/certificate-requests", "/v1/acme-accounts",
         "/v1/dns-providers", "/v1/domain-mappings"]


@pytest.mark.parametrize("path", LISTS)
def test_every_list_caps_its_page_size(embedded: Stack, path: str) -> None:
    client = embedded.client()
    assert client.get(path, params={"limit": MAX_LIMIT}).status_code == 200
    for limit in (MAX_LIMIT + 1, 0, -1, 10**30):
        answer = client.get(path, params={"limit": limit})
        assert answer.status_code == 422, (path, limit, answer.text)
        assert answer.json()["type"] == "urn:certkeeper:problem:validation-error"


def test_query_text_is_bounded(embedded: Stack) -> None:
    answer = embedded.client().get("/v1/certificates", params={"domain": "a" * 1025})
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("path", ["/healthz", "/v1/certificates", "/v1/nowhere"])
def test_answers_of_the_running_service_carry_the_security_headers(
    embedded: Stack, path: str
) -> None:
    for client in (embedded.client(), embedded.client("not-a-token")):
        answer = client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value, (path, answer.status_code, name)
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
