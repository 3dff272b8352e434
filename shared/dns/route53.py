"""Amazon Route 53 (aioboto3), with real Route 53 semantics (lego's ``route53.go``).

``present`` reads the TXT RRset at the name and UPSERTs it with our value added; ``cleanup``
UPSERTs the other values, or DELETEs the RRset exactly as it is (name, TTL and every value
must match) when ours was the only one. Every change is then followed with ``GetChange``
until Route 53 reports it ``INSYNC`` on all of its servers (bounded, never blocking the loop).

The IAM actions used are ``route53:ListHostedZonesByName`` (only without ``hosted_zone_id``),
``route53:ListResourceRecordSets``, ``route53:ChangeResourceRecordSets`` and
``route53:GetChange``. Without ``access_key_id``/``secret_access_key`` the process's ambient
AWS credentials are used (environment, profile, an EKS service account's web identity).
SDK retries are off: one call, one attempt; the issuer retries retryable problems with backoff.

This module holds what a provider is configured with; the client is in
:mod:`shared.dns.route53_client`, imported only when a Route 53 provider is built: botocore
and aioboto3 take about 45 MB of memory in every process that imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.dns.base import ProviderKind

if TYPE_CHECKING:
    from shared.dns.base import DnsProvider

NAME = "route53"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9-]+$")
    hosted_zone_id: str | None = Field(None, min_length=1, max_length=64)
    endpoint_url: str | None = Field(None, pattern=r"^https?://[^\s]+$", max_length=2048)


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> Credentials:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError(
                "give both access_key_id and secret_access_key, or neither (ambient credentials)"
            )
        return self


def _build(config: Config, credentials: Credentials) -> DnsProvider:
    from shared.dns.route53_client import Route53Provider  # imported here: see above

    return Route53Provider(config, credentials)


KIND = ProviderKind(name=NAME, config=Config, credentials=Credentials, build=_build)
