"""Azure DNS over its REST API (httpx), with an OAuth2 client-credentials token.

The token comes from ``{authority_url}/{tenant_id}/oauth2/v2.0/token`` for the scope
``{management_url}/.default`` and is kept until shortly before it expires. Record sets are
``{management_url}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/
dnsZones/{zone}/TXT/{relative name}`` (api-version 2018-05-01). ``present`` PUTs the set with
our value added and ``cleanup`` PUTs it without ours, or DELETEs it when ours was the last;
every write is conditional on the etag read (``If-Match``; ``If-None-Match: *`` to create),
so a concurrent writer is never overwritten: on 412 the set is read again, a few times.
Without ``zone_name`` the zones of the resource group are listed and the longest one that
holds the name is used. The service principal needs "DNS Zone Contributor" on the zone (or
on the resource group, to list its zones).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

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
from shared.dns.txt import relative_name

NAME = "azure"
API_VERSION = "2018-05-01"
TIMINGS = ProviderTimings(ttl=60, propagation_timeout_seconds=300.0, polling_interval_seconds=2.0)
REQUEST_TIMEOUT_SECONDS = 30.0
TOKEN_REFRESH_MARGIN_SECONDS = 300.0
CONCURRENT_WRITE_ATTEMPTS = 4  # a write that lost to another writer (412) is redone this often
_AUTH_CODES = frozenset({
    "AuthorizationFailed", "LinkedAuthorizationFailed", "InvalidAuthenticationToken",
    "InvalidAuthenticationTokenTenant", "ExpiredAuthenticationToken", "AuthenticationFailed",
})  # fmt: skip
_NO_ZONE_CODES = frozenset({
    "ParentResourceNotFound", "ResourceNotFound", "ResourceGroupNotFound", "SubscriptionNotFound",
})  # fmt: skip
_WRITABLE = frozenset({"TTL", "TXTRecords", "metadata"})
_NAME = r"^[A-Za-z0-9._()-]+$"
_URL = r"^https?://[^\s/]+(/[^\s]*)?$"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(pattern=_NAME, max_length=100)
    client_id: str = Field(pattern=_NAME, max_length=100)
    subscription_id: str = Field(pattern=_NAME, max_length=100)
    resource_group: str = Field(pattern=_NAME, max_length=90)
    zone_name: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+$", max_length=253)
    authority_url: str = Field("https://login.microsoftonline.com", pattern=_URL)
    management_url: str = Field("https://management.azure.com", pattern=_URL)


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_secret: SecretStr = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class _RecordSet:
    """A TXT set as read: ``etag`` None when it does not exist."""

    etag: str | None
    properties: dict[str, Any]

    @property
    def records(self) -> list[dict[str, Any]]:
        return list(self.properties.get("TXTRecords") or [])


def _value_of(record: dict[str, Any]) -> str:
    return "".join(record.get("value") or [])


class AzureProvider:
    timings = TIMINGS

    def __init__(self, config: Config, credentials: Credentials) -> None:
        self._config = config
        self._secret = credentials.client_secret
        self._management = config.management_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS)
        self._token: tuple[str, float] | None = None  # (access token, loop time to renew)
        self._token_lock = asyncio.Lock()

    async def present(self, zone: str, fqdn: str, value: str) -> None:
        with _boundary():
            url = await self._record_set_url(zone, fqdn)
            for _ in range(CONCURRENT_WRITE_ATTEMPTS):
                current = await self._read(url)
                if any(_value_of(record) == value for record in current.records):
                    return
                properties = {"TTL": self.timings.ttl, **current.properties}
                properties["TXTRecords"] = [*current.records, {"value": [value]}]
                if await self._write(url, current.etag, properties):
                    return
            raise _lost_races(fqdn)

    async def cleanup(self, zone: str, fqdn: str, value: str) -> None:
        with _boundary():
            url = await self._record_set_url(zone, fqdn)
            for _ in range(CONCURRENT_WRITE_ATTEMPTS):
                current = await self._read(url)
                rest = [record for record in current.records if _value_of(record) != value]
                if current.etag is None or len(rest) == len(current.records):
                    return
                if await self._write(url, current.etag, {**current.properties,
                                                         "TXTRecords": rest} if rest else None):
                    return
            raise _lost_races(fqdn)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _zones_url(self) -> str:
        c = self._config
        return (f"{self._management}/subscriptions/{quote(c.subscription_id)}/resourceGroups/"
                f"{quote(c.resource_group)}/providers/Microsoft.Network/dnsZones")

    async def _record_set_url(self, zone: str, fqdn: str) -> str:
        zone_name = self._config.zone_name or await self._find_zone(fqdn)
        try:
            relative = relative_name(fqdn, zone_name.rstrip(".").lower() + ".")
        except ValueError:
            raise DnsZoneNotFound(f"{fqdn} is not in the configured zone {zone_name}",
                                  provider=NAME) from None
        return f"{self._zones_url()}/{quote(zone_name)}/TXT/{quote(relative, safe='@')}"

    async def _find_zone(self, fqdn: str) -> str:
        """The longest zone of the resource group that holds ``fqdn`` (every page)."""
        names: list[str] = []
        url: str | None = f"{self._zones_url()}?api-version={API_VERSION}"
        while url:
            page = _json(await self._checked("GET", url))
            names += [str(zone.get("name", "")) for zone in page.get("value") or []]
            url = page.get("nextLink")
        holding = [n for n in names if fqdn == f"{n.lower()}." or fqdn.endswith(f".{n.lower()}.")]
        if not holding:
            raise DnsZoneNotFound(f"Azure DNS has no zone for {fqdn} in resource group "
                                  f"{self._config.resource_group}", provider=NAME)
        return max(holding, key=len)

    async def _read(self, url: str) -> _RecordSet:
        response = await self._send("GET", f"{url}?api-version={API_VERSION}")
        if response.status_code == 404 and _code(response) not in _NO_ZONE_CODES:
            return _RecordSet(None, {})
        found = _json(_ok(response))
        return _RecordSet(str(found.get("etag") or "*"), dict(found.get("properties") or {}))

    async def _write(self, url: str, etag: str | None, properties: dict[str, Any] | None
                     ) -> bool:
        """PUT ``properties`` (DELETE when None) if the set is still at ``etag`` (None: if
        it does not exist). False when another writer changed it first (412)."""
        condition = {"If-Match": etag} if etag else {"If-None-Match": "*"}
        target = f"{url}?api-version={API_VERSION}"
        if properties is None:
            response = await self._send("DELETE", target, headers=condition)
        else:
            body = {"properties": {k: v for k, v in properties.items() if k in _WRITABLE}}
            response = await self._send("PUT", target, headers=condition, json=body)
        if response.status_code == 412:
            return False
        if properties is None and response.status_code in (204, 404):
            return True  # already gone
        _ok(response)
        return True

    async def _checked(self, method: str, url: str) -> httpx.Response:
        return _ok(await self._send(method, url))

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request with the cached token; on 401 (expired, revoked) once more with a new
        token."""
        extra = kwargs.pop("headers", {})
        for retried in (False, True):
            headers = {"Authorization": f"Bearer {await self._bearer()}", **extra}
            response = await self._http.request(method, url, headers=headers, **kwargs)
            if response.status_code != 401 or retried:
                break
            self._token = None
        return response

    async def _bearer(self) -> str:
        loop = asyncio.get_running_loop()
        async with self._token_lock:
            if self._token is None or loop.time() >= self._token[1]:
                token, lifetime = await self._new_token()
                self._token = token, loop.time() + max(0.0, lifetime - TOKEN_REFRESH_MARGIN_SECONDS)
            return self._token[0]

    async def _new_token(self) -> tuple[str, float]:
        c = self._config
        response = await self._http.post(
            f"{c.authority_url.rstrip('/')}/{quote(c.tenant_id)}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": c.client_id,
                  "client_secret": self._secret.get_secret_value(),
                  "scope": f"{self._management}/.default"},
        )  # fmt: skip
        if response.status_code in (400, 401, 403):
            body = _json(response)
            said = f"{body.get('error')}: {body.get('error_description', '')}".strip()
            raise DnsProviderAuth(f"Azure token endpoint refused {c.client_id}: {said}",
                                  provider=NAME)
        token = _json(_ok(response))
        if not isinstance(token.get("access_token"), str):
            raise DnsProviderUnavailable("Azure token endpoint answered without a token",
                                         provider=NAME)
        return token["access_token"], float(token.get("expires_in") or 0)


