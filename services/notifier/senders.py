"""Sending one message, with every library error translated here into an outcome: sent,
worth another try (SMTP 4xx, network, webhook 408/429/5xx and timeouts), or refused for
good (SMTP 5xx, webhook 4xx, a URL that may not be contacted)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

import aiosmtplib
import httpx

from shared.config import Settings
from shared.domain.notifications_webhooks import WebhookUrlRefused, checked_target, signature

logger = logging.getLogger(__name__)

MAX_REASON = 500
_TRANSIENT_HTTP = {408, 425, 429}


@dataclass(frozen=True, slots=True)
class SendOutcome:
    sent: bool
    permanent: bool = False
    reason: str | None = None


SENT = SendOutcome(sent=True)


def transient(reason: str) -> SendOutcome:
    return SendOutcome(sent=False, permanent=False, reason=reason[:MAX_REASON])


def permanent(reason: str) -> SendOutcome:
    return SendOutcome(sent=False, permanent=True, reason=reason[:MAX_REASON])


def _smtp_reply(code: int, message: str) -> SendOutcome:
    reason = f"SMTP {code}: {' '.join(message.split())}"
    return permanent(reason) if code >= 500 else transient(reason)


async def send_email(settings: Settings, message: EmailMessage) -> SendOutcome:
    """One message to one recipient over SMTP (STARTTLS, implicit TLS or none)."""
    if settings.smtp_host is None:
        return transient("CERTKEEPER_SMTP_HOST is not set")
    password = settings.smtp_password
    try:
        await aiosmtplib.send(
            message, hostname=settings.smtp_host, port=settings.smtp_port,
            username=settings.smtp_username,
            password=password.get_secret_value() if password is not None else None,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
            cert_bundle=None if settings.smtp_ca_bundle is None else str(settings.smtp_ca_bundle),
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients[0]
        return _smtp_reply(refused.code, refused.message)
    except aiosmtplib.SMTPResponseException as exc:
        return _smtp_reply(exc.code, exc.message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return transient(f"SMTP server unavailable: {type(exc).__name__}: {exc}")
    return SENT


@dataclass(frozen=True, slots=True)
class WebhookCall:
    url: str
    key: bytes
    message_id: str
    body: bytes


async def post_webhook(settings: Settings, call: WebhookCall, now: datetime) -> SendOutcome:
    """POST the body, signed; the address is checked again now and connected to as checked."""
    try:
        target = await checked_target(call.url, allow_private=settings.webhook_allow_private)
    except WebhookUrlRefused as exc:
        return permanent(exc.detail)
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "host": target.host_header,
        "user-agent": "Certkeeper",
        "webhook-id": call.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(call.key, call.message_id, timestamp, call.body),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        async with (
            httpx.AsyncClient(timeout=settings.webhook_timeout_seconds,
                              follow_redirects=False, trust_env=False) as client,
            # Streamed and never read: only the status counts, whatever size the body.
            client.stream("POST", target.pinned_url, content=call.body, headers=headers,
                          extensions=extensions) as response,
        ):
            status, phrase = response.status_code, response.reason_phrase
    except httpx.HTTPError as exc:
        return transient(f"webhook unreachable: {type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return SENT
    reason = f"webhook answered {status} {phrase}".strip()
    if status >= 500 or status in _TRANSIENT_HTTP:
        return transient(reason)
    return permanent(reason)
