"""Who gets an incident: the inspector on shift whose area covers the cell, then the community
supervisor, then the street supervisor; among equals, the least loaded.

Roster entries list cell, community or street codes; grid codes are hierarchical (a cell code
starts with its community's code, which starts with its street's), so coverage is a prefix match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time

from cityops.config import InspectorConfig


def covers(insp: InspectorConfig, cell: str) -> int:
    """Length of the most specific code of ``insp`` that covers ``cell`` (0: not covered)."""
    return max((len(code) for code in insp.cells if cell.startswith(code)), default=0)


def pick_inspector(
    roster: Sequence[InspectorConfig],
    cell: str | None,
    now: time,
    open_load: Mapping[str, int],
    *,
    role: str | None = None,
) -> str | None:
    if not cell:
        return None
    best: tuple | None = None
    for insp in roster:
        if (role and insp.role != role) or not insp.shift.contains(now):
            continue
        match = covers(insp, cell)
        if not match:
            continue
        key = (insp.role != "inspector", -match, open_load.get(insp.id, 0), insp.id)
        if best is None or key < best:
            best = key
    return best[-1] if best else None


def supervisor_for(roster: Sequence[InspectorConfig], cell: str | None, now: time) -> str | None:
    return pick_inspector(roster, cell, now, {}, role="supervisor")
