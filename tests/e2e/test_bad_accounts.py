"""Account registration against hostile or broken CAs: a clear 4xx/5xx problem, nothing
written, no connection to an address that is not allowed, nothing upstream echoed.

The CA is reached through a fault proxy in front of the production stack's Pebble; it serves
Pebble's certificate, so the api trusts it. Each case uses its own directory path, since the
api caches every directory it fetched successfully.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.db import query, row_counts
from tests.e2e.stack import Stack
from tests.e2e.test_bad_input import assert_problem
from tests.harness.faults import Fault, FaultProxy, fault_proxy
from tests.harness.ports import free_port

JSON = {"Content-Type": "application/json"}
PROBLEM = {"Content-Type": "application/problem+json"}
MiB = 1 << 20


@pytest.fixture(scope="module")
def proxy(prod: Stack) -> Iterator[FaultProxy]:
    with fault_proxy(prod.pebble) as faults:
        yield faults


def _register(stack: Stack, directory_url: str, **fields: Any) -> httpx.Response:
    body = {"directory_url": directory_url, "terms_of_service_agreed": True, **fields}
    return stack.client().post("/v1/acme-accounts", json=body)


def _serve_directory(proxy: FaultProxy, path: str, body: bytes, **fault: Any) -> str:
    proxy.faults.append(Fault("GET", path, fault.pop("status", 200), body,
                              fault.pop("headers", JSON), **fault))
    return proxy.base_url + path


def _pebble_directory(proxy: FaultProxy) -> bytes:
    """Pebble's directory as seen through the proxy: every URL points at the proxy."""
    trust = ssl.create_default_context(cafile=proxy.ca_bundle)
    return httpx.get(proxy.directory_url, verify=trust).content


BAD_DIRECTORIES: list[tuple[str, bytes]] = [
    ("empty object", b"{}"),
    ("list", b"[]"),
    ("string", b'"https://ca.example/dir"'),
    ("null", b"null"),
    ("not json", b"<html>maintenance</html>"),
    ("no newOrder", json.dumps({"newNonce": "https://127.0.0.1:1/n",
                                "newAccount": "https://127.0.0.1:1/a"}).encode()),
    ("url not a string", json.dumps({"newNonce": 7, "newAccount": "https://127.0.0.1:1/a",
                                     "newOrder": "https://127.0.0.1:1/o"}).encode()),
    ("plain http urls", json.dumps({"newNonce": "http://127.0.0.1:1/n",
                                    "newAccount": "http://127.0.0.1:1/a",
                                    "newOrder": "http://127.0.0.1:1/o"}).encode()),
    ("meta not an object", json.dumps({"newNonce": "https://127.0.0.1:1/n",
                                       "newAccount": "https://127.0.0.1:1/a",
                                       "newOrder": "https://127.0.0.1:1/o",
                                       "meta": []}).encode()),
]


@pytest.mark.parametrize(("case", "body"), BAD_DIRECTORIES, ids=[c[0] for c in BAD_DIRECTORIES])
def test_invalid_directory_is_a_problem(
    prod: Stack, proxy: FaultProxy, case: str, body: bytes
) -> None:
    url = _serve_directory(proxy, f"/dir-bad-{case.replace(' ', '-')}", body)
    before = row_counts(prod)
    assert_problem(_register(prod, url), 422, "acme-directory-invalid")
    assert row_counts(prod) == before, case


def test_account_input_is_refused_before_the_ca_is_called(prod: Stack) -> None:
    """The directory is a closed port: reaching for the CA would answer 503, not 422."""
    closed = f"https://127.0.0.1:{free_port()}"
    cases = [
        ({"eab_kid": "kid", "eab_hmac_key": "not base64url!"}, "dir"),
        ({"eab_kid": "kid", "eab_hmac_key": "a+b/c"}, "dir"),
        ({"eab_kid": "kid", "eab_hmac_key": "abcde"}, "dir"),  # no base64 has this length
        ({}, "dir/" + "a" * 2040),  # within HttpUrl's 2083, past the 2048 column
    ]
    before = row_counts(prod)
    for fields, path in cases:
        response = _register(prod, f"{closed}/{path}", **fields)
        assert_problem(response, 422, "validation-error")
        assert "not base64url!" not in response.text
    plain_http = _register(prod, f"http://127.0.0.1:{free_port()}/dir")
    assert_problem(plain_http, 422, "validation-error")
    assert row_counts(prod) == before


def test_overlong_directory_url_is_refused_before_the_account_is_created(
    prod: Stack, proxy: FaultProxy
) -> None:
    url = _serve_directory(proxy, "/dir-long/" + "a" * 2040, _pebble_directory(proxy))
    before, mark = row_counts(prod), len(proxy.seen)
    assert_problem(_register(prod, url), 422, "validation-error")
    assert row_counts(prod) == before
    assert proxy.seen[mark:] == [], "the CA was called"


