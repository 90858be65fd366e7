"""The wall board's evaluation panel (综合评价, the seventh step): one toggle on the board's header puts
the month's league tables (streets or communities, and departments, best graded first, each row in its
grade's colour) over the side panel and the streets (or communities) in their grade's colour over the
map; pressed again, the live board is back. ``?eval=1`` opens the board with it on.

The figures are the dispatch API's (``/api/v1/reports/evaluation``), asked as the board (its key: a
wall has no one logged in), at most once a minute while the panel shows. The grades and colours are
:data:`dispatch.evaluation.BANDS`'s, drawn in the evaluation page's colours. The panel lies over the
board's own panels (absolutely positioned), so the board's layout, map and callbacks are untouched.
"""

from __future__ import annotations

import functools
from datetime import datetime

from dash import ALL, Input, Output, State, callback_context, dcc, html, no_update

from dashboard.access import staff_only
from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.maps import background_layers, fit_zoom, grid_layer, line_layer
from dashboard.pages.evaluation import GRADE_COLOURS, names
from dashboard.theme import MAP_BACKGROUND, MAP_STYLE, STREET_LINE
from dispatch.evaluation import BANDS

LEVELS = ("street", "community")
REFRESH_MS = 60_000
#: the columns of the board's league table (the evaluation page has them all)
COLUMNS = ("filed", "closed", "close_rate", "on_time_rate", "overdue", "rework_rate")
RATES = {"close_rate", "on_time_rate", "rework_rate"}


# -- pieces board.py places --------------------------------------------------------------------------
def toggle(lang: str) -> html.Button:
    """The header's button that shows and hides the panel."""
    return html.Button(t("board.eval", lang), id="eval-toggle", className="drill eval-toggle", n_clicks=0)


def map_overlay(lang: str) -> html.Div:
    """Over the map panel: the grade map, with its legend and the level switch."""
    return html.Div(
        [
            html.Div(
                [
                    html.H2(id="eval-map-title", children=t("board.eval_map", lang)),
                    html.Div(
                        [html.Button(t(f"ev.{lv}", lang), id={"type": "eval-level", "level": lv},
                                     className="drill eval-level", n_clicks=0) for lv in LEVELS],
                        className="eval-levels",
                    ),
                    grade_legend(lang),
                ],
                className="panel-head",
            ),
            dcc.Graph(id="eval-map", figure={"data": [], "layout": {"paper_bgcolor": MAP_BACKGROUND}},
                      config={"displayModeBar": False, "responsive": True}, className="map"),
        ],
        id="eval-map-box",
        className="eval-overlay hidden",
    )  # fmt: skip


def side_overlay(lang: str) -> html.Div:
    """Over the side panel: the league tables."""
    return html.Div(
        [html.H2(id="eval-title", children=t("board.eval", lang)), html.Div(id="eval-tables", className="eval-tables")],
        id="eval-side-box",
        className="eval-overlay hidden",
    )  # fmt: skip


def stores(query: dict) -> list:
    on = str(query.get("eval", "")).lower() in ("1", "true", "yes", "on")
    return [
        dcc.Store(id="eval-on", data=on),
        dcc.Store(id="eval-level", data="street"),
        dcc.Interval(id="eval-tick", interval=REFRESH_MS, disabled=not on),
    ]


def grade_legend(lang: str) -> html.Div:
    def band(k: int) -> str:
        grade, _, low = BANDS[k]
        if k == 0:
            return f"{grade} ≥{low:.0%}"
        return f"{grade} {low:.0%}–{BANDS[k - 1][2]:.0%}" if low > 0 else f"{grade} <{BANDS[k - 1][2]:.0%}"

    chips = [(GRADE_COLOURS[colour], band(k)) for k, (_, colour, _) in enumerate(BANDS)]
    chips.append((GRADE_COLOURS["grey"], t("board.eval_none", lang)))
    return html.Div(
        [html.Span([html.Span(className="swatch", style={"background": c}), label], className="legend-item")
         for c, label in chips],
        className="legend", id="eval-legend", title=t("ev.on_time_rate", lang),
    )  # fmt: skip


# -- pure helpers ------------------------------------------------------------------------------------
def cell_text(row: dict, col: str) -> str:
    v = row.get(col)
    if col in RATES:
        return "-" if v is None else f"{100 * v:.1f}%"
    return str(v if v is not None else "-")


def league(rows: list[dict], named: dict[str, str], lang: str, heading: str, table_id: str) -> html.Table:
    """One league table: rank, name, the board's columns and the grade, best first (the API's order),
    the district total last; each row in its grade's colour (``data-colour`` says which)."""
    head = html.Tr([html.Th("#"), html.Th(heading), *[html.Th(t(f"ev.{c}", lang)) for c in COLUMNS],
                    html.Th(t("ev.grade", lang))])  # fmt: skip
    body = []
    rank = 0
    for r in rows:
        total = r["key"] == "(all)"
        rank += 0 if total else 1
        name = t("ev.total", lang) if total else named.get(r["key"]) or r["key"]
        colour = r.get("colour") or "grey"
        body.append(
            html.Tr(
                [html.Td("" if total else str(rank)), html.Td(name, className="eval-name"),
                 *[html.Td(cell_text(r, c)) for c in COLUMNS], html.Td(r.get("grade") or "-", className="eval-grade")],
                className="eval-total" if total else "eval-row",
                style={"background": GRADE_COLOURS.get(colour, GRADE_COLOURS["grey"])},
                **{"data-colour": colour, "data-key": r["key"]},
            )
        )  # fmt: skip
    return html.Table([html.Thead(head), html.Tbody(body)], className="eval-table", id=table_id)


