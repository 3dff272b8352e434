"""Shapes shared by every resource: pages and problems."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class ApiModel(BaseModel):
    model_config = ConfigDict(from_attributes=True, extra="forbid")


class PageOf(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")


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
