"""The Route 53 client behind :mod:`shared.dns.route53` (imported only when a provider of that
kind is built)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Literal, cast

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.parsers import ResponseParserError

from shared.dns.base import (
    DnsProvider,
    DnsProviderAuth,
    DnsProviderError,
    DnsProviderUnavailable,
    DnsZoneNotFound,
    ProviderTimings,
)
from shared.dns.route53 import NAME, Config, Credentials
from shared.dns.txt import quoted, unquoted

if TYPE_CHECKING:
    from types_aiobotocore_route53 import Route53Client
    from types_aiobotocore_route53.type_defs import (
        ResourceRecordSetOutputTypeDef,
        ResourceRecordSetTypeDef,
    )

TIMINGS = ProviderTimings(ttl=60, propagation_timeout_seconds=600.0, polling_interval_seconds=4.0)
# Route 53 applies a change on all its servers within about a minute; wait at most this long.
INSYNC_TIMEOUT_SECONDS = 180.0
INSYNC_FIRST_POLL_SECONDS = 1.0
INSYNC_MAX_POLL_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 30.0
CHANGE_COMMENT = "certkeeper dns-01"

_AUTH_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch",
    "UnrecognizedClient", "UnrecognizedClientException", "IncompleteSignature",
    "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException",
})  # fmt: skip
_ZONE_CODES = frozenset({"NoSuchHostedZone", "HostedZoneNotFound", "InvalidHostedZoneId"})
_BUSY_CODES = frozenset({
    "Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded",
    "ServiceUnavailable", "InternalFailure", "InternalError", "RequestTimeout",
})  # fmt: skip


class Route53Provider:
    timings = TIMINGS

    def __init__(self, config: Config, credentials: Credentials) -> None:
        self._config = config
        key, secret = credentials.access_key_id, credentials.secret_access_key
        self._session = aioboto3.Session(
            aws_access_key_id=key.get_secret_value() if key else None,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            region_name=config.region,
        )
        self._stack = AsyncExitStack()
        self._client: Route53Client | None = None
        self._lock = asyncio.Lock()

    async def present(self, zone: str, fqdn: str, value: str) -> None:
        with _boundary():
            client = await self._route53()
            zone_id = await self._zone_id(client, zone)
            current = await _txt_rrset(client, zone_id, fqdn)
            records = list(current["ResourceRecords"]) if current else []
            if any(unquoted(record["Value"]) == value for record in records):
                return
            rrset: ResourceRecordSetTypeDef = {
                "Name": fqdn, "Type": "TXT", "TTL": self.timings.ttl,
                "ResourceRecords": [*records, {"Value": quoted(value)}],
            }  # fmt: skip
            await _change(client, zone_id, "UPSERT", rrset)

    async def cleanup(self, zone: str, fqdn: str, value: str) -> None:
        with _boundary():
            client = await self._route53()
            zone_id = await self._zone_id(client, zone)
            current = await _txt_rrset(client, zone_id, fqdn)
            if current is None:
                return
            records = current["ResourceRecords"]
            rest = [record for record in records if unquoted(record["Value"]) != value]
            if len(rest) == len(records):
                return
            exact: ResourceRecordSetTypeDef = {
                "Name": current["Name"], "Type": "TXT", "TTL": current["TTL"],
                "ResourceRecords": rest or records,
            }  # fmt: skip
            await _change(client, zone_id, "UPSERT" if rest else "DELETE", exact)

    async def aclose(self) -> None:
        async with self._lock:
            self._client = None
            await self._stack.aclose()

    async def _route53(self) -> Route53Client:
        async with self._lock:
            if self._client is None:
                config = AioConfig(
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                )
                self._client = await self._stack.enter_async_context(
                    self._session.client(
                        "route53", endpoint_url=self._config.endpoint_url, config=config
                    )
                )
            return self._client

    async def _zone_id(self, client: Route53Client, zone: str) -> str:
        """The configured hosted zone, else the one named ``zone`` exactly (public first)."""
        if self._config.hosted_zone_id:
            return self._config.hosted_zone_id.removeprefix("/hostedzone/")
        found = await client.list_hosted_zones_by_name(DNSName=zone, MaxItems="100")
        named = [hz for hz in found["HostedZones"] if hz["Name"].lower() == zone]
        named.sort(key=lambda hz: hz.get("Config", {}).get("PrivateZone", False))
        if not named:
            raise DnsZoneNotFound(f"Route 53 has no hosted zone named {zone}", provider=NAME)
        return named[0]["Id"].removeprefix("/hostedzone/")


async def _txt_rrset(
    client: Route53Client, zone_id: str, fqdn: str
) -> ResourceRecordSetOutputTypeDef | None:
    """The TXT RRset at ``fqdn`` as Route 53 holds it, or None."""
    listed = await client.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=fqdn, StartRecordType="TXT", MaxItems="1"
    )
    for rrset in listed["ResourceRecordSets"]:
        if rrset["Name"].lower() == fqdn and rrset["Type"] == "TXT":
            return rrset
    return None


async def _change(
    client: Route53Client, zone_id: str, action: Literal["UPSERT", "DELETE"],
    rrset: ResourceRecordSetTypeDef,
) -> None:
    changed = await client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Comment": CHANGE_COMMENT,
            "Changes": [{"Action": action, "ResourceRecordSet": rrset}],
        },
    )
    await _wait_insync(client, changed["ChangeInfo"]["Id"])


async def _wait_insync(client: Route53Client, change_id: str) -> None:
    """Poll ``GetChange`` (at least once) until INSYNC, backing off, up to the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + INSYNC_TIMEOUT_SECONDS
    delay = INSYNC_FIRST_POLL_SECONDS
    while True:
        change = await client.get_change(Id=change_id)
        if change["ChangeInfo"]["Status"] == "INSYNC":
            return
        if loop.time() + delay > deadline:
            raise DnsProviderUnavailable(
                f"Route 53 change {change_id} not INSYNC after {INSYNC_TIMEOUT_SECONDS:.0f}s",
                provider=NAME,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, INSYNC_MAX_POLL_SECONDS)


