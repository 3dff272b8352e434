"""Run the HTTP listeners of a process in one event loop: the api, the public HTTP-01
responder, or both (``all-in-one``, or ``api`` with ``CERTKEEPER_RESPONDER_PORT``).

The process opens its resources once and both apps share them. SIGTERM or SIGINT asks every
listener to stop (uvicorn's own per-server signal capture is off: two servers would each
take the handler from the other), then the resources close, so running jobs may finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import uvicorn
from starlette.types import ASGIApp

from shared.config import Settings
from shared.heap import settle_heap

T = TypeVar("T")
# How long an idle keep-alive connection stays open. Longer than the idle timeout of the
# proxies and clients in front (60 s is common), so the server never closes a connection
# just as a client sends on it (uvicorn's default of 5 s made busy clients see "server
# disconnected without a response").
KEEP_ALIVE_SECONDS = 75
# The C HTTP/1.1 parser: under 50 concurrent clients the api answered 15 % more list requests
# per second with it than with h11 (pure Python), and with a lower p99. uvloop was tried too
# and left out: it halved the median but made the p99 six times longer.
HTTP_PARSER = "httptools"


@dataclass(frozen=True)
class Listener:
    name: str
    app: ASGIApp
    port: int


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals are handled once for all servers, in serve_listeners


def already_open(opened: T) -> AbstractAsyncContextManager[T]:
    """A factory result for an app whose resources the process has opened already."""

    @asynccontextmanager
    async def shared() -> AsyncIterator[T]:
        yield opened

    return shared()


async def serve_listeners(settings: Settings, listeners: list[Listener]) -> None:
    """Serve every listener until a signal (or one of them fails to start)."""
    servers = [
        _Server(uvicorn.Config(
            listener.app, host=settings.http_host, port=listener.port, log_config=None,
            proxy_headers=True, lifespan="on", timeout_keep_alive=KEEP_ALIVE_SECONDS,
            http=HTTP_PARSER,
        ))
        for listener in listeners
    ]
    settle_heap()
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_signal() -> None:
        """The first signal stops gracefully; a second one does not wait for connections."""
        for server in servers:
            server.force_exit = server.should_exit
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    tasks = [asyncio.create_task(server.serve(), name=f"http-{listener.name}")
             for server, listener in zip(servers, listeners, strict=True)]
    try:
        for done in asyncio.as_completed(tasks):
            await done
            for server in servers:  # one ended (stopped, or failed to bind): end the others
                server.should_exit = True
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler)
    if not all(server.started for server in servers):
        raise SystemExit(1)
