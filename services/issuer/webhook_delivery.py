"""Delivery to a webhook: one POST of the certificate, signed as Standard Webhooks sign
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``), body ``{"type": event, "timestamp", "data"}``. The private key is
in ``data`` only when the target's ``include_private_key`` says so. A 2xx answer is
success; anything else (or no answer) is :class:`DeliveryFailed`, retried with backoff.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

import httpx

from services.issuer.delivery import DeliveryFailed, Material
from shared.domain.deployment_config import WebhookConfig, signing_key

TIMEOUT_SECONDS = 15.0


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(digest).decode(),
            "content-type": "application/json"}


def webhook_body(config: WebhookConfig, material: Material, event: str, now: datetime
                 ) -> bytes:
    data: dict[str, Any] = {
        "certificate_id": material.certificate_id, "serial": material.serial,
        "names": material.names, "cert_pem": material.cert_pem,
        "chain_pem": material.chain_pem, "fullchain_pem": material.fullchain_pem,
    }
    if config.include_private_key:
        data["key_pem"] = material.key_pem
    return json.dumps({"type": event, "timestamp": now.isoformat().replace("+00:00", "Z"),
                       "data": data}).encode()


async def post_webhook(config: WebhookConfig, secret: str, material: Material, event: str,
                       message_id: str, now: datetime) -> None:
    body = webhook_body(config, material, event, now)
    headers = signed_headers(secret, message_id, int(now.timestamp()), body)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            response = await client.post(config.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"cannot reach the webhook: {type(exc).__name__}") from None
    if not response.is_success:
        raise DeliveryFailed(f"the webhook answered {response.status_code}",
                             http_status=response.status_code)
