"""Re-seal every secret under the keyring's first key, so older keys can be retired.

Rotation without downtime: give every process ``CERTKEEPER_ENCRYPTION_KEYS=new,old``, run
``certkeeper keys rotate``, then drop ``old``. Each value is swapped with a compare-and-set
on the old ciphertext, so a row a worker changes meanwhile is simply left for the next run;
running it again is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute

from shared.crypto import Keyring
from shared.db import Sessions
from shared.models import Base
from shared.models.base import SealedKeyMixin

BATCH = 500


@dataclass(frozen=True, slots=True)
class SealedColumn:
    model: type[SealedKeyMixin]
    column: InstrumentedAttribute[Any]


def sealed_columns() -> tuple[SealedColumn, ...]:
    """Every sealed column, found on the mapped models that declare one (``SealedKeyMixin``);
    importing ``shared.models`` has mapped them all. Ordered by name, so runs are repeatable."""
    models = sorted(
        (mapper.class_ for mapper in Base.registry.mappers
         if issubclass(mapper.class_, SealedKeyMixin)),
        key=lambda model: model.__name__,
    )
    return tuple(SealedColumn(model, getattr(model, model.sealed_column)) for model in models)


SEALED_COLUMNS = sealed_columns()


async def reseal_all(sessions: Sessions, keyring: Keyring) -> int:
    """Re-seal what is not sealed under the primary key. Returns how many values changed."""
    changed = 0
    for sealed in SEALED_COLUMNS:
        changed += await _reseal_column(sessions, keyring, sealed)
    return changed


async def _reseal_column(sessions: Sessions, keyring: Keyring, sealed: SealedColumn) -> int:
    changed = 0
    last_id = None
    while True:
        stmt = select(sealed.model.id, sealed.column).where(sealed.column.is_not(None))
        if last_id is not None:
            stmt = stmt.where(sealed.model.id > last_id)
        async with sessions.begin() as session:
            rows = (await session.execute(stmt.order_by(sealed.model.id).limit(BATCH))).all()
            for row_id, value in rows:
                if value is None or keyring.key_id_of(value) == keyring.primary_id:
                    continue
                context = sealed.model.sealing_context(row_id)
                fresh = keyring.seal(keyring.open(value, context), context)
                result = await session.execute(
                    update(sealed.model)
                    .where(sealed.model.id == row_id, sealed.column == value)
                    .values({sealed.column.key: fresh})
                    .execution_options(synchronize_session=False)
                )
                changed += int(getattr(result, "rowcount", 0))
        if len(rows) < BATCH:
            return changed
        last_id = rows[-1][0]
