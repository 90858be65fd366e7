"""Comprehensive evaluation (综合评价), the seventh step: the indicators of CJ/T 292 (城市市政综合监管
信息系统 绩效评价) per region (street, community, cell), per department and per position (the cell's
inspector, a department's staff), over a day, week, month or quarter, each graded in colour bands.

The figures are read from the cases reported in the period and their audit trail (pure functions
below; :func:`evaluate` loads them). Formulas and sources: docs/dmc.md.

- 上报数 reports: cases reported (信息收集) in the period, duplicates included
- 立案数 filed: of those, cases filed (立案), dispatched ones included; 有效上报率 = 立案数 / 上报数
- 结案数 closed: filed cases closed (结案); 结案率 = 结案数 / 立案数
- 按期结案数 closed on time: closed without their handling clock (处置时限, extensions included)
  having run out; 按期结案率 = 按期结案数 / 立案数
- 超期案卷数 overdue: filed cases whose handling clock ran out (closed late, or still open past it)
- 返工率 = 返工 (rework) events / 处置反馈 (resolve) events
- 回退数 returns, 延期数 approved extensions (events)
- 核查及时率 = on-site verifications (核查: verify or rework) made within their limit / all of them
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from dispatch.lifecycle import CLOSED, FINAL_STATES, Stage
from dispatch.store import Incident, IncidentEventRow
from gis.grid import Grid

PERIODS = ("day", "week", "month", "quarter")
GROUPS = ("street", "community", "cell", "department", "inspector", "staff")
#: (grade, colour, lowest 按期结案率 in the band), best first: the grading of the local standards'
#: green / blue / yellow / red scheme; the thresholds are this product's defaults (docs/dmc.md).
BANDS = (("A", "green", 0.95), ("B", "blue", 0.90), ("C", "yellow", 0.80), ("D", "red", 0.0))
COLUMNS = ["key", "reports", "filed", "closed", "closed_on_time", "overdue", "resolved", "reworks", "returns",
           "extensions", "verifications", "verified_on_time", "close_rate", "on_time_rate", "rework_rate",
           "timely_verification_rate", "valid_report_rate", "grade", "colour"]  # fmt: skip
HEADINGS_ZH = {"reports": "上报数", "filed": "立案数", "closed": "结案数", "closed_on_time": "按期结案数",
               "overdue": "超期案卷数", "resolved": "处置反馈数", "reworks": "返工数", "returns": "回退数",
               "extensions": "延期数", "verifications": "核查数", "verified_on_time": "按时核查数",
               "close_rate": "结案率", "on_time_rate": "按期结案率", "rework_rate": "返工率",
               "timely_verification_rate": "核查及时率", "valid_report_rate": "有效上报率", "grade": "等级",
               "colour": "颜色"}  # fmt: skip


def period_bounds(day: date, period: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the day, ISO week, month or quarter that contains ``day``, in ``tz``."""
    if period == "day":
        first, last = day, day + timedelta(days=1)
    elif period == "week":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    elif period in ("month", "quarter"):
        month = day.month if period == "month" else 3 * ((day.month - 1) // 3) + 1
        first = date(day.year, month, 1)
        n = 1 if period == "month" else 3
        last = date(first.year + (first.month - 1 + n) // 12, (first.month - 1 + n) % 12 + 1, 1)
    else:
        raise ValueError(f"period must be one of {PERIODS}")
    return datetime.combine(first, time(0), tz), datetime.combine(last, time(0), tz)


@dataclass
class Figures:
    reports: int = 0
    filed: int = 0
    closed: int = 0
    closed_on_time: int = 0
    overdue: int = 0
    resolved: int = 0
    reworks: int = 0
    returns: int = 0
    extensions: int = 0
    verifications: int = 0
    verified_on_time: int = 0
    cases: set = field(default_factory=set)

    def row(self, key: str, bands=BANDS) -> dict:
        def rate(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        on_time = rate(self.closed_on_time, self.filed)
        grade, colour = grade_of(on_time, bands)
        return {
            "key": key, "reports": self.reports, "filed": self.filed, "closed": self.closed,
            "closed_on_time": self.closed_on_time, "overdue": self.overdue, "resolved": self.resolved,
            "reworks": self.reworks, "returns": self.returns, "extensions": self.extensions,
            "verifications": self.verifications, "verified_on_time": self.verified_on_time,
            "close_rate": rate(self.closed, self.filed), "on_time_rate": on_time,
            "rework_rate": rate(self.reworks, self.resolved),
            "timely_verification_rate": rate(self.verified_on_time, self.verifications),
            "valid_report_rate": rate(self.filed, self.reports), "grade": grade, "colour": colour,
        }  # fmt: skip


def grade_of(on_time_rate: float | None, bands=BANDS) -> tuple[str, str]:
    if on_time_rate is None:
        return "-", "grey"
    for grade, colour, low in bands:
        if on_time_rate >= low:
            return grade, colour
    return bands[-1][0], bands[-1][1]


@dataclass(frozen=True)
class Case:
    """What evaluation needs of one case: the incident and its audit trail (events in order)."""

    inc: object
    events: Sequence[object]


def _act(e) -> str:
    return (e.extra or {}).get("act", "")


def handling_late(case: Case, now: datetime, due_now: Callable[[object], datetime | None]) -> bool:
    """Did the case's handling clock run out: a handling stage left late, recorded late, or still
    running past its deadline now."""
    inc = case.inc
    if Stage.HANDLE.value in (inc.late or []):
        return True
    if any(
        (e.extra or {}).get("stage") == Stage.HANDLE.value and (e.extra or {}).get("late")
        for e in case.events
    ):
        return True
    if inc.state not in FINAL_STATES:
        due = due_now(inc)
        return due is not None and now > due
    return False


def tally(
    cases: Iterable[Case],
    keys: Callable[[Case], Iterable[str]],
    now: datetime,
    due_now: Callable[[object], datetime | None] = lambda inc: None,
) -> dict[str, Figures]:
    """Figures per key (a case may count under several keys, e.g. the departments that had it)."""
    out: dict[str, Figures] = defaultdict(Figures)
    for case in cases:
        inc = case.inc
        filed = inc.filed_at is not None
        closed = inc.state == CLOSED
        late = filed and handling_late(case, now, due_now)
        acts = [_act(e) for e in case.events]
        checks = [e for e in case.events if _act(e) in ("verify", "rework")]
        for key in set(keys(case)):
            f = out[key]
            f.cases.add(inc.id)
            f.reports += 1
            f.filed += filed
            f.closed += closed
            f.closed_on_time += closed and not late
            f.overdue += late
            f.resolved += acts.count("resolve")
            f.reworks += acts.count("rework")
            f.returns += acts.count("return")
            f.extensions += acts.count("approve_extension")
            f.verifications += len(checks)
            f.verified_on_time += sum(1 for e in checks if not (e.extra or {}).get("late"))
    return dict(out)


def key_function(by: str, grid: Grid) -> Callable[[Case], Iterable[str]]:
    def region(case: Case) -> list[str]:
        cell = grid.by_code.get(case.inc.cell or "")
        if cell is None:
            return ["(outside)"]
        return [{"street": cell.street, "community": cell.community, "cell": cell.code}[by]]

    if by in ("street", "community", "cell"):
        return region
    if by == "department":  # the department that has (or had, at the end) the case
        return lambda c: [c.inc.department or "(none)"]
    if by == "inspector":
        return lambda c: [c.inc.inspector or "(none)"]
    if by == "staff":  # the department staff who acted on it
        return lambda c: (
            {e.actor for e in c.events if (e.extra or {}).get("role") == "department"} or {"(none)"}
        )
    raise ValueError(f"by must be one of {GROUPS}")


def load_cases(sessions: sessionmaker, begin: datetime, end: datetime) -> list[Case]:
    with sessions() as s:
        incs = s.scalars(select(Incident).where(Incident.opened_at >= begin, Incident.opened_at < end)).all()
        ids = [i.id for i in incs]
        events: dict[int, list] = defaultdict(list)
        for chunk in range(0, len(ids), 500):
            for e in s.scalars(
                select(IncidentEventRow)
                .where(IncidentEventRow.incident_id.in_(ids[chunk : chunk + 500]))
                .order_by(IncidentEventRow.incident_id, IncidentEventRow.version)
            ):
                events[e.incident_id].append(e)
    return [Case(i, events[i.id]) for i in incs]


def evaluate(
    sessions: sessionmaker, grid: Grid, *, day: date, period: str, by: str, tz: ZoneInfo, now: datetime,
    due_now: Callable[[object], datetime | None] = lambda inc: None,
) -> list[dict]:  # fmt: skip
    """One row per group, best graded first, then a district total row (key ``(all)``)."""
    begin, end = period_bounds(day, period, tz)
    cases = load_cases(sessions, begin, end)
    groups = tally(cases, key_function(by, grid), now, due_now)
    if by == "department":  # a return (回退) counts for the department that returned the case
        for f in groups.values():
            f.returns = 0
        for case in cases:
            for e in case.events:
                if _act(e) == "return" and (e.extra or {}).get("department"):
                    groups.setdefault(e.extra["department"], Figures()).returns += 1
    rows = [f.row(k) for k, f in groups.items()]
    rows.sort(key=lambda r: (-(r["on_time_rate"] or 0), r["key"]))
    total = tally(cases, lambda c: ["(all)"], now, due_now).get("(all)", Figures())
    return [*rows, total.row("(all)")]


def to_csv(rows: list[dict], lang: str = "en") -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    if lang.startswith("zh"):
        buf.write(",".join(["key", *(HEADINGS_ZH[c] for c in COLUMNS[1:])]) + "\r\n")
    else:
        w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


#: the grading colours as spreadsheet fills (the same bands as the pages' colours)
XLSX_FILLS = {"green": "B7EB8F", "blue": "91CAFF", "yellow": "FFE58F", "red": "FFA39E"}


def to_xlsx(rows: list[dict], lang: str = "en") -> bytes:
    """The CSV's content as an Excel workbook (one sheet, the same columns and rows; the headings in
    zh-CN with ``lang="zh-CN"``): numbers as numbers, an empty cell for a rate with nothing to divide,
    and each row's grade cell filled in its colour."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "综合评价" if lang.startswith("zh") else "evaluation"
    ws.append(["key", *(HEADINGS_ZH[c] for c in COLUMNS[1:])] if lang.startswith("zh") else list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    grade_col = COLUMNS.index("grade") + 1
    for r in rows:
        ws.append([r.get(c) for c in COLUMNS])
        fill = XLSX_FILLS.get(r.get("colour") or "")
        if fill:
            ws.cell(row=ws.max_row, column=grade_col).fill = PatternFill("solid", fgColor=fill)
    ws.freeze_panes = "B2"
    ws.column_dimensions["A"].width = 16
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
