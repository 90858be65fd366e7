"""The real board process refuses a 60 MB body, with or without Content-Length, and keeps serving
(issue 16 item 11; the default cap is dashboard.max_body_mb = 16)."""

from __future__ import annotations

import http.client
import json

SIZE = 60_000_000


def _post(base: str, chunked: bool) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.putrequest("POST", "/_dash-update-component")
        conn.putheader("Content-Type", "application/json")
        conn.putheader(
            "Transfer-Encoding" if chunked else "Content-Length", "chunked" if chunked else str(SIZE)
        )
        conn.endheaders()
        chunk = b"[" * 1_000_000
        try:
            for _ in range(SIZE // len(chunk)):
                conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            if chunked:
                conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the board answered and closed before the whole body was sent
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_60_mb_body_is_refused_and_the_board_stays_up(board):  # noqa: F811
    _cfg, url = board
    for chunked in (False, True):
        status, body = _post(url, chunked)
        assert status == 413, (chunked, status, body[:300])
        assert "larger than 16 MB" in json.loads(body)["detail"]
    conn = http.client.HTTPConnection(url.removeprefix("http://").split(":")[0], int(url.rsplit(":", 1)[1]))
    conn.request("GET", "/api/live")
    assert conn.getresponse().status == 200
