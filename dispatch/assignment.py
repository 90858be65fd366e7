"""Who gets an incident: the inspector on shift whose area covers the cell, most specific first.

Roster entries list cell, community or street codes; grid codes are hierarchical (a cell code
starts with its community's code, which starts with its street's), so coverage is a prefix match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time

from cityops.config import InspectorConfig


def pick_inspector(
    roster: Sequence[InspectorConfig], cell: str | None, now: time, open_load: Mapping[str, int]
) -> str | None:
    if not cell:
        return None
    best: tuple[int, int, str] | None = None
    for insp in roster:
        if not insp.shift.contains(now):
            continue
        match = max((len(code) for code in insp.cells if cell.startswith(code)), default=0)
        if not match:
            continue
        key = (-match, open_load.get(insp.id, 0), insp.id)  # most specific area, then least loaded
        if best is None or key < best:
            best = key
    return best[2] if best else None
