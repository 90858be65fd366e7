"""index for intake's merge query (type, state, lat)

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_merge", "incidents", ["type", "state", "lat"])


def downgrade() -> None:
    op.drop_index("ix_incidents_merge", table_name="incidents")
