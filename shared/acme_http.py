"""The transport under every ACME call: https only, no internal addresses, bounded answers.

A directory URL comes from an admin, and every other URL from the CA (the directory, orders,
Location headers): any of them may point at an internal service. So the check lives in the
connection itself: the host is resolved, every address is checked, and the socket connects
to exactly the addresses that were checked (no second lookup a rebinding DNS could answer
differently). Loopback, link-local, private, unique-local, multicast, unspecified, reserved
and other non-global addresses are refused unless ``CERTKEEPER_ACME_ALLOWED_NETWORKS``
holds them. Every answer is read here, at most ``MAX_RESPONSE_BYTES``, before ``requests``
or ``acme`` touch it. ``acme`` runs in threads, so blocking lookups are fine here.
"""

from __future__ import annotations

import io
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from shared.errors import AcmeError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A chain for 100 names of 253 bytes is under 100 KiB; nothing legitimate comes near this.
MAX_RESPONSE_BYTES = 1 << 20
_CHUNK = 64 << 10


class AcmeAddressRefused(AcmeError):
    """An ACME URL is not https, or its host resolves to an address that is not allowed."""

    slug = "acme-address-refused"
    title = "The ACME URL points at a scheme or address Certkeeper may not contact"
    status = 422

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retryable=False)


class AcmeResponseTooLarge(AcmeError):
    slug = "acme-response-too-large"
    title = "The ACME server's answer was too large"
    status = 502

    def __init__(self, detail: str) -> None:
        super().__init__(detail, retryable=True)


def refusal(address: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why ``address`` may not be contacted (None: it may)."""
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return None
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if address.is_global else "not-global"


def checked_addresses(
    host: str, port: int, allowed: Sequence[IPNetwork]
) -> list[tuple[int, Any]]:
    """Resolve ``host`` and return (family, sockaddr) pairs, all of them allowed.

    Raises :class:`AcmeAddressRefused` when any address is refused and ``socket.gaierror``
    when the name does not resolve.
    """
    found = socket.getaddrinfo(host.strip("[]"), port, allowed_gai_family(), socket.SOCK_STREAM)
    for _family, _type, _proto, _name, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = refusal(address, allowed)
        if reason is not None:
            raise AcmeAddressRefused(
                f"{host} resolves to {address} ({reason}); allow it in "
                "CERTKEEPER_ACME_ALLOWED_NETWORKS if this CA is meant to be internal"
            )
    return [(family, sockaddr) for family, _type, _proto, _name, sockaddr in found]


def _connect(
    addresses: list[tuple[int, Any]], timeout: float | None, options: Sequence[Any] | None
) -> socket.socket:
    last: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for option in options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError("no address to connect to")


def _pool_class(allowed: Sequence[IPNetwork]) -> type[HTTPSConnectionPool]:
    class GuardedConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            try:
                addresses = checked_addresses(self._dns_host, self.port, allowed)
            except socket.gaierror as exc:
                raise NameResolutionError(self.host, self, exc) from exc
            timeout = self.timeout if isinstance(self.timeout, int | float) else None
            try:
                return _connect(addresses, timeout, self.socket_options)
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"connecting to {self.host} timed out") from exc
            except OSError as exc:
                raise NewConnectionError(self, f"could not connect: {exc}") from exc

    class GuardedPool(HTTPSConnectionPool):
        ConnectionCls = GuardedConnection

    return GuardedPool


class GuardedAdapter(HTTPAdapter):
    """``requests`` adapter for ACME traffic: https only, addresses checked, answers capped."""

    def __init__(self, allowed: Sequence[IPNetwork], max_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self._allowed = tuple(allowed)
        self._max_bytes = max_bytes
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"https": _pool_class(self._allowed)}

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        scheme = urlsplit(request.url or "").scheme
        if scheme != "https":
            raise AcmeAddressRefused(f"ACME URLs must be https, not {scheme or 'schemeless'}")
        response = super().send(request, *args, **kwargs)
        try:
            body = read_capped(response.raw, self._max_bytes)
        except AcmeResponseTooLarge:
            response.close()  # drops the connection: the rest is never read
            raise
        response.raw = io.BytesIO(body)
        return response


def read_capped(raw: Any, max_bytes: int) -> bytes:
    """Read a urllib3 response (decoded) to its end, refusing more than ``max_bytes``."""
    parts: list[bytes] = []
    size = 0
    for chunk in raw.stream(_CHUNK, decode_content=True):
        size += len(chunk)
        if size > max_bytes:
            raise AcmeResponseTooLarge(f"the ACME server sent more than {max_bytes} bytes")
        parts.append(chunk)
    return b"".join(parts)


def guard_session(session: requests.Session, allowed: Sequence[IPNetwork]) -> None:
    """Route every request of ``session`` through a :class:`GuardedAdapter`; ignore
    environment proxies and netrc (a proxy would connect where the guard cannot see)."""
    session.trust_env = False
    adapter = GuardedAdapter(allowed)
    for prefix in ("https://", "http://"):
        session.mount(prefix, adapter)
