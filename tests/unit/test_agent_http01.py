"""The agent's HTTP-01 answers: on its own listen address, or as files under a webroot."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from certkeeper_agent.client import check_server_url
from certkeeper_agent.http01 import ListeningResponder, WebrootResponder

from tests.harness.ports import HOST, free_port


async def test_the_listening_responder_answers_its_tokens_only() -> None:
    responder = ListeningResponder(HOST, free_port())
    await responder.start()
    try:
        await responder.present("tok-1", "tok-1.thumb", 60)
        base = f"http://{HOST}:{responder.port}/.well-known/acme-challenge"
        async with httpx.AsyncClient() as client:
            found = await client.get(f"{base}/tok-1")
            missing = await client.get(f"{base}/tok-2")
            elsewhere = await client.get(f"http://{HOST}:{responder.port}/tok-1")
            await responder.remove("tok-1")
            removed = await client.get(f"{base}/tok-1")
    finally:
        await responder.close()
    assert (found.status_code, found.text) == (200, "tok-1.thumb")
    assert missing.status_code == elsewhere.status_code == removed.status_code == 404


async def test_a_token_expires_by_itself() -> None:
    responder = ListeningResponder(HOST, 0)
    await responder.present("tok", "tok.thumb", -1)

    await responder.expire()

    assert responder.answer("/.well-known/acme-challenge/tok") is None


async def test_the_webroot_responder_writes_and_removes_the_file(tmp_path: Path) -> None:
    responder = WebrootResponder(tmp_path)

    await responder.present("tok", "tok.thumb", 60)
    path = tmp_path / ".well-known" / "acme-challenge" / "tok"
    assert path.read_text() == "tok.thumb"
    await responder.remove("tok")

    assert not path.exists()


async def test_a_token_that_could_leave_the_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="base64url"):
        await WebrootResponder(tmp_path).present("../../etc/passwd", "x", 60)


def test_the_server_is_https_or_loopback_http() -> None:
    assert check_server_url("https://ck.example.com/") == "https://ck.example.com"
    assert check_server_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert check_server_url("http://[::1]:8080") == "http://[::1]:8080"
    with pytest.raises(ValueError, match="https"):
        check_server_url("http://ck.example.com")
