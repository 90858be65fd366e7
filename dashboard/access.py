"""Who may read staff data from the board's ``/api/live``: a wall screen with the board token
(``dashboard.live_token``, as ``?token=`` or ``X-Board-Token``), or anyone logged in to the dispatch
API (a ``viewer`` account for a wall screen; the API checks the token, answers are cached briefly).
Everyone else gets the public feed: type, state, cell and a position rounded to about 100 m."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from dashboard.api_client import ApiClient

PUBLIC_INCIDENT = ("incident_id", "version", "type", "state", "cell", "lon", "lat", "opened_at", "at")
PUBLIC_CAMERA = ("camera_id", "state")
COARSE_DIGITS = 3  # 0.001 degree: about 110 m north-south, 85 m east-west here


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

    def staff(self, headers, args) -> bool:
        """Whether this request may read staff data (``headers``/``args``: Flask's request ones)."""
        given = headers.get("X-Board-Token") or args.get("token")
        if given and self.board_token and hmac.compare_digest(given.encode(), self.board_token.encode()):
            return True
        auth = headers.get("Authorization", "")
        if not auth.lower().startswith("bearer ") or len(auth) > 4096:
            return False
        return self._logged_in(auth[7:].strip())

    def _logged_in(self, token: str) -> bool:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get(key)
        if hit and hit[0] > now:
            return hit[1]
        res = self.api.me(token)
        if res.status >= 500:
            return False  # the API is away: no staff data, and nothing cached
        with self._lock:
            if len(self._seen) > 1000:
                self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
            self._seen[key] = (now + self.cache_s, res.ok)
        return res.ok
