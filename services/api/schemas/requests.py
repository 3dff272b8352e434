from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field

from services.api.schemas.common import (
    ApiModel,
    CurveField,
    KeySizeField,
    PageOf,
    StoredProblem,
)
from shared.chains import PREFERRED_CHAIN_LENGTH
from shared.choices import ChallengeType, KeyType, ValidationMode
from shared.names import MAX_NAMES
from shared.states import AuthzStatus, RequestStatus


class CertificateRequestCreate(ApiModel):
    # Name rules (length, labels, suffixes) give one `invalid-names` problem listing every
    # refused name; the schema only bounds the size of what it accepts at all.
    common_name: str = Field(min_length=1, max_length=1024, examples=["www.example.com"])
    subject_alternative_names: list[Annotated[str, Field(max_length=1024)]] = Field(
        default_factory=list, max_length=4 * MAX_NAMES, examples=[["example.com"]]
    )
    key_type: KeyType = KeyType.RSA
    key_size: KeySizeField = Field(None, description="RSA only: 2048 (default), 3072 or 4096")
    curve: CurveField = Field(None, description="EC only: p-256 (default) or p-384")
    challenge_type: ChallengeType = ChallengeType.HTTP_01
    validation: ValidationMode = ValidationMode.AUTOMATIC
    dns_provider_id: UUID | None = None
    acme_account_id: UUID | None = Field(
        None, description="Defaults to the only account; required when there are several"
    )
    auto_renew: bool = True
    profile: str | None = Field(
        None, min_length=1, max_length=64,
        description="An ACME profile the CA's directory lists (meta.profiles), e.g. tlsserver",
    )
    preferred_chain: str | None = Field(
        None, min_length=1, max_length=PREFERRED_CHAIN_LENGTH,
        description="Of the chains the CA offers, keep as the default the one whose topmost "
        "certificate's issuer has this common name (e.g. ISRG Root X1); no match: the CA's "
        "default. Renewals inherit it",
    )


class ChallengePublic(ApiModel):
    identifier: str
    wildcard: bool
    type: ChallengeType
    status: AuthzStatus = Field(validation_alias="authz_status")
    token: str | None
    key_authorization: str | None = Field(
        None, description="http-01: the body to serve at /.well-known/acme-challenge/{token}"
    )
    txt_name: str | None = Field(None, description="dns-01: the TXT record name")
    txt_value: str | None = Field(None, description="dns-01: the TXT record value")
    answered_at: datetime | None = Field(None, description="When the CA was told to validate")
    record_name: str | None = Field(
        None, description="automatic dns-01: where the record is written (after CNAMEs)"
    )
    zone: str | None = Field(None, description="automatic dns-01: the zone written to")
    presented_at: datetime | None = None
    propagated_at: datetime | None = Field(
        None, description="automatic dns-01: when every server served the record"
    )
    cleaned_at: datetime | None = None
    cleanup_error: StoredProblem = Field(
        None, description="automatic dns-01: the last problem removing the record (retried)"
    )
    error: StoredProblem = Field(description="The CA's problem when validation failed")


class CertificateRequestPublic(ApiModel):
    id: UUID
    status: RequestStatus
    common_name: str
    names: list[str]
    key_type: KeyType
    key_size: KeySizeField
    curve: CurveField
    challenge_type: ChallengeType
    validation: ValidationMode
    dns_provider_id: UUID | None
    acme_account_id: UUID
    auto_renew: bool
    lineage_id: UUID
    created_by_token_id: UUID | None = Field(
        None, description="The token that asked for it (null: the renewer did)"
    )
    created_by_name: str | None = Field(None, description="That token's (or process's) name")
    replaces_certificate_id: UUID | None = Field(
        description="For a renewal: the certificate it replaces"
    )
    profile: str | None = Field(None, description="The ACME profile sent in newOrder")
    preferred_chain: str | None = Field(
        None, description="The issuer common name of the preferred chain's top"
    )
    challenges: list[ChallengePublic]
    certificate_id: UUID | None
    error: StoredProblem = Field(description="A problem object when the request failed")
    last_error: StoredProblem = Field(
        description="The last transient error; the request is being retried"
    )
    retry_not_before: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class CertificateRequestPage(PageOf[CertificateRequestPublic]):
    """A page of certificate requests."""
