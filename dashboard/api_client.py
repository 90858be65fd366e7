"""The pages' adapter to the dispatch HTTP API: every action goes through the API, which owns
accounts, roles and the incident lifecycle. Errors come back as the API's own message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from dispatch.api.addresses import BOARD_HEADER, PROXY_HEADER


@dataclass
class ApiResult:
    ok: bool
    status: int
    data: Any = None
    error: str = ""


class ApiClient:
    def __init__(self, base_url: str, timeout: float = 10.0, proxy_key: str | None = None) -> None:
        """``proxy_key``: the board's key (``dispatch.api.addresses.proxy_key``), sent with the browser
        addresses it forwards so the API counts citizens and logins per person, not per board."""
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.proxy_key = proxy_key

    def _call(
        self, method: str, path: str, *, token: str | None = None, client_ip: str | None = None, **kw
    ) -> ApiResult:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if client_ip:
            headers["X-Forwarded-For"] = client_ip  # believed only with the board's key (or a trusted proxy)
            if self.proxy_key:
                headers[PROXY_HEADER] = self.proxy_key
        try:
            res = self.http.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            return ApiResult(
                False,
                503,
                error=f"the dispatch API at {self.base_url} does not answer ({exc.__class__.__name__})",
            )
        try:
            body = res.json()
        except ValueError:
            body = res.text
        if res.is_success:
            return ApiResult(True, res.status_code, body)
        detail = body.get("detail") if isinstance(body, dict) else body
        if (
            isinstance(detail, list)
            and detail
            and all(isinstance(d, dict) and "description" in d for d in detail)
        ):
            detail = "; ".join(str(d["description"]) for d in detail)  # Open311 errors: the spec's shape
        elif isinstance(detail, list):  # FastAPI validation errors
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
        return ApiResult(False, res.status_code, body, str(detail))

    # -- staff ------------------------------------------------------------------------------------
    def login(self, username: str, password: str, client_ip: str | None = None) -> ApiResult:
        """``client_ip``: the browser's address, so the API throttles failed logins per person, not
        per board."""
        body = {"username": username, "password": password}
        return self._call("POST", "/api/v1/login", json=body, client_ip=client_ip)

    def logout(self, token: str) -> ApiResult:
        """End every login of the token's account (the API refuses its tokens from now on)."""
        return self._call("POST", "/api/v1/logout", token=token)

    def me(self, token: str) -> ApiResult:
        return self._call("GET", "/api/v1/me", token=token)

    def my_dispatches(self, token: str) -> ApiResult:
        return self._call("GET", "/api/v1/me/dispatches", token=token)

    def my_finished(self, token: str) -> ApiResult:
        return self._call("GET", "/api/v1/me/finished", token=token)

    def incidents(self, token: str, **params) -> ApiResult:
        return self._call(
            "GET",
            "/api/v1/incidents",
            token=token,
            params={k: v for k, v in params.items() if v not in (None, "")},
        )

    def incident(self, token: str, incident_id: int) -> ApiResult:
        return self._call("GET", f"/api/v1/incidents/{incident_id}", token=token)

    def evaluation(self, token: str | None, **params) -> ApiResult:
        """综合评价 rows (JSON), or the CSV text with ``format="csv"``. With no token: as the wall board
        (its key), for the board's evaluation panel."""
        headers = {} if token or not self.proxy_key else {PROXY_HEADER: self.proxy_key}
        return self._call("GET", "/api/v1/reports/evaluation", token=token, headers=headers,
                          params={k: v for k, v in params.items() if v})  # fmt: skip

    def evaluation_xlsx(self, token: str, **params) -> ApiResult:
        """The evaluation as an Excel workbook: ``data`` is its bytes."""
        params = {**{k: v for k, v in params.items() if v}, "format": "xlsx"}
        try:
            res = self.http.get("/api/v1/reports/evaluation", params=params,
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        except httpx.HTTPError as exc:
            return ApiResult(False, 503, error=f"the dispatch API at {self.base_url} does not answer ({exc})")
        if res.is_success:
            return ApiResult(True, res.status_code, res.content)
        try:
            detail = res.json().get("detail")
        except ValueError:
            detail = res.text
        return ApiResult(False, res.status_code, error=str(detail))

    def field_report(self, token: str, body: dict) -> ApiResult:
        """信息收集: an inspector's report (``component``, ``type``, ``lon``/``lat``, ``description``)."""
        return self._call("POST", "/api/v1/reports", token=token, json=body)

    def act(self, token: str, incident_id: int, action: str, body: dict | None = None) -> ApiResult:
        return self._call("POST", f"/api/v1/incidents/{incident_id}/{action}", token=token, json=body or {})

    def upload_photo(self, token: str, incident_id: int, name: str, data: bytes, mime: str) -> ApiResult:
        return self._call(
            "POST", f"/api/v1/incidents/{incident_id}/photos", token=token, files={"file": (name, data, mime)}
        )

    # -- the board ------------------------------------------------------------------------------
    def board_snapshot(self, key: str, recent_s: float, page: int = 500) -> ApiResult:
        """Every page of the board's snapshot (open incidents and those changed in ``recent_s``):
        ``[{"event": ..., "stamps": ...}]``, or the first error."""
        rows: list = []
        params: dict = {"recent_s": recent_s, "limit": page}
        while True:
            try:
                res = self.http.get("/api/v1/board/snapshot", params=params, headers={BOARD_HEADER: key})
            except httpx.HTTPError as exc:
                return ApiResult(
                    False,
                    503,
                    error=f"the dispatch API at {self.base_url} does not answer ({exc.__class__.__name__})",
                )
            if not res.is_success:
                try:
                    detail = res.json().get("detail", res.text)
                except (ValueError, AttributeError):
                    detail = res.text
                return ApiResult(False, res.status_code, error=str(detail))
            rows += res.json()
            cursor = res.headers.get("X-Next-Cursor")
            if not cursor:
                return ApiResult(True, res.status_code, rows)
            params["cursor"] = cursor

    # -- citizens (Open311) -----------------------------------------------------------------------
    def services(self) -> ApiResult:
        return self._call("GET", "/open311/v2/services.json")

    def create_request(
        self, form: dict, photo: tuple[str, bytes, str] | None, client_ip: str | None
    ) -> ApiResult:
        files = {"media": photo} if photo else None
        return self._call("POST", "/open311/v2/requests.json", data=form, files=files, client_ip=client_ip)

    def request_status(self, request_id: str) -> ApiResult:
        return self._call("GET", f"/open311/v2/requests/{quote(request_id, safe='')}.json")

    def rate(
        self, request_id: str, secret: str, rating: int, comment: str, client_ip: str | None
    ) -> ApiResult:
        body = {"secret": secret, "rating": rating, "comment": comment}
        return self._call(
            "POST",
            f"/open311/v2/requests/{quote(request_id, safe='')}/rating.json",
            json=body,
            client_ip=client_ip,
        )

    def nearby(self, service_code: str, lon: float, lat: float) -> ApiResult:
        """Open reports of this category within the merge radius (before a citizen files another)."""
        params = {"service_code": service_code, "lat": lat, "long": lon}
        return self._call("GET", "/open311/v2/nearby.json", params=params)

    def support(self, request_id: str, client_ip: str | None) -> ApiResult:
        return self._call(
            "POST", f"/open311/v2/requests/{quote(request_id, safe='')}/support.json", client_ip=client_ip
        )

    def public_requests(self, **params) -> ApiResult:
        """GET requests.json (the public list: no personal data in it)."""
        params = {k: v for k, v in params.items() if v not in (None, "")}
        return self._call("GET", "/open311/v2/requests.json", params=params)
