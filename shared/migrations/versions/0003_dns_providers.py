"""dns providers, domain mappings, the dns life of challenges

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 20:30:32.415581
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dns_providers",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("credentials_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("credentials_set", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dns_providers")),
        sa.UniqueConstraint("name", name=op.f("uq_dns_providers_name")),
    )
    with op.batch_alter_table("dns_providers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dns_providers_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "domain_mappings",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("dns_provider_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("zone", sa.String(length=254), nullable=True),
        sa.Column("tsig_key_name", sa.String(length=254), nullable=True),
        sa.Column("tsig_secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dns_provider_id"],
            ["dns_providers.id"],
            name=op.f("fk_domain_mappings_dns_provider_id_dns_providers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_mappings")),
        sa.UniqueConstraint("domain", name=op.f("uq_domain_mappings_domain")),
    )
    with op.batch_alter_table("domain_mappings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_domain_mappings_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_domain_mappings_dns_provider_id"), ["dns_provider_id"], unique=False
        )

    with op.batch_alter_table("challenges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dns_provider_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("domain_mapping_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("record_name", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("zone", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("presented_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("propagation_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("propagated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cleaned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("cleanup_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("cleanup_error", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("challenges", schema=None) as batch_op:
        batch_op.drop_column("cleanup_error")
        batch_op.drop_column("cleanup_attempts")
        batch_op.drop_column("cleaned_at")
        batch_op.drop_column("propagated_at")
        batch_op.drop_column("propagation_started_at")
        batch_op.drop_column("presented_at")
        batch_op.drop_column("zone")
        batch_op.drop_column("record_name")
        batch_op.drop_column("domain_mapping_id")
        batch_op.drop_column("dns_provider_id")

    with op.batch_alter_table("domain_mappings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domain_mappings_dns_provider_id"))
        batch_op.drop_index(batch_op.f("ix_domain_mappings_created_at"))

    op.drop_table("domain_mappings")
    with op.batch_alter_table("dns_providers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dns_providers_created_at"))

    op.drop_table("dns_providers")
