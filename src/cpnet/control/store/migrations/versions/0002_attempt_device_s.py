"""Attempts record their device-seconds and where the number came from (engine | cpnet).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("attempts", sa.Column("device_s", sa.Float, nullable=True))
    op.add_column("attempts", sa.Column("device_s_source", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("device_s_source")
        batch.drop_column("device_s")
