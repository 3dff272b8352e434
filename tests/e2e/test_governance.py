"""Tokens, scope and the audit trail on the production stack (Postgres, api and issuer
processes, Pebble): a team's token issues a real certificate in its domain and nothing
else, and the chain the processes wrote verifies from the command line."""

from __future__ import annotations

from tests.e2e.stack import Stack, run_cli

P = "urn:certkeeper:problem:"


def test_a_scoped_token_issues_in_its_domain_and_the_trail_verifies(prod: Stack) -> None:
    admin = prod.client()
    team = admin.post("/v1/tokens", json={
        "name": "team-gov", "role": "operator", "domains": ["gov.example.test"],
    })
    assert team.status_code == 201, team.text
    client = prod.client(team.json()["token"])

    outside = client.post("/v1/certificate-requests",
                          json={"common_name": "www.other.example.test"})
    assert outside.status_code == 403 and outside.json()["type"] == P + "names-out-of-scope"
    made = client.post("/v1/certificate-requests",
                       json={"common_name": "www.gov.example.test", "key_type": "ec"})
    assert made.status_code == 202, made.text
    done = prod.wait_final(made.json()["id"])
    assert done["status"] == "issued", done
    cert = client.get(f"/v1/certificates/{done['certificate_id']}").json()
    assert cert["created_by_name"] == "team-gov"
    assert cert["created_by_token_id"] == team.json()["id"]
    assert {c["id"] for c in client.get("/v1/certificates").json()["items"]} == {cert["id"]}

    other = admin.post("/v1/certificate-requests", json={"common_name": "x.other.example.test"})
    hidden = client.get(f"/v1/certificate-requests/{other.json()['id']}")
    assert hidden.status_code == 404 and hidden.json()["type"] == P + "not-found"

    events = admin.get("/v1/audit-events", params={"actor": team.json()["id"]}).json()["items"]
    assert [(e["action"], e["outcome"]) for e in reversed(events)] == [
        ("access.denied", "denied"), ("certificate_request.created", "success"),
        ("access.denied", "denied"),
    ]
    assert admin.delete(f"/v1/tokens/{team.json()['id']}").status_code == 204
    assert client.get("/v1/certificates").status_code == 401
    assert run_cli(prod.env, "audit", "verify").startswith("audit chain intact: ")
