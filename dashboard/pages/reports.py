"""The public map and list of citizen reports (like FixMyStreet's "all reports"): the last 30 days,
filterable by category and status, from the Open311 API's public answers (no personal data in
them); each links to its status page."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.maps import fit_view, grid_layer, line_layer
from dashboard.pages.phone import GRAPH_CONFIG, error_text, message, phone_map

DAYS = 30
COLOURS = {"open": "#f5a623", "closed": "#3ecf8e"}


def status_options(lang: str) -> list[dict]:
    return [{"label": t("rep.all_states", lang), "value": ""}] + [
        {"label": t(f"rep.{s}", lang), "value": s} for s in ("open", "closed")
    ]


def reports_figure(ctx: DashContext, rows: list[dict], lang: str) -> go.Figure:
    traces = []
    for status in ("open", "closed"):
        mine = [r for r in rows if r["status"] == status]
        traces.append(
            go.Scattermap(
                lon=[r["long"] for r in mine],
                lat=[r["lat"] for r in mine],
                mode="markers",
                name=t(f"rep.{status}", lang),
                marker={"size": 12, "color": COLOURS[status]},
                text=[t(f"type.{r['service_code']}", lang) for r in mine],
                hoverinfo="text",
            )  # fmt: skip
        )
    w, s, e, n = ctx.grid.bounds
    pts = [(r["long"], r["lat"]) for r in rows] or [(w, s), (e, n)]
    centre, zoom = fit_view(pts if len(pts) > 1 else [(w, s), (e, n)], max_zoom=15)
    streets = line_layer(
        grid_layer(ctx.cfg, ctx.grid, "street"), "#4a8ac4", width=1.5
    )  # where in the district
    return phone_map(ctx.cfg, centre, traces, zoom, "reports-map", overlays=[streets])


def report_list(ctx: DashContext, rows: list[dict], lang: str) -> html.Div:
    if not rows:
        return html.Div(t("rep.none", lang), className="ph-hint", id="rep-empty")
    items = []
    for r in rows:
        when = datetime.fromisoformat(r["requested_datetime"].replace("Z", "+00:00")).astimezone(ctx.tz)
        href = f"/citizen?lang={lang}&request={r['service_request_id']}"
        items.append(
            html.Li(
                [
                    html.Div(
                        [
                            html.Span(t(f"type.{r['service_code']}", lang), className="ph-step"),
                            html.Span(
                                t(f"state.{r['state']}", lang), className=f"rep-status rep-{r['status']}"
                            ),
                        ]
                    ),
                    html.Div(r.get("description") or "", className="ph-desc"),
                    html.Div(
                        [f"{when:%Y-%m-%d %H:%M} · ", dcc.Link(r["service_request_id"], href=href)],
                        className="ph-hint",
                    ),
                ],  # fmt: skip
                className="rep-item",
                **{"data-rid": r["service_request_id"], "data-status": r["status"]},
            )
        )
    return html.Div(
        [html.Div(f"{len(rows)} {t('rep.count', lang)}", id="rep-count"), html.Ul(items, id="rep-items")]
    )


def layout(ctx: DashContext, lang: str, query: dict) -> html.Div:
    services = ctx.api.services()
    cats = [{"label": t("rep.all_categories", lang), "value": ""}] + (
        [{"label": t(f"type.{s['service_code']}", lang), "value": s["service_code"]} for s in services.data]
        if services.ok
        else []
    )
    return html.Div(
        [
            dcc.Store(id="rep-lang", data=lang),
            html.H1(t("rep.title", lang), className="ph-title"),
            html.Div(t("rep.intro", lang), className="ph-hint"),
            html.Div(
                [
                    dcc.Dropdown(
                        id="rep-category",
                        options=cats,
                        value="",
                        clearable=False,
                        searchable=False,
                        className="ph-dropdown",
                    ),
                    dcc.Dropdown(
                        id="rep-status",
                        options=status_options(lang),
                        value="",
                        clearable=False,
                        searchable=False,
                        className="ph-dropdown",
                    ),
                ],  # fmt: skip
                className="ph-section",
            ),
            dcc.Graph(id="rep-map", className="ph-map", config=GRAPH_CONFIG),
            html.Div(id="rep-list", className="ph-section"),
        ],
        className="phone citizen reports",
    )


def refresh(ctx: DashContext, category, status, lang):
    since = (datetime.now(UTC) - timedelta(days=DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    res = ctx.api.public_requests(start_date=since, service_code=category, status=status)
    if not res.ok:
        return reports_figure(ctx, [], lang), message(error_text(res, lang), False)
    return reports_figure(ctx, res.data, lang), report_list(ctx, res.data, lang)


def register(app, ctx: DashContext) -> None:
    app.callback(
        Output("rep-map", "figure"),
        Output("rep-list", "children"),
        Input("rep-category", "value"),
        Input("rep-status", "value"),
        State("rep-lang", "data"),
    )(functools.partial(refresh, ctx))
