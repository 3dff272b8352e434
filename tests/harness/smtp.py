"""A throwaway SMTP server (aiosmtpd, in a thread of its own) on a free 127.0.0.1 port. It
keeps every message it accepts, can be told to refuse recipients with a code (451: try
later, 550: never), and can go down and come back on the same port (an outage). It speaks
plain SMTP, STARTTLS (required) or implicit TLS with a certificate from a test CA
(``trustme``), and can demand a login."""

from __future__ import annotations

import contextlib
import email
import email.policy
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

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


class _Controller(Controller):
    def factory(self) -> Any:
        # aiosmtpd warns when AUTH does not require STARTTLS, not knowing that an implicit
        # TLS listener is TLS from the first byte.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


@dataclass
class SmtpServer:
    port: int
    security: str = "none"  # "none", "starttls" or "tls"
    login: tuple[str, str] | None = None
    ca_bundle: Path | None = None
    _tls: ssl.SSLContext | None = None
    _handler: _Handler = field(default_factory=_Handler)
    _controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        ok = (self.login is not None and isinstance(data, LoginPassword)
              and (data.login.decode(), data.password.decode()) == self.login)
        return AuthResult(success=ok, handled=False)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.security == "starttls":
            options.update(tls_context=self._tls, require_starttls=True)
        elif self.security == "tls":
            options.update(ssl_context=self._tls, server_hostname=HOST)
        if self.login is not None:
            # aiosmtpd counts only STARTTLS as TLS for AUTH; implicit TLS is TLS from the start.
            options.update(authenticator=self._authenticate, auth_required=True,
                           auth_require_tls=self.security == "starttls")
        return options

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
        self._controller = _Controller(self._handler, hostname=HOST, port=self.port,
                                      **self._options())
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
        settings: dict[str, Any] = {
            "smtp_host": HOST, "smtp_port": self.port, "smtp_security": self.security,
            "smtp_from": "certkeeper@example.org", "smtp_timeout_seconds": 5.0,
            "smtp_ca_bundle": self.ca_bundle}
        if self.login is not None:
            settings.update(smtp_username=self.login[0], smtp_password=self.login[1])
        return settings

    def env(self) -> dict[str, str]:
        return {"CERTKEEPER_" + key.upper(): str(value)
                for key, value in self.settings().items() if value is not None}


def _tls_context(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1, and the CA file that trusts it."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "localhost").configure_cert(context)
    bundle = directory / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return context, bundle


@contextlib.contextmanager
def smtp_server(security: str = "none", login: tuple[str, str] | None = None
                ) -> Iterator[SmtpServer]:
    with tempfile.TemporaryDirectory(prefix="ck-smtp-") as scratch:
        tls, bundle = _tls_context(Path(scratch)) if security != "none" else (None, None)
        with _started(security, login, tls, bundle) as server:
            yield server


@contextlib.contextmanager
def _started(security: str, login: tuple[str, str] | None, tls: ssl.SSLContext | None,
             bundle: Path | None) -> Iterator[SmtpServer]:
    server = None
    for _ in range(5):  # a port taken between choosing and binding: choose again
        server = SmtpServer(free_port(), security, login, bundle, tls)
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
