"""Zone rules, one class per violation type, registered by taxonomy code.

Adding a type: write a :class:`ZoneRule` subclass with ``code`` and its subjects in a module here,
import it below, and add the type with ``detector: <code>`` to ``cityops/taxonomy.yaml``.
"""

from __future__ import annotations

from datetime import time

from vision.rules import parking, rubbish, vending  # noqa: F401  (registers the rules)
from vision.rules.base import RULES, DwellClock, Violation, ZoneRule, register
from vision.tracking import Track
from vision.zones import Zone

__all__ = ["RULES", "CameraRules", "DwellClock", "Violation", "ZoneRule", "register"]


class UnknownRule(ValueError):
    pass


class CameraRules:
    """Every rule of every zone of one camera."""

    def __init__(self, zones: list[Zone]) -> None:
        missing = sorted({code for z in zones for code in z.cfg.rules if code not in RULES})
        if missing:
            raise UnknownRule(f"no vision rule for {missing}; rules: {sorted(RULES)}")
        exclusions = [z for z in zones if z.excludes]
        self.rules = [RULES[code](z, exclusions) for z in zones if not z.excludes for code in z.cfg.rules]

    def update(self, tracks: list[Track], t: float, local: time) -> list[Violation]:
        out: list[Violation] = []
        for rule in self.rules:
            out += rule.update(tracks if rule.zone.active(local) else [], t)
        return out

    def dwell_clocks(self, t: float) -> dict[int, float]:
        """Longest running dwell per track id (for drawing)."""
        out: dict[int, float] = {}
        for rule in self.rules:
            for tid in rule.clock.clocks:
                out[tid] = max(out.get(tid, 0.0), rule.clock.dwell_of(tid, t) or 0.0)
        return out
