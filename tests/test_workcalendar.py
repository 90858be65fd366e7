"""The working-hours calendar (dispatch/workcalendar.py): table tests around weekends, the 2026 public
holidays and make-up working days (调休) of the State Council notice, lunch breaks and custom hours.

Default hours 08:00-12:00 and 14:00-18:00 (8 working hours a day). The issue's example: reported on
Friday 17:50 with a 4-working-hour limit -> 10 minutes on Friday, 3 h 50 min on Monday from 08:00 ->
Monday 11:50. With 09:00-12:00 / 14:00-18:00 the same case is due Monday 14:50 (3 h before lunch, 50
min after).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.workcalendar import build_calendar, due, parse_periods

TZ = ZoneInfo("Asia/Shanghai")
CAL = build_calendar("Asia/Shanghai")
NINE = build_calendar("Asia/Shanghai", periods=["09:00-12:00", "14:00-18:00"])


def at(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


@pytest.mark.parametrize(
    ("cal", "start", "hours", "expected", "why"),
    [
        (CAL, at(2026, 11, 27, 17, 50), 4, at(2026, 11, 30, 11, 50), "Friday evening -> Monday morning"),
        (NINE, at(2026, 11, 27, 17, 50), 4, at(2026, 11, 30, 14, 50), "9-12/14-18: over Monday's lunch"),
        (CAL, at(2026, 11, 25, 10, 0), 4, at(2026, 11, 25, 16, 0), "over the lunch break"),
        (CAL, at(2026, 11, 25, 12, 30), 1, at(2026, 11, 25, 15, 0), "reported in the lunch break"),
        (CAL, at(2026, 11, 25, 20, 0), 1, at(2026, 11, 26, 9, 0), "reported after hours"),
        (CAL, at(2026, 11, 28, 10, 0), 1, at(2026, 11, 30, 9, 0), "reported on a Saturday"),
        (CAL, at(2026, 11, 25, 8, 0), 8, at(2026, 11, 25, 18, 0), "a full working day"),
        (CAL, at(2026, 11, 25, 18, 0), 8, at(2026, 11, 26, 18, 0), "from the end of a day"),
        (CAL, at(2026, 11, 25, 10, 0), 40, at(2026, 12, 2, 10, 0), "a working week"),
        # 国庆节 1-7 October 2026 (Thursday to Wednesday); Saturday 10 October is a make-up working day
        (CAL, at(2026, 9, 30, 17, 0), 2, at(2026, 10, 8, 9, 0), "over the National Day holiday"),
        (CAL, at(2026, 10, 9, 17, 0), 2, at(2026, 10, 10, 9, 0), "make-up Saturday 10 October works"),
        # Sunday 20 September is a make-up day; 25-27 September (Mid-Autumn) are holidays
        (CAL, at(2026, 9, 19, 10, 0), 1, at(2026, 9, 20, 9, 0), "make-up Sunday 20 September works"),
        (CAL, at(2026, 9, 24, 17, 0), 2, at(2026, 9, 28, 9, 0), "over the Mid-Autumn holiday"),
        # 春节 15-23 February (nine days); Saturdays 14 and 28 February are make-up working days
        (CAL, at(2026, 2, 13, 17, 0), 2, at(2026, 2, 14, 9, 0), "make-up Saturday before Spring Festival"),
        (CAL, at(2026, 2, 14, 17, 0), 2, at(2026, 2, 24, 9, 0), "over the Spring Festival"),
        # 元旦 1-3 January (Thursday to Saturday), Sunday 4 January works
        (CAL, at(2025, 12, 31, 17, 0), 2, at(2026, 1, 4, 9, 0), "New Year, make-up Sunday 4 January"),
        # 劳动节 1-5 May, Saturday 9 May works
        (CAL, at(2026, 4, 30, 17, 30), 1, at(2026, 5, 6, 8, 30), "over Labour Day"),
        (CAL, at(2026, 5, 8, 18, 0), 1, at(2026, 5, 9, 9, 0), "make-up Saturday 9 May works"),
        (CAL, at(2026, 4, 3, 17, 0), 2, at(2026, 4, 7, 9, 0), "Qingming 4-6 April"),
        (CAL, at(2026, 6, 18, 17, 0), 2, at(2026, 6, 22, 9, 0), "Dragon Boat 19-21 June"),
    ],
)
def test_working_time_deadlines(cal, start, hours, expected, why):
    assert cal.add(start, timedelta(hours=hours)) == expected, why
    # and back: the working time between start and the deadline is the limit itself
    assert cal.between(start, expected) == timedelta(hours=hours), why


def test_natural_time_for_urgent_types_and_utc_in():
    start = datetime(2026, 11, 27, 9, 50, tzinfo=ZoneInfo("UTC"))  # Friday 17:50 in Shanghai
    assert due(start, 4, None) == start + timedelta(hours=4)  # natural time ignores the calendar
    assert due(start, 4, CAL) == at(2026, 11, 30, 11, 50)


def test_configured_days_and_hours():
    cal = build_calendar(
        "Asia/Shanghai", periods=["08:30-12:00", "13:30-17:30"], weekend=[6],
        holidays=[date(2026, 11, 30)], workdays=[date(2026, 11, 29)], default_data=False,
    )  # fmt: skip
    assert cal.day_seconds == 7.5 * 3600
    assert cal.is_working_day(date(2026, 11, 28))  # Saturday: a six-day week here
    assert cal.is_working_day(date(2026, 11, 29)) and not cal.is_working_day(date(2026, 11, 30))
    assert cal.add(at(2026, 11, 28, 17, 0), timedelta(hours=1)) == at(2026, 11, 29, 9, 0)
    assert cal.add(at(2026, 11, 29, 17, 0), timedelta(hours=1)) == at(2026, 12, 1, 9, 0)
    without = build_calendar("Asia/Shanghai", default_data=False)
    assert without.is_working_day(date(2026, 10, 1)) and not CAL.is_working_day(date(2026, 10, 1))


@pytest.mark.parametrize("spec", [["12:00-08:00"], ["08:00-12:00", "11:00-13:00"], ["8-12"], ["08:00"], []])
def test_bad_working_periods_are_refused(spec):
    with pytest.raises(ValueError):
        parse_periods(spec)


def test_naive_times_and_impossible_limits_are_errors():
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add(datetime(2026, 11, 27, 17, 50), timedelta(hours=1))
    never = build_calendar("Asia/Shanghai", weekend=range(7), default_data=False)
    with pytest.raises(ValueError, match="does not fit"):
        never.add(at(2026, 11, 27), timedelta(hours=1))
