"""The transport under every ACME call: https only, no internal addresses, bounded answers.

A directory URL comes from an admin, and every other URL from the CA (the directory, orders,
Location headers): any of them may point at an internal service. So the check lives in the
connection itself: the host is resolved, every address is checked, and the socket connects
to exactly the addresses that were checked (no second lookup a rebinding DNS could answer
differently). Loopback, link-local, private, unique-local, multicast, unspecified, reserved
and other non-global addresses are refused unless ``CERTKEEPER_ACME_ALLOWED_NETWORKS``
holds them. Every answer is read here, at most ``MAX_RESPONSE_BYTES``, before ``acme``
touches it. ``acme`` runs in threads, so blocking lookups are fine here.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions as urllib3_errors
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_encoding_from_headers
from urllib3 import BaseHTTPResponse, PoolManager
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import Retry, Timeout
from urllib3.util.connection import allowed_gai_family

from shared.errors import AcmeError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A chain for 100 names of 253 bytes is under 100 KiB; nothing legitimate comes near this.
MAX_RESPONSE_BYTES = 1 << 20
_CHUNK = 64 << 10
# As requests' adapter: connections kept per CA host, CA hosts kept, and no retries of its
# own (acme retries a refused nonce, the job's schedule the rest); a failed read is raised.
CONNECTIONS_PER_HOST = 10
POOLS = 10
NO_RETRIES = Retry(0, read=False)


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


class GuardedTransport:
    """ACME requests sent on urllib3 itself: https only, addresses checked, answers read
    whole and capped here, urllib3's errors raised as the ``requests`` errors that ``acme``
    and :mod:`shared.acme_errors` know (as ``requests``' own adapter raises them), and the
    answer handed back as a ``requests.Response``, which ``acme`` reads. ``requests``'
    Session and adapter (preparing, merging settings, hooks, cookies, redirects, building
    the answer) cost the issuer a tenth of its CPU in a burst, for nothing ACME uses.
    Redirects are not followed: RFC 8555 has none."""

    def __init__(self, allowed: Sequence[IPNetwork], verify: str | bool,
                 max_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self._max_bytes = max_bytes
        trust: dict[str, Any] = {"cert_reqs": "CERT_NONE"}
        if verify is not False:
            bundle = DEFAULT_CA_BUNDLE_PATH if verify is True else verify
            trust = {"cert_reqs": "CERT_REQUIRED", **(
                {"ca_cert_dir": bundle} if os.path.isdir(bundle) else {"ca_certs": bundle})}
        self._pools = PoolManager(num_pools=POOLS, maxsize=CONNECTIONS_PER_HOST, **trust)
        self._pools.pool_classes_by_scheme = {"https": _pool_class(tuple(allowed))}

    def send(self, method: str, url: str, headers: Mapping[str, str],
             body: bytes | None, timeout: float) -> requests.Response:
        """One request; its answer read to the end (at most ``max_bytes``)."""
        scheme = urlsplit(url).scheme
        if scheme != "https":
            raise AcmeAddressRefused(f"ACME URLs must be https, not {scheme or 'schemeless'}")
        began = time.perf_counter()
        try:
            answer = self._pools.urlopen(
                method, url, body=body, headers=dict(headers), redirect=False,
                assert_same_host=False, retries=NO_RETRIES, preload_content=False,
                decode_content=False, timeout=Timeout(connect=timeout, read=timeout))
        except (urllib3_errors.HTTPError, OSError) as exc:
            raise _sending_failed(exc, url) from exc
        try:
            content = read_capped(answer, self._max_bytes)
        except AcmeResponseTooLarge:
            answer.close()  # drops the connection: the rest is never read
            raise
        except (urllib3_errors.HTTPError, OSError) as exc:
            answer.close()
            raise _reading_failed(exc, url) from exc
        finally:
            answer.release_conn()
        return _response(method, url, answer, content, time.perf_counter() - began)

    def close(self) -> None:
        self._pools.clear()


def _response(method: str, url: str, answer: BaseHTTPResponse, content: bytes,
              elapsed: float) -> requests.Response:
    request = requests.PreparedRequest()
    request.method, request.url = method, url
    response = requests.Response()
    response.status_code = answer.status
    response.headers = CaseInsensitiveDict(answer.headers)
    response.encoding = get_encoding_from_headers(response.headers)
    response.reason = answer.reason or ""
    response.url = url
    response.request = request
    response.elapsed = timedelta(seconds=elapsed)
    response._content = content
    return response


def _sending_failed(exc: Exception, url: str) -> requests.RequestException:
    """urllib3's error while sending, as ``requests.adapters.HTTPAdapter.send`` raises it."""
    if isinstance(exc, urllib3_errors.MaxRetryError):
        reason = exc.reason
        if isinstance(reason, urllib3_errors.ConnectTimeoutError):
            return requests.exceptions.ConnectTimeout(reason, request=None)
        if isinstance(reason, urllib3_errors.SSLError):
            return requests.exceptions.SSLError(reason)
        return requests.exceptions.ConnectionError(reason or exc)
    if isinstance(exc, urllib3_errors.SSLError):
        return requests.exceptions.SSLError(exc)
    if isinstance(exc, urllib3_errors.ReadTimeoutError):
        return requests.exceptions.ReadTimeout(exc)
    if isinstance(exc, urllib3_errors.LocationParseError):
        return requests.exceptions.InvalidURL(f"{url}: {exc}")
    return requests.exceptions.ConnectionError(exc)


def _reading_failed(exc: Exception, url: str) -> requests.RequestException:
    """urllib3's error while reading an answer, as ``requests.Response.iter_content``
    raises it (an answer cut short is a ``ChunkedEncodingError``)."""
    if isinstance(exc, urllib3_errors.ProtocolError):
        return requests.exceptions.ChunkedEncodingError(exc)
    if isinstance(exc, urllib3_errors.DecodeError):
        return requests.exceptions.ContentDecodingError(exc)
    if isinstance(exc, urllib3_errors.SSLError):
        return requests.exceptions.SSLError(exc)
    return requests.exceptions.ConnectionError(f"reading the answer of {url}: {exc}")


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
