"""The step clocks and the routing of a case to its department (pure functions over the config,
the taxonomy and an incident's stored stamps).

Each open state waits in one :class:`~dispatch.lifecycle.Stage`; its clock starts at ``stage_at``
and runs for the stage's limit: the type's handling limit (plus approved extensions) while it is
being handled, the configured limits of the centre's and the inspector's stages otherwise. A type
whose limit counts natural time (urgent ones) runs every clock in natural hours; the others count
working hours on the working calendar (:mod:`dispatch.workcalendar`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from cityops.config import CalendarConfig, CityOpsConfig, DepartmentConfig, StageLimits
from cityops.taxonomy import case_type
from dispatch.lifecycle import STAGE_OF_STATE, Stage
from dispatch.workcalendar import WorkCalendar, build_calendar, due


@dataclass(frozen=True)
class StageClock:
    stage: Stage
    started: datetime
    hours: float
    natural: bool
    due: datetime

    def as_dict(self) -> dict:
        return {"stage": self.stage.value, "zh": self.stage.zh, "en": self.stage.en, "step": self.stage.step.value,
                "step_zh": self.stage.step.zh, "started_at": self.started, "hours": self.hours,
                "time": "natural" if self.natural else "working", "due": self.due}  # fmt: skip


def calendar_for(cfg: CityOpsConfig) -> WorkCalendar:
    return _calendar(cfg.timezone, cfg.calendar.model_dump_json())


@cache
def _calendar(tz: str, settings: str) -> WorkCalendar:
    cal = CalendarConfig.model_validate_json(settings)
    return build_calendar(
        tz, cal.periods, cal.weekend, cal.holidays, cal.workdays, default_data=cal.default_holidays
    )


def stage_hours(
    stage: Stage, type_code: str, limits: StageLimits, extension_h: float = 0.0
) -> tuple[float, bool]:
    """(hours, natural time?) of ``stage`` for a case of ``type_code``."""
    vt = case_type(type_code)
    natural = bool(vt and vt.natural)
    if stage is Stage.HANDLE:
        return (vt.limit_h if vt and vt.limit_h else limits.handle_h) + (extension_h or 0.0), natural
    return getattr(limits, f"{stage.value}_h"), natural


def stage_clock(inc, limits: StageLimits, calendar: WorkCalendar) -> StageClock | None:
    """The clock of the stage ``inc`` waits in now, or None (a final state)."""
    stage = STAGE_OF_STATE.get(inc.state)
    if stage is None:
        return None
    start = inc.stage_at or inc.dispatched_at or inc.opened_at
    hours, natural = stage_hours(stage, inc.type, limits, getattr(inc, "extension_h", 0.0) or 0.0)
    return StageClock(stage, start, hours, natural, due(start, hours, None if natural else calendar))


def _covers(areas: Sequence[str], cell: str | None) -> int | None:
    """How specific ``areas`` cover ``cell``: 0 for the whole district, else the longest matching code."""
    if not areas:
        return 0
    if not cell:
        return None
    match = max((len(a) for a in areas if cell.startswith(a)), default=None)
    return match


def route(departments: Sequence[DepartmentConfig], type_code: str, cell: str | None) -> str | None:
    """The department that owns a case of ``type_code`` in ``cell`` (派遣 by type and place): one that
    lists the type (or its category) beats one of the type's owner kind; among those, the most specific
    area wins (a street office of the cell's street before a district-wide one); then the lowest id."""
    vt = case_type(type_code)
    codes = {type_code, *((vt.standard, vt.category, vt.standard[:3]) if vt else ())} - {""}
    best = None
    for d in departments:
        listed = bool(codes & set(d.types))
        if not listed and not (vt and vt.owner and d.kind == vt.owner):
            continue
        where = _covers(d.areas, cell)
        if where is None:
            continue
        key = (not listed, -where, d.id)
        if best is None or key < best:
            best = key
    return best[-1] if best else None
