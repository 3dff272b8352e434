"""What a delivery gets and how it fails: the seam between the deployer and each target kind
that the issuer delivers itself (agents deliver their own, through tasks)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import Problem


class DeliveryFailed(Problem):
    """The target refused or could not be reached. Always tried again after a backoff."""

    slug = "deployment-failed"
    title = "The certificate could not be delivered to the target"
    status = 502
    retryable = True


@dataclass(frozen=True, slots=True)
class Material:
    certificate_id: str
    serial: str
    names: list[str]
    cert_pem: str
    chain_pem: str
    fullchain_pem: str
    key_pem: str
