"""DNS providers, their self-test, and domain mappings. Secrets are write-only: reads show
the names of the secret fields that hold a value."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, SecretStr

from services.api.schemas.common import ApiModel, PageOf
from shared.models.dns import (
    ABSOLUTE_NAME_LENGTH,
    PROVIDER_KIND_LENGTH,
    PROVIDER_NAME_LENGTH,
)

ProviderName = Annotated[
    str, Field(min_length=1, max_length=PROVIDER_NAME_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$")
]
FieldName = Annotated[str, Field(min_length=1, max_length=64)]
Config = Annotated[
    dict[FieldName, Any],
    Field(max_length=32, description="The kind's plain settings (see README)"),
]
Credentials = Annotated[
    dict[FieldName, Annotated[SecretStr, Field(max_length=8192)]],
    Field(max_length=16, description="The kind's secret fields; write-only"),
]
DomainName = Annotated[str, Field(min_length=1, max_length=1024, examples=["example.com"])]
AbsoluteName = Annotated[str, Field(min_length=1, max_length=ABSOLUTE_NAME_LENGTH)]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=1024)]


class DnsProviderCreate(ApiModel):
    name: ProviderName
    kind: str = Field(max_length=PROVIDER_KIND_LENGTH, examples=["rfc2136"])
    enabled: bool = True
    config: Config = Field(default_factory=dict)
    credentials: Credentials = Field(default_factory=dict)


class DnsProviderUpdate(ApiModel):
    """Fields left out stay as they are; ``config`` or ``credentials`` replace the whole
    object and are validated with the rest."""

    name: ProviderName | None = None
    enabled: bool | None = None
    config: Config | None = None
    credentials: Credentials | None = None


class DnsProviderPublic(ApiModel):
    id: UUID
    name: str
    kind: str
    enabled: bool
    config: dict[str, Any]
    credentials_set: list[str] = Field(description="Secret fields holding a value")
    created_at: datetime
    updated_at: datetime


class ProviderTestRequest(ApiModel):
    domain: DomainName = Field(description="A name the provider serves; the probe goes where "
                               "its dns-01 challenge record would")


class ProviderTestStep(ApiModel):
    step: Literal["present", "propagation", "cleanup"]
    ok: bool
    seconds: float
    detail: str


class ProviderTestReport(ApiModel):
    ok: bool
    steps: list[ProviderTestStep]


class DomainMappingCreate(ApiModel):
    domain: DomainName = Field(description="This name and every name under it")
    dns_provider_id: UUID | None = Field(None, description="dns-01 for these names")
    agent_id: UUID | None = Field(None, description="http-01 for these names, via this agent")
    zone: AbsoluteName | None = Field(None, description="RFC 2136: the zone to update")
    tsig_key_name: AbsoluteName | None = Field(None, description="RFC 2136: the TSIG key")
    tsig_secret: Secret | None = Field(None, description="RFC 2136: base64; write-only")


class DomainMappingUpdate(ApiModel):
    """Fields left out stay as they are; ``null`` clears an override."""

    domain: DomainName | None = None
    dns_provider_id: UUID | None = None
    agent_id: UUID | None = None
    zone: AbsoluteName | None = None
    tsig_key_name: AbsoluteName | None = None
    tsig_secret: Secret | None = None


class DomainMappingPublic(ApiModel):
    id: UUID
    domain: str
    dns_provider_id: UUID | None
    agent_id: UUID | None
    zone: str | None
    tsig_key_name: str | None
    secret_set: list[str] = Field(description="Secret fields holding a value")
    created_at: datetime
    updated_at: datetime


class DnsProviderPage(PageOf[DnsProviderPublic]):
    """A page of DNS providers."""


class DomainMappingPage(PageOf[DomainMappingPublic]):
    """A page of domain mappings."""
