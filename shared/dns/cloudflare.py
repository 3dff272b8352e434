"""Cloudflare DNS through the official ``cloudflare`` SDK (its async client, httpx underneath).

The zone is ``zone_id`` when configured, else found with ``GET /zones?name=`` from the zone
upwards. Each TXT value is its own record at Cloudflare: ``present`` creates ours unless a
record with our value is listed (every page), ``cleanup`` deletes the records holding our
value (404 on delete: already gone). Content is written quoted, as Cloudflare recommends, and
compared with or without quotes. The token needs Zone:DNS:Edit on the zone (and Zone:Read
when ``zone_id`` is not given). SDK retries are off: the issuer retries retryable problems,
and a 429's ``Retry-After`` travels in the problem as ``retry_after_seconds``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import cloudflare
import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shared.dns.base import (
    DnsProvider,
    DnsProviderAuth,
    DnsProviderError,
    DnsProviderUnavailable,
    DnsZoneNotFound,
    ProviderKind,
    ProviderTimings,
)
from shared.dns.http import retry_after_seconds
from shared.dns.txt import quoted, unquoted

NAME = "cloudflare"
DEFAULT_API_URL = "https://api.cloudflare.com/client/v4"
TIMINGS = ProviderTimings(ttl=60, propagation_timeout_seconds=300.0, polling_interval_seconds=2.0)
REQUEST_TIMEOUT_SECONDS = 30.0
PAGE_SIZE = 100
COMMENT = "certkeeper dns-01"
# Cloudflare's codes for a token it does not know, that lacks a permission, or is malformed.
_AUTH_CODES = frozenset({9103, 9106, 9109, 10000, 6003, 6111})
_NO_ZONE_CODES = frozenset({7003})  # "Could not route to /zones/…": no such zone id
_IDENTICAL_RECORD = 81058


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zone_id: str | None = Field(None, pattern=r"^[0-9a-fA-F]{32}$")
    api_url: str | None = Field(None, pattern=r"^https?://[^\s]+$", max_length=2048)


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_token: SecretStr = Field(min_length=1)


class CloudflareProvider:
    timings = TIMINGS

    def __init__(self, config: Config, credentials: Credentials) -> None:
        self._zone_id = config.zone_id
        self._client = cloudflare.AsyncCloudflare(
            api_token=credentials.api_token.get_secret_value(),
            base_url=config.api_url or DEFAULT_API_URL,
            max_retries=0,
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
        # The SDK falls back to CLOUDFLARE_API_KEY / CLOUDFLARE_EMAIL from the environment and
        # prefers them to the token: only the stored token may be used.
        self._client.api_key = self._client.api_email = self._client.user_service_key = None

    async def present(self, zone: str, fqdn: str, value: str) -> None:
        with _boundary():
            zone_id = await self._zone(zone)
            if await self._ids_holding(zone_id, fqdn, value):
                return
            try:
                await self._client.dns.records.create(
                    zone_id=zone_id, type="TXT", name=fqdn.rstrip("."), content=quoted(value),
                    ttl=self.timings.ttl, comment=COMMENT,
                )  # fmt: skip
            except cloudflare.BadRequestError as exc:
                if _IDENTICAL_RECORD not in {error.code for error in exc.errors}:
                    raise  # a concurrent present of the same value already made it

    async def cleanup(self, zone: str, fqdn: str, value: str) -> None:
        with _boundary():
            zone_id = await self._zone(zone)
            for record_id in await self._ids_holding(zone_id, fqdn, value):
                try:
                    await self._client.dns.records.delete(record_id, zone_id=zone_id)
                except cloudflare.NotFoundError:
                    continue  # already gone

    async def aclose(self) -> None:
        await self._client.close()

    async def _zone(self, zone: str) -> str:
        """The configured zone id, else the zone named ``zone`` or its nearest parent."""
        if self._zone_id:
            return self._zone_id
        labels = zone.rstrip(".").split(".")
        for start in range(len(labels) - 1):
            name = ".".join(labels[start:])
            page = await self._client.zones.list(name=name, per_page=5)
            for found in page.result:
                if found.name.lower() == name:
                    return found.id
        raise DnsZoneNotFound(f"Cloudflare has no zone for {zone} that this token can see",
                              provider=NAME)

    async def _ids_holding(self, zone_id: str, fqdn: str, value: str) -> list[str]:
        """Ids of the TXT records at ``fqdn`` whose content is ``value`` (every page)."""
        ids = []
        records = self._client.dns.records.list(
            zone_id=zone_id, type="TXT", name={"exact": fqdn.rstrip(".")}, per_page=PAGE_SIZE
        )
        async for record in records:
            if record.type == "TXT" and unquoted(record.content or "") == value:
                ids.append(record.id)
        return ids


def translate(exc: cloudflare.APIError) -> DnsProviderError:
    """A Cloudflare SDK error as a problem, with Cloudflare's codes and messages kept."""
    if isinstance(exc, cloudflare.APIConnectionError):
        return DnsProviderUnavailable(f"Cloudflare unreachable: {exc.message}", provider=NAME)
    status = getattr(exc, "status_code", 0)
    codes = {error.code for error in exc.errors}
    said = "; ".join(f"{error.code} {error.message}" for error in exc.errors) or exc.message
    detail = f"Cloudflare {status or 'answer'}: {said}"
    if status in (401, 403) or codes & _AUTH_CODES:
        return DnsProviderAuth(detail, provider=NAME)
    if status == 404 or codes & _NO_ZONE_CODES:
        return DnsZoneNotFound(detail, provider=NAME)
    if status == 429 or status >= 500 or isinstance(exc, cloudflare.APIResponseValidationError):
        response = getattr(exc, "response", None)
        wait = retry_after_seconds(response.headers, datetime.now(UTC)) if response else None
        extra = {} if wait is None else {"retry_after_seconds": wait}
        return DnsProviderUnavailable(detail, provider=NAME, **extra)
    return DnsProviderError(detail, provider=NAME)


@contextmanager
def _boundary() -> Iterator[None]:
    try:
        yield
    except cloudflare.APIError as exc:
        raise translate(exc) from exc
    except (httpx.HTTPError, ValueError) as exc:  # a body that is not the documented JSON
        raise DnsProviderUnavailable(f"Cloudflare answered unreadably: {exc}",
                                     provider=NAME) from exc


def _build(config: Config, credentials: Credentials) -> DnsProvider:
    return CloudflareProvider(config, credentials)


KIND = ProviderKind(name=NAME, config=Config, credentials=Credentials, build=_build)
_check: type[DnsProvider] = CloudflareProvider
