"""governance: token expiry and domain scope, who created requests and certificates, one row
per request name, and a hash-chained, append-only audit trail

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 23:00:00.000000

Existing rows are backfilled: request names from each request's ``names``, and the existing
audit events chained in the order they were written (``at``, then id). Triggers refuse
UPDATE and DELETE on ``audit_events`` on both databases.
"""

from collections.abc import Sequence
from datetime import UTC

import sqlalchemy as sa
from alembic import op

from shared.domain.audit import GENESIS_HASH, event_hash
from shared.models import AuditEvent

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "audit_events is append-only"
_PG_FUNCTION = f"""
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY}';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("domains", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    for table in ("certificate_requests", "certificates"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("created_by_token_id", sa.Uuid(), nullable=True))
            batch_op.add_column(sa.Column("created_by_name", sa.String(length=128), nullable=True))
    _request_names()
    _audit_columns()
    _append_only()


def _request_names() -> None:
    op.create_table(
        "certificate_request_names",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["certificate_requests.id"],
            name=op.f("fk_certificate_request_names_request_id_certificate_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "name", name=op.f("pk_certificate_request_names")),
    )
    op.create_index("ix_certificate_request_names_name", "certificate_request_names", ["name"],
                    unique=False)
    bind = op.get_bind()
    requests = sa.table("certificate_requests", sa.column("id", sa.Uuid()),
                        sa.column("names", sa.JSON()))
    names = sa.table("certificate_request_names", sa.column("request_id", sa.Uuid()),
                     sa.column("name", sa.String()))
    for row in bind.execute(sa.select(requests.c.id, requests.c.names)).all():
        rows = [{"request_id": row.id, "name": n} for n in dict.fromkeys(row.names or [])]
        if rows:
            bind.execute(names.insert(), rows)


def _audit_columns() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("resource_type", new_column_name="target_type",
                              existing_type=sa.String(length=64), existing_nullable=False)
        batch_op.alter_column("resource_id", new_column_name="target_id",
                              existing_type=sa.Uuid(), existing_nullable=True)
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), server_default="success",
                                      nullable=False))
        batch_op.add_column(sa.Column("client_address", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _chain_existing_events()
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_seq"), ["seq"])
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_hash"), ["hash"])
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_target_id"), ["target_id"],
                              unique=False)


def _chain_existing_events() -> None:
    bind = op.get_bind()
    events = sa.table(
        "audit_events", sa.column("id", sa.Uuid()), sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor_token_id", sa.Uuid()), sa.column("actor_name", sa.String()),
        sa.column("action", sa.String()), sa.column("target_type", sa.String()),
        sa.column("target_id", sa.Uuid()), sa.column("outcome", sa.String()),
        sa.column("client_address", sa.String()), sa.column("request_id", sa.String()),
        sa.column("details", sa.JSON()), sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()), sa.column("hash", sa.String()),
    )
    prev_hash = GENESIS_HASH
    fields = [c for c in events.c if c.name not in {"seq", "prev_hash", "hash"}]
    rows = bind.execute(sa.select(*fields).order_by(events.c.at, events.c.id)).mappings().all()
    for seq, row in enumerate(rows, start=1):
        at = row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=UTC)
        event = AuditEvent(**{**row, "at": at}, seq=seq, prev_hash=prev_hash)
        event.hash = event_hash(event)
        bind.execute(events.update().where(events.c.id == row["id"])
                     .values(seq=seq, prev_hash=prev_hash, hash=event.hash))
        prev_hash = event.hash


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON "
                       "audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON "
                   f"audit_events BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END")


def downgrade() -> None:
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb}"
                   + (" ON audit_events" if op.get_bind().dialect.name == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_target_id"))
        batch_op.drop_index(batch_op.f("ix_audit_events_action"))
        batch_op.drop_constraint(batch_op.f("uq_audit_events_hash"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_audit_events_seq"), type_="unique")
        for column in ("hash", "prev_hash", "request_id", "client_address", "outcome", "seq"):
            batch_op.drop_column(column)
        batch_op.alter_column("target_id", new_column_name="resource_id",
                              existing_type=sa.Uuid(), existing_nullable=True)
        batch_op.alter_column("target_type", new_column_name="resource_type",
                              existing_type=sa.String(length=64), existing_nullable=False)
    op.drop_index("ix_certificate_request_names_name", table_name="certificate_request_names")
    op.drop_table("certificate_request_names")
    for table in ("certificates", "certificate_requests"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("created_by_name")
            batch_op.drop_column("created_by_token_id")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("domains")
