"""Security headers on every answer of the dispatch API (issue 16 item 12), errors included, and the
docs pages' scripts come from the API itself (the browser check is tests/test_web_browser.py)."""

from __future__ import annotations

import re


def test_every_answer_has_the_security_headers(api):  # noqa: F811
    client = api[0]
    answers = {
        "/healthz": client.get("/healthz"),
        "services": client.get("/open311/v2/services.json"),
        "401": client.get("/api/v1/incidents"),
        "404": client.get("/photos/20260101/nothing.jpg"),
        "413": client.post(
            "/open311/v2/requests.json", content=b"x", headers={"Content-Length": "999999999"}
        ),
        "/openapi.json": client.get("/openapi.json"),
    }
    for name, res in answers.items():
        h = res.headers
        assert h.get("x-content-type-options") == "nosniff", name
        assert h.get("x-frame-options") == "DENY", name
        assert h.get("referrer-policy") == "no-referrer", name
        assert "frame-ancestors 'none'" in h.get("content-security-policy", ""), name
        assert "default-src 'none'" in h["content-security-policy"], name


def test_docs_pages_load_their_scripts_from_the_api(api):  # noqa: F811
    client = api[0]
    for path in ("/docs", "/redoc"):
        res = client.get(path)
        assert res.status_code == 200
        csp = res.headers["content-security-policy"]
        assert (
            "frame-ancestors 'none'" in csp
            and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        )
        urls = re.findall(r'(?:src|href)="([^"]+)"', res.text)
        assert urls and all(u.startswith("/") for u in urls), urls
        for u in urls:
            assert client.get(u).status_code == 200, u
