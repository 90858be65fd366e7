"""SLA clocks as the pages show them, from the API's answers (pure): times, the next deadline, spans."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch.lifecycle import SlaStage


def parse_time(value) -> datetime | None:
    """An API time (ISO text, ``Z`` allowed) or a datetime, always aware (UTC when it had no zone)."""
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def next_due(item: dict) -> tuple[str, datetime] | None:
    """The first SLA stage not yet done and its deadline (the API's ``due``), or None."""
    for stage in SlaStage:
        if not item.get(stage.stamp) and stage.value in (item.get("due") or {}):
            return stage.value, parse_time(item["due"][stage.value])
    return None


def span_text(seconds: float) -> str:
    """``M:SS`` or ``H:MM:SS`` of a span (its sign left to the caller)."""
    s = int(abs(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return (f"{h}:{m:02d}" if h else f"{m:02d}") + f":{sec:02d}"
