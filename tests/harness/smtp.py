"""A throwaway SMTP server (aiosmtpd, in a thread of its own) on a free 127.0.0.1 port. It
keeps every message it accepts, can be told to refuse recipients with a code (451: try
later, 550: never), and can go down and come back on the same port (an outage)."""

from __future__ import annotations

import contextlib
import email
import email.policy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.harness.ports import HOST, free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return str(body.get_content())  # type: ignore[attr-defined]


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # replies for the next RCPTs
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        with self.lock:
            if self.refusals:
                return self.refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


@dataclass
class SmtpServer:
    port: int
    _handler: _Handler = field(default_factory=_Handler)
    _controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.received)

    def to(self, recipient: str) -> list[Received]:
        return [r for r in self.received if recipient in r.recipients]

    def refuse_next(self, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` RCPT commands with ``reply`` (e.g. ``"451 4.3.0 busy"``)."""
        with self._handler.lock:
            self._handler.refusals.extend([reply] * times)

    def start(self) -> None:
        self._controller = Controller(self._handler, hostname=HOST, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        """Go down: connections are refused until :meth:`start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.received
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received)} message(s) after {timeout}s, "
                             f"expected {count}: {[r.subject for r in self.received]}")

    def settings(self) -> dict[str, Any]:
        """``Settings`` keywords that send here (no TLS: a local test server)."""
        return {"smtp_host": HOST, "smtp_port": self.port, "smtp_security": "none",
                "smtp_from": "certkeeper@example.org", "smtp_timeout_seconds": 5.0}

    def env(self) -> dict[str, str]:
        return {"CERTKEEPER_SMTP_HOST": HOST, "CERTKEEPER_SMTP_PORT": str(self.port),
                "CERTKEEPER_SMTP_SECURITY": "none",
                "CERTKEEPER_SMTP_FROM": "certkeeper@example.org"}


@contextlib.contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    server = None
    for _ in range(5):  # a port taken between choosing and binding: choose again
        server = SmtpServer(free_port())
        try:
            server.start()
            break
        except (OSError, RuntimeError):
            server = None
    if server is None:
        raise RuntimeError("could not start the SMTP server")
    try:
        yield server
    finally:
        server.stop()
