"""Hostile and bad input against the real services; each must get a clear error, change nothing it
should not, and leave the service running.

Already covered elsewhere (not repeated here): schemathesis over the whole API
(tests/test_api_fuzz.py); non-image, oversized-by-Content-Length, decompression-bomb and truncated
uploads, forged and expired tokens, a photo path with ``..%2F`` (test_api.py::
test_bad_input_is_refused_with_clear_messages, test_expired_token_is_refused); an inspector accepting
or reading another's dispatch (test_api.py::test_role_isolation); the citizen flood
(test_api.py::test_citizen_flood_is_rate_limited); every class of config error (test_config.py);
grid files (test_gis_validate.py, test_gis_import.py); missing, corrupt and unreachable camera
sources and zones outside the picture (test_vision.py, test_vision_sources.py,
test_vision_workers.py)."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from PIL import Image

from dashboard.media import media_key, media_url
from dispatch.accounts import load_secret
from streams.bus import publish
from streams.schemas import CAMERA_HEALTH, INCIDENTS, CameraHealth, IncidentEvent
from tests.conftest import ROOT
from tests.helpers import launch_browser, login, png, point, report
from tests.helpers import operator_token as operator_login
from tests.reliability.harness import wait_until
from vision.sources import VideoSource

SECRET = "top-secret-contents"


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of ``..`` or ``%2e``)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def healthy(api_base: str) -> bool:
    return request(f"{api_base}/healthz")[0] == 200


def citizen_form(lat: float, lon: float, description: str, photo: bytes | None = None) -> tuple[bytes, str]:
    boundary = "----cityops-hostile"
    fields = {
        "service_code": "exposed_rubbish",
        "lat": str(lat),
        "long": str(lon),
        "description": description,
    }
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    if photo is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="p.png"\r\n'
            "Content-Type: image/png\r\n\r\n".encode()
            + photo
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def district_point(cfg_data: Path, k: int = 0) -> tuple[float, float]:
    from cityops.config import GridConfig
    from gis.default import load_grid
    from tests.conftest import SMALL_GRID

    grid = load_grid(GridConfig.model_validate(SMALL_GRID), cfg_data)
    p = grid.cells[k].geometry.representative_point()
    return p.y, p.x


# -- the API process ---------------------------------------------------------------------------------
def test_chunked_oversized_body_is_refused_and_the_api_stays_up(api_url, figures):  # noqa: F811
    huge = b"x" * 12_000_000
    part = b'--x\r\nContent-Disposition: form-data; name="media"; filename="p.png"\r\n\r\n'
    tried = {}
    for path, ctype, big in [
        ("/api/v1/login", "application/json", b'{"username": "' + huge + b'", "password": "y"}'),
        ("/open311/v2/requests.json", "multipart/form-data; boundary=x", part + huge + b"\r\n--x--\r\n"),
    ]:
        host, port = api_url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", ctype)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            try:
                for i in range(0, len(big), 1_000_000):
                    chunk = big[i : i + 1_000_000]
                    conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                conn.send(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered and closed before the whole body was sent
            resp = conn.getresponse()
            tried[path] = resp.status
            body = resp.read()
        finally:
            conn.close()
        assert resp.status == 413, (path, resp.status, body[:300])
        assert b"larger than" in body
    figures.update(inputs="12 MB chunked bodies (no Content-Length)", answers=tried)
    assert healthy(api_url)


def test_photo_url_traversal_is_refused(api_url, tmp_path, figures):  # noqa: F811
    data = tmp_path / "data"
    (data / "secret.key").write_text(SECRET)
    (data / "photos" / "20260101").mkdir(parents=True)
    (data / "photos" / "20260101" / "ok.png").write_bytes(png())
    (data / "photos" / "20260101" / "link.png").symlink_to(data / "secret.key")
    attempts = [
        "/photos/20260101/../../secret.key",
        "/photos/20260101/..%2F..%2Fsecret.key",
        "/photos/20260101/%2e%2e%2f%2e%2e%2fsecret.key",
        "/photos/..%2F..%2F/secret.key",
        "/photos/20260101/..%5C..%5Csecret.key",
        "/photos/20260101/%252e%252e%252fsecret.key",
        "/photos/20260101/link.png",
        "/photos/20260101/.hidden",
        "/photos/2026010a/ok.png",
        f"/photos/20260101/{'%2F' * 3}etc%2Fpasswd",
        "/photos/20260101/ok.png%00.jpg",
    ]
    answers = {a: raw_get(api_url, a) for a in attempts}
    figures.update(inputs=len(attempts), refused=sum(s == 404 for s, _ in answers.values()))
    for path, (status, body) in answers.items():
        assert status in (400, 404), (path, status)
        assert SECRET.encode() not in body and b"root:" not in body, path
    assert raw_get(api_url, "/photos/20260101/ok.png")[0] == 200  # the real photo is served
    assert healthy(api_url)


def test_markup_and_sql_are_stored_as_plain_data(api_url, tmp_path, figures):  # noqa: F811
    nasty = [
        "<script>alert('x')</script>",
        '"><img src=x onerror=alert(1)>',
        "'; DROP TABLE incidents; --",
        "1' OR '1'='1",
        "Robert'); DELETE FROM processed_detections WHERE ('1'='1",
        "\u202egnp.exe <b>bold</b> 中文",
    ]
    ids = []
    for k, text in enumerate(nasty):  # one cell each: reports in the same place would merge
        lat, lon = district_point(tmp_path / "data", 5 * k)
        body, ctype = citizen_form(lat, lon, text)
        status, _, raw = request(f"{api_url}/open311/v2/requests.json", "POST", body, {"Content-Type": ctype})
        assert status == 201, raw
        ids.append(json.loads(raw)[0]["service_request_id"])
    for rid, text in zip(ids, nasty, strict=True):
        status, headers, raw = request(f"{api_url}/open311/v2/requests/{rid}.json")
        assert status == 200 and headers["content-type"].startswith("application/json")
        assert json.loads(raw)[0]["description"] == text  # kept verbatim, returned as data
    for probe in ["R' OR '1'='1", "x'; DROP TABLE incidents;--", "\x00", "../../etc/passwd"]:
        assert request(f"{api_url}/open311/v2/requests/{quote(probe, safe='')}.json")[0] == 404
    for name in ["' OR 1=1 --", "olga' --", 'olga"; --']:
        res = request(f"{api_url}/api/v1/login", "POST", json.dumps({"username": name, "password": "' OR '1'='1"}).encode(),
                      {"Content-Type": "application/json"})  # fmt: skip
        assert res[0] == 401
    token = operator_login(api_url)
    auth = {"Authorization": f"Bearer {token}"}
    for key, value in [("state", "new' OR '1'='1"), ("cell", "1 OR 1=1"), ("type", "';--")]:
        q = urlencode({key: value})
        status, _, raw = request(f"{api_url}/api/v1/incidents?{q}", headers=auth)
        assert status in (200, 422) and (status == 422 or json.loads(raw) == []), (q, raw[:200])
    status, _, raw = request(f"{api_url}/open311/v2/requests.json?limit=1000")
    assert status == 200 and {r["service_request_id"] for r in json.loads(raw)} >= set(ids)
    figures.update(inputs=len(nasty) + 4 + 3 + 3, stored_verbatim=len(ids))
    assert healthy(api_url)


def test_tampered_tokens_are_refused(api_url, figures):  # noqa: F811
    token = operator_login(api_url)
    payload, *rest = token.split(".")
    forged = [
        "",
        "null",
        "a.b.c",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        payload.replace(payload[2], "Z" if payload[2] != "Z" else "Y") + "." + ".".join(rest),
        token + "." + token,
        "x" * 5000,
    ]
    codes = [
        request(f"{api_url}/api/v1/incidents", headers={"Authorization": f"Bearer {t}"})[0] for t in forged
    ]
    codes.append(request(f"{api_url}/api/v1/incidents", headers={"Authorization": f"Basic {token}"})[0])
    figures.update(inputs=len(codes), refused=codes.count(401) + codes.count(403))
    assert set(codes) <= {401, 403}, codes
    assert request(f"{api_url}/api/v1/incidents", headers={"Authorization": f"Bearer {token}"})[0] == 200


def test_photo_storage_failure_is_a_clear_error_and_the_report_is_kept(api_url, tmp_path, figures):  # noqa: F811
    lat, lon = district_point(tmp_path / "data")
    (tmp_path / "data" / "photos").write_text("a file where the photo folder should be")
    body, ctype = citizen_form(lat, lon, "rubbish by the gate", png())
    status, _, raw = request(f"{api_url}/open311/v2/requests.json", "POST", body, {"Content-Type": ctype})
    created = json.loads(raw)
    figures.update(fault="photos folder unwritable", status=status, notice=created[0]["service_notice"][:120])
    assert status == 201, raw
    assert "could not be stored" in created[0]["service_notice"]
    assert "could not be stored" in created[0]["photo_problem"]
    status, _, raw = request(f"{api_url}/open311/v2/requests/{created[0]['service_request_id']}.json")
    assert status == 200 and json.loads(raw)[0]["media_url"] is None
    assert healthy(api_url)


def test_inspector_cannot_act_on_anothers_dispatch(api):  # noqa: F811
    """Every inspector action on someone else's incident (test_role_isolation tries accept only)."""
    client, grid, *_ = api
    alice = login(client, "alice")
    bob = login(client, "bob")
    ops = login(client, "olga")
    rid = report(client, grid, street="130203002")["service_request_id"]
    rows = client.get("/api/v1/incidents", headers=ops).json()
    req = client.get(f"/open311/v2/requests/{rid}.json").json()[0]
    inc = next(r for r in rows if abs(r["lat"] - req["lat"]) < 1e-9)
    assert inc["assignee"] == "insp-b"
    iid = inc["id"]
    before = client.get(f"/api/v1/incidents/{iid}", headers=ops).json()
    for action, body in [("accept", None), ("arrive", {"lon": inc["lon"], "lat": inc["lat"]}),
                         ("resolve", {"note": "done"}), ("escalate", {"note": "x"}), ("verify", None),
                         ("close", None), ("reject", None), ("assign", {"assignee": "insp-a"}),
                         ("merge", {"into": iid})]:  # fmt: skip
        res = client.post(f"/api/v1/incidents/{iid}/{action}", headers=alice, json=body)
        assert res.status_code in (403, 404, 422), (action, res.status_code, res.text)
    after = client.get(f"/api/v1/incidents/{iid}", headers=ops).json()
    assert after == before
    assert client.post(f"/api/v1/incidents/{iid}/accept", headers=bob).status_code == 200


