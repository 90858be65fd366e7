"""Vehicles standing still where they must not: a no-parking zone, a fire lane."""

from __future__ import annotations

from vision.detectors.base import VEHICLES
from vision.rules.base import ZoneRule, register


@register
class IllegalParking(ZoneRule):
    """A vehicle stationary in a no-parking zone for longer than the zone's dwell."""

    code = "illegal_parking"
    default_classes = VEHICLES


@register
class FireLaneBlocked(IllegalParking):
    """A vehicle in a fire lane (usually a short dwell and ``require_stationary: false``)."""

    code = "fire_lane_blocked"
