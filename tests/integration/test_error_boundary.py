"""One error path: an unexpected error is logged once and answered with a 500 problem on a
connection that stays open; every answer carries the security headers. The app runs in a
real uvicorn server, since keep-alive is the server's business."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from services.api.app import create_app
from services.api.boundary import SECURITY_HEADERS
from tests.harness.ports import HOST, free_port


@asynccontextmanager
async def _no_resources() -> AsyncIterator[Any]:
    yield None  # the routes used here need no database


async def _boom() -> None:
    raise RuntimeError("kaboom: a bug")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = create_app(_no_resources)
    app.add_api_route("/boom", _boom)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://{HOST}:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_crash_is_logged_once_and_keeps_the_connection(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with httpx.Client(base_url=base_url) as client:
        crashed = client.get("/boom")
        after = client.get("/healthz")
    assert crashed.status_code == 500
    assert crashed.headers["content-type"] == "application/problem+json"
    assert crashed.json()["type"] == "urn:certkeeper:problem:internal-error"
    assert "kaboom" not in crashed.text
    assert after.status_code == 200
    assert after.extensions["network_stream"] is crashed.extensions["network_stream"], (
        "the connection was not reused after the 500")
    with_traceback = [r for r in caplog.records if r.exc_info is not None]
    assert [r.getMessage() for r in with_traceback] == ["api.unhandled"]
    assert not [r for r in caplog.records if "Exception in ASGI" in r.getMessage()]


@pytest.mark.parametrize("path", ["/healthz", "/boom", "/v1/certificates", "/openapi.json",
                                  "/nowhere"])
def test_every_answer_carries_the_security_headers(base_url: str, path: str) -> None:
    answer = httpx.get(base_url + path)
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value, (path, name)
    assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_the_swagger_page_may_load_its_scripts_but_not_be_framed(base_url: str) -> None:
    answer = httpx.get(base_url + "/docs")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert answer.headers["x-frame-options"] == "DENY"