# -- the board process -------------------------------------------------------------------------------
def evidence_answers(cfg, url: str, secret_rel: str, attempts: list[str]) -> dict[str, tuple[int, bytes]]:
    """Each attempt as it is and with a real evidence link's signature (what someone who saw one
    incident holds): nothing outside the evidence folder, signed or not."""
    (cfg.data / secret_rel).write_text(SECRET)
    (cfg.data / "evidence" / "20260101").mkdir(parents=True, exist_ok=True)
    (cfg.data / "evidence" / "20260101" / "ok.jpg").write_bytes(png())
    link = media_url("evidence/20260101/ok.jpg", media_key(load_secret(cfg.data)))
    assert raw_get(url, link)[0] == 200  # real evidence is served on the link the pages sign
    assert raw_get(url, link.split("?")[0])[0] == 403  # ... and only on it
    signature = link.split("?")[1]
    out = {a: raw_get(url, a) for a in attempts}
    out.update({f"{a}?{signature}": raw_get(url, f"{a}?{signature}") for a in attempts if "?" not in a})
    return out


def test_evidence_traversal_cannot_leave_the_data_dir(board, figures):  # noqa: F811
    cfg, url = board
    attempts = [
        "/evidence/../../secret.jpg",
        "/evidence/evidence/../../secret.jpg",
        "/evidence/evidence/..%2F..%2Fsecret.jpg",
        "/evidence/evidence/%2e%2e/%2e%2e/secret.jpg",
        "/evidence/evidence/20260101/..%2F..%2F..%2Fsecret.jpg",
        "/evidence/evidence/..%5C..%5Csecret.jpg",
        "/evidence/%2Fetc%2Fpasswd",
        "/evidence/evidence//etc/passwd.jpg",
        "/evidence/evidence/20260101/ok.jpg%00.png",
        "/evidence/cityops.db",
    ]
    answers = evidence_answers(cfg, url, "../secret.jpg", attempts)
    leaked = [a for a, (_, body) in answers.items() if SECRET.encode() in body or b"root:" in body]
    figures.update(
        inputs=len(attempts), leaked=len(leaked), statuses=sorted({s for s, _ in answers.values()})
    )
    assert leaked == []
    assert raw_get(url, "/api/live")[0] == 200


