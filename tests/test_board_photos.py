"""Photos reach every page from the board's own origin (``/photos/<day>/<name>``): a wall screen or
a phone is another machine, and an ``http://127.0.0.1:8060/photos/...`` URL (the API as the board
reaches it) pointed its browser at itself: the thumbnails stayed empty."""

from __future__ import annotations

import http.server
import threading

import pytest
from flask import Flask

from dashboard.media import clip_allowed, install_photos, media_key, media_url
from tests.conftest import free_port, make_config
from tests.helpers import png


def test_photo_urls_are_the_boards_own():
    assert media_url("photos/20261126/ab12.png") == "/photos/20261126/ab12.png"
    assert media_url("evidence/cam/1.jpg") is None  # camera evidence: staff only, a signed link
    key = media_key("s3cret")
    signed = media_url("evidence/cam/1.jpg", key, now=1_800_000_000)
    assert signed.startswith("/evidence/evidence/cam/1.jpg?exp=") and "&sig=" in signed
    exp, sig = (part.split("=")[1] for part in signed.split("?")[1].split("&"))
    assert clip_allowed("evidence/cam/1.jpg", exp, sig, key, 1_800_000_000)
    assert not clip_allowed("evidence/cam/2.jpg", exp, sig, key, 1_800_000_000)
    assert signed == media_url("evidence/cam/1.jpg", key, now=1_800_000_100)  # one link per slot: cached
    assert media_url("evidence/../cam/1.jpg", key) is None
    assert media_url("../etc/passwd") is None and media_url("javascript:alert(1)") is None


@pytest.fixture
def api_photos(tmp_path):
    """A stand-in API host on a real socket serving one photo under /photos/ (the board's fallback)."""
    root = tmp_path / "api"
    (root / "photos" / "20261126").mkdir(parents=True)
    (root / "photos" / "20261126" / "remote1.png").write_bytes(png((20, 10)))
    port = free_port()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    srv.shutdown()


def test_photos_from_the_shared_folder_or_the_api(tmp_path, api_photos):
    cfg = make_config(tmp_path, dashboard={"api_url": api_photos})
    local = cfg.data / "photos" / "20261126"
    local.mkdir(parents=True)
    (local / "local1.png").write_bytes(png((30, 10)))
    app = Flask(__name__)
    install_photos(app, cfg)
    client = app.test_client()
    res = client.get("/photos/20261126/local1.png")
    assert (
        res.status_code == 200
        and res.data == png((30, 10))
        and res.headers["X-Content-Type-Options"] == "nosniff"
    )
    remote = client.get("/photos/20261126/remote1.png")  # not in the board's folder: from the API
    assert remote.status_code == 200 and remote.data == png((20, 10)) and remote.mimetype == "image/png"
    assert client.get("/photos/20261126/none.png").status_code == 404
    for bad in ("/photos/2026112/local1.png", "/photos/20261126/..%2F..%2Fcfg.yaml", "/photos/20261126/.hidden.png",
                "/photos/20261126/local1.png.html", "/photos/../../etc/passwd"):  # fmt: skip
        assert client.get(bad).status_code == 404, bad


def test_an_api_that_does_not_answer_is_a_502_not_a_hang(tmp_path):
    cfg = make_config(tmp_path, dashboard={"api_url": f"http://127.0.0.1:{free_port()}"})
    app = Flask(__name__)
    install_photos(app, cfg)
    assert app.test_client().get("/photos/20261126/gone.png").status_code == 502
