"""Notification rules and deliveries. A webhook's secret is write-only: reads show
``secret_set``; a generated one is in the answer to the POST, once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import EmailStr, Field, field_validator

from services.api.schemas.common import ApiModel, PageOf, StoredProblem
from shared.errors import PROBLEM_BASE
from shared.models.notifications import RULE_NAME_LENGTH, URL_LENGTH, Channel, EventType
from shared.states import DeliveryStatus

RuleName = Annotated[
    str, Field(min_length=1, max_length=RULE_NAME_LENGTH, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Url = Annotated[str, Field(min_length=1, max_length=URL_LENGTH,
                           examples=["https://hooks.example.com/certkeeper"])]
Secret = Annotated[str, Field(min_length=1, max_length=200,
                              description="whsec_ and base64 of 16-64 bytes; write-only")]
Domain = Annotated[str, Field(min_length=1, max_length=253, examples=["example.com"])]
Days = Annotated[int, Field(ge=1, le=3650)]


class NotificationRuleCreate(ApiModel):
    name: RuleName
    channel: Channel
    recipients: list[EmailStr] = Field(default_factory=list, max_length=50,
                                       description="Email rules: the addresses")
    url: Url | None = Field(None, description="Webhook rules: where to POST")
    secret: Secret | None = Field(None, description="Webhook rules: the signing secret; "
                                  "generated (and shown once) when left out")
    events: list[EventType] = Field(default_factory=list, max_length=20,
                                    description="Empty: every event")
    domains: list[Domain] = Field(default_factory=list, max_length=100,
                                  description="Suffixes; empty: every name")
    expiry_thresholds_days: list[Days] = Field(default=[30, 14, 7, 3, 1], min_length=1,
                                               max_length=20)
    enabled: bool = True


class NotificationRuleUpdate(ApiModel):
    """Fields left out stay as they are; the rule is checked again as a whole."""

    name: RuleName | None = None
    recipients: list[EmailStr] | None = Field(None, max_length=50)
    url: Url | None = None
    secret: Secret | None = None
    events: list[EventType] | None = Field(None, max_length=20)
    domains: list[Domain] | None = Field(None, max_length=100)
    expiry_thresholds_days: list[Days] | None = Field(None, min_length=1, max_length=20)
    enabled: bool | None = None


class NotificationRulePublic(ApiModel):
    id: UUID
    name: str
    channel: Channel
    recipients: list[str]
    url: str | None
    events: list[str]
    domains: list[str]
    expiry_thresholds_days: list[int]
    enabled: bool
    secret_set: list[str] = Field(description="Secret fields holding a value")
    created_at: datetime
    updated_at: datetime


class NotificationRuleCreated(NotificationRulePublic):
    secret: str | None = Field(
        None, description="The generated webhook secret, shown this once; null when given")


class NotificationPublic(ApiModel):
    id: UUID
    rule_id: UUID | None = Field(description="Null: the ACME account's contact (no rule "
                                 "matched), or the rule was deleted")
    event: EventType
    certificate_id: UUID | None
    request_id: UUID | None
    threshold_days: int | None
    channel: Channel
    recipient: str
    status: DeliveryStatus
    attempts: int
    last_error: StoredProblem = Field(
        description="Why the last try failed (`detail` holds the server's answer)"
    )
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None


    @field_validator("last_error", mode="before")
    @classmethod
    def _as_problem(cls, reason: object) -> object:
        """The notifier keeps the reason as text; the API shows every error as a problem."""
        if not isinstance(reason, str):
            return reason
        return {"type": f"{PROBLEM_BASE}delivery-failed", "status": 502, "detail": reason,
                "title": "The notification could not be delivered"}


class NotificationRulePage(PageOf[NotificationRulePublic]):
    """A page of notification rules."""


class NotificationPage(PageOf[NotificationPublic]):
    """A page of deliveries."""
