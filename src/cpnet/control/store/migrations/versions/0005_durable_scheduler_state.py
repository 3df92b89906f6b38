"""Scheduler state that survives a restart: a policy's round accounting, a job's avoided sites.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_states",
        sa.Column("policy", sa.String(length=512), nullable=False),
        sa.Column("t_s", sa.Float(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("policy"),
    )
    op.add_column("jobs", sa.Column("avoid", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("avoid")
    op.drop_table("policy_states")
