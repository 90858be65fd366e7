"""The dispatch API's refusals in the page's language: its HTTP status picks the message (the API's
own English detail never reaches a zh-CN page), filled with what the page knows (the incident, the
action, its state now)."""

from __future__ import annotations

from dashboard.api_client import ApiResult
from dashboard.i18n import t

KNOWN = (401, 403, 404, 409, 422, 429, 503)


def api_error(
    res: ApiResult,
    lang: str,
    *,
    incident_id: int | None = None,
    action: str | None = None,
    state: str | None = None,
    into: int | None = None,
) -> str:
    """One line for a failed call on incident ``incident_id`` (``action``: its name, ``state``: the
    incident's state now, as the API names them)."""
    fields = {
        "id": incident_id if incident_id is not None else "?",
        "action": t(f"action.{action}", lang) if action else "",
        "state": t(f"state.{state}", lang) if state else "?",
        "into": into if into is not None else "?",
        "status": res.status,
    }
    key = f"err.{res.status}" if res.status in KNOWN else "err.other"
    if res.status == 409 and action == "merge":
        key = "err.409.merge"
    if res.status == 409 and action == "verdict":
        key = "err.409.verdict"
    return t(key, lang).format(**fields)


def login_error(res: ApiResult, lang: str) -> str:
    if res.status in (401, 429):
        return t(f"err.login.{res.status}", lang)
    return api_error(res, lang)
