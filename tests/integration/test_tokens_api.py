"""``/v1/tokens`` and domain scope through the real app (SQLite, real issuer steps)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.models import ApiToken, AuditEvent, CertificateRequest
from shared.roles import Role
from tests.integration.api_harness import Api, api_over
from tests.integration.issuer_harness import start_issuer

P = "urn:certkeeper:problem:"
CERTKEEPER = str(Path(sys.executable).parent / "certkeeper")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    issuer = await start_issuer(tmp_path, order_retry_seconds=[60])
    started = api_over(issuer)
    yield started
    await started.aclose()
    await issuer.runtime.aclose()


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == P + slug, body
    return body


async def count(api: Api, model: Any, *where: Any) -> int:
    async with api.issuer.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where))
                   or 0)


async def test_a_token_is_shown_once_and_works_until_revoked(api: Api) -> None:
    admin = api.client((await api.token(Role.ADMIN, "root"))[1])
    created = await admin.post("/v1/tokens", json={"name": "ci", "role": "operator"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["token"].startswith("ck_") and body["role"] == "operator"
    listed = (await admin.get("/v1/tokens")).json()["items"]
    fetched = (await admin.get(f"/v1/tokens/{body['id']}")).json()
    assert all("token" not in item and "token_hash" not in item for item in [*listed, fetched])
    async with api.issuer.runtime.sessions() as session:
        stored = await session.scalar(select(ApiToken.token_hash).where(ApiToken.name == "ci"))
    assert stored is not None and body["token"] not in stored

    ci = api.client(body["token"])
    assert (await ci.get("/v1/certificates")).status_code == 200
    assert (await admin.delete(f"/v1/tokens/{body['id']}")).status_code == 204
    problem(await ci.get("/v1/certificates"), 401, "unauthenticated")  # at once, here
    assert (await admin.get(f"/v1/tokens/{body['id']}")).json()["revoked_at"] is not None
    assert (await admin.delete(f"/v1/tokens/{body['id']}")).status_code == 204  # again: same
    assert await count(api, AuditEvent, AuditEvent.action == "api_token.revoked") == 1


async def test_an_expired_token_gets_a_401_problem(api: Api) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    _, expired = await api.token(Role.ADMIN, "old", expires_at=past)
    response = await api.client(expired).get("/v1/tokens")
    problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_last_used_is_written_coarsely(api: Api) -> None:
    token_id, token = await api.token(Role.VIEWER, "reader")
    client = api.client(token)
    for _ in range(3):
        assert (await client.get("/v1/certificates")).status_code == 200
    api.resources.tokens.forget(token_id)  # a cache miss: looked up (and touched) again
    assert (await client.get("/v1/certificates")).status_code == 200
    async with api.issuer.runtime.sessions() as session:
        first = await session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))
    assert first is not None
    api.resources.tokens.forget(token_id)
    await client.get("/v1/certificates")
    async with api.issuer.runtime.sessions() as session:
        again = await session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))
    assert again == first  # within the minute: not written again


async def test_bad_token_specs_are_refused_and_write_nothing(api: Api) -> None:
    admin = api.client((await api.token(Role.ADMIN, "root"))[1])
    before = await count(api, ApiToken)
    soon_gone = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases = [
        ({"name": "x", "role": "admin", "domains": ["example.test"]}, "invalid-scope"),
        ({"name": "x", "role": "viewer", "domains": ["*.example.test"]}, "invalid-scope"),
        ({"name": "x", "role": "viewer", "domains": ["localhost"]}, "invalid-names"),
        ({"name": "x", "role": "viewer", "expires_at": soon_gone}, "validation-error"),
        ({"name": "x", "role": "viewer", "expires_at": "2030-01-01T00:00:00"},
         "validation-error"),
        ({"name": "\x00", "role": "viewer"}, "validation-error"),
        ({"name": "x", "role": "root"}, "validation-error"),
    ]
    for body, slug in cases:
        problem(await admin.post("/v1/tokens", json=body), 422, slug)
    assert await count(api, ApiToken) == before


async def test_the_last_admin_token_cannot_be_revoked(api: Api) -> None:
    root_id, root = await api.token(Role.ADMIN, "root")
    admin = api.client(root)
    problem(await admin.delete(f"/v1/tokens/{root_id}"), 409, "conflict")
    second = (await admin.post("/v1/tokens", json={"name": "root2", "role": "admin"})).json()
    assert (await admin.delete(f"/v1/tokens/{root_id}")).status_code == 204
    problem(await admin.get("/v1/tokens"), 401, "unauthenticated")
    assert (await api.client(second["token"]).get("/v1/tokens")).status_code == 200


async def test_a_scoped_token_sees_and_asks_for_its_domains_only(api: Api) -> None:
    admin = api.client((await api.token(Role.ADMIN, "root"))[1])
    team = (await admin.post("/v1/tokens", json={
        "name": "team-a", "role": "operator", "domains": ["A.Example.Test."],
    })).json()
    assert team["domains"] == ["a.example.test"]
    mine = await api.certificate("www.a.example.test", "a.example.test")
    theirs = await api.certificate("www.b.example.test")
    mixed = await api.certificate("api.a.example.test", "api.b.example.test")
    client = api.client(team["token"])

    listed = {c["id"] for c in (await client.get("/v1/certificates")).json()["items"]}
    assert listed == {str(mine)}
    everything = {c["id"] for c in (await admin.get("/v1/certificates")).json()["items"]}
    assert {str(mine), str(theirs), str(mixed)} <= everything
    for hidden in (theirs, mixed):
        missing = problem(await client.get(f"/v1/certificates/{hidden}"), 404, "not-found")
        assert missing["title"] == "Not found"
        problem(await client.get(f"/v1/certificates/{hidden}/private-key"), 404, "not-found")
    assert (await client.get(f"/v1/certificates/{mine}/private-key")).status_code == 200

    before = await count(api, CertificateRequest)
    refused = await client.post("/v1/certificate-requests", json={
        "common_name": "new.a.example.test", "subject_alternative_names": ["new.b.example.test"],
    })
    assert problem(refused, 403, "names-out-of-scope")["names"] == ["new.b.example.test"]
    assert await count(api, CertificateRequest) == before
    made = await client.post("/v1/certificate-requests", json={
        "common_name": "new.a.example.test", "key_type": "ec",
    })
    assert made.status_code == 202, made.text
    assert made.json()["created_by_name"] == "team-a"
    assert made.json()["created_by_token_id"] == team["id"]
    requests = (await client.get("/v1/certificate-requests")).json()["items"]
    assert requests and all(
        all(n.endswith("a.example.test") for n in r["names"]) for r in requests
    )
    denied = await count(api, AuditEvent, AuditEvent.outcome == "denied",
                         AuditEvent.actor_name == "team-a")
    assert denied == 5  # 2 x get, 2 x private-key (404s) and the 403


def _cli(api: Api, *args: str) -> subprocess.CompletedProcess[str]:
    settings = api.issuer.settings
    assert settings.encryption_keys is not None
    env = {"CERTKEEPER_DATABASE_URL": settings.sqlalchemy_url,
           "CERTKEEPER_DATA_DIR": str(settings.data_dir),
           "CERTKEEPER_ALLOWED_PRIVATE_SUFFIXES": "test",
           "CERTKEEPER_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([CERTKEEPER, "token", "create", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


async def test_the_cli_makes_scoped_and_expiring_tokens(api: Api) -> None:
    made = _cli(api, "--role", "viewer", "--name", "team-cli", "--domain", "A.example.test",
                "--domain", "b.example.test", "--expires", "2099-01-01T00:00:00Z")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    async with api.issuer.runtime.sessions() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.name == "team-cli"))
    assert row is not None and row.domains == ["a.example.test", "b.example.test"]
    assert row.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert (await api.client(token).get("/v1/certificates")).status_code == 200
    refused = _cli(api, "--role", "admin", "--name", "scoped-admin", "--domain", "a.example.test")
    assert refused.returncode == 2 and "admin token reaches every domain" in refused.stderr
    assert _cli(api, "--role", "viewer", "--name", "x", "--expires", "2099-01-01").returncode == 2
