"""Daily and weekly figures per street, community or type, with SLA compliance and ratings."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from cityops.config import SLAConfig
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


def _key(inc: Incident, by: str, grid: Grid) -> str:
    if by == "type":
        return inc.type
    cell = grid.by_code.get(inc.cell or "")
    if cell is None:
        return "(outside)"
    return cell.street if by == "street" else cell.community


def summary(
    sessions: sessionmaker, grid: Grid, sla: SLAConfig, *, day: date, period: str, by: str, tz: ZoneInfo
) -> list[dict]:
    begin, end = period_bounds(day, period, tz)
    with sessions() as s:
        incs = s.scalars(select(Incident).where(Incident.opened_at >= begin, Incident.opened_at < end)).all()
        closed = s.scalars(
            select(Incident).where(Incident.closed_at >= begin, Incident.closed_at < end)
        ).all()
        ratings = s.execute(
            select(CitizenReport.rating, Incident)
            .join(Incident, Incident.id == CitizenReport.incident_id)
            .where(CitizenReport.rated_at >= begin, CitizenReport.rated_at < end)
        ).all()
    rows: dict[str, dict] = defaultdict(lambda: dict.fromkeys(COLUMNS[1:], 0))
    for inc in incs:
        row = rows[_key(inc, by, grid)]
        row["opened"] += 1
        row["open_now"] += inc.state in OPEN_STATES
        for stage, ok in met(inc, targets_for(inc.type, sla)).items():
            if ok is not None:
                row[f"{stage}_{'met' if ok else 'missed'}"] += 1
    for inc in closed:
        rows[_key(inc, by, grid)]["closed"] += 1
    sums: dict[str, list[int]] = defaultdict(list)
    for rating, inc in ratings:
        sums[_key(inc, by, grid)].append(rating)
    out = []
    for key in sorted(set(rows) | set(sums)):
        row = rows[key]
        met_n = sum(row[f"{st}_met"] for st, _, _ in STAGES)
        judged = met_n + sum(row[f"{st}_missed"] for st, _, _ in STAGES)
        row["sla_compliance"] = round(met_n / judged, 4) if judged else None
        row["ratings"] = len(sums[key])
        row["mean_rating"] = round(sum(sums[key]) / len(sums[key]), 2) if sums[key] else None
        out.append({"key": key, **row})
    return out


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
