"""Index steps for migrations on tables that may be large and busy.

On Postgres an index is built and dropped ``CONCURRENTLY``, outside the migration's
transaction, so writes to the table go on while it builds (a plain ``CREATE INDEX`` holds a
lock that stops every write to the table for the whole build: minutes at a million rows).
A build that failed half way leaves an invalid index of that name, so it is dropped first.
SQLite builds it plainly.
"""

from __future__ import annotations

from alembic import op


def _on_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def create_index(table: str, name: str, columns: list[str]) -> None:
    if _on_postgres():
        with op.get_context().autocommit_block():
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
            op.create_index(name, table, columns, postgresql_concurrently=True)
    else:
        op.create_index(name, table, columns)


def drop_index(table: str, name: str) -> None:
    if _on_postgres():
        with op.get_context().autocommit_block():
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index(name, table_name=table)
