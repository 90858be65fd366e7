"""Daily and weekly figures per street, community or type, with SLA compliance and ratings.

Each report is three GROUP BY queries on the store (cases opened in the period, cases closed in it,
ratings given in it), grouped by cell and type in SQL — SLA stages judged met or missed there too —
so the work does not grow with the cases a period holds beyond what the database reads by index
(``opened_at``, ``closed_at``, ``rated_at``). Cells are folded into streets and communities here,
from the grid. :func:`summary_from_rows` is the same figures computed one incident at a time in
Python, the definition the queries are checked against (tests/test_dispatch_reports.py).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Text, case, cast, extract, func, literal, select
from sqlalchemy.orm import sessionmaker

from cityops.config import SLAConfig
from cityops.taxonomy import violation_types
from dispatch.lifecycle import OPEN_STATES
from dispatch.sla import STAGES, met, targets_for
from dispatch.store import CitizenReport, Incident
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


def _micros(col, dialect: str):
    """Microseconds since the epoch of a stored UTC time, exact on both backends (SQLite keeps
    ``YYYY-MM-DD HH:MM:SS.ffffff`` text; PostgreSQL's epoch is an exact numeric)."""
    if dialect == "sqlite":
        seconds = cast(func.strftime("%s", func.substr(col, 1, 19)), Integer)  # whole seconds: not rounded
        return seconds * 1_000_000 + cast(func.substr(col, 21, 6), Integer)
    return extract("epoch", col) * 1_000_000


def _target_micros(sla: SLAConfig, key: str):
    """A stage's target in microseconds for each row's type (a type's own targets override)."""
    default = round(getattr(sla, key) * 1_000_000)
    own = {
        code: round(getattr(targets_for(code, sla), key) * 1_000_000)
        for code, vt in violation_types().items()
        if vt.sla
    }
    own = {code: us for code, us in own.items() if us != default}
    return case(own, value=Incident.type, else_=default) if own else literal(default)


def _count(cond):
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _stage_columns(sla: SLAConfig, dialect: str) -> list:
    """Per SLA stage, how many cases met it and how many missed it (see :func:`dispatch.sla.met`):
    done within target since dispatch (or opening) is met; done late, or recorded breached, missed."""
    start = _micros(func.coalesce(Incident.dispatched_at, Incident.opened_at), dialect)
    breaches = cast(Incident.breaches, Text)
    cols = []
    for stage, stamp, key in STAGES:
        at = getattr(Incident, stamp)
        in_time = _micros(at, dialect) - start <= _target_micros(sla, key)
        on_time = at.is_not(None) & in_time
        late = (at.is_not(None) & ~in_time) | (at.is_(None) & breaches.like(f'%"{stage}"%'))
        cols += [_count(on_time).label(f"{stage}_met"), _count(late).label(f"{stage}_missed")]
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


def summary(
    sessions: sessionmaker, grid: Grid, sla: SLAConfig, *, day: date, period: str, by: str, tz: ZoneInfo
) -> list[dict]:
    begin, end = period_bounds(day, period, tz)
    rows: dict[str, dict] = defaultdict(lambda: dict.fromkeys(COLUMNS[1:], 0))
    ratings: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with sessions() as s:
        dialect = s.get_bind().dialect.name
        opened = s.execute(
            select(
                Incident.cell,
                Incident.type,
                func.count().label("opened"),
                _count(Incident.state.in_(sorted(OPEN_STATES))).label("open_now"),
                *_stage_columns(sla, dialect),
            )  # fmt: skip
            .where(Incident.opened_at >= begin, Incident.opened_at < end)
            .group_by(Incident.cell, Incident.type)
        ).mappings()
        for g in opened:
            row = rows[group_key(g["cell"], g["type"], by, grid)]
            row["opened"] += g["opened"]
            row["open_now"] += g["open_now"]
            for st, _, _ in STAGES:
                row[f"{st}_met"] += g[f"{st}_met"]
                row[f"{st}_missed"] += g[f"{st}_missed"]
        closed = s.execute(
            select(Incident.cell, Incident.type, func.count())
            .where(Incident.closed_at >= begin, Incident.closed_at < end)
            .group_by(Incident.cell, Incident.type)
        )
        for cell, type_code, n in closed:
            rows[group_key(cell, type_code, by, grid)]["closed"] += n
        rated = s.execute(
            select(Incident.cell, Incident.type, func.count(), func.sum(CitizenReport.rating))
            .join(Incident, Incident.id == CitizenReport.incident_id)
            .where(CitizenReport.rated_at >= begin, CitizenReport.rated_at < end)
            .group_by(Incident.cell, Incident.type)
        )
        for cell, type_code, n, total in rated:
            r = ratings[group_key(cell, type_code, by, grid)]
            r[0] += n
            r[1] += total or 0
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
