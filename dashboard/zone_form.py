"""The zone editor's rows (one per drawn polygon, as its table shows them) to and from a camera's
zones and motion masks. Nothing is validated here: :func:`document` hands the rows, as typed, to
:func:`vision.zone_overrides.apply`, which checks them with the config's own models and words.

A row: ``key`` (the polygon's handle on the picture), ``kind`` (rules / exclude / mask), ``id``,
``name``, ``rules`` and ``classes`` (comma-separated), ``dwell_s``, ``active_hours``
(``22:00-06:00, 07:00-09:00``), and hidden ``points`` (``x,y x,y ...`` in frame pixels), ``norm``
(saved as 0-1 fractions, as it was given) and ``extra`` (the zone's other settings, kept)."""

from __future__ import annotations

import json
import re
import uuid

from cityops.config import CameraConfig, ZoneKind

MASK = "mask"
KINDS = (ZoneKind.RULES.value, ZoneKind.EXCLUDE.value, MASK)
SHOWN = ("id", "name", "kind", "rules", "classes", "dwell_s", "active_hours", "polygon", "polygon_norm")
_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def new_key() -> str:
    return uuid.uuid4().hex[:10]


def points_text(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{round(x, 1):g},{round(y, 1):g}" for x, y in points)


def parse_points(text: str | None) -> list[tuple[float, float]]:
    nums = [float(n) for n in _NUM.findall(text or "")]
    return list(zip(nums[::2], nums[1::2], strict=False))


def svg_path(points: list[tuple[float, float]]) -> str:
    """A closed SVG path through ``points`` (how plotly draws and reports a drawn shape)."""
    if not points:
        return ""
    return "M" + "L".join(f"{x:g},{y:g}" for x, y in points) + "Z"


def path_points(path: str | None) -> list[tuple[float, float]]:
    """The vertices of a plotly closed path (``M x,y L x,y ... Z``)."""
    return [(round(x, 1), round(y, 1)) for x, y in parse_points(path)]


def _hours(hours) -> str:
    return ", ".join(f"{h.start:%H:%M}-{h.end:%H:%M}" for h in hours)


def rows(camera: CameraConfig, size: tuple[int, int]) -> list[dict]:
    """The editor's rows for ``camera``'s zones and motion masks (points in pixels of ``size``)."""
    out = []
    for z in camera.zones:
        given = z.model_dump(mode="json", exclude_unset=True)
        extra = {k: v for k, v in given.items() if k not in SHOWN}
        out.append({
            "key": new_key(), "kind": z.kind.value, "id": z.id, "name": z.name,
            "rules": ", ".join(z.rules), "classes": ", ".join(z.classes or []),
            "dwell_s": z.dwell_s if "dwell_s" in given else "",
            "active_hours": _hours(z.active_hours) if "active_hours" in given else "",
            "points": points_text(z.pixels(*size)), "norm": z.polygon_norm is not None,
            "extra": json.dumps(extra) if extra else "",
        })  # fmt: skip
    for m in camera.motion_masks:
        out.append({
            "key": new_key(), "kind": MASK, "id": m.name, "name": "", "rules": "", "classes": "",
            "dwell_s": "", "active_hours": "", "points": points_text(m.pixels(*size)),
            "norm": m.polygon_norm is not None, "extra": "",
        })  # fmt: skip
    return out


def new_row(points: list[tuple[float, float]], taken: set[str]) -> dict:
    n = 1
    while f"zone-{n}" in taken:
        n += 1
    return {"key": new_key(), "kind": ZoneKind.RULES.value, "id": f"zone-{n}", "name": "", "rules": "",
            "classes": "", "dwell_s": "", "active_hours": "", "points": points_text(points), "norm": False,
            "extra": ""}  # fmt: skip


def _list(text) -> list[str]:
    return [p.strip() for p in str(text or "").replace("，", ",").split(",") if p.strip()]


def _outline(row: dict, size: tuple[int, int] | None) -> dict:
    pts = parse_points(row.get("points"))
    if row.get("norm") and size:
        w, h = size
        return {"polygon_norm": [[round(x / w, 5), round(y / h, 5)] for x, y in pts]}
    return {"polygon": [[x, y] for x, y in pts]}


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def document(table: list[dict], camera_id: str, size: tuple[int, int] | None) -> dict:
    """The override file's content for the rows, as typed (``size``: the frame's, for 0-1 outlines)."""
    zones, masks = [], []
    for row in table:
        if row.get("kind") == MASK:
            name = str(row.get("id") or row.get("name") or "").strip()
            masks.append({**({"name": name} if name else {}), **_outline(row, size)})
            continue
        z: dict = {"id": str(row.get("id") or "").strip()}
        if not _blank(row.get("name")):
            z["name"] = str(row["name"]).strip()
        if row.get("kind") == ZoneKind.EXCLUDE.value:
            z["kind"] = ZoneKind.EXCLUDE.value
        if _list(row.get("rules")) or row.get("kind") != ZoneKind.EXCLUDE.value:
            z["rules"] = _list(row.get("rules"))
        if _list(row.get("classes")):
            z["classes"] = _list(row.get("classes"))
        if not _blank(row.get("dwell_s")):
            z["dwell_s"] = row["dwell_s"]
        if not _blank(row.get("active_hours")):
            z["active_hours"] = [
                dict(zip(("start", "end"), (s.strip() for s in part.split("-", 1)), strict=False))
                for part in _list(str(row["active_hours"]).replace(";", ","))
            ]
        if row.get("extra"):
            z.update(json.loads(row["extra"]))
        zones.append({**z, **_outline(row, size)})
    return {"camera": camera_id, "zones": zones, "motion_masks": masks}
