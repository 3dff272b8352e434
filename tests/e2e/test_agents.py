"""Agents end to end: ``certkeeper all-in-one`` with a Pebble that validates HTTP-01 at the
agent's listen address, a real ``certkeeper-agent`` enrolled with a one-time token, and a TLS
server (the end server) loading the files the agent writes and reloading on SIGHUP."""

from __future__ import annotations

import contextlib
import sqlite3
import stat
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.e2e.conftest import with_account
from tests.e2e.db import query
from tests.e2e.stack import Stack, embedded_stack, production_stack
from tests.harness.agent import TlsServer, enroll, running_agent, tls_server
from tests.harness.ports import HOST, free_port
from tests.harness.process import child_env, start, stop, tcp_open, temp_dir, wait_until


class AgentRig:
    def __init__(self, stack: Stack, agent_id: str, credential: str, state: Path,
                 logs: Path) -> None:
        self.stack, self.agent_id, self.credential = stack, agent_id, credential
        self.state, self.logs = state, logs


@pytest.fixture(scope="module", params=["embedded", "production"])
def rig(request: pytest.FixtureRequest) -> Iterator[AgentRig]:
    """All-in-one on SQLite, or api + issuer + renewer on Postgres and Redis (the agent's
    tasks then cross processes through the database)."""
    agent_port = free_port()
    topology = embedded_stack if request.param == "embedded" else production_stack
    with (
        temp_dir("ck-agent-") as work,
        topology(http01_port=agent_port) as stack,
    ):
        with_account(stack)
        client = stack.client()
        created = client.post("/v1/agents", json={"name": "web-1"})
        assert created.status_code == 201, created.text
        token, agent_id = created.json()["enrollment_token"], created.json()["id"]
        state = work / "state"
        first = enroll(stack.base_url, token, state)
        assert first.returncode == 0, first.stderr
        again = enroll(stack.base_url, token, work / "state-2")
        assert again.returncode == 1 and "401" in again.stderr, "a token works once"
        assert stat.S_IMODE((state / "credential").stat().st_mode) == 0o600
        mapped = client.post("/v1/domain-mappings",
                             json={"domain": "web.example.test", "agent_id": agent_id})
        assert mapped.status_code == 201, mapped.text
        credential = (state / "credential").read_text().strip()
        with running_agent(state, work / "agent.log", "--http-listen", f"{HOST}:{agent_port}"):
            yield AgentRig(stack, agent_id, credential, state, work)


def _target(rig: AgentRig, name: str, server: TlsServer, domain: str, **config: Any
            ) -> dict[str, Any]:
    directory = server.cert_path.parent
    response = rig.stack.client().post("/v1/deployment-targets", json={
        "name": name, "kind": "agent", "domains": [domain],
        "config": {"agent_id": rig.agent_id, "fullchain_path": str(server.cert_path),
                   "key_path": str(server.key_path), "cert_path": str(directory / "cert.pem"),
                   "chain_path": str(directory / "chain.pem"),
                   "confirm_endpoints": [server.endpoint], **config},
    })
    assert response.status_code == 201, response.text
    return dict(response.json())




def _deployment(stack: Stack, target_id: str, certificate_id: str, wanted: set[str],
                timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = stack.client().get(f"/v1/deployment-targets/{target_id}").json()
        found = [d for d in body["deployments"] if d["certificate_id"] == certificate_id]
        if found and found[0]["status"] in wanted:
            return dict(found[0])
        time.sleep(0.05)
    raise AssertionError(f"deployment not {wanted}: {body}\n{stack.logs()}")


def _events(stack: Stack, action: str, target_id: str) -> int:
    """How many events ``action`` the stack's database holds for ``target_id``."""
    if stack.postgres is not None:
        return int(query(stack, f"SELECT count(*) FROM audit_events WHERE action = '{action}' "
                                f"AND target_id = '{target_id}'")[0][0])
    path = Path(stack.env["CERTKEEPER_DATA_DIR"]) / "certkeeper.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT target_id FROM audit_events WHERE action = ?", (action,))
        return sum(1 for (found,) in rows if str(UUID(str(found))) == target_id)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_http01_through_the_agent_then_deployed_reloaded_and_confirmed(rig: AgentRig) -> None:
    stack = rig.stack
    with tls_server(rig.logs / "www", "www.web.example.test", rig.logs / "tls-www.log") as tls:
        target = _target(rig, "www files", tls, "web.example.test",
                         reload_command=["kill", "-HUP", str(tls.pid)])
        cert = stack.issued_certificate("www.web.example.test")
        done = _deployment(stack, target["id"], cert["id"], {"confirmed", "failed",
                                                              "unconfirmed"})
        assert done["status"] == "confirmed", done
        assert done["served_serial"] == cert["serial"].lstrip("0").lower()
        issued_to_confirmed = (_at(done["confirmed_at"]) - _at(cert["created_at"]))
        print(f"\nissued -> confirmed: {issued_to_confirmed.total_seconds():.2f} s")
        directory = tls.cert_path.parent
        pem = stack.client().get(f"/v1/certificates/{cert['id']}/pem").text
        assert tls.cert_path.read_text() == pem
        assert (directory / "cert.pem").read_text() + (directory / "chain.pem").read_text() == pem
        for name, mode in (("fullchain.pem", 0o644), ("cert.pem", 0o644),
                           ("chain.pem", 0o644), ("key.pem", 0o600)):
            assert stat.S_IMODE((directory / name).stat().st_mode) == mode, name
        assert "BEGIN" in tls.key_path.read_text()


