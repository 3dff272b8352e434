"""``CERTKEEPER_RESPONDER_PORT``: the port the CA reaches serves HTTP-01 and ``/healthz`` only.

All-in-one runs both listeners in one process; in the production topology the responder is
its own process (``certkeeper responder``) and the api serves no challenge at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, embedded_stack, production_stack

NOT_PUBLIC = ["/v1/certificates", "/v1/certificate-requests", "/v1/acme-accounts", "/readyz",
              "/openapi.json", "/docs", "/metrics"]


@pytest.fixture(scope="module", params=["all-in-one", "production"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    opened = (embedded_stack(public_responder=True) if request.param == "all-in-one"
              else production_stack(public_responder=True))
    with opened as started:
        yield with_account(started)


def test_the_ca_validates_through_the_public_listener(stack: Stack) -> None:
    created = stack.client().post("/v1/certificate-requests",
                                  json={"common_name": "public.example.test"})
    assert created.status_code == 202, created.text
    assert stack.wait_final(created.json()["id"])["status"] == "issued"


def test_the_public_listener_serves_nothing_else(stack: Stack) -> None:
    admin = {"Authorization": f"Bearer {stack.admin_token}"}
    with httpx.Client(base_url=stack.responder_url, headers=admin, timeout=10) as public:
        assert public.get("/healthz").json() == {"status": "ok"}
        for path in NOT_PUBLIC:
            response = public.get(path)
            assert response.status_code == 404, (path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        assert public.post("/v1/certificate-requests",
                           json={"common_name": "x.example.test"}).status_code in {404, 405}
        unknown = public.get("/.well-known/acme-challenge/abcDEF123_-")
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == "no such challenge token"


def test_the_api_port_serves_no_challenge(stack: Stack) -> None:
    response = stack.client().get("/.well-known/acme-challenge/abcDEF123_-")
    assert response.status_code == 404
    assert response.json()["detail"] != "no such challenge token"  # no such route at all
    assert stack.client().get("/readyz").status_code == 200