def _json(response: httpx.Response) -> dict[str, Any]:
    body = response.json()  # ValueError for a body that is not JSON: see _boundary
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _code(response: httpx.Response) -> str:
    try:
        return str(_json(response).get("error", {}).get("code", ""))
    except (ValueError, AttributeError):
        return ""


def _ok(response: httpx.Response) -> httpx.Response:
    """``response`` if it is a success, else the problem its status and error body say."""
    if response.is_success:
        return response
    status, code = response.status_code, _code(response)
    try:
        message = str(_json(response).get("error", {}).get("message", ""))
    except (ValueError, AttributeError):
        message = response.text[:200]
    detail = f"Azure DNS {status} {code}: {message}".rstrip(": ")
    if status in (401, 403) or code in _AUTH_CODES:
        raise DnsProviderAuth(detail, provider=NAME)
    if status == 404 and code in _NO_ZONE_CODES:
        raise DnsZoneNotFound(detail, provider=NAME)
    if status in (408, 429) or status >= 500:
        wait = retry_after_seconds(response.headers, datetime.now(UTC))
        extra = {} if wait is None else {"retry_after_seconds": wait}
        raise DnsProviderUnavailable(detail, provider=NAME, **extra)
    raise DnsProviderError(detail, provider=NAME)


def _lost_races(fqdn: str) -> DnsProviderUnavailable:
    return DnsProviderUnavailable(
        f"Azure DNS: the TXT set at {fqdn} kept changing under us "
        f"({CONCURRENT_WRITE_ATTEMPTS} conditional writes refused)", provider=NAME,
    )


@contextmanager
def _boundary() -> Iterator[None]:
    try:
        yield
    except (httpx.HTTPError, ValueError) as exc:  # unreachable, timed out, not the documented JSON
        raise DnsProviderUnavailable(f"Azure DNS unreachable or unreadable: {exc}",
                                     provider=NAME) from exc


def _build(config: Config, credentials: Credentials) -> DnsProvider:
    return AzureProvider(config, credentials)


KIND = ProviderKind(name=NAME, config=Config, credentials=Credentials, build=_build)
_check: type[DnsProvider] = AzureProvider
