"""citizen_reports: each citizen report keeps its own description, photo, position, tracking number,
spec token and rating secret, linked to the incident it opened or joined (rows copied from the
citizen rows of processed_detections; their old token stays their rating secret)

Revision ID: c311_reports
Revises: 0003
"""

import secrets

import sqlalchemy as sa
from alembic import op

import dispatch.store

revision = "c311_reports"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citizen_reports",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("address", sa.String(length=256), nullable=False),
        sa.Column("photo", sa.String(length=512), nullable=True),
        sa.Column("media_link", sa.String(length=1024), nullable=True),
        sa.Column("photo_public", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("email", sa.String(length=256), nullable=False),
        sa.Column("first_name", sa.String(length=128), nullable=False),
        sa.Column("last_name", sa.String(length=128), nullable=False),
        sa.Column("phone", sa.String(length=64), nullable=False),
        sa.Column("merged", sa.Boolean(), nullable=False),
        sa.Column("supports", sa.Integer(), nullable=False),
        sa.Column("at", dispatch.store.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=False),
        sa.Column("rated_at", dispatch.store.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("citizen_reports") as batch_op:
        batch_op.create_index("ix_citizen_reports_incident_id", ["incident_id"])
        batch_op.create_index("ix_citizen_reports_at", ["at"])
        batch_op.create_index("ix_citizen_reports_rated_at", ["rated_at"])
        batch_op.create_index("ix_citizen_reports_type_at", ["service_code", "at"])
    conn = op.get_bind()
    old = conn.execute(
        sa.text(
            "SELECT p.detection_id, p.incident_id, p.at, p.token_hash, p.rating, p.rating_comment, p.rated_at,"
            " i.type, i.description, i.lon, i.lat, i.evidence FROM processed_detections p"
            " JOIN incidents i ON i.id = p.incident_id WHERE p.token_hash IS NOT NULL"
        ).columns(at=dispatch.store.UTCDateTime(), rated_at=dispatch.store.UTCDateTime())
    ).all()
    table = sa.table(
        "citizen_reports",
        *(
            sa.column(n)
            for n in (
                "id",
                "incident_id",
                "token",
                "secret_hash",
                "service_code",
                "description",
                "lon",
                "lat",
                "address",
                "photo",
                "media_link",
                "photo_public",
                "email",
                "first_name",
                "last_name",
                "phone",
                "merged",
                "supports",
                "rating",
                "rating_comment",
            )
        ),  # fmt: skip
        sa.column("at", dispatch.store.UTCDateTime()),
        sa.column("rated_at", dispatch.store.UTCDateTime()),
        sa.column("attributes", sa.JSON()),
    )
    rows = [
        {"id": r.detection_id, "incident_id": r.incident_id, "token": secrets.token_urlsafe(12),
         "secret_hash": r.token_hash, "service_code": r.type, "description": r.description or "",
         "lon": r.lon, "lat": r.lat, "address": "", "photo": None, "media_link": None, "photo_public": False,
         "attributes": {}, "email": "", "first_name": "", "last_name": "", "phone": "", "merged": False,
         "supports": 0, "at": r.at, "rating": r.rating, "rating_comment": r.rating_comment or "",
         "rated_at": r.rated_at}
        for r in old
    ]  # fmt: skip
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("citizen_reports")
