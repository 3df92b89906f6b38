"""A tenant's budget per calendar period: amount, unit (cu | usd) and period (day | week | month).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("budget_amount", sa.Float(), nullable=True))
        batch.add_column(sa.Column("budget_unit", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("budget_period", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("budget_period")
        batch.drop_column("budget_unit")
        batch.drop_column("budget_amount")
