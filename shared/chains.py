"""Which of the chains a CA offers to keep as the default: ``preferred_chain`` names the
issuer of the chain's topmost certificate by its common name (what certbot's
``--preferred-chain``, lego's ``--preferred-chain`` and cert-manager's ``preferredChain``
mean). No match: the CA's default chain."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

PREFERRED_CHAIN_LENGTH = 255


def choose_chain(top_issuers: Sequence[str | None], preferred: str | None) -> int:
    """The index of the first chain whose topmost issuer CN is ``preferred``, else 0."""
    if preferred is not None:
        for index, issuer in enumerate(top_issuers):
            if issuer == preferred:
                return index
    return 0


def top_issuer_common_name(chain_pem: str) -> str | None:
    """The issuer CN of the last certificate of a PEM chain (None: none, or unreadable)."""
    try:
        top = x509.load_pem_x509_certificates(chain_pem.encode())[-1]
    except ValueError:
        return None
    names = top.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def order_chains(chains: Sequence[str], preferred: str | None) -> tuple[str, list[str]]:
    """The chain to serve by default and the others, in the CA's order."""
    chosen = choose_chain([top_issuer_common_name(c) for c in chains], preferred)
    return chains[chosen], [c for i, c in enumerate(chains) if i != chosen]
