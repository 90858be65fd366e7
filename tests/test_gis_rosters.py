"""Rosters and cameras per cell, from the config or CSV, validated against the grid."""

from __future__ import annotations

import pytest

from cityops.config import CameraConfig, InspectorConfig
from gis.generate import generate_grid
from gis.rosters import (
    CameraSite,
    cameras_per_cell,
    inspectors_per_cell,
    read_cameras_csv,
    read_roster_csv,
    sites_from_config,
    validate_cameras,
    validate_roster,
)


@pytest.fixture(scope="module")
def grid():
    return generate_grid(cells=90, communities=6, streets=2, seed=5)


def test_roster_prefix_match_and_unknown_codes(grid):
    cell, comm, street = grid.cells[0].code, grid.cells[40].community, grid.cells[-1].street
    roster = [
        InspectorConfig(id="a", name="A", cells=[cell]),
        InspectorConfig(id="b", name="B", cells=[comm, "130203777"]),
        InspectorConfig(id="c", name="C", cells=[street]),
        InspectorConfig(id="d", name="D", cells=["130203"]),
    ]
    per_cell = inspectors_per_cell(roster, grid)
    assert per_cell[cell] == ["a", "d"] if not cell.startswith(street) else ["a", "c", "d"]
    assert all("d" in ids for ids in per_cell.values()) and len(per_cell) == 90
    assert sum("b" in ids for ids in per_cell.values()) == sum(c.community == comm for c in grid.cells)
    issues = validate_roster(roster, grid, "config roster")
    assert [i.message for i in issues if i.severity == "error"] == [
        "config roster entry 2 (b): unknown code 130203777 (not a cell, community or street of this grid)"
    ]


def test_roster_csv(tmp_path, grid):
    path = tmp_path / "roster.csv"
    path.write_text(
        "id,name,phone,cells,shift_start,shift_end\n"
        f"x1,Xu,1380,{grid.cells[1].code};{grid.cells[2].community},20:00,08:00\n"
        "x2,Yu,1381,130203999999,,\n"
        "bad id!,Zu,1382,130203,,\n",
        encoding="utf-8",
    )
    roster, issues = read_roster_csv(path)
    assert [r.id for r in roster] == ["x1", "x2"] and roster[0].shift.start.hour == 20
    assert len(issues) == 1 and "line 4" in issues[0].message and "id" in issues[0].message
    errors = [i.message for i in validate_roster(roster, grid, str(path)) if i.severity == "error"]
    assert errors == [
        f"{path} entry 2 (x2): unknown code 130203999999 (not a cell, community or street of this grid)"
    ]


def test_cameras_config_and_csv(tmp_path, grid):
    p = grid.cells[7].geometry.representative_point()
    cam = CameraConfig(id="cam-1", source="demo:", lon=p.x, lat=p.y)
    sites = sites_from_config([cam])
    assert validate_cameras(sites, grid) == [] and cameras_per_cell(sites, grid) == {
        grid.cells[7].code: ["cam-1"]
    }
    path = tmp_path / "cams.csv"
    q = grid.cells[8].geometry.representative_point()
    path.write_text(
        "id,name,lon,lat,cell\n"
        f"c1,ok,{q.x},{q.y},{grid.cells[8].code}\n"
        f"c2,wrong cell,{q.x},{q.y},{grid.cells[9].code}\n"
        f"c3,unknown,{q.x},{q.y},130203000000000\n"
        "c4,outside,100.0,20.0,\n"
        "c5,bad,east,north,\n",
        encoding="utf-8",
    )
    sites, issues = read_cameras_csv(path)
    assert len(sites) == 4 and "line 6: lon/lat must be numbers" in issues[0].message
    msgs = [i.message for i in validate_cameras(sites, grid, "cams.csv")]
    assert msgs == [
        f"cams.csv entry 2 (c2): declared in cell {grid.cells[9].code} but stands in {grid.cells[8].code}",
        "cams.csv entry 3 (c3): unknown cell code 130203000000000",
        "cams.csv entry 4 (c4): 100.000000,20.000000 is outside every cell",
    ]
    assert cameras_per_cell([CameraSite("z", "", 100.0, 20.0)], grid) == {}
