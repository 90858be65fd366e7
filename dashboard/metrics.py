"""Board figures computed from the live incidents (pure functions, tested without servers)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch.lifecycle import (
    ACCEPTED,
    CLOSED,
    DISPATCHED,
    FINAL_STATES,
    ON_SITE,
    OPEN_STATES,
    RESOLVED,
    VERIFIED,
)
from streams.schemas import IncidentEvent


@dataclass(frozen=True)
class Kpis:
    today_new: int
    today_closed: int
    open: int
    overdue: int
    sla_compliance: float | None  # share of today's incidents with no SLA stage breached
    median_accept_s: float | None
    median_arrive_s: float | None
    median_resolve_s: float | None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def kpis(
    incidents: Iterable[IncidentEvent],
    stamps: Mapping[int, Mapping[str, datetime]],
    now: datetime,
    tz: ZoneInfo,
) -> Kpis:
    today = now.astimezone(tz).date()
    new = closed = open_n = overdue = breached_today = 0
    accept, arrive, resolve = [], [], []
    for inc in incidents:
        st = stamps.get(inc.incident_id, {})
        opened_today = inc.opened_at.astimezone(tz).date() == today
        new += opened_today
        if opened_today and inc.breaches:
            breached_today += 1
        if inc.state in OPEN_STATES:
            open_n += 1
            overdue += bool(inc.breaches)
        final_at = next((st[s] for s in FINAL_STATES if s in st), None)
        closed += bool(final_at and final_at.astimezone(tz).date() == today)
        start = st.get(DISPATCHED, inc.opened_at)
        if ACCEPTED in st:
            accept.append((st[ACCEPTED] - start).total_seconds())
        if ON_SITE in st:
            arrive.append((st[ON_SITE] - start).total_seconds())
        done = next((st[s] for s in (RESOLVED, VERIFIED, CLOSED) if s in st), None)
        if done:
            resolve.append((done - start).total_seconds())
    compliance = (new - breached_today) / new if new else None
    return Kpis(new, closed, open_n, overdue, compliance, _median(accept), _median(arrive), _median(resolve))


def hourly_trend(
    incidents: Iterable[IncidentEvent], now: datetime, tz: ZoneInfo
) -> tuple[list[str], list[int]]:
    """Incidents opened in each of the last 24 hours (oldest first), labelled by local hour."""
    end = now.astimezone(tz).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    counts = [0] * 24
    for inc in incidents:
        age_h = int((end - inc.opened_at.astimezone(tz)).total_seconds() // 3600)
        if 0 <= age_h < 24:
            counts[23 - age_h] += 1
    labels = [f"{(end - timedelta(hours=24 - k)).hour:02d}:00" for k in range(24)]
    return labels, counts


def open_by(incidents: Iterable[IncidentEvent], key) -> Counter:
    return Counter(key(i) for i in incidents if i.state in OPEN_STATES)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
