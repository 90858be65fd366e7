"""devices: the IoT device registry (issue 14)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from dispatch.store import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("address", sa.String(256), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("cell", sa.String(32), nullable=True),
        sa.Column("protects", sa.String(256), nullable=False),
        sa.Column("contact_name", sa.String(128), nullable=False),
        sa.Column("contact_phone", sa.String(32), nullable=False),
        sa.Column("heartbeat_s", sa.Integer(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_devices_kind", "devices", ["kind"])
    op.create_index("ix_devices_cell", "devices", ["cell"])


def downgrade() -> None:
    op.drop_index("ix_devices_cell", table_name="devices")
    op.drop_index("ix_devices_kind", table_name="devices")
    op.drop_table("devices")