def test_evidence_route_stays_inside_the_evidence_folder(board):  # noqa: F811
    cfg, url = board
    attempts = ["/evidence/evidence/../secret.jpg", "/evidence/evidence/..%2Fsecret.jpg"]
    answers = evidence_answers(cfg, url, "secret.jpg", attempts)
    assert [a for a, (_, body) in answers.items() if SECRET.encode() in body] == []


@pytest.mark.browser
def test_board_shows_markup_as_text_never_runs_it(board, r, tmp_path, figures):  # noqa: F811
    from playwright.sync_api import sync_playwright

    cfg, url = board
    cam = "<img src=x onerror=window.__xss=1>"
    kind = "<script>window.__xss=2</script>"
    now = datetime.now(UTC)
    publish(r, CAMERA_HEALTH, CameraHealth(camera_id=cam, state="online", fps=5))
    publish(r, INCIDENTS, IncidentEvent(incident_id=1, version=1, action="created", state="new", type=kind,
                                        lon=118.19, lat=39.65, note=kind, at=now, opened_at=now))  # fmt: skip
    live = wait_until(lambda: (j := json.loads(raw_get(url, "/api/live")[1])) and j["incidents"] and j, 20)
    assert live["incidents"][0]["type"] == kind and live["cameras"][0]["camera_id"] == cam  # data, verbatim
    with sync_playwright() as p:
        ctx = launch_browser(p, tmp_path)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(url + "/")
        page.wait_for_function(
            "() => document.body && (document.body.innerText.includes('<script>') || document.body.innerText.includes('<img'))",
            timeout=30000,
        )
        ran = page.evaluate("window.__xss === undefined ? null : window.__xss")
        injected = page.evaluate(
            "document.querySelectorAll('body script:not([src]):not([type]), img[src=x]').length"
        )
        text = page.evaluate("document.body.innerText")
        ctx.close()
    figures.update(inputs=2, shown_as_text=int(kind in text) + int(cam in text), executed=ran)
    assert ran is None, "markup from a stream was executed by the board"
    assert injected == 0 or ran is None


