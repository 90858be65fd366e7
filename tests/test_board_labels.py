"""Labels built from data are text on the board's charts and map (issue 16 item 13): plotly reads
``<a href>``, ``<b>``, ``<br>`` in tick labels and hover text as markup, so a type code (or a street or
camera name) with markup in it must reach the figure with ``&``, ``<`` and ``>`` escaped."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.context import DashContext
from dashboard.pages.board import camera_trace, charts, marker_text
from gis.default import load_grid
from streams.schemas import IncidentEvent
from tests.conftest import make_config

LINK = '<a href="https://evil.example/">click</a>'


def _labels(fig: dict) -> list[str]:
    return [
        str(v)
        for trace in fig["data"]
        for v in (trace["y"] if trace.get("orientation") == "h" else trace["x"])
    ]


def test_markup_in_types_streets_and_cameras_is_escaped(tmp_path):
    cfg = make_config(tmp_path, cameras=[{"id": "cam-1", "name": "<b>Gate</b> & <br>yard", "source": "demo:",
                                          "lon": 118.19, "lat": 39.65}])  # fmt: skip
    grid = load_grid(cfg.grid, cfg.data)
    object.__setattr__(grid.cells[0], "street_en", "<i>Main</i> St")  # a name from an imported grid file
    ctx = DashContext(cfg, None, grid, None)
    now = datetime.now(UTC)
    incs = [
        IncidentEvent(incident_id=k, version=1, action="created", state="dispatched", type=type_,
                      cell=grid.cells[0].code, lon=118.19, lat=39.65, at=now, opened_at=now)
        for k, type_ in enumerate([LINK, "exposed_rubbish", "a & b > c"], start=1)
    ]  # fmt: skip
    _trend, by_type, by_street = charts(ctx, incs, "en")
    types = _labels(by_type)
    assert '&lt;a href="https://evil.example/"&gt;click&lt;/a&gt;' in types
    assert "a &amp; b &gt; c" in types
    assert not any("<" in label for label in types + _labels(by_street)), types
    assert "&lt;i&gt;Main&lt;/i&gt; St" in _labels(by_street)
    assert "<" not in marker_text(incs[0], "en") and "&lt;a href" in marker_text(incs[0], "en")
    cam = camera_trace(ctx, [], "en")["text"][0]
    assert "&lt;b&gt;Gate&lt;/b&gt; &amp; &lt;br&gt;yard" in cam
