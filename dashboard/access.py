"""Who may read staff data from the board: a wall screen with the board token
(``dashboard.live_token``, as ``?token=``, ``X-Board-Token`` or the cookie the board sets when a page
is opened with ``?token=``), or anyone logged in to the dispatch API (a ``viewer`` account for a wall
screen; the API checks the token, answers are cached briefly).

- ``/api/live``: everyone else gets the public feed: type, state, cell and a position rounded to
  about 100 m.
- The wall board page (``/``) and its live data (its cards, push stream and callbacks) show staff
  data (inspectors' names, exact positions, evidence pictures): with a board token configured, they
  are for staff only (:meth:`LiveAccess.may_see_board`); without one, the board is open to whoever
  reaches it (the demo, a board on a closed network)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
import time

from flask import abort, request

from dashboard.api_client import ApiClient

PUBLIC_INCIDENT = ("incident_id", "version", "type", "state", "cell", "lon", "lat", "opened_at", "at")
PUBLIC_CAMERA = ("camera_id", "state")
COARSE_DIGITS = 3  # 0.001 degree: about 110 m north-south, 85 m east-west here
#: the cookie that carries the board token once a page was opened with ``?token=`` (HttpOnly,
#: SameSite=Strict): the page's own requests (layout, callbacks, cards, push stream) send it
BOARD_COOKIE = "cityops_board"
BOARD_COOKIE_DAYS = 30
LOGIN_UNCHECKED = (
    "the login cannot be checked now: the dispatch API does not answer; try again shortly, or open "
    "the board with its board token, which does not need the API"
)


def public_incident(inc: dict) -> dict:
    out = {k: inc.get(k) for k in PUBLIC_INCIDENT}
    out["lon"], out["lat"] = round(inc["lon"], COARSE_DIGITS), round(inc["lat"], COARSE_DIGITS)
    return out


def public_camera(cam: dict) -> dict:
    return {k: cam.get(k) for k in PUBLIC_CAMERA}


class LiveAccess:
    def __init__(self, board_token: str | None, api: ApiClient, cache_s: float = 30.0) -> None:
        self.board_token = board_token
        self.api = api
        self.cache_s = cache_s
        self._seen: dict[str, tuple[float, bool]] = {}  # sha256 of a bearer token -> (until, ok)
        self._lock = threading.Lock()

    def is_board_token(self, given: str | None) -> bool:
        return bool(
            given and self.board_token and hmac.compare_digest(given.encode(), self.board_token.encode())
        )

    def staff(self, headers, args, cookies=None) -> bool | None:
        """Whether this request may read staff data (``headers``/``args``/``cookies``: Flask's request
        ones): None when it came with a login only and the dispatch API that checks logins does not
        answer (no staff data then either, but the caller can say why)."""
        for given in (headers.get("X-Board-Token"), args.get("token"), (cookies or {}).get(BOARD_COOKIE)):
            if self.is_board_token(given):
                return True
        auth = headers.get("Authorization", "")
        if not auth.lower().startswith("bearer ") or len(auth) > 4096:
            return False
        return self._logged_in(auth[7:].strip())

    def may_see_board(self, request) -> bool | None:
        """Whether ``request`` (Flask's; None outside a request) may see the wall board and its live
        data: anyone when no board token is configured, else staff (:meth:`staff`; None: a login that
        cannot be checked now)."""
        if self.board_token is None:
            return True
        return request is not None and self.staff(request.headers, request.args, request.cookies)

    def _logged_in(self, token: str) -> bool | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get(key)
        if hit and hit[0] > now:
            return hit[1]
        res = self.api.me(token)
        if res.status >= 500:
            return None  # the API is away: not known, and nothing cached
        with self._lock:
            if len(self._seen) > 1000:
                self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
            self._seen[key] = (now + self.cache_s, res.ok)
        return res.ok


def staff_only(ctx, fn):
    """``fn`` (a board callback or route) answered only to a request that may see the board (with a
    board token configured: the token or a login, :meth:`LiveAccess.may_see_board`); else 403, or 503
    when the login cannot be checked (the dispatch API does not answer), before any data is computed.
    ``ctx``: the DashContext, whose ``access`` is the board's LiveAccess."""

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        may = ctx.access.may_see_board(request)
        if may is None:
            abort(503, description=LOGIN_UNCHECKED)
        if not may:
            abort(403, description="the wall board is for staff: open it with its board token")
        return fn(*args, **kwargs)

    return guarded
