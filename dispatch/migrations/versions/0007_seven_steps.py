"""the seven steps: handling department, the cell's inspector, step clocks, extensions, component

Existing incidents keep their states (every old state means what it meant); the grid inspector they
were dispatched to becomes the cell's inspector as well, and each open case's step clock starts at the
stamp of the step it is in.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import dispatch.store

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = ("department", "inspector", "stage_at", "checked_at", "filed_at", "verified_at",
            "extension_h", "extension_request", "late", "component")  # fmt: skip


def upgrade() -> None:
    when = dispatch.store.UTCDateTime(timezone=True)
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.add_column(sa.Column("department", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("inspector", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("stage_at", when, nullable=True))
        batch_op.add_column(sa.Column("checked_at", when, nullable=True))
        batch_op.add_column(sa.Column("filed_at", when, nullable=True))
        batch_op.add_column(sa.Column("verified_at", when, nullable=True))
        batch_op.add_column(sa.Column("extension_h", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("extension_request", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("late", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("component", sa.String(64), nullable=True))
        batch_op.create_index("ix_incidents_department", ["department"])
        batch_op.create_index("ix_incidents_inspector", ["inspector"])
    op.execute(
        """
        UPDATE incidents SET
            inspector = assignee,
            late = '[]',
            filed_at = CASE WHEN state IN ('new', 'rejected') THEN NULL
                            ELSE COALESCE(dispatched_at, opened_at) END,
            verified_at = CASE WHEN state = 'verified' THEN updated_at ELSE NULL END,
            stage_at = CASE
                WHEN state = 'new' THEN opened_at
                WHEN state IN ('dispatched', 'accepted', 'on_site', 'escalated')
                    THEN COALESCE(dispatched_at, opened_at)
                WHEN state = 'resolved' THEN COALESCE(resolved_at, updated_at)
                WHEN state = 'verified' THEN updated_at
                ELSE NULL END
        """
    )
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.alter_column("late", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_index("ix_incidents_inspector")
        batch_op.drop_index("ix_incidents_department")
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
