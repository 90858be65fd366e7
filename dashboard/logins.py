"""What the pages that log in to the dispatch API share: the browser's address for the API's
per-address limits, and logging out at the API (not just in the browser)."""

from __future__ import annotations

import flask
from dash.exceptions import PreventUpdate

from dashboard.api_client import ApiClient


def client_ip() -> str | None:
    """The address of the browser behind the current callback request."""
    return flask.request.remote_addr


def end_login(api: ApiClient, n_clicks, token: str | None) -> None:
    """A logout button's press: ends ``token``'s login at the API; no press, no update."""
    if not n_clicks:
        raise PreventUpdate
    if token:
        api.logout(token)
