"""verdicts: operators' confirmed / false-alarm verdicts with their labelled frames (issue 12)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from dispatch.store import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("frame", sa.String(512), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("incident_id", "actor"),
    )
    op.create_index("ix_verdicts_incident_id", "verdicts", ["incident_id"])
    op.create_index("ix_verdicts_verdict", "verdicts", ["verdict"])
    op.create_index("ix_verdicts_at", "verdicts", ["at"])


def downgrade() -> None:
    op.drop_index("ix_verdicts_at", table_name="verdicts")
    op.drop_index("ix_verdicts_verdict", table_name="verdicts")
    op.drop_index("ix_verdicts_incident_id", table_name="verdicts")
    op.drop_table("verdicts")
