"""The field staff's steps beyond accept / arrive / resolve on the phone page (inspectors and
department staff alike): 核实 (confirm / refute a citizen report), 回退 and 延期申请 (a department),
核查 / 返工 (the cell's inspector). The buttons come from the lifecycle's vocabulary; each shows only
while the API lists its action for the selected case, and sends the page's note (and photos)."""

from __future__ import annotations

import functools

from dash import Input, Output, State, dcc, html, no_update
from dash import ctx as cb
from dash.exceptions import PreventUpdate

from dashboard.context import DashContext
from dashboard.i18n import t
from dashboard.pages.phone import error_text, message
from dispatch.lifecycle import ACTIONS, FIELD_ROLES

#: Field actions the page has no button of its own for (from dispatch.lifecycle.ACTIONS).
FIELD_ACTIONS = tuple(
    a.name
    for a in ACTIONS.values()
    if a.roles & FIELD_ROLES and a.name not in ("accept", "arrive", "resolve", "escalate")
)
HIDDEN = {"display": "none"}


def controls(lang: str) -> html.Div:
    """The buttons (hidden until their action is allowed) and the hours of an extension request."""
    return html.Div(
        [
            dcc.Input(
                id="insp-ext-hours",
                type="number",
                min=0.5,
                step=0.5,
                placeholder=t("fa.hours", lang),
                className="ph-input",
                style=HIDDEN,
            ),  # fmt: skip
            *[
                html.Button(
                    t(f"action.{name}", lang),
                    id=f"insp-do-{name}",
                    className="ph-btn",
                    n_clicks=0,
                    style=HIDDEN,
                    **{"data-action": name},
                )  # fmt: skip
                for name in FIELD_ACTIONS
            ],
        ],
        className="ph-row ph-field-actions",
    )


def _current(items, selected):
    items = items or []
    return next((i for i in items if i["id"] == selected), items[0] if items else None)


def shown(items, selected):
    item = _current(items, selected)
    acts = set((item or {}).get("actions") or [])
    styles = [{} if name in acts else HIDDEN for name in FIELD_ACTIONS]
    return [{} if "request_extension" in acts else HIDDEN, *styles]


def act(ctx: DashContext, *args):
    note, hours, photos, auth, items, selected, bump, lang = args[len(FIELD_ACTIONS) :]
    if not auth or not cb.triggered_id or not cb.triggered or not cb.triggered[0]["value"]:
        raise PreventUpdate
    item = _current(items, selected)
    if item is None:
        raise PreventUpdate
    name = cb.triggered_id.removeprefix("insp-do-")
    iid = item["id"]
    paths = list(photos["paths"]) if photos and photos.get("incident") == iid else []
    body: dict = {"note": note or ""}
    if name == "request_extension":
        body["hours"] = hours or 0
    else:
        body["photos"] = paths
    res = ctx.api.act(auth["token"], iid, name, body)
    if not res.ok:
        return message(error_text(res, lang), False), bump + 1, no_update, no_update
    return (
        message(f"#{iid} {t(f'action.{name}', lang)}", True),
        bump + 1,
        {"incident": None, "paths": []},
        "",
    )


def register(app, ctx: DashContext) -> None:
    app.callback(
        Output("insp-ext-hours", "style"),
        *[Output(f"insp-do-{name}", "style") for name in FIELD_ACTIONS],
        Input("insp-items", "data"),
        Input("insp-selected", "data"),
    )(shown)
    app.callback(
        Output("insp-msg", "children", allow_duplicate=True),
        Output("insp-bump", "data", allow_duplicate=True),
        Output("insp-photos", "data", allow_duplicate=True),
        Output("insp-note", "value", allow_duplicate=True),
        *[Input(f"insp-do-{name}", "n_clicks") for name in FIELD_ACTIONS],
        State("insp-note", "value"),
        State("insp-ext-hours", "value"),
        State("insp-photos", "data"),
        State("insp-auth", "data"),
        State("insp-items", "data"),
        State("insp-selected", "data"),
        State("insp-bump", "data"),
        State("insp-lang", "data"),
        prevent_initial_call=True,
    )(functools.partial(act, ctx))
