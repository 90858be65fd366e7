"""grid cells: the configured grid's cells with their community and street, for reports grouped in
SQL (issue 18 item 3); filled from the grid by the API, see dispatch.reports.sync_cells

Revision ID: 0010r
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010r"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grid_cells",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("community", sa.String(64), nullable=False),
        sa.Column("street", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("grid_cells")
