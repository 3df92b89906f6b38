"""The usage ledger: append-only, hash-chained records of what each run used and cost, and its tip.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

GENESIS = "0" * 64  # cpnet.control.store.ledger.GENESIS


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("t_s", sa.Float(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("accelerator", sa.String(length=64), nullable=False),
        sa.Column("num_devices", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("device_s", sa.Float(), nullable=False),
        sa.Column("cu", sa.Float(), nullable=True),
        sa.Column("energy_kwh", sa.Float(), nullable=False),
        sa.Column("energy_source", sa.String(length=16), nullable=False),
        sa.Column("kg_co2", sa.Float(), nullable=False),
        sa.Column("tariff", sa.String(length=64), nullable=False),
        sa.Column("compute_usd", sa.Float(), nullable=False),
        sa.Column("energy_usd", sa.Float(), nullable=False),
        sa.Column("carbon_usd", sa.Float(), nullable=False),
        sa.Column("amount_usd", sa.Float(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("kind", "ref", "attempt", name="uq_ledger_once"),
    )
    op.create_index("ix_ledger_tenant_t", "ledger", ["tenant_id", "t_s"])
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("billed_after_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    # Runs that ended before the ledger existed were never billed: verify does not ask for their records.
    before = op.get_bind().execute(sa.text("select max(end_s) from attempts")).scalar()
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS, "billed_after_s": before}])


def downgrade() -> None:
    op.drop_table("ledger_head")
    op.drop_index("ix_ledger_tenant_t", table_name="ledger")
    op.drop_table("ledger")
