"""Initial schema: tenants, tokens, sites, jobs, job events, attempts, decisions.

Revision ID: 0001
Revises:
"""

from alembic import op

from cpnet.control.store.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The first revision creates the schema as declared; later revisions alter it step by step.
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
