"""The agent's HTTP client for the Certkeeper API: https trusting the configured CA bundle
(plain http only to a loopback address), bearer auth, errors translated to :class:`ApiError`."""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx


class ApiError(Exception):
    """The API refused (``status`` set) or could not be reached (``status`` None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def refused_credential(self) -> bool:
        return self.status == 401


def check_server_url(url: str) -> str:
    """``url`` without a trailing slash; https, or http to a loopback address only."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return url.rstrip("/")
    raise ValueError(f"--server must be https:// (plain http only for a loopback address): "
                     f"{url}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _verify(ca_bundle: str | None) -> ssl.SSLContext | bool:
    return ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True


class ApiClient:
    def __init__(self, server: str, token: str, ca_bundle: str | None, *,
                 timeout: float = 90.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=check_server_url(server), verify=_verify(ca_bundle), timeout=timeout,
            headers={"Authorization": f"Bearer {token}",
                     "User-Agent": "certkeeper-agent/0.1"},
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError(f"{method} {path}: {response.status_code} {response.text[:500]}",
                           response.status_code)
        return response

    async def aclose(self) -> None:
        await self._client.aclose()
