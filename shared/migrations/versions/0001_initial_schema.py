"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 04:03:49.479063
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "acme_accounts",
        sa.Column("directory_url", sa.String(length=2048), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("terms_of_service_agreed", sa.Boolean(), nullable=False),
        sa.Column("eab_kid", sa.String(length=255), nullable=True),
        sa.Column(
            "status",
            sa.Enum("valid", "deactivated", name="accountstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("account_url", sa.String(length=2048), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_accounts")),
    )
    with op.batch_alter_table("acme_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_acme_accounts_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "api_tokens",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "role",
            sa.Enum("admin", "operator", "viewer", name="role", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_created_at"), ["created_at"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_token_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)

    op.create_table(
        "certificate_requests",
        sa.Column("common_name", sa.String(length=253), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column(
            "key_type",
            sa.Enum("rsa", "ec", name="keytype", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("key_size", sa.Integer(), nullable=True),
        sa.Column("curve", sa.String(length=16), nullable=True),
        sa.Column(
            "challenge_type",
            sa.Enum("http-01", "dns-01", name="challengetype", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "validation",
            sa.Enum("automatic", "manual", name="validationmode", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("dns_provider_id", sa.Uuid(), nullable=True),
        sa.Column("acme_account_id", sa.Uuid(), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("replaces_certificate_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "processing",
                "awaiting_manual_validation",
                "validating",
                "issued",
                "failed",
                "cancelled",
                name="requeststatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("certificate_id", sa.Uuid(), nullable=True),
        sa.Column("order_url", sa.String(length=2048), nullable=True),
        sa.Column("finalize_url", sa.String(length=2048), nullable=True),
        sa.Column("order_status", sa.String(length=32), nullable=True),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("csr_pem", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.JSON(), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["acme_account_id"],
            ["acme_accounts.id"],
            name=op.f("fk_certificate_requests_acme_account_id_acme_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_requests")),
    )
    with op.batch_alter_table("certificate_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_requests_acme_account_id"), ["acme_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_certificate_requests_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_certificate_requests_next_run_at"), ["next_run_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_certificate_requests_status"), ["status"], unique=False
        )

    op.create_table(
        "certificates",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("acme_account_id", sa.Uuid(), nullable=False),
        sa.Column("replaces_id", sa.Uuid(), nullable=True),
        sa.Column("common_name", sa.String(length=253), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issuer", sa.String(length=1024), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "key_type",
            sa.Enum("rsa", "ec", name="keytype", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("alternate_chains_pem", sa.JSON(), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "renewed",
                "revoked",
                "expired",
                name="certificatestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["acme_account_id"],
            ["acme_accounts.id"],
            name=op.f("fk_certificates_acme_account_id_acme_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["certificates.id"],
            name=op.f("fk_certificates_replaces_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["certificate_requests.id"],
            name=op.f("fk_certificates_request_id_certificate_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("fingerprint_sha256", name=op.f("uq_certificates_fingerprint_sha256")),
        sa.UniqueConstraint("request_id", name=op.f("uq_certificates_request_id")),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificates_acme_account_id"), ["acme_account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_certificates_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_certificates_not_after"), ["not_after"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificates_serial"), ["serial"], unique=False)
        batch_op.create_index(batch_op.f("ix_certificates_status"), ["status"], unique=False)

    op.create_table(
        "challenges",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=253), nullable=False),
        sa.Column("wildcard", sa.Boolean(), nullable=False),
        sa.Column("authz_url", sa.String(length=2048), nullable=False),
        sa.Column(
            "authz_status",
            sa.Enum(
                "pending",
                "valid",
                "invalid",
                "deactivated",
                "expired",
                "revoked",
                name="authzstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "type",
            sa.Enum("http-01", "dns-01", name="challengetype", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("challenge_url", sa.String(length=2048), nullable=True),
        sa.Column("token", sa.String(length=255), nullable=True),
        sa.Column("key_authorization", sa.Text(), nullable=True),
        sa.Column("txt_name", sa.String(length=255), nullable=True),
        sa.Column("txt_value", sa.String(length=255), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["certificate_requests.id"],
            name=op.f("fk_challenges_request_id_certificate_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_challenges")),
    )
    with op.batch_alter_table("challenges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_challenges_request_id"), ["request_id"], unique=False)
        batch_op.create_index("ix_challenges_token", ["token"], unique=False)

    op.create_table(
        "certificate_names",
        sa.Column("certificate_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_names_certificate_id_certificates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("certificate_id", "name", name=op.f("pk_certificate_names")),
    )
    with op.batch_alter_table("certificate_names", schema=None) as batch_op:
        batch_op.create_index("ix_certificate_names_name", ["name"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("certificate_names", schema=None) as batch_op:
        batch_op.drop_index("ix_certificate_names_name")

    op.drop_table("certificate_names")
    with op.batch_alter_table("challenges", schema=None) as batch_op:
        batch_op.drop_index("ix_challenges_token")
        batch_op.drop_index(batch_op.f("ix_challenges_request_id"))

    op.drop_table("challenges")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_status"))
        batch_op.drop_index(batch_op.f("ix_certificates_serial"))
        batch_op.drop_index(batch_op.f("ix_certificates_not_after"))
        batch_op.drop_index(batch_op.f("ix_certificates_created_at"))
        batch_op.drop_index(batch_op.f("ix_certificates_acme_account_id"))

    op.drop_table("certificates")
    with op.batch_alter_table("certificate_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_requests_status"))
        batch_op.drop_index(batch_op.f("ix_certificate_requests_next_run_at"))
        batch_op.drop_index(batch_op.f("ix_certificate_requests_created_at"))
        batch_op.drop_index(batch_op.f("ix_certificate_requests_acme_account_id"))

    op.drop_table("certificate_requests")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))

    op.drop_table("audit_events")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_created_at"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("acme_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acme_accounts_created_at"))

    op.drop_table("acme_accounts")
