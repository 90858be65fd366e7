"""The wall board's component layer (dashboard/component_layer.py): one trace per component type,
named in the board's language, hover with names not codes, hidden at first and shown by a patch."""

from __future__ import annotations

from dash import Dash, no_update

from dashboard import component_layer
from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.live import LiveState
from dashboard.pages import board
from gis.components import Component, activate_components, load_components
from gis.default import load_grid
from tests.conftest import make_config
from tests.test_dashboard_pages import apply_patch

DEPARTMENTS = [
    {"id": "sanitation", "name": "区环卫中心", "name_en": "Sanitation office", "kind": "sanitation"},
    {"id": "enforcement", "name": "城管执法局", "name_en": "Enforcement bureau", "kind": "enforcement"},
]


def _ctx(tmp_path) -> DashContext:
    cfg = make_config(tmp_path, departments=DEPARTMENTS)
    return DashContext(cfg, LiveState("redis://127.0.0.1:1/0"), load_grid(cfg.grid, cfg.data), None)


def _registry(ctx) -> list[Component]:
    cells = ctx.grid.cells
    spot = lambda k: cells[k].geometry.representative_point()  # noqa: E731
    comps = [
        Component("MH-9", "C0101", spot(1).x, spot(1).y, cells[1].code, owner="enforcement", state="damaged"),
        Component("MH-10", "C0101", spot(2).x, spot(2).y, cells[2].code),
        Component("BIN-1", "C0302", spot(3).x, spot(3).y, cells[3].code, name="东门"),
    ]
    activate_components(comps, ctx.cfg.data)
    return comps


def test_one_trace_per_type_named_in_the_language_with_names_in_the_hover(tmp_path):
    ctx = _ctx(tmp_path)
    _registry(ctx)
    for lang in ("zh-CN", "en"):
        assert all(tr["lon"] == [None] for tr in component_layer.traces(ctx, lang))  # hidden: no points
        traces = component_layer.traces(ctx, lang, True)
        assert [tr["name"] for tr in traces] == [t("type.C0101", lang), t("type.C0302", lang)]
        assert [tr["uid"] for tr in traces] == ["comp-C0101", "comp-C0302"]
        assert [tr["customdata"] for tr in traces] == [["MH-9", "MH-10"], ["BIN-1"]]
        assert not any(tr["cluster"]["enabled"] for tr in traces)  # a few: every one drawn
    zh = component_layer.traces(ctx, "zh-CN", True)
    mh9, mh10 = zh[0]["text"]
    assert mh9.startswith(t("type.C0101", "zh-CN")) and "MH-9" in mh9
    assert "损坏" in mh9 and "城管执法局" in mh9 and "enforcement" not in mh9 and "damaged" not in mh9
    assert "完好" in mh10 and "C0101" not in mh10  # the type by name, not its code
    bin1 = zh[1]["text"][0]
    assert "区环卫中心" in bin1 and "东门" in bin1  # no owner of its own: the type's owner, by name
    en = component_layer.traces(ctx, "en", True)
    assert "Damaged" in en[0]["text"][0] and "Enforcement bureau" in en[0]["text"][0]


def test_thousands_are_clustered_and_the_registry_is_read_again_when_it_changes(tmp_path):
    ctx = _ctx(tmp_path)
    comps = _registry(ctx)
    assert sum(len(tr["lon"]) for tr in component_layer.traces(ctx, "en", True)) == 3
    p = ctx.grid.cells[5].geometry.representative_point()
    many = [Component(f"L-{k}", "C0108", p.x + k * 1e-5, p.y, ctx.grid.cells[5].code) for k in range(2000)]
    activate_components([*comps, *many], ctx.cfg.data)
    traces = {tr["uid"]: tr for tr in component_layer.traces(ctx, "en", True)}
    assert len(traces["comp-C0108"]["lon"]) == 2000 and traces["comp-C0108"]["cluster"]["enabled"]
    assert not traces["comp-C0101"]["cluster"]["enabled"]
    assert len(load_components(ctx.cfg.data)) == 2003


def test_no_registry_no_traces(tmp_path):
    ctx = _ctx(tmp_path)
    assert component_layer.traces(ctx, "en") == []
    fig = board.map_figure(ctx, {}, [], [], "en", board.ClientView(0, {}))
    assert [tr["uid"] for tr in fig["data"]] == [board.CELLS, board.HIGHLIGHT, board.INCIDENTS, board.CAMERAS,
                                                 board.DEVICES]  # fmt: skip


def test_board_map_has_the_layer_hidden_and_the_toggle_shows_it_by_a_patch(tmp_path):
    ctx = _ctx(tmp_path)
    _registry(ctx)
    board.register(Dash(__name__, suppress_callback_exceptions=True), ctx)
    district = {"level": "district"}
    push = lambda have, on: board.refresh(ctx, 0, None, district, 1, None, "page", have, "zh-CN", on)  # noqa: E731
    fig, seq = push(0, False)  # the page's first answer: the whole map
    at = board.trace_index(fig)
    comps = {uid: k for uid, k in at.items() if component_layer.is_component(uid)}
    assert list(comps) == ["comp-C0101", "comp-C0302"]
    # under the incidents, each under a layer of its own (board.stacked)
    assert max(comps.values()) < at[board.INCIDENTS]
    belows = [tr["below"] for tr in fig["data"]]
    assert len(set(belows)) == len(belows)
    assert all(fig["data"][k]["lon"] == [None] for k in comps.values())  # hidden: no points
    assert push(seq, False) == (no_update, no_update)  # nothing changed
    patch, seq2 = push(seq, True)  # the toggle pressed
    shown = apply_patch(fig, patch)
    assert [len(shown["data"][k]["lon"]) for k in comps.values()] == [2, 1]
    assert shown["data"][comps["comp-C0302"]]["customdata"] == ["BIN-1"]
    assert "区环卫中心" in shown["data"][comps["comp-C0302"]]["text"][0]
    assert [tr for k, tr in enumerate(shown["data"]) if k not in comps.values()] == [
        tr for k, tr in enumerate(fig["data"]) if k not in comps.values()
    ]  # the rest untouched
    patch, _ = push(seq2, False)  # pressed again
    hidden = apply_patch(shown, patch)
    assert all(hidden["data"][k]["lon"] == [None] for k in comps.values())
    # a page the server does not know (it restarted) while the layer shows: the whole map, shown
    fig, _ = push(10_000, True)
    assert [len(fig["data"][k]["lon"]) for k in comps.values()] == [2, 1]


def test_toggle_flips_the_store_and_the_button():
    assert component_layer.flip(1, False) == (True, "drill eval-toggle on")
    assert component_layer.flip(2, True) == (False, "drill eval-toggle")
    assert component_layer.wanted({"components": "1"}) and not component_layer.wanted({})
