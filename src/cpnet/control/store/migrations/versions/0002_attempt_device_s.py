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
    # 0001 creates the tables from the current schema module, so a fresh database has them already.
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("attempts")}
    if "device_s" not in have:
        op.add_column("attempts", sa.Column("device_s", sa.Float, nullable=True))
    if "device_s_source" not in have:
        op.add_column("attempts", sa.Column("device_s_source", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("device_s_source")
        batch.drop_column("device_s")
