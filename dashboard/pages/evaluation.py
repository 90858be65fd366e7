"""The desk's evaluation page (综合评价): the league table of regions, departments or positions over a
day, week, month or quarter, each row in its grade's colour (green / blue / yellow / red), and the
same table as CSV. Figures come from the dispatch API (``/api/v1/reports/evaluation``) with the desk
account's token."""

from __future__ import annotations

import base64
import functools
import math
from datetime import date

import plotly.graph_objects as go
from dash import Input, Output, State, dash_table, dcc, html, no_update

from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.logins import login_box, staff_login
from dashboard.maps import fit_zoom, grid_layer, line_layer, point_map
from dashboard.theme import CELL_LINE
from dispatch.lifecycle import DESK
from gis.components import registry_for

GRADE_COLOURS = {
    "green": "#237804",
    "blue": "#0958d9",
    "yellow": "#ad8b00",
    "red": "#a8071a",
    "grey": "#434343",
}
FIGURES = ("reports", "filed", "closed", "close_rate", "on_time_rate", "overdue", "rework_rate", "returns",
           "extensions", "timely_verification_rate", "valid_report_rate", "grade")  # fmt: skip
RATES = {"close_rate", "on_time_rate", "rework_rate", "timely_verification_rate", "valid_report_rate"}


def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    def choice(id_, values, value):
        return dcc.Dropdown(id=id_, options=[{"label": t(f"ev.{v}", lang), "value": v} for v in values],
                            value=value, clearable=False, className="dropdown")  # fmt: skip

    return html.Div(
        [
            dcc.Store(id="ev-token", storage_type="session"),
            dcc.Store(id="ev-lang", data=lang),
            html.Data(id="ev-scale", value="1", **{"data-scale-sink": "1"}),  # set by assets/scale.js
            login_box("ev", lang, heading=False),
            html.Div(
                [
                    html.H2(t("ev.title", lang)),
                    html.Div(
                        [
                            choice("ev-by", ("street", "community", "department", "inspector", "staff"), "street"),
                            choice("ev-period", ("day", "week", "month", "quarter"), "month"),
                            dcc.DatePickerSingle(id="ev-date", date=date.today().isoformat(), display_format="YYYY-MM-DD"),
                            html.Button(t("ev.csv", lang), id="ev-csv"),
                            html.Button(t("ev.xlsx", lang), id="ev-xlsx"),
                            dcc.Download(id="ev-download"),
                        ],
                        className="actions",
                    ),
                    dash_table.DataTable(
                        id="ev-table", data=[], sort_action="native", style_as_list_view=True,
                        columns=[{"name": t("ev.key", lang), "id": "key"}]
                        + [{"name": t(f"ev.{c}", lang), "id": c} for c in FIGURES],
                        style_cell={"backgroundColor": "#0b1a31", "color": "#e6f0ff", "fontSize": 15, "padding": "6px"},
                        style_header={"backgroundColor": "#13294a", "fontWeight": "bold"},
                        style_data_conditional=[
                            {"if": {"filter_query": f'{{colour}} = "{name}"'}, "backgroundColor": colour}
                            for name, colour in GRADE_COLOURS.items()
                        ],
                    ),
                    html.Div(id="ev-msg", className="message"),
                    dcc.Graph(id="ev-map", config={"displayModeBar": False}, style={"height": "520px"}),
                ],
                id="ev-main", className="panel", style={"display": "none"},
            ),
        ],
        className="evaluation-page",
    )  # fmt: skip


def names(ctx: DashContext, lang: str) -> dict[str, str]:
    """Codes -> names people read: streets, communities, departments, inspectors."""
    zh = lang.startswith("zh")
    out = {}
    for c in ctx.grid.cells:
        out[c.street] = c.street_zh if zh else c.street_en
        out[c.community] = c.community_zh if zh else c.community_en
    out.update({d.id: (d.name if zh or not d.name_en else d.name_en) for d in ctx.cfg.departments})
    out.update({i.id: i.name for i in ctx.cfg.roster})
    out["(none)"] = t("ev.none", lang)  # cases never filed or dispatched (no department, no staff)
    return out


def shown_rows(rows: list[dict], lang: str, named: dict[str, str] | None = None) -> list[dict]:
    """The API's rows as the table shows them: names for codes, rates in per cent, the total named."""
    named = named or {}
    out = []
    for r in rows:
        row = {k: r.get(k) for k in ("key", "colour", *FIGURES)}
        for k in RATES:
            row[k] = "-" if r.get(k) is None else f"{100 * r[k]:.1f}%"
        row["key"] = t("ev.total", lang) if r["key"] == "(all)" else named.get(r["key"]) or r["key"]
        out.append(row)
    return out


