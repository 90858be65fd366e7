"""Working-time arithmetic (pure): working hours per day, weekends, public holidays and make-up
working days (调休). Time limits counted in working time (工作时) use :meth:`WorkCalendar.add`;
urgent ones count natural time (自然时), plain ``datetime + timedelta``.

A working day is a weekday that is not a holiday, or a make-up day; on it the clock runs only inside
the working periods (e.g. 08:00-12:00 and 14:00-18:00). Times are the calendar's local wall clock;
aware datetimes in any zone go in, and come out in the calendar's zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

_DEFAULT_DATA = Path(__file__).resolve().parent.parent / "cityops" / "holidays.yaml"
MAX_DAYS = 3660  # a limit that needs more than ten years of working days is an error, not a loop


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not a time of day (HH:MM): {text!r}") from exc


def parse_periods(spec: Iterable[str]) -> tuple[tuple[time, time], ...]:
    """``["08:00-12:00", "14:00-18:00"]`` -> ordered, non-overlapping (start, end) pairs."""
    out = []
    for item in spec:
        start, sep, end = str(item).partition("-")
        if not sep:
            raise ValueError(f"a working period is 'HH:MM-HH:MM', got {item!r}")
        a, b = _clock(start), _clock(end)
        if not a < b:
            raise ValueError(f"a working period must end after it starts: {item!r}")
        out.append((a, b))
    out.sort()
    for (_, end), (start, _) in zip(out, out[1:], strict=False):
        if start < end:
            raise ValueError(f"working periods overlap: {spec!r}")
    if not out:
        raise ValueError("a working calendar needs at least one working period")
    return tuple(out)


@cache
def default_days() -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, make-up working days) from ``cityops/holidays.yaml``, every year in it."""
    data = yaml.safe_load(_DEFAULT_DATA.read_text(encoding="utf-8")) or {}
    holidays: set[date] = set()
    workdays: set[date] = set()
    for year in data.values():
        for span in year.get("holidays", []):
            first, last = (span, span) if isinstance(span, date) else span
            holidays.update(first + timedelta(days=n) for n in range((last - first).days + 1))
        workdays.update(year.get("workdays", []))
    return frozenset(holidays), frozenset(workdays)


def _secs(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


@dataclass(frozen=True)
class WorkCalendar:
    tz: ZoneInfo
    periods: tuple[tuple[time, time], ...] = ((time(8), time(12)), (time(14), time(18)))
    weekend: frozenset[int] = frozenset({5, 6})  # Monday is 0
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # make-up working days (调休上班), weekends included

    def is_working_day(self, d: date) -> bool:
        if d in self.workdays:
            return True
        return d not in self.holidays and d.weekday() not in self.weekend

    @property
    def day_seconds(self) -> int:
        return sum(_secs(b) - _secs(a) for a, b in self.periods)

    def _local(self, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("working-time arithmetic needs timezone-aware datetimes")
        return at.astimezone(self.tz)

    def _at(self, d: date, seconds: int | float) -> datetime:
        return datetime.combine(d, time(), tzinfo=self.tz) + timedelta(seconds=seconds)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start`` (a start outside working hours
        counts from the next working moment). Zero -> ``start`` itself."""
        left = duration.total_seconds()
        local = self._local(start)
        if left <= 0:
            return local
        d, pos = (
            local.date(),
            (local - datetime.combine(local.date(), time(), tzinfo=self.tz)).total_seconds(),
        )
        for _ in range(MAX_DAYS):
            if self.is_working_day(d):
                for a, b in self.periods:
                    lo, hi = max(pos, _secs(a)), _secs(b)
                    if lo >= hi:
                        continue
                    if left <= hi - lo:
                        return self._at(d, lo + left)
                    left -= hi - lo
            d, pos = d + timedelta(days=1), 0
        raise ValueError(f"{duration} of working time does not fit in {MAX_DAYS} days of this calendar")

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        la, lb = self._local(a), self._local(b)
        if lb < la:
            return -self.between(b, a)
        total, d = 0.0, la.date()
        for _ in range(MAX_DAYS + (lb.date() - la.date()).days):
            if d > lb.date():
                break
            if self.is_working_day(d):
                midnight = datetime.combine(d, time(), tzinfo=self.tz)
                lo_day = (la - midnight).total_seconds() if d == la.date() else 0
                hi_day = (lb - midnight).total_seconds() if d == lb.date() else 86400
                for p, q in self.periods:
                    lo, hi = max(lo_day, _secs(p)), min(hi_day, _secs(q))
                    if hi > lo:
                        total += hi - lo
            d += timedelta(days=1)
        return timedelta(seconds=total)


def build_calendar(
    tz: str,
    periods: Iterable[str] = ("08:00-12:00", "14:00-18:00"),
    weekend: Iterable[int] = (5, 6),
    holidays: Iterable[date] = (),
    workdays: Iterable[date] = (),
    *,
    default_data: bool = True,
) -> WorkCalendar:
    """A calendar from settings; ``default_data`` adds the holidays and make-up days of
    ``cityops/holidays.yaml`` to the given ones."""
    h, w = default_days() if default_data else (frozenset(), frozenset())
    return WorkCalendar(
        ZoneInfo(tz),
        parse_periods(periods),
        frozenset(weekend),
        h | frozenset(holidays),
        w | frozenset(workdays),
    )


def due(start: datetime, hours: float, calendar: WorkCalendar | None) -> datetime:
    """``start`` + ``hours``: working hours on ``calendar``, natural hours when it is None."""
    span = timedelta(hours=hours)
    return calendar.add(start, span) if calendar is not None else start + span
