"""No secret ever reaches a log line or an error answer. Canary secrets are planted through
the API (a token, an EAB MAC key, DNS provider credentials, a TSIG secret, a private key),
issuance and failures are driven through them, and every log line the api, the issuer and
the renewer wrote (at DEBUG, SQL logging on) is searched for them."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.stack import Stack, production_stack
from tests.harness.ports import free_port


def _canary(tag: str) -> str:
    return base64.urlsafe_b64encode(f"canary-{tag}-".encode() + secrets.token_bytes(18)
                                    ).decode().rstrip("=")


EAB_KID = "kid-canary"
EAB_HMAC = _canary("eab")
TSIG_PROVIDER = base64.b64encode(_canary("tsig-provider").encode()).decode()
TSIG_MAPPING = base64.b64encode(_canary("tsig-mapping").encode()).decode()
UNKNOWN_TOKEN = "ck_" + secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    config = {"externalAccountBindingRequired": True, "externalAccountMACKeys": {EAB_KID: EAB_HMAC}}
    settings = {"CERTKEEPER_LOG_LEVEL": "DEBUG", "CERTKEEPER_LOG_SQL": "true"}
    with production_stack(pebble_config=config, settings=settings) as started:
        yield started


def _drive(stack: Stack) -> tuple[list[str], list[httpx.Response]]:
    """Plant every canary and run the paths that use them; the canaries and every answer."""
    client = stack.client()
    answers = []
    wrong_mac = _canary("wrong-eab")
    answers.append(client.post("/v1/acme-accounts", json={
        "terms_of_service_agreed": True, "eab_kid": EAB_KID, "eab_hmac_key": wrong_mac}))
    answers.append(client.post("/v1/acme-accounts", json={
        "terms_of_service_agreed": True, "eab_kid": EAB_KID, "eab_hmac_key": wrong_mac + "!"}))
    account = client.post("/v1/acme-accounts", json={
        "terms_of_service_agreed": True, "eab_kid": EAB_KID, "eab_hmac_key": EAB_HMAC})
    assert account.status_code == 201, account.text

    dead_dns = f"127.0.0.1:{free_port(udp=True)}"
    provider = client.post("/v1/dns-providers", json={
        "name": "canary-dns", "kind": "rfc2136",
        "config": {"server": dead_dns, "tsig_key_name": "canary."},
        "credentials": {"tsig_secret": TSIG_PROVIDER}})
    assert provider.status_code == 201, provider.text
    provider_id = provider.json()["id"]
    mapping = client.post("/v1/domain-mappings", json={
        "domain": "canary-dns.example.test", "dns_provider_id": provider_id,
        "tsig_key_name": "mapped.", "tsig_secret": TSIG_MAPPING})
    assert mapping.status_code == 201, mapping.text
    answers.append(client.post("/v1/dns-providers", json={
        "name": "canary-bad", "kind": "rfc2136", "config": {"server": dead_dns},
        "credentials": {"tsig_secret": TSIG_PROVIDER + "%%", "unknown": TSIG_MAPPING}}))

    failing = client.post("/v1/certificate-requests", json={
        "common_name": "www.canary-dns.example.test", "challenge_type": "dns-01",
        "key_type": "ec"})
    assert failing.status_code == 202, failing.text
    issued = client.post("/v1/certificate-requests", json={
        "common_name": "canary.example.test", "key_type": "ec"})
    assert issued.status_code == 202, issued.text
    done = stack.wait_final(issued.json()["id"], timeout=90)
    assert done["status"] == "issued", done
    key_pem = client.get(f"/v1/certificates/{done['certificate_id']}/private-key").text
    _wait_for_error(stack, failing.json()["id"])  # the issuer met the dead DNS server
    answers.append(client.post(f"/v1/certificate-requests/{failing.json()['id']}/cancel"))

    answers.append(stack.client(UNKNOWN_TOKEN).get("/v1/certificates"))
    answers.append(client.post("/v1/certificate-requests", json={
        "common_name": "canary.example.test", "sneaky": TSIG_MAPPING}))
    answers.append(client.post("/v1/certificate-requests", content=b"{\xff" + EAB_HMAC.encode(),
                               headers={"Content-Type": "application/json"}))
    key_lines = [line for line in key_pem.splitlines() if line and not line.startswith("-----")]
    canaries = [stack.admin_token, EAB_HMAC, wrong_mac, TSIG_PROVIDER, TSIG_MAPPING,
                UNKNOWN_TOKEN, *key_lines]
    return canaries, answers


def _wait_for_error(stack: Stack, request_id: str) -> None:
    client = stack.client()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(f"/v1/certificate-requests/{request_id}").json()
        if body["last_error"] is not None or body["error"] is not None:
            return
        time.sleep(0.1)
    raise AssertionError(f"the dns-01 request never failed: {body}")


def test_no_canary_reaches_a_log_or_an_error(stack: Stack) -> None:
    canaries, answers = _drive(stack)
    refused = [a for a in answers if a.request.url.path.endswith("/cancel") or a.status_code >= 400]
    assert refused == answers, [(a.status_code, a.text) for a in answers]
    logs = {p.name: p.read_text(errors="replace") for p in stack.log_dir.glob("*.log")}
    assert {"api.log", "worker.log", "renewer.log"} <= set(logs)
    assert sum(text.count("\n") for text in logs.values()) > 100  # DEBUG: plenty was written
    for name, text in logs.items():
        for canary in canaries:
            assert canary not in text, f"a canary ({canary[:12]}...) is in {name}"
        assert "PRIVATE KEY" not in text, name
    for answer in answers:
        for canary in canaries:
            assert canary not in answer.text, answer.text