# -- files and sources ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"- a list\n", "must be a mapping"),
        (b"\xff\xfe\x00garbage\x00\x01", "UTF-8"),
        (b"district: [\n  - unclosed", "not valid YAML"),
        (b"cameras: !!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
        (b"b: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
        (b"roster: " + b"[" * 50 + b"]" * 50 + b"\n", "roster"),
    ],
    ids=["a-list", "binary", "truncated-yaml", "python-tag", "deep-nesting", "nested-lists"],
)
def test_hostile_config_files_are_clear_errors(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    res = subprocess.run([sys.executable, "-m", "cityops", "config", "check", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr[-2000:])
    assert "Traceback" not in res.stderr and "invalid configuration" in res.stderr, res.stderr[-2000:]
    assert expected in res.stderr
    assert "pwned" not in res.stdout


def h264_clip(path: Path, seconds: int = 4) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10",
                    "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", str(path)],
                   check=True, timeout=60)  # fmt: skip
    return path


def read_bounded(url: str, timeout: float = 30.0) -> tuple[int, str | None]:
    """Frames read from ``url`` and the error raised, in a thread that must finish in ``timeout``."""
    out: dict = {"frames": 0, "error": None}

    def run():
        try:
            for _ in VideoSource(url):
                out["frames"] += 1
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out["error"] = f"{type(exc).__name__}: {exc}"

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(timeout)
    assert not th.is_alive(), f"reading {url} hung"
    return out["frames"], out["error"]