def test_a_reload_that_keeps_the_old_certificate_is_unconfirmed(rig: AgentRig) -> None:
    stack = rig.stack
    with tls_server(rig.logs / "old", "old.web.example.test", rig.logs / "tls-old.log") as tls:
        target = _target(rig, "no reload", tls, "old.web.example.test",
                         reload_command=["true"], confirm_grace_seconds=1)
        cert = stack.issued_certificate("old.web.example.test")
        done = _deployment(stack, target["id"], cert["id"], {"confirmed", "failed",
                                                              "unconfirmed"})
        assert done["status"] == "unconfirmed", done
        assert done["served_serial"] == tls.first_serial.lstrip("0")
        assert done["error"]["endpoints"][0]["endpoint"] == tls.endpoint
        assert _events(stack, "deployment.unconfirmed", done["id"]) == 1


def test_a_failing_reload_is_a_failed_deployment_with_its_output(rig: AgentRig) -> None:
    stack = rig.stack
    with tls_server(rig.logs / "bad", "bad.web.example.test", rig.logs / "tls-bad.log") as tls:
        target = _target(rig, "bad reload", tls, "bad.web.example.test",
                         reload_command=["sh", "-c", "echo cannot reload >&2; exit 3"])
        cert = stack.issued_certificate("bad.web.example.test")
        done = _deployment(stack, target["id"], cert["id"], {"confirmed", "failed",
                                                              "unconfirmed"})
        assert done["status"] == "failed", done
        assert done["error"]["reload"]["exit_code"] == 3
        assert "cannot reload" in done["error"]["reload"]["output_tail"]
        assert _events(stack, "deployment.failed", done["id"]) == 1
        assert done["next_run_at"] is not None  # retried later
        assert stack.client().delete(f"/v1/deployment-targets/{target['id']}").status_code == 204
        assert stack.client().get(f"/v1/deployment-targets/{target['id']}").status_code == 404


def test_a_revoked_agent_credential_is_refused(rig: AgentRig) -> None:
    stack = rig.stack
    other = stack.client().post("/v1/agents", json={"name": "to-revoke"}).json()
    enrolled = httpx.post(f"{stack.base_url}/v1/agent/enroll",
                          headers={"Authorization": f"Bearer {other['enrollment_token']}"})
    assert enrolled.status_code == 201, enrolled.text
    credential = enrolled.json()["credential"]
    headers = {"Authorization": f"Bearer {credential}"}
    polled = httpx.get(f"{stack.base_url}/v1/agent/tasks", params={"wait": 0}, headers=headers)
    assert polled.status_code == 200 and polled.json()["items"] == []
    assert stack.client().delete(f"/v1/agents/{other['id']}").status_code == 204
    refused = httpx.get(f"{stack.base_url}/v1/agent/tasks", params={"wait": 0},
                        headers=headers)
    assert refused.status_code == 401
    assert refused.json()["type"] == "urn:certkeeper:problem:agent-unauthenticated"
    shown = stack.client().get(f"/v1/agents/{other['id']}").json()
    assert shown["revoked_at"] is not None and shown["enrolled_at"] is not None
    # An API token is no agent credential, and an agent credential is no API token.
    assert httpx.get(f"{stack.base_url}/v1/agent/tasks", params={"wait": 0}, headers={
        "Authorization": f"Bearer {stack.admin_token}"}).status_code == 401
    assert httpx.get(f"{stack.base_url}/v1/certificates", headers={
        "Authorization": f"Bearer {rig.credential}"}).status_code == 401


def test_a_renewal_is_deployed_and_confirmed_again(rig: AgentRig) -> None:
    """A target naming a certificate follows its lineage: the renewal goes out too."""
    stack = rig.stack
    with tls_server(rig.logs / "renew", "renew.web.example.test",
                    rig.logs / "tls-renew.log") as tls:
        first = stack.issued_certificate("renew.web.example.test")
        response = stack.client().post("/v1/deployment-targets", json={
            "name": "renewed files", "kind": "agent", "certificate_id": first["id"],
            "config": {"agent_id": rig.agent_id, "fullchain_path": str(tls.cert_path),
                       "key_path": str(tls.key_path), "confirm_endpoints": [tls.endpoint],
                       "reload_command": ["kill", "-HUP", str(tls.pid)]},
        })
        assert response.status_code == 201, response.text
        target = response.json()
        assert _deployment(stack, target["id"], first["id"], {"confirmed"})["served_serial"]
        renewal = stack.client().post(f"/v1/certificates/{first['id']}/renew")
        assert renewal.status_code == 202, renewal.text
        done = stack.wait_final(renewal.json()["id"])
        assert done["status"] == "issued", done
        second = stack.client().get(f"/v1/certificates/{done['certificate_id']}").json()
        confirmed = _deployment(stack, target["id"], second["id"], {"confirmed"})
        assert confirmed["served_serial"] == second["serial"].lstrip("0").lower()
        assert confirmed["served_serial"] != first["serial"].lstrip("0").lower()


