"""The component registry (部件普查): a layer validated like the grid import (all or nothing), made
active by the CLI, and a report on a component goes to the component's owner."""

from __future__ import annotations

import json

import pytest

from gis.components import build_components, load_components, registry_path
from gis.default import load_grid
from tests.conftest import make_config
from tests.helpers import login, point
from tests.services import write_config

DEPARTMENTS = [
    {"id": "water-co", "name": "自来水公司", "kind": "water", "staff": [{"id": "w-1", "name": "W"}]},
    {"id": "lighting", "name": "路灯所", "kind": "lighting"},
]


def feature(code, kind, lon, lat, **props):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"code": code, "type": kind, **props}}  # fmt: skip


def layer(tmp_path, features, name="components.geojson"):
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
    return path


@pytest.fixture
def grid(tmp_path):
    return load_grid(make_config(tmp_path).grid, tmp_path / "data")


def test_a_good_layer_is_read_with_cells(tmp_path, grid):
    (lon, lat), (lon2, lat2) = point(grid, "130203001"), point(grid, "130203002")
    path = layer(tmp_path, [feature("MH-1", "C0101", lon, lat, owner="water-co", state="损坏"),
                            feature("SL-7", "C0108", lon2, lat2, name="路灯 7")])  # fmt: skip
    found, report = build_components(path, grid, ["water-co", "lighting"])
    assert report.ok, report.text()
    assert [(c.code, c.type, c.owner, c.state) for c in found] == [
        ("MH-1", "C0101", "water-co", "damaged"),
        ("SL-7", "C0108", "", "normal"),
    ]
    assert found[0].cell.startswith("130203001") and found[1].cell.startswith("130203002")
    assert "上水井盖 1" in report.text()


def test_every_problem_is_named_and_nothing_is_taken(tmp_path, grid):
    lon, lat = point(grid, "130203001")
    path = layer(tmp_path, [
        feature("MH-1", "C0101", lon, lat),
        feature("MH-1", "C0101", lon, lat),  # duplicate
        feature("X-2", "E0102", lon, lat),  # an event, not a component
        feature("X-3", "C0101", 0.0, 0.0),  # outside
        feature("X-4", "C0101", lon, lat, owner="nobody"),
        feature("X-5", "C0101", lon, lat, state="broken-ish"),
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.001, lat]]},
         "properties": {"code": "X-6", "type": "C0101"}},
        feature("", "C0101", lon, lat),
    ])  # fmt: skip
    found, report = build_components(path, grid, ["water-co"])
    assert found is None
    assert report.checks() == {"duplicate-code", "unknown-type", "outside", "unknown-owner", "state", "geometry",
                               "missing-code"}  # fmt: skip
    text = report.text()
    assert "code MH-1 repeats feature 1" in text and "'E0102' is no component type" in text
    bad, report = build_components(layer(tmp_path, [], "empty.geojson"), grid)
    assert bad is None and "empty-layer" in report.checks()
    no_col = layer(tmp_path, [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                               "properties": {"x": 1}}], "nocol.geojson")  # fmt: skip
    assert build_components(no_col, grid)[1].checks() == {"column"}


def test_cli_activates_only_a_clean_layer(tmp_path, grid):
    from cityops.cli import main

    cfg = make_config(tmp_path, departments=DEPARTMENTS)
    cfg_path = write_config(cfg, tmp_path / "cfg.yaml")
    lon, lat = point(grid, "130203001")
    bad = layer(tmp_path, [feature("MH-1", "C0101", lon, lat, owner="nobody")], "bad.geojson")
    assert main(["gis", "components", str(bad), "--config", str(cfg_path)]) == 1
    assert not registry_path(cfg.data).exists()
    good = layer(tmp_path, [feature("MH-1", "C0101", lon, lat, owner="water-co")])
    assert main(["gis", "components", str(good), "--config", str(cfg_path), "--check"]) == 0
    assert not registry_path(cfg.data).exists()
    assert main(["gis", "components", str(good), "--config", str(cfg_path)]) == 0
    assert load_components(cfg.data)["MH-1"].owner == "water-co"


def test_a_report_on_a_component_goes_to_its_owner(tmp_path, staff_api):
    from gis.components import activate_components

    api = staff_api(
        users=[("bob", "inspector", "insp-b"), ("olga", "operator", None)], departments=DEPARTMENTS
    )
    lon, lat = point(api.grid, "130203002")
    found, report = build_components(
        layer(tmp_path, [feature("MH-9", "C0101", lon, lat, owner="water-co"), feature("SL-1", "C0108", lon, lat)]),
        api.grid, ["water-co", "lighting"],
    )  # fmt: skip
    activate_components(found, api.cfg.data)
    client = api.client()
    bob, ops = login(client, "bob"), login(client, "olga")
    res = client.post(
        "/api/v1/reports", headers=bob, json={"component": "MH-9", "description": "cover broken"}
    )
    assert res.status_code == 201, res.text
    inc = client.get(f"/api/v1/incidents/{res.json()['incident_id']}", headers=ops).json()
    assert (inc["type"], inc["component"], inc["department"], inc["state"]) == (
        "C0101",
        "MH-9",
        "water-co",
        "dispatched",
    )
    assert inc["stage"]["time"] == "natural"  # an urgent component type: natural hours
    # no owner on the component: routed by its type's owner kind (lighting)
    res = client.post("/api/v1/reports", headers=bob, json={"component": "SL-1"})
    assert (
        client.get(f"/api/v1/incidents/{res.json()['incident_id']}", headers=ops).json()["department"]
        == "lighting"
    )
    assert client.post("/api/v1/reports", headers=bob, json={"component": "nope"}).status_code == 422
    assert client.post("/api/v1/reports", headers=bob, json={"description": "x"}).status_code == 422


def test_one_registry_per_data_folder_read_again_when_an_import_replaces_it(tmp_path):
    """The pages share one parsed registry per data folder; an import by another process (a new
    file in its place, even within the same mtime tick) is seen on the next read."""
    from gis.components import Component, activate_components, registry_for

    reg = registry_for(tmp_path)
    assert reg is registry_for(tmp_path / ".") and reg.all() == {}  # no registry yet: none, no error
    one = Component(code="C1", type="manhole", lon=118.2, lat=39.6, cell="130203001001001")
    activate_components([one], tmp_path)
    assert list(reg.all()) == ["C1"] and reg.all() is reg.all()  # parsed once
    two = Component(code="C2", type="street_light", lon=118.21, lat=39.61, cell="130203001001002")
    activate_components([one, two], tmp_path)
    assert sorted(reg.all()) == ["C1", "C2"] and reg.get("C2") == two
