"""Sessions with rotating refresh tokens, API keys, job ownership, richer audit rows.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.add_column("api_users", sa.Column("see_all_jobs", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("api_users", sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()))

    op.add_column("api_audit", sa.Column("method", sa.Text))
    op.add_column("api_audit", sa.Column("path", sa.Text))
    op.add_column("api_audit", sa.Column("status", sa.Integer))
    op.create_index("api_audit_who_idx", "api_audit", ["who", sa.text("at DESC")])
    op.create_index("api_audit_action_idx", "api_audit", ["action", sa.text("at DESC")])

    op.create_table(
        "api_refresh_tokens",
        sa.Column("token_hash", sa.Text, primary_key=True),
        sa.Column("sid", sa.Text, nullable=False),
        sa.Column("user_name", sa.Text, sa.ForeignKey("api_users.name", ondelete="CASCADE", onupdate="CASCADE"),
                  nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS),
        sa.Column("client", sa.Text),
    )
    op.create_index("api_refresh_sid_idx", "api_refresh_tokens", ["sid"])
    op.create_index("api_refresh_user_idx", "api_refresh_tokens", ["user_name"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, sa.ForeignKey("api_users.name", ondelete="CASCADE", onupdate="CASCADE"),
                  nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", TS),
        sa.Column("last_used_at", TS),
        sa.CheckConstraint("role IN ('admin', 'operator', 'viewer')", name="api_keys_role_check"),
    )
    op.create_index("api_keys_owner_idx", "api_keys", ["owner"])

    op.create_table(
        "api_jobs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("layers", sa.Text, nullable=False, server_default=""),
        sa.Column("dictionary", sa.Text, nullable=False, server_default=""),
        sa.Column("origin", sa.Text, nullable=False),            # upload | file | s3
        sa.Column("bytes_in", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("sha256", sa.Text),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("cancelled_at", TS),
        sa.Column("deleted_at", TS),
        sa.Column("extra", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index("api_jobs_owner_idx", "api_jobs", ["owner", sa.text("created_at DESC")])


def downgrade() -> None:
    op.drop_table("api_jobs")
    op.drop_table("api_keys")
    op.drop_table("api_refresh_tokens")
    for ix in ("api_audit_action_idx", "api_audit_who_idx"):
        op.drop_index(ix, "api_audit")
    for col in ("status", "path", "method"):
        op.drop_column("api_audit", col)
    op.drop_column("api_users", "updated_at")
    op.drop_column("api_users", "see_all_jobs")
