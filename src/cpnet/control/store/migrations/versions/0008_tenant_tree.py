"""The tenant tree in the store: a tenants row may be an org or a team (`kind`, `parent`), with quotas and limits.

An admin token whose tenant_id names a row is that node's admin (its subtree's), not every tenant's.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=8), nullable=False, server_default="tenant"))
        batch.add_column(sa.Column("parent", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("quota_cu_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("family_quota_cu_s", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("borrowing_limit_cu_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("lending_limit_cu_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        for name in ("lending_limit_cu_s", "borrowing_limit_cu_s", "family_quota_cu_s", "quota_cu_s", "parent", "kind"):
            batch.drop_column(name)
