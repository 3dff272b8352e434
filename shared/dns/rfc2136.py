"""RFC 2136 dynamic update signed with TSIG (RFC 8945): BIND, PowerDNS, Knot.

``present`` sends an update that adds our value to the TXT RRset (adding a value that is
there already changes nothing, RFC 2136 §3.4.2.2); ``cleanup`` deletes exactly that value
(the server drops the RRset when its last value goes). Both travel over TCP with
dnspython's asyncio query, so nothing blocks the event loop. The zone updated is the
config's ``zone`` when set, else the one the caller found by SOA.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import socket

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.update
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from shared.dns.base import (
    DnsProvider,
    DnsProviderAuth,
    DnsProviderError,
    DnsProviderUnavailable,
    DnsZoneNotFound,
    ProviderKind,
    ProviderTimings,
)
from shared.dns_lookup import describe, split_host_port

UPDATE_SECONDS = 10.0
# The primary serves an update at once; secondaries follow on NOTIFY within seconds.
TIMINGS = ProviderTimings(ttl=60, propagation_timeout_seconds=300.0, polling_interval_seconds=1.0)
DEFAULT_ALGORITHM = "hmac-sha256"
ALGORITHMS: dict[str, dns.name.Name] = {
    algorithm.to_text(omit_final_dot=True): algorithm
    for algorithm in (
        dns.tsig.HMAC_SHA256, dns.tsig.HMAC_SHA384, dns.tsig.HMAC_SHA512, dns.tsig.HMAC_SHA224,
        dns.tsig.HMAC_SHA1, dns.tsig.HMAC_MD5, dns.tsig.HMAC_SHA256_128,
        dns.tsig.HMAC_SHA384_192, dns.tsig.HMAC_SHA512_256,
    )
} | {"hmac-md5": dns.tsig.HMAC_MD5}  # BIND's tsig-keygen spells it so
_FAULTS = (dns.exception.Timeout, OSError, EOFError)
_TSIG_REFUSED = (dns.tsig.PeerError, dns.message.UnknownTSIGKey, dns.message.BadTSIG)


def _absolute_name(value: str, field: str) -> str:
    try:
        return dns.name.from_text(value.strip()).to_text().lower()
    except dns.exception.DNSException:
        raise ValueError(f"{field} is not a DNS name") from None


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str  # host, host:port or [v6]:port; the port defaults to 53
    tsig_key_name: str
    tsig_algorithm: str = DEFAULT_ALGORITHM
    zone: str | None = None

    @field_validator("server")
    @classmethod
    def _server(cls, value: str) -> str:
        split_host_port(value)
        return value.strip()

    @field_validator("tsig_key_name")
    @classmethod
    def _key_name(cls, value: str) -> str:
        return _absolute_name(value, "tsig_key_name")

    @field_validator("tsig_algorithm")
    @classmethod
    def _algorithm(cls, value: str) -> str:
        name = value.strip().lower().rstrip(".")
        if name not in ALGORITHMS:
            raise ValueError(f"use one of {', '.join(ALGORITHMS)}")
        return name

    @field_validator("zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_name(value, "zone")


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tsig_secret: SecretStr  # base64, as tsig-keygen prints it

    @field_validator("tsig_secret")
    @classmethod
    def _base64(cls, value: SecretStr) -> SecretStr:
        try:
            decoded = base64.b64decode(value.get_secret_value().strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("tsig_secret must be base64") from None
        if not decoded:
            raise ValueError("tsig_secret is empty")
        return value


class Rfc2136Provider:
    timings = TIMINGS

    def __init__(self, config: Config, credentials: Credentials) -> None:
        self._server = config.server
        self._host, self._port = split_host_port(config.server)
        self._zone = config.zone
        secret = credentials.tsig_secret.get_secret_value().strip()
        self._key = dns.tsig.Key(
            config.tsig_key_name, base64.b64decode(secret), ALGORITHMS[config.tsig_algorithm]
        )

    async def present(self, zone: str, fqdn: str, value: str) -> None:
        update = self._update(zone)
        update.add(dns.name.from_text(fqdn), self.timings.ttl, _txt(value))
        await self._send(update, f"adding TXT {fqdn}")

    async def cleanup(self, zone: str, fqdn: str, value: str) -> None:
        update = self._update(zone)
        update.delete(dns.name.from_text(fqdn), _txt(value))
        await self._send(update, f"deleting TXT {fqdn}")

    async def aclose(self) -> None:
        """Nothing to release: each update uses its own connection."""

    def _update(self, zone: str) -> dns.update.UpdateMessage:
        update = dns.update.UpdateMessage(self._zone or zone)
        update.use_tsig(self._key)
        return update

    async def _send(self, update: dns.update.UpdateMessage, what: str) -> None:
        where = f"rfc2136 server {self._server}"
        zone = update.origin.to_text() if update.origin is not None else "?"
        try:
            address = await self._address()
            response = await dns.asyncquery.tcp(
                update, address, timeout=UPDATE_SECONDS, port=self._port
            )
        except _TSIG_REFUSED as exc:
            raise DnsProviderAuth(
                f"{where} refused the TSIG key {self._key.name} ({type(exc).__name__}) "
                f"when {what} in zone {zone}"
            ) from None
        except _FAULTS as exc:
            raise DnsProviderUnavailable(f"{where}: {describe(exc)} when {what}") from None
        except dns.exception.FormError as exc:  # e.g. an unsigned answer to a signed update
            raise DnsProviderError(
                f"{where} sent an answer that cannot be verified ({type(exc).__name__}) "
                f"when {what}"
            ) from None
        except dns.exception.DNSException as exc:
            raise DnsProviderUnavailable(
                f"{where} sent an unusable answer ({type(exc).__name__}) when {what}"
            ) from None
        _check(response.rcode(), f"{where} answered {dns.rcode.to_text(response.rcode())} "
                                 f"when {what} in zone {zone}")

    async def _address(self) -> str:
        """The server's IP address; a host name is resolved without blocking the loop."""
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
        return str(infos[0][4][0])


def _txt(value: str) -> dns.rdtypes.ANY.TXT.TXT:
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [value.encode()])


def _check(rcode: dns.rcode.Rcode, detail: str) -> None:
    """Translate the update's (verified) answer: NOERROR passes, everything else is a
    problem. Key refusals never get here: dnspython raises on a BADKEY/BADSIG answer."""
    if rcode == dns.rcode.NOERROR:
        return
    if rcode in (dns.rcode.NOTZONE, dns.rcode.NXDOMAIN):
        raise DnsZoneNotFound(detail + " (the name is not in that zone)")
    if rcode == dns.rcode.NOTAUTH:
        # The answer's TSIG was verified (a refused key raises PeerBadKey/PeerBadSignature
        # before this), so NOTAUTH keeps its RFC 2136 meaning: not authoritative for the zone.
        raise DnsZoneNotFound(detail + " (the server does not serve that zone)")
    if rcode == dns.rcode.SERVFAIL:
        raise DnsProviderUnavailable(detail)
    if rcode == dns.rcode.REFUSED:
        raise DnsProviderError(detail + " (the key's update policy does not allow it)")
    raise DnsProviderError(detail)


def _build(config: Config, credentials: Credentials) -> DnsProvider:
    return Rfc2136Provider(config, credentials)


_check_protocol: type[DnsProvider] = Rfc2136Provider
KIND = ProviderKind(name="rfc2136", config=Config, credentials=Credentials, build=_build)
