"""Which detections from the stream may become incidents: a check before intake.

A detection is refused (the dispatch service dead-letters it with the reason) when its type is not
in the taxonomy, when it was observed further in the future than the allowed clock skew, or longer
ago than the allowed age (a 400-day-old finding would open an incident that breached every SLA
stage at once). One observed slightly in the future (a producer's clock running ahead, within the
skew) is taken as observed now.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime

from cityops.taxonomy import all_types
from streams.schemas import Detection


@dataclass(frozen=True)
class Admission:
    ok: bool
    reason: str = ""
    detection: Detection | None = None  # what to take in: the detection, its time clamped if needed


def admit(
    det: Detection,
    now: datetime,
    *,
    max_future_skew_s: float,
    max_age_s: float,
    types: Container[str] | None = None,
) -> Admission:
    """Admit ``det`` at ``now``; ``types`` defaults to the taxonomy's codes (product and standard)."""
    known = all_types() if types is None else types
    if det.type not in known:
        return Admission(False, f"type {det.type!r} is not in the taxonomy")
    ahead = (det.observed_at - now).total_seconds()
    if ahead > max_future_skew_s:
        return Admission(
            False,
            f"observed_at {det.observed_at.isoformat()} is {ahead:.0f} s in the future "
            f"(more than the allowed clock skew of {max_future_skew_s:g} s)",
        )
    if ahead > 0:
        det = det.model_copy(update={"observed_at": now})
    elif -ahead > max_age_s:
        return Admission(
            False,
            f"observed_at {det.observed_at.isoformat()} is {-ahead:.0f} s old "
            f"(more than the allowed age of {max_age_s:g} s)",
        )
    return Admission(True, detection=det)
