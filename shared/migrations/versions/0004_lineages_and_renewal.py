"""lineages (what is wanted) for every request and certificate; renewal state on certificates

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 21:30:00.000000

Existing rows are backfilled: one lineage per existing request, made from that request;
each certificate joins its request's lineage and gets the lifetime rule's renewal time.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINEAGE_COPIED = (
    "common_name", "names", "key_type", "key_size", "curve", "challenge_type", "validation",
    "dns_provider_id", "acme_account_id", "auto_renew",
)


def upgrade() -> None:
    _create_lineages()
    with op.batch_alter_table("certificate_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lineage_id", sa.Uuid(), nullable=True))
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lineage_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("replaced_by_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("renewal_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("renewal_source", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("renewal_request_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("renewal_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("renewal_error", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("renewal_lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("renewal_lease_until", sa.DateTime(timezone=True), nullable=True)
        )
    _backfill()
    with op.batch_alter_table("certificate_requests", schema=None) as batch_op:
        batch_op.alter_column("lineage_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.create_index(batch_op.f("ix_certificate_requests_lineage_id"), ["lineage_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_certificate_requests_lineage_id_lineages"), "lineages",
            ["lineage_id"], ["id"],
        )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.alter_column("lineage_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.create_index(batch_op.f("ix_certificates_lineage_id"), ["lineage_id"])
        batch_op.create_index(batch_op.f("ix_certificates_renewal_at"), ["renewal_at"])
        batch_op.create_foreign_key(
            batch_op.f("fk_certificates_lineage_id_lineages"), "lineages", ["lineage_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_certificates_replaced_by_id_certificates"), "certificates",
            ["replaced_by_id"], ["id"],
        )


def _create_lineages() -> None:
    op.create_table(
        "lineages",
        sa.Column("common_name", sa.String(length=253), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("key_type", sa.String(length=32), nullable=False),
        sa.Column("key_size", sa.Integer(), nullable=True),
        sa.Column("curve", sa.String(length=16), nullable=True),
        sa.Column("challenge_type", sa.String(length=32), nullable=False),
        sa.Column("validation", sa.String(length=32), nullable=False),
        sa.Column("dns_provider_id", sa.Uuid(), nullable=True),
        sa.Column("acme_account_id", sa.Uuid(), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=True),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("renew_before_seconds", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["acme_account_id"], ["acme_accounts.id"],
            name=op.f("fk_lineages_acme_account_id_acme_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineages")),
    )
    with op.batch_alter_table("lineages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lineages_created_at"), ["created_at"])
        batch_op.create_index(batch_op.f("ix_lineages_acme_account_id"), ["acme_account_id"])


def _backfill() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    # Reflected for the copied columns; the ids are typed, so a UUID binds on both databases.
    requests = sa.Table(
        "certificate_requests", meta, sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("lineage_id", sa.Uuid()), sa.Column("acme_account_id", sa.Uuid()),
        sa.Column("dns_provider_id", sa.Uuid()), autoload_with=bind,
    )
    lineages = sa.Table("lineages", meta, sa.Column("id", sa.Uuid(), primary_key=True),
                        sa.Column("acme_account_id", sa.Uuid()),
                        sa.Column("dns_provider_id", sa.Uuid()), autoload_with=bind)
    certificates = sa.Table(
        "certificates", meta, sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("request_id", sa.Uuid()), sa.Column("lineage_id", sa.Uuid()),
        autoload_with=bind,
    )
    now = datetime.now(UTC)
    for row in bind.execute(sa.select(requests)).mappings().all():
        lineage_id = uuid.uuid4()
        values = {column: row[column] for column in LINEAGE_COPIED}
        bind.execute(lineages.insert().values(
            id=lineage_id, created_at=row["created_at"], updated_at=now, **values
        ))
        bind.execute(requests.update().where(requests.c.id == row["id"])
                     .values(lineage_id=lineage_id))
        bind.execute(certificates.update().where(certificates.c.request_id == row["id"])
                     .values(lineage_id=lineage_id))
    for cert in bind.execute(sa.select(
        certificates.c.id, certificates.c.not_before, certificates.c.not_after
    )).all():
        lifetime = cert.not_after - cert.not_before
        remaining = lifetime / 2 if lifetime < timedelta(days=10) else lifetime / 3
        bind.execute(certificates.update().where(certificates.c.id == cert.id).values(
            renewal_at=cert.not_after - remaining, renewal_source="lifetime"
        ))


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_certificates_replaced_by_id_certificates"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_certificates_lineage_id_lineages"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_certificates_renewal_at"))
        batch_op.drop_index(batch_op.f("ix_certificates_lineage_id"))
        for column in (
            "renewal_lease_until", "renewal_lease_owner", "renewal_error", "renewal_attempts",
            "renewal_request_id", "renewal_source", "renewal_at", "replaced_by_id", "lineage_id",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("certificate_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_certificate_requests_lineage_id_lineages"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_certificate_requests_lineage_id"))
        batch_op.drop_column("lineage_id")
    op.drop_table("lineages")
