"""Serving HTTP-01 key authorizations: on a listen address (a tiny HTTP/1.1 server that
answers ``GET /.well-known/acme-challenge/{token}`` and nothing else), or as files under a
webroot that the site's own web server serves. A token expires by itself after the time the
task gives, so a request that failed half-way leaves nothing served for long."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path
from typing import Protocol

from certkeeper_agent.state import write_atomically

PREFIX = "/.well-known/acme-challenge/"
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,255}")
MAX_REQUEST_BYTES = 8192


class Responder(Protocol):
    async def present(self, token: str, key_authorization: str, expires_in: float) -> None: ...
    async def remove(self, token: str) -> None: ...
    async def expire(self) -> None: ...


def check_token(token: str) -> str:
    if TOKEN.fullmatch(token) is None:
        raise ValueError("the token is not base64url")
    return token


class ListeningResponder:
    """Answers challenges itself on ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._tokens: dict[str, tuple[str, float]] = {}
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def present(self, token: str, key_authorization: str, expires_in: float) -> None:
        self._tokens[check_token(token)] = (key_authorization, time.monotonic() + expires_in)

    async def remove(self, token: str) -> None:
        self._tokens.pop(token, None)

    async def expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, (_, until) in self._tokens.items() if until < now]:
            del self._tokens[token]

    def answer(self, path: str) -> str | None:
        token = path.removeprefix(PREFIX) if path.startswith(PREFIX) else ""
        found = self._tokens.get(token)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            line = head[:MAX_REQUEST_BYTES].split(b"\r\n", 1)[0].decode("latin-1")
            method, _, rest = line.partition(" ")
            path = rest.partition(" ")[0]
            body = self.answer(path) if method in {"GET", "HEAD"} else None
            status = "200 OK" if body is not None else "404 Not Found"
            payload = (body or "not found\n").encode()
            headers = (f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n"
                       f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
            writer.write(headers.encode() + (payload if method != "HEAD" else b""))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class WebrootResponder:
    """Writes ``{webroot}/.well-known/acme-challenge/{token}`` (mode 0644) for the site's
    web server to serve, and removes it afterwards."""

    def __init__(self, webroot: Path) -> None:
        self.directory = webroot / ".well-known" / "acme-challenge"
        self._expiry: dict[str, float] = {}

    async def present(self, token: str, key_authorization: str, expires_in: float) -> None:
        path = self.directory / check_token(token)
        write_atomically(path, key_authorization.encode(), 0o644)
        self._expiry[token] = time.monotonic() + expires_in

    async def remove(self, token: str) -> None:
        self._expiry.pop(token, None)
        (self.directory / check_token(token)).unlink(missing_ok=True)

    async def expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, until in self._expiry.items() if until < now]:
            await self.remove(token)