def grade_map(ctx: DashContext, rows: list[dict], by: str, lang: str, scale: float = 1.0) -> go.Figure:
    """Streets or communities in their grade's colour, and the component registry (部件) as one
    clustered layer per component type; zoomed and lettered for a screen ``scale`` times 1920 wide."""
    level = by if by in ("street", "community") else "street"
    layer = grid_layer(ctx.cfg, ctx.grid, level)
    colour_of = {r["key"]: r["colour"] for r in rows} if by == level else {}
    codes = [f["properties"]["code"] for f in layer["features"]]
    palette = list(GRADE_COLOURS)
    traces = [
        go.Choroplethmap(
            geojson=layer, featureidkey="properties.code", locations=codes,
            z=[palette.index(colour_of.get(c, "grey")) for c in codes], zmin=0, zmax=len(palette) - 1,
            colorscale=[[i / (len(palette) - 1), GRADE_COLOURS[name]] for i, name in enumerate(palette)],
            showscale=False, marker={"opacity": 0.55}, hoverinfo="text",
            text=[f["properties"]["name_zh" if lang.startswith("zh") else "name_en"] for f in layer["features"]],
        )
    ]  # fmt: skip
    by_type: dict[str, list] = {}
    for comp in registry_for(ctx.cfg.data).all().values():
        by_type.setdefault(comp.type, []).append(comp)
    for kind, comps in sorted(by_type.items()):
        traces.append(
            go.Scattermap(
                lon=[c.lon for c in comps], lat=[c.lat for c in comps], mode="markers", name=t(f"type.{kind}", lang),
                marker={"size": round(9 * scale)}, cluster={"enabled": True, "maxzoom": 15}, hovertext=[c.code for c in comps],
            )
        )  # fmt: skip
    w, s_, e, n = ctx.grid.bounds
    fig = point_map(ctx.cfg, ((w + e) / 2, (s_ + n) / 2), traces, fit_zoom((w, s_, e, n), 1400 * scale, 520 * scale),
                    overlays=[line_layer(grid_layer(ctx.cfg, ctx.grid, "street"), CELL_LINE)])  # fmt: skip
    fig.update_layout(
        showlegend=bool(by_type),
        legend={"font": {"color": "#e6f0ff", "size": round(12 * scale)}, "bgcolor": "rgba(0,0,0,0.4)"},
    )
    return fig


def login(ctx: DashContext, _n, _s, user, password, lang):
    got, message = staff_login(ctx.api, user, password, DESK, lang)
    return (got["token"] if got else no_update), message


def show(token):
    return ({"display": "none"}, {}) if token else ({}, {"display": "none"})


def page_scale(value) -> float:
    """The page's scale from assets/scale.js (1 to 4; anything else is 1)."""
    try:
        got = float(value)
    except (TypeError, ValueError):
        return 1.0
    return min(max(got, 1.0), 4.0) if math.isfinite(got) else 1.0


def refresh(ctx: DashContext, token, by, period, day, lang, scale=None):
    if not token:
        return no_update, no_update, no_update
    res = ctx.api.evaluation(token, by=by, period=period, date=(day or "")[:10])
    if not res.ok:
        return [], res.error, no_update
    return (
        shown_rows(res.data, lang, names(ctx, lang)),
        "",
        grade_map(ctx, res.data, by, lang, page_scale(scale)),
    )


def csv(ctx: DashContext, n, token, by, period, day, lang):
    if not n or not token:
        return no_update
    res = ctx.api.evaluation(token, by=by, period=period, date=(day or "")[:10], format="csv", lang=lang)
    if not res.ok:
        return no_update
    return {"content": res.data, "filename": f"evaluation-{by}-{period}-{(day or '')[:10]}.csv"}


def xlsx(ctx: DashContext, n, token, by, period, day, lang):
    if not n or not token:
        return no_update
    res = ctx.api.evaluation_xlsx(token, by=by, period=period, date=(day or "")[:10], lang=lang)
    if not res.ok:
        return no_update
    name = f"evaluation-{by}-{period}-{(day or '')[:10]}.xlsx"
    return {"content": base64.b64encode(res.data).decode(), "filename": name, "base64": True}


def register(app, ctx: DashContext) -> None:
    bind = functools.partial
    app.callback(
        Output("ev-token", "data"), Output("ev-login-msg", "children"),
        Input("ev-login", "n_clicks"), Input("ev-password", "n_submit"),
        State("ev-user", "value"), State("ev-password", "value"), State("ev-lang", "data"),
        prevent_initial_call=True,
    )(bind(login, ctx))  # fmt: skip
    app.callback(Output("ev-login-box", "style"), Output("ev-main", "style"), Input("ev-token", "data"))(show)
    app.callback(
        Output("ev-table", "data"), Output("ev-msg", "children"), Output("ev-map", "figure"),
        Input("ev-token", "data"), Input("ev-by", "value"), Input("ev-period", "value"), Input("ev-date", "date"),
        State("ev-lang", "data"), Input("ev-scale", "value"),
    )(bind(refresh, ctx))  # fmt: skip
    app.callback(
        Output("ev-download", "data"),
        Input("ev-csv", "n_clicks"),
        State("ev-token", "data"), State("ev-by", "value"), State("ev-period", "value"), State("ev-date", "date"),
        State("ev-lang", "data"),
        prevent_initial_call=True,
    )(bind(csv, ctx))  # fmt: skip
    app.callback(
        Output("ev-download", "data", allow_duplicate=True),
        Input("ev-xlsx", "n_clicks"),
        State("ev-token", "data"), State("ev-by", "value"), State("ev-period", "value"), State("ev-date", "date"),
        State("ev-lang", "data"),
        prevent_initial_call=True,
    )(bind(xlsx, ctx))  # fmt: skip