def grade_figure(ctx: DashContext, rows: list[dict], level: str, lang: str, scale: float = 1.0) -> dict:
    """The streets (or communities) in their grade's colour over the board's background, as a plain
    figure dict (one choropleth; grey where nothing was reported)."""
    layer = grid_layer(ctx.cfg, ctx.grid, level)
    colour_of = {r["key"]: r.get("colour") or "grey" for r in rows if r["key"] != "(all)"}
    grade_of = {r["key"]: r.get("grade") or "-" for r in rows}
    palette = list(GRADE_COLOURS)
    codes = [f["properties"]["code"] for f in layer["features"]]
    label = "name_zh" if lang.startswith("zh") else "name_en"
    w, s, e, n = ctx.grid.bounds
    on_time = {r["key"]: cell_text(r, "on_time_rate") for r in rows}
    return {
        "data": [
            {
                "type": "choroplethmap", "name": "grades", "geojson": layer, "featureidkey": "properties.code",
                "locations": codes, "z": [palette.index(colour_of.get(c, "grey")) for c in codes],
                "zmin": 0, "zmax": len(palette) - 1, "showscale": False,
                "colorscale": [[k / (len(palette) - 1), GRADE_COLOURS[p]] for k, p in enumerate(palette)],
                "marker": {"opacity": 0.75, "line": {"width": 1, "color": "#cfe3ff"}},
                "text": [f"{f['properties'][label]} · {grade_of.get(c, '-')} · {on_time.get(c, '-')}"
                         for f, c in zip(layer["features"], codes, strict=True)],
                "hoverinfo": "text", "customdata": [colour_of.get(c, "grey") for c in codes],
            }
        ],
        "layout": {
            "map": {"style": MAP_STYLE, "center": {"lon": (w + e) / 2, "lat": (s + n) / 2},
                    "zoom": fit_zoom((w, s, e, n), round(1100 * scale), round(440 * scale)),
                    "layers": [*background_layers(ctx.cfg),
                               line_layer(grid_layer(ctx.cfg, ctx.grid, "street"), STREET_LINE, 2.6)]},
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0}, "paper_bgcolor": MAP_BACKGROUND, "showlegend": False,
            "autosize": True, "uirevision": f"eval-{level}",
        },
    }  # fmt: skip


# -- callbacks ---------------------------------------------------------------------------------------
def flip(n, on):
    return not on, bool(on)  # (shown now, the interval disabled when it is hidden)


def pick_level(_clicks, current):
    trigger = callback_context.triggered_id
    if not isinstance(trigger, dict) or not any(_clicks or []):
        return no_update
    return trigger["level"] if trigger["level"] != current else no_update


def show(ctx: DashContext, on, level, _tick, scale, lang):
    """The overlays' classes, titles, tables and map (nothing is asked while the panel is hidden)."""
    hidden = "eval-overlay hidden"
    if not on:
        return (
            hidden,
            hidden,
            no_update,
            no_update,
            no_update,
            no_update,
            "drill eval-toggle",
            [no_update] * len(LEVELS),
        )
    level = level if level in LEVELS else "street"
    region = ctx.api.evaluation(None, by=level, period="month")
    depts = ctx.api.evaluation(None, by="department", period="month")
    named = names(ctx, lang)
    month = datetime.now(ctx.tz).strftime("%Y-%m")
    title = f"{t('board.eval', lang)} · {t('ev.month', lang)} {month}"
    if not region.ok:
        body = [html.Div(f"{t('board.eval_unavailable', lang)} ({region.status})", className="empty")]
        fig = no_update
    else:
        body = [league(region.data, named, lang, t(f"ev.{level}", lang), "eval-regions")]
        if depts.ok and len(depts.data) > 1:
            body.append(league(depts.data, named, lang, t("ev.department", lang), "eval-departments"))
        fig = grade_figure(ctx, region.data, level, lang, float(scale or 1.0))
    map_title = f"{t('board.eval_map', lang)} · {t(f'ev.{level}', lang)}"
    levels = ["drill eval-level" + (" on" if lv == level else "") for lv in LEVELS]
    return "eval-overlay", "eval-overlay", body, fig, title, map_title, "drill eval-toggle on", levels


def register(app, ctx: DashContext) -> None:
    app.callback(
        Output("eval-on", "data"),
        Output("eval-tick", "disabled"),
        Input("eval-toggle", "n_clicks"),
        State("eval-on", "data"),
        prevent_initial_call=True,
    )(flip)
    app.callback(
        Output("eval-level", "data"),
        Input({"type": "eval-level", "level": ALL}, "n_clicks"),
        State("eval-level", "data"),
        prevent_initial_call=True,
    )(pick_level)
    app.callback(
        Output("eval-map-box", "className"),
        Output("eval-side-box", "className"),
        Output("eval-tables", "children"),
        Output("eval-map", "figure"),
        Output("eval-title", "children"),
        Output("eval-map-title", "children"),
        Output("eval-toggle", "className"),
        Output({"type": "eval-level", "level": ALL}, "className"),
        Input("eval-on", "data"),
        Input("eval-level", "data"),
        Input("eval-tick", "n_intervals"),
        State("board-scale", "value"),
        State("board-lang", "data"),
    )(staff_only(ctx, functools.partial(show, ctx)))
