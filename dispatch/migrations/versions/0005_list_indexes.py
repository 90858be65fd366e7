"""Indexes for the lists at district scale (370,000 cases): newest-changed first, open per
inspector in clock order, Open311 requests by time.

Revision ID: 0005
Revises: c311_reports
"""

from alembic import op

revision = "0005"
down_revision = "c311_reports"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_incidents_updated": ("incidents", ["updated_at", "id"]),
    "ix_incidents_state_updated": ("incidents", ["state", "updated_at", "id"]),
    "ix_incidents_assignee_state": ("incidents", ["assignee", "state", "dispatched_at"]),
    "ix_processed_detections_at": ("processed_detections", ["at"]),
}


def upgrade() -> None:
    for name, (table, cols) in INDEXES.items():
        op.create_index(name, table, cols)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
