"""Webhooks: the Standard Webhooks signature, the rule's secret, and where a webhook may
be sent. A URL comes from an admin, so it could aim at an internal service: its host is
resolved and every address checked (loopback, link-local, private, unique-local,
multicast, unspecified and other non-global addresses are refused unless
``CERTKEEPER_WEBHOOK_ALLOW_PRIVATE``), when the rule is written and again at each send,
where the connection goes to exactly the address that was checked."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.acme_http import refusal
from shared.errors import ValidationProblem

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32
MIN_SECRET_BYTES = 16
MAX_SECRET_BYTES = 64


class WebhookUrlRefused(ValidationProblem):
    slug = "webhook-url-not-allowed"
    title = "The webhook URL points at a scheme or address Certkeeper may not contact"


class InvalidWebhookSecret(ValidationProblem):
    slug = "invalid-webhook-secret"
    title = "The webhook secret is not whsec_ followed by base64"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The key a ``whsec_<base64>`` secret stands for (the prefix is optional)."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookSecret("the secret must be whsec_ followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidWebhookSecret(
            f"the secret must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return key


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """A checked URL: connect to ``address`` and present ``host`` (Host header, TLS name)."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.scheme}://{literal}:{self.port}{path}{query}"

    @property
    def host_header(self) -> str:
        default = {"http": 80, "https": 443}[self.scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an http(s) URL without credentials; or the problem."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlRefused(f"the URL is not valid: {exc}") from None
    if parts.scheme not in {"http", "https"}:
        raise WebhookUrlRefused("a webhook URL must be http:// or https://")
    if not parts.hostname:
        raise WebhookUrlRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused("put no credentials in the URL; requests are signed")
    return parts.scheme, parts.hostname, port or {"http": 80, "https": 443}[parts.scheme]


async def checked_target(url: str, *, allow_private: bool) -> WebhookTarget:
    """Resolve the URL's host (without blocking the loop) and check every address."""
    scheme, host, port = parse_url(url)
    loop = asyncio.get_running_loop()
    try:
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # gaierror is an OSError
        raise WebhookUrlRefused(f"{host} does not resolve: {exc}") from None
    addresses = [str(sockaddr[0]).split("%", 1)[0] for *_rest, sockaddr in found]
    if not addresses:
        raise WebhookUrlRefused(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refusal(ipaddress.ip_address(address), ())
            if reason is not None:
                raise WebhookUrlRefused(
                    f"{host} resolves to {address} ({reason}); set "
                    "CERTKEEPER_WEBHOOK_ALLOW_PRIVATE=true if internal receivers are meant")
    return WebhookTarget(url, scheme, host, port, addresses[0])
