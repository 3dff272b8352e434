from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import EmailStr, Field, HttpUrl, SecretStr

from services.api.schemas.common import ApiModel
from shared.states import AccountStatus


class AcmeAccountCreate(ApiModel):
    directory_url: HttpUrl | None = Field(
        None, description="ACME directory; defaults to CERTKEEPER_ACME_DIRECTORY_URL"
    )
    contact_email: EmailStr | None = None
    terms_of_service_agreed: bool = Field(description="Must be true: you agree to the CA's terms")
    eab_kid: str | None = Field(None, min_length=1, max_length=255)
    eab_hmac_key: SecretStr | None = Field(None, min_length=1, max_length=1024)


class AcmeAccountPublic(ApiModel):
    id: UUID
    directory_url: str
    contact_email: str | None
    terms_of_service_agreed: bool
    eab_kid: str | None
    status: AccountStatus
    account_url: str
    created_at: datetime