@pytest.mark.skipif(
    not Path("/usr/bin/ffmpeg").exists(), reason="needs Debian's ffmpeg to make an H.264 clip"
)
def test_truncated_and_corrupt_videos_end_cleanly(tmp_path, figures):
    whole = h264_clip(tmp_path / "whole.mp4")
    data = whole.read_bytes()
    cases = {
        "whole": data,
        "cut-at-60%": data[: int(len(data) * 0.6)],
        "cut-at-5%": data[: int(len(data) * 0.05)],
        "header-only": data[:64],
        "bit-flipped": bytes(
            b ^ 0x5A if 2000 < i < len(data) - 2000 and i % 7 == 0 else b for i, b in enumerate(data)
        ),
        "random": os.urandom(len(data)),
    }
    results = {}
    for name, blob in cases.items():
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(blob)
        results[name] = read_bounded(str(path))
    figures.update(inputs=len(cases), results={k: (f, (e or "")[:60]) for k, (f, e) in results.items()})
    assert results["whole"] == (20, None)  # 4 s at the default 5 fps cap
    for name, (frames, error) in results.items():
        # either some frames and a clean end, or a clear SourceError naming the file
        assert error is None or (error.startswith("SourceError") and name in error), (name, error)
        assert frames > 0 or error, name
    assert results["random"][1] and results["header-only"][1]


class JunkServer(threading.Thread):
    """A TCP server on 127.0.0.1 answering every connection with junk (an RTSP URL gone bad)."""

    def __init__(self, reply: bytes) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port, self.reply, self.connections = self.sock.getsockname()[1], reply, 0
        self.sock.settimeout(0.5)
        self.stopped = False

    def run(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                try:
                    conn.recv(4096)
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def stop(self) -> None:
        self.stopped = True
        self.sock.close()


@pytest.mark.parametrize(
    "reply",
    [
        os.urandom(4096),
        b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 99999\r\n\r\n<html>",
        b"HTTP/1.1 500 Oops\r\n\r\n",
    ],
    ids=["random-bytes", "lying-rtsp-header", "http-answer"],
)
def test_rtsp_url_answering_garbage_reports_offline_and_keeps_trying(reply, figures):
    junk = JunkServer(reply)
    junk.start()
    events = []
    src = VideoSource(f"rtsp://127.0.0.1:{junk.port}/cam", max_backoff_s=0.5)
    src.on_status = lambda state, err: events.append((state, err))
    frames = []
    th = threading.Thread(target=lambda: frames.extend(1 for _ in src), daemon=True)
    th.start()
    try:
        assert wait_until(lambda: len(events) >= 2 and junk.connections >= 2, 40), (events, junk.connections)
    finally:
        src.stop()
        th.join(20)
        junk.stop()
    figures.update(input=reply[:24], connections=junk.connections, first_error=(events[0][1] or "")[:80])
    assert not th.is_alive(), "the source did not stop"
    assert frames == [] and {s for s, _ in events} == {"offline"}
    assert "cannot open" in events[0][1] and str(junk.port) in events[0][1]


def test_corrupt_upload_variants_leave_nothing_behind(api, figures):  # noqa: F811
    """Bodies that claim to be images (beyond test_api's cases): every one refused, no file kept."""
    client, grid, *_ = api
    bomb = io.BytesIO()
    Image.new("L", (12000, 12000)).save(bomb, "PNG")
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    html = b"<html><script>alert(1)</script></html>"
    polyglot = png() + html
    cases = {"bomb-144Mpx": bomb.getvalue(), "gif": gif.getvalue(), "svg": svg, "html": html, "zero": b""}

    lon, lat = point(grid, "130203001")
    codes = {}
    for name, blob in cases.items():
        res = client.post("/open311/v2/requests.json", data={"service_code": "exposed_rubbish", "lat": lat, "long": lon},
                          files={"media": (f"{name}.png", blob, "image/png")})  # fmt: skip
        codes[name] = res.status_code
        assert res.status_code in (400, 413, 415), (name, res.status_code, res.text)
        assert res.json()[0]["description"]  # the Open311 error shape
    res = client.post("/open311/v2/requests.json", data={"service_code": "exposed_rubbish", "lat": lat, "long": lon},
                      files={"media": ("p.png", polyglot, "image/png")})  # fmt: skip
    codes["png+html polyglot"] = res.status_code
    figures.update(inputs=len(codes), answers=codes)
    photos = client.app.state.ctx.data_dir / "photos"
    kept = [p for p in photos.rglob("*") if p.is_file()] if photos.exists() else []
    assert len(kept) == (1 if res.status_code == 201 else 0)  # a polyglot is a valid PNG: stored as PNG only
    assert all(p.suffix == ".png" for p in kept)
