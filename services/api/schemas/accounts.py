from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AnyUrl, Field, SecretStr, UrlConstraints

from services.api.schemas.common import ApiModel, CurveField, KeySizeField, PageOf
from shared.choices import KeyType
from shared.states import AccountStatus


def _valid_email(value: str) -> str:
    """Validate, but keep exactly what was sent: pydantic's EmailStr would turn a punycode
    domain into Unicode, which CAs refuse in a ``mailto:`` contact."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return value


ContactEmail = Annotated[str, Field(max_length=320), AfterValidator(_valid_email)]
HttpsUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["https"], host_required=True)]


class AcmeAccountCreate(ApiModel):
    directory_url: HttpsUrl | None = Field(
        None, description="ACME directory (https); defaults to CERTKEEPER_ACME_DIRECTORY_URL"
    )
    contact_email: ContactEmail | None = Field(
        None, description="Sent to the CA and stored exactly as given"
    )
    terms_of_service_agreed: bool = Field(description="Must be true: you agree to the CA's terms")
    eab_kid: str | None = Field(None, min_length=1, max_length=255)
    eab_hmac_key: SecretStr | None = Field(
        None, min_length=1, max_length=1024, description="base64url, as the CA gave it"
    )


class AcmeAccountPublic(ApiModel):
    id: UUID
    directory_url: str
    contact_email: str | None
    terms_of_service_agreed: bool
    eab_kid: str | None
    status: AccountStatus
    account_url: str
    created_at: datetime


class AcmeAccountPage(PageOf[AcmeAccountPublic]):
    """A page of ACME accounts."""


class KeyRollover(ApiModel):
    """The new account key; by default of the same type, size or curve as the current one."""

    key_type: KeyType | None = Field(None, description="rsa or ec; default: the current type")
    key_size: KeySizeField = Field(None, description="RSA only")
    curve: CurveField = Field(None, description="EC only")
