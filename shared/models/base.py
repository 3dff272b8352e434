"""Declarative base: aware UTC datetimes on both databases, string enums, JSON columns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID, uuid4

from sqlalchemy import JSON, DateTime, LargeBinary, MetaData, String, TypeDecorator
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite hands back naive values, made aware here.
    asyncpg hands back aware UTC values already, so on Postgres a value read is not
    processed at all (a call per value: a fifth of a page of 100 certificates' decoding)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], datetime | None] | None:
        if dialect.name == "postgresql":
            return None
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def str_enum(enum: type[StrEnum]) -> SAEnum:
    return SAEnum(
        enum, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e]
    )


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        str: String(),
    }


class IdMixin:
    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid4)


class SealedBytes(TypeDecorator[bytes]):
    """A column holding a value sealed with :class:`shared.crypto.Keyring` (stored as plain
    ``LargeBinary``). The type is how a secret is registered: ``certkeeper keys rotate``
    re-seals every column of this type (see ``shared.domain.keys``), and a test refuses any
    binary column that is not of it. ``label`` starts the sealing context (the associated
    data), ``<label>:<row id>``, which binds a ciphertext to its row and column: a sealed value
    copied to another row or column does not open."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def context(self, row_id: UUID) -> str:
        return f"{self.label}:{row_id}"


class SealedKeyMixin(IdMixin):
    """A row whose main secret (a key, credentials, a TSIG secret) is the
    :class:`SealedBytes` column named by ``sealed_column``; ``seal_context`` is its context."""

    sealed_column: ClassVar[str]

    @classmethod
    def sealing_context(cls, row_id: UUID, column: str | None = None) -> str:
        table = cls.__table__  # type: ignore[attr-defined]
        column_type = table.c[column or cls.sealed_column].type
        if not isinstance(column_type, SealedBytes):
            raise TypeError(f"{table.name}.{column} is not a sealed column")
        return column_type.context(row_id)

    @property
    def seal_context(self) -> str:
        return self.sealing_context(self.id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CreatedByMixin:
    """Who asked for the row: the API token (its id and name at the time) or a process
    such as the renewer (no token id)."""

    created_by_token_id: Mapped[UUID | None]
    created_by_name: Mapped[str | None] = mapped_column(String(128))
