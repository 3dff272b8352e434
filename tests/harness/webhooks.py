"""A local webhook receiver on a free 127.0.0.1 port. It verifies every call with the
``standardwebhooks`` package (the receiver's side of the convention, not our code), keeps
what it got, and answers with the statuses it is told to (500, 410, ...), then 204."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.server import serve


@dataclass
class Call:
    headers: dict[str, str]
    body: bytes
    payload: Any  # as verified; None when the signature did not verify
    error: str | None


@dataclass
class WebhookReceiver:
    secret: str
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_next(self, status: int, times: int = 1) -> None:
        with self.lock:
            self.answers.extend([status] * times)

    @property
    def verified(self) -> list[Any]:
        with self.lock:
            return [c.payload for c in self.calls if c.error is None]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.calls)} webhook call(s) after {timeout}s")

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            payload, error = Webhook(self.secret).verify(body, headers), None
        except WebhookVerificationError as exc:
            payload, error = None, str(exc)
        with self.lock:
            self.calls.append(Call(headers, body, payload, error))
            status = self.answers.pop(0) if self.answers else 204
        return Response(status_code=401 if error else status)


@contextlib.contextmanager
def webhook_receiver(secret: str, path: str = "/hooks/certkeeper") -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret)
    app = Starlette(routes=[Route(path, receiver._receive, methods=["POST"])])
    with serve(app) as base_url:
        receiver.url = base_url + path
        yield receiver
