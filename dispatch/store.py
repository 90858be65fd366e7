"""The incident store: SQLAlchemy 2 models and engine setup (SQLite with WAL by default, PostgreSQL by URL).

``incident_events`` doubles as an outbox: every change is written there in the same transaction as
the incident, and published to the incidents stream afterwards (see :mod:`dispatch.outbox`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Incident(Base):
    __tablename__ = "incidents"
    # intake's merge query: same type, open, within a lat band (then lon and distance)
    __table_args__ = (
        Index("ix_incidents_merge", "type", "state", "lat"),
        # the lists (migration 0005): newest-changed first, open per inspector in clock order
        Index("ix_incidents_updated", "updated_at", "id"),
        Index("ix_incidents_state_updated", "state", "updated_at", "id"),
        Index("ix_incidents_assignee_state", "assignee", "state", "dispatched_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(16))
    cell: Mapped[str | None] = mapped_column(String(32), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    camera_id: Mapped[str | None] = mapped_column(String(64))
    zone_id: Mapped[str | None] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64), index=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    evidence: Mapped[str | None] = mapped_column(String(512))
    clip: Mapped[str | None] = mapped_column(String(512))  # H.264 MP4 before the detection (0009)
    description: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # lifecycle timestamps: SLA clocks are derived from these, never from in-memory timers
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    breaches: Mapped[list] = mapped_column(JSON, default=list)  # SLA stages breached: accept/arrive/resolve
    escalated_to: Mapped[str | None] = mapped_column(String(64))
    merged_into: Mapped[int | None] = mapped_column(Integer)
    # the seven steps (dispatch.lifecycle.Stage): who handles it and who checks it, the step clocks
    department: Mapped[str | None] = mapped_column(String(64), index=True)  # handling department id
    inspector: Mapped[str | None] = mapped_column(String(64), index=True)  # the cell's inspector (核实/核查)
    stage_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the current stage's clock started
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_h: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # approved 延期
    extension_request: Mapped[dict | None] = mapped_column(JSON)  # a pending 延期申请
    late: Mapped[list] = mapped_column(JSON, default=list)  # stages whose step clock ran out
    component: Mapped[str | None] = mapped_column(String(64))  # the registry's component (部件) it concerns


class IncidentEventRow(Base):
    __tablename__ = "incident_events"
    __table_args__ = (UniqueConstraint("incident_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    detection_id: Mapped[str | None] = mapped_column(String(128))
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    published: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    inspector_id: Mapped[str | None] = mapped_column(String(64))  # the roster id an inspector acts as
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # bumped when the account's logins must end (logout, password, role or activity change): a token
    # carries the generation it was issued under and is refused once the account has moved past it
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ProcessedDetection(Base):
    """Idempotency keys: a detection id seen once is never processed again.

    A citizen report is a detection too: its id is the Open311 ``service_request_id``, and the row
    keeps the reporter's secret token and their rating of how it was handled.
    """

    __tablename__ = "processed_detections"
    __table_args__ = (Index("ix_processed_detections_at", "at"),)  # Open311 lists by time (0005)

    detection_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    token_hash: Mapped[str | None] = mapped_column(String(128))
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CitizenReport(Base):
    """One citizen's report, linked to the incident it opened or was merged into: each keeps its own
    description, photo, position and tracking number (``id``, the Open311 ``service_request_id``).

    ``token`` is the spec's token (answers ``GET tokens/{token}``); the rating secret is kept only as
    a hash (``secret_hash``). ``email``, ``first_name``, ``last_name`` and ``phone`` are private:
    no citizen-facing answer carries them.
    """

    __tablename__ = "citizen_reports"
    __table_args__ = (Index("ix_citizen_reports_type_at", "service_code", "at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    service_code: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(256), default="")
    photo: Mapped[str | None] = mapped_column(String(512))  # stored upload (photos/...)
    media_link: Mapped[str | None] = mapped_column(String(1024))  # a link the client gave: never fetched
    photo_public: Mapped[bool] = mapped_column(Boolean, default=False)  # the reporter agreed to show it
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    email: Mapped[str] = mapped_column(String(256), default="")
    first_name: Mapped[str] = mapped_column(String(128), default="")
    last_name: Mapped[str] = mapped_column(String(128), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    merged: Mapped[bool] = mapped_column(Boolean, default=False)  # joined an earlier report's incident
    supports: Mapped[int] = mapped_column(Integer, default=0)  # "add my support" from later citizens
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Device(Base):
    """An IoT device (see :mod:`iot.devices`): where it is, whom it protects, whom to phone, and the
    secret its webhook alarms are signed with (HMAC: kept as given, it must be known to verify)."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    address: Mapped[str] = mapped_column(String(256), default="")
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    cell: Mapped[str | None] = mapped_column(String(32), index=True)
    protects: Mapped[str] = mapped_column(String(256), default="")  # the resident or site
    contact_name: Mapped[str] = mapped_column(String(128), default="")
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    heartbeat_s: Mapped[int] = mapped_column(Integer, default=0)  # 0: not watched for silence
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class VerdictRow(Base):
    """An operator's verdict on a camera incident (see :mod:`dispatch.verdicts`): one per incident and
    operator (giving it again updates it), with the clean evidence frame and the boxes as labelled."""

    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("incident_id", "actor"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16), index=True)  # dispatch.verdicts.Verdict
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64))
    frame: Mapped[str | None] = mapped_column(String(512))  # relative to the data dir
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    boxes: Mapped[list] = mapped_column(JSON, default=list)  # [{cls, x1, y1, x2, y2}] in pixels
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class GridCell(Base):
    """The grid's cells with their community and street, mirrored from the configured grid (the
    grid file is the source; :func:`dispatch.reports.sync_cells` rewrites what differs) so that
    reports group cases by street and community in SQL."""

    __tablename__ = "grid_cells"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    community: Mapped[str] = mapped_column(String(64))
    street: Mapped[str] = mapped_column(String(64))


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str, *, writer: bool = True, pool_size: int = 10, max_overflow: int = 40) -> Engine:
    """An engine for ``url``; on SQLite a ``writer`` engine starts every transaction with BEGIN
    IMMEDIATE, a reader engine with a plain (deferred) BEGIN so readers never queue behind writers."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # pysqlite's own transaction handling is switched off so that a writer's transaction starts
        # with BEGIN IMMEDIATE: it takes the lock up front and waits (busy_timeout) instead of failing
        # with "database is locked" when two read transactions both try to upgrade to writing.
        # the API serves requests from a thread pool (40 threads): enough connections that none waits
        in_memory = not database or database == ":memory:"  # one shared connection: no pool to size
        pool = {} if in_memory else {"pool_size": pool_size, "max_overflow": max_overflow}
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "isolation_level": None}, **pool
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        begin = "BEGIN IMMEDIATE" if writer else "BEGIN"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)
    return engine


def open_store(url: str, *, migrate: bool = True, **pool: int) -> tuple[Engine, sessionmaker]:
    """Create the engine and bring the schema to the newest Alembic revision. ``pool``: pool_size and
    max_overflow (the config's ``store`` section)."""
    engine = make_engine(url, **pool)
    if migrate:
        from dispatch.migrate import upgrade

        upgrade(engine)
    return engine, sessionmaker(engine, expire_on_commit=False)


def read_sessions(url: str, **pool: int) -> sessionmaker:
    """Sessions for queries only (SQLite: deferred transactions that never block writers)."""
    return sessionmaker(make_engine(url, writer=not url.startswith("sqlite"), **pool), expire_on_commit=False)
