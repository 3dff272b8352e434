"""What the issuer needs from an ACME client, as Protocols (cert-manager's
``pkg/acme/client/interfaces.go``): a job opens a conversation through a connector and
closes it when done; the connector may keep it for the account's next job.

``AcmeGateway`` and ``AcmeClients`` are the real implementations; tests drive the issuer
with a scripted fake. The assignments at the end make mypy prove the real classes conform
(lego's ``var _ challenge.Provider = (*DNSProvider)(nil)``).
"""

from __future__ import annotations

from typing import Protocol

from shared.acme_clients import AcmeClients
from shared.acme_gateway import AcmeGateway
from shared.acme_resources import AuthorizationInfo, DownloadedChain, OrderInfo
from shared.choices import ChallengeType


class AcmeConversation(Protocol):
    """One account's conversation with a CA, used by one job at a time."""

    async def new_order(
        self, csr_pem: bytes, *, profile: str | None = None, replaces: str | None = None
    ) -> OrderInfo:
        """Place an order (in an ACME ``profile``; ``replaces``: the RFC 9773 identifier of
        the certificate it renews); the answer carries its authorizations."""
        ...

    async def fetch_order(self, order_url: str) -> OrderInfo:
        """The order as the CA sees it now (``authorizations`` left empty)."""
        ...

    async def fetch_authorization(self, authz_url: str) -> AuthorizationInfo: ...

    async def answer(self, challenge_type: ChallengeType, challenge_url: str) -> None:
        """Tell the CA the challenge is ready to be validated."""
        ...

    async def finalize(self, order_url: str, finalize_url: str, csr_pem: bytes) -> OrderInfo: ...

    async def download(self, certificate_url: str) -> DownloadedChain: ...

    @property
    def has_renewal_info(self) -> bool:
        """Whether the CA serves ARI (RFC 9773), so an order may carry ``replaces``."""
        ...

    def key_authorization(self, token: str) -> str:
        """The token joined to the account key's thumbprint (RFC 8555 8.1)."""
        ...

    def close(self) -> None: ...


class AcmeConnector(Protocol):
    """Opens conversations: each serves one job at a time, never two jobs at once."""

    async def open(
        self, directory_url: str, key_pem: bytes, account_url: str | None
    ) -> AcmeConversation: ...


_conversation: type[AcmeConversation] = AcmeGateway
_connector: type[AcmeConnector] = AcmeClients