def test_webroot_mode_behind_a_separate_static_file_server() -> None:
    """The agent writes the key authorization under a webroot; a plain static file server
    (the site's own web server) serves it to Pebble; the file is removed after issuance."""
    web_port = free_port()
    with (
        temp_dir("ck-webroot-") as work,
        embedded_stack(http01_port=web_port) as stack,
    ):
        with_account(stack)
        webroot = work / "webroot"
        webroot.mkdir()
        static = start([sys.executable, "-m", "http.server", str(web_port), "--bind", HOST,
                        "--directory", str(webroot)], log_path=work / "static.log",
                       env=child_env())
        try:
            wait_until(lambda: tcp_open(HOST, web_port), 10, "static server",
                       work / "static.log", proc=static)
            agent = stack.client().post("/v1/agents", json={"name": "static-1"}).json()
            enrolled = enroll(stack.base_url, agent["enrollment_token"], work / "state")
            assert enrolled.returncode == 0, enrolled.stderr
            mapped = stack.client().post("/v1/domain-mappings", json={
                "domain": "static.example.test", "agent_id": agent["id"]})
            assert mapped.status_code == 201, mapped.text
            with running_agent(work / "state", work / "agent.log", "--webroot", str(webroot)):
                stack.issued_certificate("static.example.test")
                challenges = webroot / ".well-known" / "acme-challenge"
                wait_until(lambda: not any(challenges.iterdir()), 10, "token cleanup",
                           work / "agent.log")
            served = (work / "static.log").read_text()
            assert "GET /.well-known/acme-challenge/" in served and '" 200 ' in served
        finally:
            stop(static)


def written(client: httpx.Client) -> list[dict[str, Any]]:
    """The deployment targets as a request could write them: each with the ids of its
    deployments, not their progress, which an earlier test's deployment may still make."""
    return [{**target, "deployments": sorted(d["id"] for d in target["deployments"])}
            for target in client.get("/v1/deployment-targets").json()["items"]]


def test_bad_input_is_a_problem_and_writes_nothing(rig: AgentRig) -> None:
    client = rig.stack.client()
    before = written(client)
    problem = "urn:certkeeper:problem:"
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("post", "/v1/deployment-targets", {"name": "x", "kind": "agent", "domains": ["a.test"],
                                            "config": {"agent_id": rig.agent_id}},
         422, "invalid-deployment-target"),
        ("post", "/v1/deployment-targets", {"name": "x", "kind": "webhook",
                                            "domains": ["a.test"], "config": {}},
         422, "invalid-deployment-target"),
        ("post", "/v1/deployment-targets", {
            "name": "x", "kind": "agent", "domains": ["a.test"],
            "certificate_id": "00000000-0000-4000-8000-000000000000",
            "config": {"agent_id": rig.agent_id, "fullchain_path": "/f", "key_path": "/k"}},
         422, "invalid-deployment-target"),
        ("post", "/v1/deployment-targets", {
            "name": "x", "kind": "agent", "domains": ["a.test"],
            "config": {"agent_id": "00000000-0000-4000-8000-000000000000",
                       "fullchain_path": "/f", "key_path": "/k"}}, 422, "agent-not-found"),
        ("post", "/v1/deployment-targets", {
            "name": "x", "kind": "agent", "domains": ["a.test"],
            "config": {"agent_id": rig.agent_id, "fullchain_path": "/f", "key_path": "/k",
                       "confirm_endpoints": ["no port"]}}, 422, "invalid-deployment-target"),
        ("post", "/v1/domain-mappings", {"domain": "nothing.example.test"},
         422, "invalid-domain-mapping"),
        ("post", "/v1/domain-mappings", {"domain": "x.example.test",
                                         "agent_id": "00000000-0000-4000-8000-000000000000"},
         422, "agent-not-found"),
        ("post", "/v1/agents", {"name": "web-1"}, 409, "conflict"),
    ]
    for method, path, body, code, slug in cases:
        response = client.request(method, path, json=body)
        assert response.status_code == code, (body, response.text)
        assert response.json()["type"] == problem + slug, response.text
    assert written(client) == before
    headers = {"Authorization": f"Bearer {rig.credential}"}
    unknown = httpx.post(
        f"{rig.stack.base_url}/v1/agent/tasks/00000000-0000-4000-8000-000000000000/result",
        json={"ok": True}, headers=headers)
    assert unknown.status_code == 404, unknown.text
    garbage = httpx.post(f"{rig.stack.base_url}/v1/agent/enroll",
                         headers={"Authorization": "Bearer cke_not-a-token"})
    assert garbage.status_code == 401
    assert garbage.json()["type"] == problem + "enrollment-refused"
