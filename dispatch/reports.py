"""Daily and weekly figures per street, community or type, with SLA compliance and ratings.

Each report is three GROUP BY queries on the store (cases opened in the period, cases closed in it,
ratings given in it), grouped in SQL by the report's key — the type, or the street or community of
the case's cell, from ``grid_cells``, the grid mirrored into the store (:func:`sync_cells`) — with
the SLA stages judged met or missed there too, so a report reads the period's cases by index
(``opened_at``, ``closed_at``, ``rated_at``) and hands back one row per key (issue 18: a year of
weekly reports on 370,000 cases, docs/scaling.md). :func:`summary_from_rows` is the same figures
computed one incident at a time in Python, the definition the queries are checked against
(tests/test_dispatch_reports.py).
"""

from __future__ import annotations

import csv
import io
import weakref
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Text, bindparam, case, cast, delete, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import sessionmaker

from cityops.config import SLAConfig
from cityops.taxonomy import violation_types
from dispatch.lifecycle import OPEN_STATES
from dispatch.sla import STAGES, met, targets_for
from dispatch.store import CitizenReport, GridCell, Incident
from gis.grid import Grid

COLUMNS = ["key", "opened", "closed", "open_now", "accept_met", "accept_missed", "arrive_met", "arrive_missed",
           "resolve_met", "resolve_missed", "sla_compliance", "ratings", "mean_rating"]  # fmt: skip


