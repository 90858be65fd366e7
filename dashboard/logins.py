"""What the pages that log in to the dispatch API share: the login box, the browser's address for the
API's per-address limits, and logging out at the API (not just in the browser)."""

from __future__ import annotations

import flask
from dash import dcc, html
from dash.exceptions import PreventUpdate

from dashboard.api_client import ApiClient
from dashboard.errors import login_error
from dashboard.i18n import t


def client_ip() -> str | None:
    """The address of the browser behind the current callback request."""
    return flask.request.remote_addr


def end_login(api: ApiClient, n_clicks, token: str | None) -> None:
    """A logout button's press: ends ``token``'s login at the API; no press, no update."""
    if not n_clicks:
        raise PreventUpdate
    if token:
        api.logout(token)


def login_box(prefix: str, lang: str, heading: bool = True) -> html.Div:
    """The login form: ``{prefix}-user``, ``-password``, ``-login`` (button), ``-login-msg``, in
    ``{prefix}-login-box``."""
    fields = [
        dcc.Input(id=f"{prefix}-user", placeholder=t("username", lang), autoComplete="username", className="field"),
        dcc.Input(id=f"{prefix}-password", type="password", placeholder=t("password", lang),
                  autoComplete="current-password", className="field"),
        html.Button(t("login", lang), id=f"{prefix}-login", className="primary"),
        html.Div(id=f"{prefix}-login-msg", className="message"),
    ]  # fmt: skip
    return html.Div(
        [html.H2(t("login", lang)), *fields] if heading else fields,
        className="login-box",
        id=f"{prefix}-login-box",
    )


def staff_login(api: ApiClient, user, password, roles, lang: str) -> tuple[dict | None, str]:
    """A login form's press: the API's answer (token, role, name …) for a user whose role is one of
    ``roles``, else None and the reason in the page's language."""
    res = api.login(user or "", password or "", client_ip=client_ip())
    if not res.ok:
        return None, login_error(res, lang)
    if res.data["role"] not in roles:
        return None, t("desk_only", lang)
    return res.data, ""
