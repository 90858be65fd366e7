"""The inspector's phone: report a component's problem by tapping it on the map (部件上报, 信息收集).

The component registry (部件普查, ``gis.components``) is drawn as one layer per component type
(clustered where a type has many), centred on the inspector's cells. A tap picks the component under
the finger: its type, code, state and owning department show, and 上报 sends the report with the
inspector's note through the dispatch API (``POST /api/v1/reports`` with ``component``), which files
the case at the component's position with its type and hands it to the component's owner.
"""

from __future__ import annotations

import functools

import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update

from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.maps import fit_view
from dashboard.pages.phone import GRAPH_CONFIG, error_text, message, phone_map
from dispatch.steps import route
from gis.components import Component, registry_for

HIDDEN = {"display": "none"}
CLUSTER_ABOVE = 100  # a type with more components than this in view is clustered
#: one colour per layer, in the order the types are drawn
PALETTE = ("#ffd166", "#40a9ff", "#73d13d", "#ff85c0", "#b37feb", "#ff9c6e", "#5cdbd3", "#d3adf7")


def section(lang: str) -> html.Div:
    return html.Div(
        [
            html.H2(t("comp.title", lang)),
            html.Div(t("comp.hint", lang), className="ph-hint"),
            dcc.Graph(id="rep-map", className="ph-map", config=GRAPH_CONFIG, figure=go.Figure()),
            html.Div(id="rep-picked", className="ph-info"),
            dcc.Store(id="rep-code"),
            html.Label(t("insp.note", lang), htmlFor="rep-note"),
            dcc.Textarea(id="rep-note", maxLength=2000, className="ph-input ph-textarea"),
            html.Button(
                t("comp.send", lang), id="rep-send", className="ph-btn ph-primary", n_clicks=0, disabled=True
            ),  # fmt: skip
            html.Div(id="rep-msg"),
        ],
        id="rep-section",
        className="ph-section",
        style=HIDDEN,
    )


# -- pure helpers ------------------------------------------------------------------------------------
def mine(ctx: DashContext, inspector: str | None, comps: dict[str, Component]) -> list[Component]:
    """The components in the inspector's cells (all of them for an inspector without cells)."""
    prefixes = next((tuple(i.cells) for i in ctx.cfg.roster if i.id == inspector), ())
    cell_of = ctx.grid.locate
    out = []
    for c in comps.values():
        cell = c.cell or cell_of(c.lon, c.lat)
        if not prefixes or any(cell.startswith(p) for p in prefixes):
            out.append(c)
    return out


def owner_of(ctx: DashContext, comp: Component) -> str | None:
    """The department a problem of ``comp`` goes to: its owner, else the type's owner in its place."""
    return comp.owner or route(
        ctx.cfg.departments, comp.type, comp.cell or ctx.grid.locate(comp.lon, comp.lat)
    )


def department_name(ctx: DashContext, dept: str | None, lang: str) -> str:
    d = next((d for d in ctx.cfg.departments if d.id == dept), None)
    if d is None:
        return t("comp.no_owner", lang)
    return d.name if lang.startswith("zh") or not d.name_en else d.name_en


def component_figure(ctx: DashContext, comps: list[Component], lang: str) -> go.Figure:
    """One trace per component type (named in the page's language), each point carrying its code."""
    by_type: dict[str, list[Component]] = {}
    for c in comps:
        by_type.setdefault(c.type, []).append(c)
    traces = []
    for k, (kind, items) in enumerate(sorted(by_type.items())):
        traces.append(
            go.Scattermap(
                lon=[c.lon for c in items], lat=[c.lat for c in items], mode="markers", name=t(f"type.{kind}", lang),
                customdata=[c.code for c in items], hovertext=[f"{t(f'type.{kind}', lang)} {c.code}" for c in items],
                hoverinfo="text", marker={"size": 18, "color": PALETTE[k % len(PALETTE)]},
                cluster={"enabled": len(items) > CLUSTER_ABOVE, "maxzoom": 16},
            )
        )  # fmt: skip
    if comps:
        centre, zoom = fit_view([(c.lon, c.lat) for c in comps], max_zoom=17)
    else:
        w, s, e, n = ctx.grid.bounds
        centre, zoom = ((w + e) / 2, (s + n) / 2), 12
    fig = phone_map(ctx.cfg, centre, traces, zoom, f"components-{len(comps)}")
    fig.update_layout(
        showlegend=bool(traces),
        legend={"font": {"color": "#e6f0ff", "size": 11}, "bgcolor": "rgba(0,0,0,0.45)", "x": 0, "y": 1},
    )
    return fig


def picked_info(ctx: DashContext, comp: Component, lang: str) -> list:
    state = t(f"comp.state.{comp.state}", lang)
    return [
        html.Div(
            [html.B(t(f"type.{comp.type}", lang)), f" · {comp.code}"], className="inc-id", id="rep-picked-id"
        ),
        html.Div(f"{t('comp.state', lang)}: {state}" + (f" · {comp.name}" if comp.name else "")),
        html.Div(
            f"{t('comp.owner', lang)}: {department_name(ctx, owner_of(ctx, comp), lang)}", id="rep-owner"
        ),
    ]


# -- callbacks ---------------------------------------------------------------------------------------
def show(ctx: DashContext, auth, lang):
    """For an inspector (the API takes field reports from inspectors only): the section and the map."""
    if not auth or not auth.get("inspector") or auth.get("role") == "department":
        return HIDDEN, no_update
    inspector = auth["inspector"]
    if not any(i.id == inspector for i in ctx.cfg.roster):  # department staff act, they do not report
        return HIDDEN, no_update
    return {}, component_figure(ctx, mine(ctx, inspector, registry_for(ctx.cfg.data).all()), lang)


def pick(ctx: DashContext, click, lang):
    point = ((click or {}).get("points") or [{}])[0]
    code = point.get("customdata")
    comp = registry_for(ctx.cfg.data).all().get(code) if isinstance(code, str) else None
    if comp is None:
        return no_update, no_update, no_update
    return code, picked_info(ctx, comp, lang), False


def send(ctx: DashContext, n, code, note, auth, lang):
    if not n or not code or not auth:
        return no_update, no_update
    res = ctx.api.field_report(auth["token"], {"component": code, "description": (note or "").strip()})
    if not res.ok:
        return message(error_text(res, lang), False), no_update
    comp = registry_for(ctx.cfg.data).all().get(code)
    who = department_name(ctx, owner_of(ctx, comp), lang) if comp else ""
    key = "comp.sent" if res.data.get("created") else "comp.merged"
    return message(t(key, lang).format(id=res.data["incident_id"], code=code, owner=who), True), ""


def register(app, ctx: DashContext) -> None:
    bind = functools.partial
    app.callback(
        Output("rep-section", "style"),
        Output("rep-map", "figure"),
        Input("insp-auth", "data"),
        State("insp-lang", "data"),
    )(bind(show, ctx))
    app.callback(
        Output("rep-code", "data"),
        Output("rep-picked", "children"),
        Output("rep-send", "disabled"),
        Input("rep-map", "clickData"),
        State("insp-lang", "data"),
        prevent_initial_call=True,
    )(bind(pick, ctx))
    app.callback(
        Output("rep-msg", "children"),
        Output("rep-note", "value"),
        Input("rep-send", "n_clicks"),
        State("rep-code", "data"),
        State("rep-note", "value"),
        State("insp-auth", "data"),
        State("insp-lang", "data"),
        prevent_initial_call=True,
    )(bind(send, ctx))
