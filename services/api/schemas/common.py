"""Shapes shared by every resource: pages and problems."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.domain.pagination import Page

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside years 1 to 9999 once converted to UTC") from None


# A time with an explicit offset (naive and date-only values are refused), held in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class PageOf(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


def page_of(model: type[M], page: Page[Any]) -> PageOf[M]:
    """A service-layer page as the API shows it."""
    shown: PageOf[M] = PageOf[model](  # type: ignore[valid-type]
        items=[model.model_validate(item) for item in page.items], next_cursor=page.next_cursor
    )
    return shown


class ProblemBody(BaseModel):
    """RFC 9457 problem details. ``type`` is stable: match on it, not on ``detail``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:certkeeper:problem:invalid-names"])
    title: str
    status: int
    detail: str


PROBLEM_CONTENT: dict[str, Any] = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemBody"}}
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses."""
    return {
        status: {"model": ProblemBody, "content": PROBLEM_CONTENT, "description": "Problem"}
        for status in (401, 403, 422, *statuses)
    }