def period_bounds(day: date, period: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = day - timedelta(days=day.weekday()) if period == "week" else day
    begin = datetime.combine(start, time(0), tz)
    return begin, begin + timedelta(days=7 if period == "week" else 1)


def group_key(cell: str | None, type_code: str, by: str, grid: Grid) -> str:
    """The row a case counts in: its type, or the street or community of its cell."""
    if by == "type":
        return type_code
    c = grid.by_code.get(cell or "")
    if c is None:
        return "(outside)"
    return c.street if by == "street" else c.community


def _micros(col):
    """Microseconds since the epoch of a time SQLite stores (``YYYY-MM-DD HH:MM:SS.ffffff`` text in
    UTC), exact: whole seconds from the first 19 characters (``strftime`` would round the fraction)."""
    seconds = cast(func.strftime("%s", func.substr(col, 1, 19)), Integer)
    return seconds * 1_000_000 + cast(func.substr(col, 21, 6), Integer)


def _target(sla: SLAConfig, key: str, as_value):
    """A stage's target for each row's type (a type's own targets override the configured ones)."""
    default = as_value(getattr(sla, key))
    own = {
        code: as_value(getattr(targets_for(code, sla), key))
        for code, vt in violation_types().items()
        if vt.sla
    }
    own = {code: v for code, v in own.items() if v != default}
    return case({c: literal(v) for c, v in own.items()}, value=Incident.type, else_=literal(default))


def _in_time(at, start, sla: SLAConfig, key: str, dialect: str):
    """``at`` no later than ``start`` plus the stage's target, to the microsecond as in
    :func:`dispatch.sla.deadlines` (PostgreSQL: timestamp + interval; SQLite: integer microseconds)."""
    if dialect == "sqlite":
        return _micros(at) - _micros(start) <= _target(sla, key, lambda s: round(s * 1_000_000))
    return at <= start + _target(sla, key, lambda s: timedelta(seconds=s))


def _count(cond):
    return func.count().filter(cond)


def _stage_columns(sla: SLAConfig, dialect: str) -> list:
    """Per SLA stage (see :func:`dispatch.sla.met`): how many cases did it within the target since
    dispatch (or opening), how many did it at all, and how many have not done it but were recorded
    as breaching it. Met = the first; missed = done late + breached = done - met + breached."""
    start = func.coalesce(Incident.dispatched_at, Incident.opened_at)
    breaches = cast(Incident.breaches, Text)
    cols = []
    for stage, stamp, key in STAGES:
        at = getattr(Incident, stamp)
        cols += [
            _count(_in_time(at, start, sla, key, dialect)),  # NULL (not done) is not counted
            func.count(at),
            _count(at.is_(None) & breaches.like(f'%"{stage}"%')),
        ]
    return cols


def _finish(rows: dict[str, dict], ratings: dict[str, list[int]]) -> list[dict]:
    """Rows in key order with compliance and mean rating. ``ratings``: key -> [count, sum]."""
    out = []
    for key in sorted(set(rows) | set(ratings)):
        row = rows.get(key) or dict.fromkeys(COLUMNS[1:], 0)
        met_n = sum(row[f"{st}_met"] for st, _, _ in STAGES)
        judged = met_n + sum(row[f"{st}_missed"] for st, _, _ in STAGES)
        row["sla_compliance"] = round(met_n / judged, 4) if judged else None
        n, total = ratings.get(key, (0, 0))
        row["ratings"] = n
        row["mean_rating"] = round(total / n, 2) if n else None
        out.append({"key": key, **row})
    return out


_synced: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> grid mappings it holds
_mappings: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # grid -> (cells, fingerprint)


def _mapping(grid: Grid) -> tuple[dict[str, tuple[str, str]], int]:
    if grid not in _mappings:
        want = {c.code: (c.community, c.street) for c in grid.cells}
        _mappings[grid] = (want, hash(frozenset(want.items())))
    return _mappings[grid]


def sync_cells(sessions: sessionmaker, grid: Grid) -> None:
    """Make the store's ``grid_cells`` the grid's cells with their community and street: rows that
    differ are upserted, cells no longer in the grid deleted, in one transaction (safe when several
    processes do it at once). Checked once per engine and grid in a process."""
    engine = sessions.kw["bind"]
    want, fingerprint = _mapping(grid)
    if fingerprint in _synced.get(engine, ()):
        return
    with sessions() as s:
        have = {
            code: (community, street) for code, community, street in s.execute(select(GridCell.__table__))
        }
    if have != want:
        # a transaction of its own that starts with a write: on SQLite a read transaction that turns
        # into a write fails at once (not after busy_timeout) if another process wrote in between
        changed = [
            {"code": k, "community": v[0], "street": v[1]} for k, v in want.items() if have.get(k) != v
        ]
        gone = sorted(set(have) - set(want))
        with sessions.begin() as s:
            if changed:
                ins = (sqlite_insert if engine.dialect.name == "sqlite" else pg_insert)(GridCell)
                upsert = ins.on_conflict_do_update(
                    index_elements=[GridCell.code],
                    set_={"community": ins.excluded.community, "street": ins.excluded.street},
                )
                for k in range(0, len(changed), 1000):
                    s.execute(upsert, changed[k : k + 1000])
            for k in range(0, len(gone), 500):
                s.execute(delete(GridCell).where(GridCell.code.in_(gone[k : k + 500])))
    _synced.setdefault(engine, set()).add(fingerprint)


@lru_cache(maxsize=64)
def _statements(targets: tuple, dialect: str, by: str) -> tuple:
    """A report's query, built once per SLA targets, backend and grouping (the period's bounds are
    parameters): the cases opened, closed and rated in the period (parts 0, 1, 2 of one UNION ALL,
    one round trip), each grouped by the report's key in SQL: the type, or the street or community
    of the case's cell (``grid_cells``; "(outside)" for a cell not there)."""
    sla = SLAConfig(**dict(targets))
    if by == "type":
        group = Incident.type
    else:
        group = func.coalesce(getattr(GridCell, by), literal("(outside)"))
    on_cell = GridCell.code == Incident.cell

    def grouped(stmt, *where):
        if by != "type":
            stmt = stmt.outerjoin(GridCell, on_cell)
        return stmt.where(*where).group_by(group)

    opened = grouped(
        select(literal(0), group, func.count(), _count(Incident.state.in_(sorted(OPEN_STATES))), *_stage_columns(sla, dialect))
        .select_from(Incident),
        Incident.opened_at >= bindparam("begin"),
        Incident.opened_at < bindparam("end"),
    )  # fmt: skip
    closed = grouped(
        select(literal(1), group, func.count(), *[literal(0)] * (1 + 3 * len(STAGES))).select_from(Incident),
        Incident.closed_at >= bindparam("begin"),
        Incident.closed_at < bindparam("end"),
    )
    rated = grouped(
        select(
            literal(2), group, func.count(), func.sum(CitizenReport.rating), *[literal(0)] * (3 * len(STAGES))
        )
        .select_from(CitizenReport)
        .join(Incident, Incident.id == CitizenReport.incident_id),
        CitizenReport.rated_at >= bindparam("begin"),
        CitizenReport.rated_at < bindparam("end"),
    )
    return union_all(opened, closed, rated)


def summary(
    sessions: sessionmaker, grid: Grid, sla: SLAConfig, *, day: date, period: str, by: str, tz: ZoneInfo
) -> list[dict]:
    begin, end = period_bounds(day, period, tz)
    bounds = {"begin": begin, "end": end}
    if by != "type":
        sync_cells(sessions, grid)
    rows: dict[str, dict] = defaultdict(lambda: dict.fromkeys(COLUMNS[1:], 0))
    ratings: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with sessions() as s:
        conn = s.connection()  # Core rows: no ORM loading
        query = _statements(tuple(sla.model_dump().items()), conn.dialect.name, by)
        for part, key, n, second, *stages in conn.execute(query, bounds).all():
            if part == 1:
                rows[key]["closed"] += n
            elif part == 2:
                ratings[key] = [n, second or 0]  # count and sum of the ratings
            else:
                row = rows[key]
                row["opened"] += n
                row["open_now"] += second
                for k, (st, _, _) in enumerate(STAGES):
                    met_n, done, breached = stages[3 * k : 3 * k + 3]
                    row[f"{st}_met"] += met_n
                    row[f"{st}_missed"] += done - met_n + breached
    return _finish(rows, ratings)


def summary_from_rows(
    incidents: Iterable[Incident], ratings: Iterable[tuple[int, Incident, datetime]], sla: SLAConfig, grid: Grid,
    *, begin: datetime, end: datetime, by: str,
) -> list[dict]:  # fmt: skip
    """The same figures, one incident at a time (the definition; used to check :func:`summary`).
    ``ratings``: (rating, incident, rated_at) of each rated citizen report."""
    rows: dict[str, dict] = defaultdict(lambda: dict.fromkeys(COLUMNS[1:], 0))
    for inc in incidents:
        if begin <= inc.opened_at < end:
            row = rows[group_key(inc.cell, inc.type, by, grid)]
            row["opened"] += 1
            row["open_now"] += inc.state in OPEN_STATES
            for stage, ok in met(inc, targets_for(inc.type, sla)).items():
                if ok is not None:
                    row[f"{stage}_{'met' if ok else 'missed'}"] += 1
        if inc.closed_at is not None and begin <= inc.closed_at < end:
            rows[group_key(inc.cell, inc.type, by, grid)]["closed"] += 1
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for rating, inc, rated_at in ratings:
        if rated_at is not None and begin <= rated_at < end:
            r = sums[group_key(inc.cell, inc.type, by, grid)]
            r[0] += 1
            r[1] += rating
    return _finish(rows, sums)


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
