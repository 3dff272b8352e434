"""Serve a small ASGI app (a fake of a cloud API) with uvicorn on a free 127.0.0.1 port, in a
thread of the test process, so a provider talks to it over real HTTP."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from tests.harness.ports import HOST, free_port

START_TIMEOUT = 10.0


@contextlib.contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Yields the base URL (``http://127.0.0.1:PORT``) once the server accepts connections."""
    port = free_port()
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="off",
                            ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fake-api-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"fake API on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