def translate(exc: ClientError) -> DnsProviderError:
    """An AWS error answer as a problem: the AWS code and message kept as the detail."""
    code, message = _code_and_message(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    detail = f"Route 53 {code or status}: {message}"
    if code in _AUTH_CODES or status in (401, 403):
        return DnsProviderAuth(detail, provider=NAME)
    if code in _ZONE_CODES:
        return DnsZoneNotFound(detail, provider=NAME)
    if code in _BUSY_CODES or status == 429 or status >= 500:
        return DnsProviderUnavailable(detail, provider=NAME)
    return DnsProviderError(detail, provider=NAME)


def _code_and_message(exc: ClientError) -> tuple[str, str]:
    """Route 53's ``<Error>``, or the ``<Errors><Error>`` form some AWS front ends (and moto's
    IAM check) answer with, which the route53 parser leaves unmapped."""
    response: Mapping[str, Any] = cast("Mapping[str, Any]", exc.response)
    for error in (response.get("Error"), (response.get("Errors") or {}).get("Error")):
        if isinstance(error, Mapping) and error.get("Code"):
            return str(error["Code"]), str(error.get("Message") or exc)
    return "", str(exc)


@contextmanager
def _boundary() -> Iterator[None]:
    """Everything botocore, aiohttp or the network raises, as a problem."""
    try:
        yield
    except ClientError as exc:
        raise translate(exc) from exc
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as exc:
        raise DnsProviderAuth(f"Route 53: no usable AWS credentials: {exc}",
                              provider=NAME) from exc
    except (ConnectionError, HTTPClientError, ResponseParserError, aiohttp.ClientError,
            OSError, TimeoutError) as exc:
        raise DnsProviderUnavailable(f"Route 53 unreachable: {exc}", provider=NAME) from exc
    except BotoCoreError as exc:
        raise DnsProviderError(f"Route 53: {exc}", provider=NAME) from exc


_check: type[DnsProvider] = Route53Provider
