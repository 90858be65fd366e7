"""The zone editor's table rows to and from a camera's zones and masks (dashboard.zone_form): what an
operator typed reaches the config's validation as typed, and a camera's zones come back unchanged."""

from __future__ import annotations

import pytest

from cityops.config import CameraConfig
from dashboard import zone_form
from vision import zone_overrides

CAM = {
    "id": "cam-1",
    "source": "demo:",
    "lon": 118.19,
    "lat": 39.65,
    "zones": [
        {"id": "bay", "polygon": [[380, 250], [600, 250], [600, 350]], "rules": ["illegal_parking"],
         "classes": ["object"], "dwell_s": 5, "cooldown_s": 30,
         "active_hours": [{"start": "22:00", "end": "06:00"}]},
        {"id": "row", "kind": "exclude", "polygon_norm": [[0, 0], [0.5, 0], [0.5, 0.5]]},
    ],
    "motion_masks": [{"name": "tree", "polygon": [[10, 10], [100, 10], [100, 90]]}],
}  # fmt: skip


def test_rows_round_trip_to_the_same_camera():
    cam = CameraConfig.model_validate(CAM)
    rows = zone_form.rows(cam, (640, 360))
    assert [r["kind"] for r in rows] == ["rules", "exclude", "mask"]
    assert rows[0]["active_hours"] == "22:00-06:00" and rows[0]["dwell_s"] == 5
    assert rows[1]["points"] == "0,0 320,0 320,180" and rows[1]["norm"]
    back = zone_overrides.apply(cam, zone_form.document(rows, "cam-1", (640, 360)))
    assert back.zones == cam.zones and back.motion_masks == cam.motion_masks  # cooldown_s kept too


def test_a_drawn_path_becomes_a_new_row_and_typed_values_pass_as_typed():
    pts = zone_form.path_points("M10.04,20L200.5,20.26L200,180Z")
    assert pts == [(10.0, 20.0), (200.5, 20.3), (200.0, 180.0)]
    assert zone_form.path_points(zone_form.svg_path(pts)) == pts
    row = zone_form.new_row(pts, {"zone-1"})
    assert row["id"] == "zone-2" and row["kind"] == "rules"
    row.update(rules="illegal_parking，street_vending", dwell_s="abc", active_hours="08:00-12:00; 14:00")
    doc = zone_form.document([row], "cam-1", (640, 360))
    z = doc["zones"][0]
    assert z["rules"] == ["illegal_parking", "street_vending"] and z["dwell_s"] == "abc"
    assert z["active_hours"] == [{"start": "08:00", "end": "12:00"}, {"start": "14:00"}]
    with pytest.raises(zone_overrides.OverrideError, match=r"zones\[0\].dwell_s: value 'abc'"):
        zone_overrides.apply(CameraConfig.model_validate({**CAM, "zones": []}), doc)


def test_a_rule_zone_without_rules_and_a_mask_with_rules_are_refused_in_config_words():
    cam = CameraConfig.model_validate({**CAM, "zones": [], "motion_masks": []})
    rows = [zone_form.new_row([(10, 10), (100, 10), (100, 100)], set())]
    with pytest.raises(zone_overrides.OverrideError, match="kind: exclude"):
        zone_overrides.apply(cam, zone_form.document(rows, "cam-1", None))
    rows[0].update(kind="exclude")
    assert zone_overrides.apply(cam, zone_form.document(rows, "cam-1", None)).zones[0].kind == "exclude"
    rows[0].update(kind="mask", id="")
    got = zone_overrides.apply(cam, zone_form.document(rows, "cam-1", None))
    assert got.zones == [] and got.motion_masks[0].name == ""


def test_graph_edits_add_move_and_erase_rows():
    from dash.exceptions import PreventUpdate

    from dashboard.pages.zones import edit

    a = zone_form.new_row([(0, 0), (50, 0), (50, 50)], set())
    b = {**zone_form.new_row([(100, 100), (150, 100), (150, 150)], {"zone-1"}), "rules": "illegal_parking"}
    moved = edit({"shapes[1].path": "M110,100L160,100L160,150Z"}, [a, b], None)
    assert moved[1]["points"] == "110,100 160,100 160,150" and moved[1]["rules"] == "illegal_parking"
    assert moved[0] == a
    drawn = edit({"shapes": [{"name": b["key"], "path": "M100,100L150,100L150,150Z"},
                             {"path": "M200,200L260,200L260,260L200,260Z"}]}, [a, b], None)  # fmt: skip
    assert [r["id"] for r in drawn] == ["zone-2", "zone-1"]  # a erased, b kept, a new one drawn
    assert drawn[1]["points"] == "200,200 260,200 260,260 200,260" and drawn[1]["rules"] == ""
    for nothing in (None, {"autosize": True}, {"dragmode": "pan"}):
        with pytest.raises(PreventUpdate):
            edit(nothing, [a, b], None)
