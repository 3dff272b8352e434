"""Opens ACME conversations with the process's TLS trust and timeout, caches each CA's
directory, and asks a CA for a certificate's renewal window (RFC 9773), which needs no
account. One per process (see :mod:`shared.runtime`); a conversation serves one job at a
time and is kept for the account's next job (:mod:`shared.acme_pool`)."""

from __future__ import annotations

from collections.abc import Sequence

import requests
from acme import messages

from shared.acme_ari import RenewalWindow, ari_id_of_chain, parse_renewal_info
from shared.acme_directory import parse_directory
from shared.acme_errors import ResponseRecorder, parse_retry_after, translate
from shared.acme_gateway import USER_AGENT, AcmeGateway, renewal_info_base
from shared.acme_http import GuardedTransport, IPNetwork
from shared.acme_pool import ConversationPool, PoolKey


class AcmeClients:
    """Opens gateways with the process's TLS trust and timeout; caches each CA's directory."""

    def __init__(
        self,
        *,
        ca_bundle: str | None,
        request_timeout: int,
        allowed_networks: Sequence[IPNetwork] = (),
    ) -> None:
        self._verify: str | bool = ca_bundle or True
        self._timeout = request_timeout
        self._allowed = tuple(allowed_networks)
        self._directories: dict[str, messages.Directory] = {}
        self._idle: ConversationPool[AcmeGateway] = ConversationPool()

    async def directory(self, directory_url: str) -> messages.Directory:
        """The CA's directory, fetched once per process through the guarded transport."""
        cached = self._directories.get(directory_url)
        if cached is None:
            cached = await translate(ResponseRecorder(), self._fetch_directory, directory_url)
            self._directories[directory_url] = cached
        return cached

    def _fetch_directory(self, directory_url: str) -> messages.Directory:
        return parse_directory(self._get(directory_url).content)

    async def renewal_info(self, directory_url: str, chain_pem: str) -> RenewalWindow | None:
        """The CA's ARI window for the chain's leaf (RFC 9773), None when the CA's directory
        has no ``renewalInfo`` or the leaf cannot be named (no Authority Key Identifier).
        An unauthenticated GET: no account key is needed."""
        base = renewal_info_base(await self.directory(directory_url))
        cert_id = None if base is None else ari_id_of_chain(chain_pem)
        if cert_id is None:
            return None
        return await translate(ResponseRecorder(), self._fetch_renewal_info, f"{base}/{cert_id}")

    def _fetch_renewal_info(self, url: str) -> RenewalWindow:
        response = self._get(url)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return parse_renewal_info(response.json(), retry_after)

    def _get(self, url: str) -> requests.Response:
        """One GET through the guarded transport; an error status raises."""
        transport = GuardedTransport(self._allowed, self._verify)
        try:
            response = transport.send("GET", url, {"User-Agent": USER_AGENT}, None,
                                      self._timeout)
        finally:
            transport.close()
        response.raise_for_status()
        return response

    async def open(
        self, directory_url: str, key_pem: bytes, account_url: str | None
    ) -> AcmeGateway:
        """A conversation for this account: an idle one of its own, or a new one. Close it
        when done; it is kept for the account's next job."""
        gateway = self._idle.take(PoolKey.of(directory_url, key_pem, account_url))
        if gateway is None:
            directory: messages.Directory | str = self._directories.get(
                directory_url, directory_url)
            gateway = await AcmeGateway.connect(
                directory, key_pem, account_url=account_url, verify=self._verify,
                request_timeout=self._timeout, allowed_networks=self._allowed,
            )
            self._directories[directory_url] = gateway.directory

        def release(done: AcmeGateway) -> None:
            # Keyed by the account it ends with: a gateway that registered one goes back
            # under that account's URL.
            self._idle.give(PoolKey.of(directory_url, key_pem, done.account_url), done)

        gateway.release = release
        return gateway

    def close(self) -> None:
        """Close every idle conversation (when the process stops)."""
        self._idle.close()
