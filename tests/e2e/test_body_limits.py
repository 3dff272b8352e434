"""Bodies are refused before they are read: no token, no body; too big, 413 while it streams.

Each case streams 100 MB at the real ``certkeeper api`` process over a raw socket (with a
Content-Length, and chunked without one) and reads the answer as soon as it comes, then
checks the process's resident memory did not grow with the body.
"""

from __future__ import annotations

import json
import select
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.stack import Stack

HUNDRED_MB = 100 * 1024 * 1024
CHUNK = b'{"common_name": "' + b"a" * (64 * 1024 - 17)
ALLOWED_GROWTH_KB = 8 * 1024  # the api's RSS may grow by this much across one case
P = "urn:certkeeper:problem:"


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _head(url: str, token: str | None, chunked: bool) -> bytes:
    parts = urlsplit(url)
    lines = [
        "POST /v1/certificate-requests HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUNDRED_MB}",
    ]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _frame(data: bytes, chunked: bool) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    sock.setblocking(True)
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"connection closed before a response: {data!r}"
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return int(status_line.split()[1]), headers, body[:length]


def stream_post(url: str, token: str | None, *, chunked: bool) -> tuple[int, dict[str, Any]]:
    """Stream a 100 MB body; stop sending as soon as the server answers."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(_head(url, token, chunked))
        sock.setblocking(False)
        sent = 0
        while sent < HUNDRED_MB:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable:
                break
            if writable:
                try:
                    sock.sendall(_frame(CHUNK, chunked))
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    break
                sent += len(CHUNK)
        status, headers, body = _read_response(sock)
    assert headers["content-type"].startswith("application/problem+json"), headers
    return status, json.loads(body)


CASES = [
    pytest.param(False, False, 401, "unauthenticated", id="no-token-content-length"),
    pytest.param(False, True, 401, "unauthenticated", id="no-token-chunked"),
    pytest.param(True, False, 413, "payload-too-large", id="token-content-length"),
    pytest.param(True, True, 413, "payload-too-large", id="token-chunked"),
]


@pytest.mark.parametrize(("with_token", "chunked", "status", "slug"), CASES)
def test_a_huge_body_is_refused_without_growing_the_api(
    prod: Stack, with_token: bool, chunked: bool, status: int, slug: str
) -> None:
    assert prod.api_pid is not None
    before = _rss_kb(prod.api_pid)
    got, body = stream_post(prod.base_url, prod.admin_token if with_token else None,
                            chunked=chunked)
    grown = _rss_kb(prod.api_pid) - before
    assert (got, body["type"]) == (status, P + slug), body
    assert grown <= ALLOWED_GROWTH_KB, f"the api grew by {grown} kB"
    assert prod.client().get("/v1/certificates").status_code == 200


def test_a_wrong_token_is_refused_before_the_body(prod: Stack) -> None:
    before = _rss_kb(prod.api_pid or 0)
    got, body = stream_post(prod.base_url, "ck_" + "A" * 43, chunked=True)
    assert (got, body["type"]) == (401, P + "unauthenticated")
    assert _rss_kb(prod.api_pid or 0) - before <= ALLOWED_GROWTH_KB
