"""Re-seal every secret under the keyring's first key, so older keys can be retired.

Rotation without downtime: give every process ``CERTKEEPER_ENCRYPTION_KEYS=new,old``, run
``certkeeper keys rotate``, then drop ``old``. The columns come from the models: every column
of type :class:`~shared.models.base.SealedBytes` is one (the type is the registry). Each
column is walked in batches of :data:`BATCH` rows by id, each batch in its own short
transaction, and each value is swapped with a compare-and-set on the old ciphertext, so a
row a worker changes meanwhile is simply left for the next run; a run that stops half-way
is resumed by running it again, which skips what is already under the first key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from shared.crypto import Keyring
from shared.db import Sessions
from shared.models import Base
from shared.models.base import SealedBytes

BATCH = 500


@dataclass(frozen=True, slots=True)
class SealedColumn:
    model: type[Any]
    column: InstrumentedAttribute[Any]
    sealed_type: SealedBytes

    @property
    def name(self) -> str:
        return f"{self.model.__tablename__}.{self.column.key}"

    def context(self, row_id: UUID) -> str:
        return self.sealed_type.context(row_id)


@dataclass(frozen=True, slots=True)
class RotationReport:
    """Per column (``table.column``): values re-sealed, and values already under the key."""

    resealed: dict[str, int]
    current: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.resealed.values())


def sealed_columns() -> tuple[SealedColumn, ...]:
    """Every column of type SealedBytes on the mapped models (importing ``shared.models``
    has mapped them all), ordered by name so runs are repeatable."""
    found = []
    for mapper in Base.registry.mappers:
        for column in mapper.local_table.columns:
            if isinstance(column.type, SealedBytes):
                model = mapper.class_
                found.append(SealedColumn(model, getattr(model, column.key), column.type))
    return tuple(sorted(found, key=lambda sealed: sealed.name))


SEALED_COLUMNS = sealed_columns()


async def reseal_all(sessions: Sessions, keyring: Keyring, *, batch: int = BATCH
                     ) -> RotationReport:
    """Re-seal what is not sealed under the primary key, column by column."""
    report = RotationReport({}, {})
    for sealed in SEALED_COLUMNS:
        resealed, current = await _reseal_column(sessions, keyring, sealed, batch)
        report.resealed[sealed.name] = resealed
        report.current[sealed.name] = current
    return report


async def _reseal_column(
    sessions: Sessions, keyring: Keyring, sealed: SealedColumn, batch: int
) -> tuple[int, int]:
    changed = current = 0
    last_id = None
    model_id = sealed.model.id
    while True:
        stmt = select(model_id, sealed.column).where(sealed.column.is_not(None))
        if last_id is not None:
            stmt = stmt.where(model_id > last_id)
        async with sessions.begin() as session:
            rows = (await session.execute(stmt.order_by(model_id).limit(batch))).all()
            for row_id, value in rows:
                if keyring.key_id_of(value) == keyring.primary_id:
                    current += 1
                    continue
                context = sealed.context(row_id)
                fresh = keyring.seal(keyring.open(value, context), context)
                result = await session.execute(
                    update(sealed.model)
                    .where(model_id == row_id, sealed.column == value)
                    .values({sealed.column.key: fresh})
                    .execution_options(synchronize_session=False)
                )
                changed += int(getattr(result, "rowcount", 0))
        if len(rows) < batch:
            return changed, current
        last_id = rows[-1][0]
