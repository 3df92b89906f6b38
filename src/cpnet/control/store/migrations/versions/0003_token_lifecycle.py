"""Tokens get a public id (their hash's first 16 hex digits), an expiry and a revocation time.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tokens", sa.Column("id", sa.String(16), nullable=True))
    op.add_column("tokens", sa.Column("expires_s", sa.Float, nullable=True))
    op.add_column("tokens", sa.Column("revoked_s", sa.Float, nullable=True))
    op.execute("UPDATE tokens SET id = substr(hash, 1, 16)")
    with op.batch_alter_table("tokens") as batch:
        batch.alter_column("id", existing_type=sa.String(16), nullable=False)
    op.create_index("ix_tokens_id", "tokens", ["id"], unique=True)
    op.create_index("ix_tokens_tenant", "tokens", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("ix_tokens_tenant", table_name="tokens")
    op.drop_index("ix_tokens_id", table_name="tokens")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("revoked_s")
        batch.drop_column("expires_s")
        batch.drop_column("id")