def test_overlong_account_url_from_the_ca_is_not_stored(prod: Stack, proxy: FaultProxy) -> None:
    directory = _serve_directory(proxy, "/dir-long-account", _pebble_directory(proxy))
    proxy.faults.append(Fault("POST", "/sign-me-up", 201, b'{"status": "valid"}', {
        **JSON, "Location": f"{proxy.base_url}/my-account/{'b' * 3000}",
        "Replay-Nonce": "ZHVtbXktbm9uY2U",
    }))
    before = row_counts(prod)
    assert_problem(_register(prod, directory), 502, "acme-response-invalid")
    assert row_counts(prod) == before


class Listener:
    """A TCP listener that counts the connections it was offered."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_server((host, 0))
        self.url = f"https://{host}:{self.sock.getsockname()[1]}"
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture
def internal() -> Iterator[Listener]:
    listener = Listener("127.0.0.2")  # outside CERTKEEPER_ACME_ALLOWED_NETWORKS of the tests
    yield listener
    listener.sock.close()


def test_hostile_directory_cannot_point_at_an_internal_address(
    prod: Stack, proxy: FaultProxy, internal: Listener
) -> None:
    hostile = json.dumps({name: f"{internal.url}/{name}"
                          for name in ("newNonce", "newAccount", "newOrder")}).encode()
    url = _serve_directory(proxy, "/dir-hostile", hostile)
    before = row_counts(prod)
    body = assert_problem(_register(prod, url), 422, "acme-address-refused")
    assert "127.0.0.2" in body["detail"]
    assert row_counts(prod) == before
    assert internal.accepted == 0, "Certkeeper connected to the internal address"


def test_directory_on_an_internal_address_is_never_contacted(
    prod: Stack, internal: Listener
) -> None:
    assert_problem(_register(prod, f"{internal.url}/dir"), 422, "acme-address-refused")
    assert internal.accepted == 0


def test_upstream_body_that_is_not_an_acme_problem_is_not_echoed(
    prod: Stack, proxy: FaultProxy
) -> None:
    secret = "db-password=hunter2 at 10.1.2.3"
    cases = [
        (500, b'{"detail": "' + secret.encode() + b'"}', PROBLEM),
        (403, b'{"type": "about:blank", "detail": "' + secret.encode() + b'"}', PROBLEM),
        (429, b'{"message": "' + secret.encode() + b'"}', JSON),
        (404, secret.encode(), {"Content-Type": "text/plain"}),
    ]
    for index, (status, body, headers) in enumerate(cases):
        url = _serve_directory(proxy, f"/dir-echo-{index}", body, status=status,
                               headers=headers)
        response = _register(prod, url)
        assert 400 <= response.status_code < 600 and response.status_code != 500, response.text
        assert "hunter2" not in response.text and "10.1.2.3" not in response.text


def _api_rss_kib(stack: Stack) -> int:
    port = stack.base_url.rsplit(":", 1)[1]
    listing = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True,
                             text=True, check=True).stdout
    pid = re.search(r"pid=(\d+)", listing)
    assert pid is not None, listing
    status = Path(f"/proc/{pid.group(1)}/status").read_text()
    rss = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert rss is not None
    return int(rss.group(1))


def test_huge_directory_is_refused_without_reading_it(prod: Stack, proxy: FaultProxy) -> None:
    url = _serve_directory(proxy, "/dir-huge", b" " * MiB, repeat=200)
    _register(prod, f"https://127.0.0.1:{free_port()}/warm-up")
    before, rss_before = row_counts(prod), _api_rss_kib(prod)
    response = _register(prod, url)
    grown_mib = (_api_rss_kib(prod) - rss_before) / 1024
    assert grown_mib < 8, f"the api grew by {grown_mib:.0f} MiB"
    body = assert_problem(response, 502, "acme-response-too-large")
    assert "1048576" in body["detail"]
    assert row_counts(prod) == before


def test_punycode_contact_is_sent_and_stored_as_given(prod: Stack) -> None:
    contact = "ops@xn--bcher-kva.org"
    client = prod.client()
    response = client.post("/v1/acme-accounts", json={
        "contact_email": contact, "terms_of_service_agreed": True,
    })
    assert response.status_code == 201, response.text
    account_id = response.json()["id"]
    try:
        assert response.json()["contact_email"] == contact
        stored = query(prod, f"SELECT contact_email FROM acme_accounts WHERE id = '{account_id}'")
        assert stored == [[contact]]
    finally:  # the session's other tests rely on one usable account
        assert client.delete(f"/v1/acme-accounts/{account_id}").status_code == 204
