"""Baseline: the tables of releases before Alembic (api_users, api_audit).

Created only where they do not exist yet, so a database made by an earlier release is
adopted as it is.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "api_users" not in existing:
        op.create_table(
            "api_users",
            sa.Column("id", sa.BigInteger, primary_key=True),
            sa.Column("name", sa.Text, nullable=False, unique=True),
            sa.Column("pw_hash", sa.Text, nullable=False),
            sa.Column("role", sa.Text, nullable=False),
            sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
            sa.CheckConstraint("role IN ('admin', 'operator', 'viewer')", name="api_users_role_check"),
        )
    if "api_audit" not in existing:
        op.create_table(
            "api_audit",
            sa.Column("id", sa.BigInteger, primary_key=True),
            sa.Column("at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("who", sa.Text, nullable=False),
            sa.Column("action", sa.Text, nullable=False),
            sa.Column("job_id", sa.Text),
            sa.Column("outcome", sa.Text, nullable=False),
            sa.Column("detail", sa.dialects.postgresql.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
            sa.Column("instance", sa.Text),
            sa.Column("client", sa.Text),
        )
        op.create_index("api_audit_at_idx", "api_audit", [sa.text("at DESC")])
        op.create_index("api_audit_job_idx", "api_audit", ["job_id"], postgresql_where=sa.text("job_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_table("api_audit")
    op.drop_table("api_users")
