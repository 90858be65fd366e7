"""SLA clocks derived from stored timestamps (pure): what is due, what is breached.

Clocks start when the incident is dispatched (or opened, while nobody has it): accept within
``accept_s``, be on site within ``arrive_s``, resolve within ``resolve_s``. Per-type targets in the
taxonomy override the configured defaults.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cityops.config import SLAConfig
from cityops.taxonomy import violation_types
from dispatch.lifecycle import OPEN_STATES, SlaStage

#: (stage, the incident stamp that stops its clock, the SLAConfig field with its target)
STAGES = tuple((stage.value, stage.stamp, f"{stage.value}_s") for stage in SlaStage)


def targets_for(type_code: str, default: SLAConfig) -> SLAConfig:
    vt = violation_types().get(type_code)
    if vt and vt.sla:
        return default.model_copy(update=vt.sla)
    return default


def deadlines(inc, targets: SLAConfig) -> dict[str, datetime]:
    start = inc.dispatched_at or inc.opened_at
    return {stage: start + timedelta(seconds=getattr(targets, key)) for stage, _, key in STAGES}


def new_breaches(inc, now: datetime, targets: SLAConfig) -> list[str]:
    """Stages whose deadline passed before they were done, not yet recorded on the incident."""
    if inc.state not in OPEN_STATES:
        return []
    done = set(inc.breaches or [])
    due = deadlines(inc, targets)
    return [
        stage
        for stage, stamp, _ in STAGES
        if stage not in done and getattr(inc, stamp) is None and now > due[stage]
    ]


def met(inc, targets: SLAConfig) -> dict[str, bool | None]:
    """Per stage: met (True), missed (False) or still open (None) — for compliance reports."""
    due = deadlines(inc, targets)
    out: dict[str, bool | None] = {}
    for stage, stamp, _ in STAGES:
        at = getattr(inc, stamp)
        out[stage] = (
            None
            if at is None and stage not in (inc.breaches or [])
            else (at is not None and at <= due[stage])
        )
    return out
