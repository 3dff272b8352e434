"""The provider seam (lego's ``Present/CleanUp``, cert-manager's solver interface).

``present`` adds our value to the TXT RRset at ``fqdn`` and ``cleanup`` removes only our
value, deleting the RRset only when it becomes empty, so an apex and a wildcard validated in
one order (two values under one name) coexist. Both are idempotent and stateless: nothing is
carried in memory between them, so a cleanup after a crash or on another replica works.
Names are absolute and lower-case with a trailing dot (``_acme-challenge.example.com.``);
``zone`` is the zone that holds ``fqdn`` (found by SOA, after CNAMEs were followed).

Errors are translated at the provider's boundary into the problems below: nothing a client
library raises escapes a provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from shared.errors import Problem


@dataclass(frozen=True, slots=True)
class ProviderTimings:
    """Named defaults a provider brings: the TTL it writes, how long its changes may take to
    be served by every authoritative server, and how often to look meanwhile."""

    ttl: int = 60
    propagation_timeout_seconds: float = 600.0
    polling_interval_seconds: float = 2.0


class DnsProvider(Protocol):
    timings: ProviderTimings

    async def present(self, zone: str, fqdn: str, value: str) -> None:
        """Add ``value`` to the TXT RRset at ``fqdn`` (a no-op if it is there already)."""
        ...

    async def cleanup(self, zone: str, fqdn: str, value: str) -> None:
        """Remove ``value`` from the TXT RRset at ``fqdn``; other values stay. A no-op if it
        is not there."""
        ...

    async def aclose(self) -> None:
        """Release connections; the provider is not used afterwards."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """``config`` holds plain settings (shown on reads); ``credentials`` holds the secret
    fields (``SecretStr``; sealed at rest, write-only). ``build`` makes a provider from
    validated instances of both."""

    name: str
    config: type[BaseModel]
    credentials: type[BaseModel]
    build: Callable[[Any, Any], DnsProvider]


class DnsProviderError(Problem):
    """A DNS provider refused or failed. ``retryable`` tells the issuer whether to try again
    (throttling, 5xx, timeouts) or to fail the request (bad credentials, no such zone)."""

    slug = "dns-provider-error"
    title = "The DNS provider refused the change"
    status = 502

    def __init__(
        self, detail: str, *, provider: str | None = None, retryable: bool = False,
        **extensions: Any,
    ) -> None:
        if provider is not None:
            extensions["provider"] = provider
        super().__init__(detail, **extensions)
        self.retryable = retryable


class DnsProviderAuth(DnsProviderError):
    slug = "dns-provider-auth"
    title = "The DNS provider refused the credentials"


class DnsZoneNotFound(DnsProviderError):
    slug = "dns-zone-not-found"
    title = "The DNS provider has no zone for this name"


class DnsProviderUnavailable(DnsProviderError):
    """Throttled, 5xx, timed out or unreachable: always retryable."""

    slug = "dns-provider-unavailable"
    title = "The DNS provider could not be reached"
    status = 503

    def __init__(self, detail: str, *, provider: str | None = None, **extensions: Any) -> None:
        super().__init__(detail, provider=provider, retryable=True, **extensions)
