"""Helpers shared by test modules (plain functions and classes; the shared fixtures are in conftest.py).

Test modules import from here, never from each other."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageColor

from streams.schemas import Detection
from tests.conftest import ROOT


def wait_http(url, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read()) if "/api/live" in url else resp.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def launch_browser(p, tmp_path):
    return p.chromium.launch_persistent_context(
        str(tmp_path / "chromium"),
        executable_path="/usr/bin/chromium",
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ],
        viewport={"width": 1920, "height": 1080},
    )


def login(client, user):
    res = client.post("/api/v1/login", json={"username": user, "password": f"{user}-password"})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


def point(grid, street, k=0):
    cells = [c for c in grid.cells if c.street == street]
    p = cells[k].geometry.representative_point()
    return p.x, p.y


def png(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buf, "PNG")
    return buf.getvalue()


def report(client, grid, street="130203002", code="exposed_rubbish", k=0, photo=True, public=True):
    """A citizen report (its photo shown publicly unless ``public`` is False); the POST's answer."""
    lon, lat = point(grid, street, k)
    files = {"media": ("p.png", png(), "image/png")} if photo else None
    res = client.post(
        "/open311/v2/requests.json",
        data={
            "service_code": code,
            "lat": lat,
            "long": lon,
            "description": "<b>pile</b> by the gate",
            "public_photo": "true" if public else "false",
        },  # fmt: skip
        files=files,
    )
    assert res.status_code == 201, res.text
    return res.json()[0]


def operator_token(url: str) -> str:
    """A token for the operator ``olga`` of the ``api_url`` fixture."""
    req = urllib.request.Request(f"{url}/api/v1/login", data=json.dumps({"username": "olga", "password": "olga-password"}).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())["token"]


SYSTEM_PY = "/usr/bin/python3"


def gst_rtsp_available() -> bool:
    if not Path(SYSTEM_PY).exists():
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PY, "-c", probe], capture_output=True).returncode == 0


needs_rtsp = pytest.mark.skipif(
    not gst_rtsp_available(),
    reason="GStreamer RTSP server bindings absent: ./run test installs gir1.2-gst-rtsp-server-1.0 python3-gst-1.0",
)


class RtspServer:
    def __init__(self, port: int) -> None:
        self.port, self.proc = port, None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/clip"

    def start(self) -> RtspServer:
        self.proc = subprocess.Popen(
            [SYSTEM_PY, str(ROOT / "tests" / "rtsp_server.py"), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", line + self.proc.stdout.read()
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


def point_in(grid, street: str):
    cell = next(c for c in grid.cells if c.street == street)
    p = cell.geometry.representative_point()
    return cell.code, p.x, p.y


def det(i, lon, lat, t=T0, type_="illegal_parking"):
    return Detection(
        id=f"d{i}", type=type_, lon=lon, lat=lat, observed_at=t, camera_id="cam", evidence=f"evidence/{i}.jpg"
    )


def fill(directory, name: str = "filler") -> int:
    """Write zeros into ``directory`` until the filesystem has not one byte left; returns bytes."""
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    total = 0
    try:
        for block in (1 << 20, 65536, 4096, 1):
            while True:
                try:
                    total += os.write(fd, b"\0" * block)
                except OSError:
                    break
    finally:
        os.close(fd)
    return total


# -- IoT (issue 14) -----------------------------------------------------------------------------------
def iot_devices(grid, n: int, kind: str = "gas", heartbeat_s: int = 0, prefix: str = "dev") -> list[dict]:
    """``n`` registry rows spread over the grid's cells (one per cell, round robin)."""
    cells = grid.cells
    rows = []
    for i in range(n):
        p = cells[i % len(cells)].geometry.representative_point()
        off = (i // len(cells)) * 0.0006  # a second device in a cell: ~60 m away (no merge)
        rows.append({"id": f"{prefix}-{i:04d}", "kind": kind, "lon": p.x + off, "lat": p.y,
                     "address": f"No. {i} Test Road", "protects": f"resident {i}",
                     "contact_name": "Wang", "contact_phone": "+86 138 0000 0000",
                     "heartbeat_s": heartbeat_s, "secret": f"secret-of-{prefix}-{i:04d}-x"})  # fmt: skip
    return rows


def alarm_json(
    device_id: str, kind: str = "gas", n: int = 0, state: str = "alarm", when=None, **extra
) -> bytes:
    import json
    from datetime import UTC, datetime

    body = {"device_id": device_id, "kind": kind, "value": 800.0 + n, "id": f"m{n}", "state": state,
            "time": (when or datetime.now(UTC)).isoformat(), **extra}  # fmt: skip
    return json.dumps(body).encode()


class MqttPublisher:
    """A device-side paho client (QoS 1, persistent session): ``publish`` keeps messages while the
    broker is away and sends them when it is back; ``acked`` counts the broker's PUBACKs."""

    def __init__(self, url: str, client_id: str = "test-devices") -> None:
        import threading

        from cityops.config import CityOpsConfig
        from iot.bridge import make_client, mqtt_params

        self.acked = 0
        self._lock = threading.Lock()
        p = mqtt_params(url, CityOpsConfig())
        self.client = make_client(client_id, p)  # persistent: unacknowledged messages are sent again
        self.client.on_publish = self._on_publish
        self.client.connect(p["host"], p["port"], keepalive=30)
        self.client.loop_start()

    def _on_publish(self, *_args) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, topic: str, payload: bytes, qos: int = 1):
        return self.client.publish(topic, payload, qos=qos)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


# -- vision: frames composed from the real sample footage (vision.clips) ---------------------------
VTEST = ROOT.parent / "shared" / "media" / "vtest.avi"
LOT = ROOT.parent / "shared" / "media" / "car-detection.mp4"
#: where a garment cut from vtest.avi is left on its pavement, and where a man stands beside it
CLOTH_AT, MAN_AT = (560, 300), (640, 242)


def media_frames(path: Path, fps: float, seconds: float | None = None, start_s: float = 0.0):
    """The clip's frames at ``fps`` from ``start_s`` on, for ``seconds`` (None: to its end)."""
    from vision.sources import VideoSource

    for f, t in VideoSource(str(path), fps=fps):
        if t + 1e-6 < start_s:
            continue
        if seconds is not None and t >= start_s + seconds - 1e-6:
            return
        yield f


_PROPS: dict = {}


def vtest_props() -> dict:
    """Real pieces of vtest.avi: ``bg`` (the clip's median: the scene without passers-by), ``cloth``
    (the yellow garment lying on the grass in frame 0, as crop and alpha) and ``man`` (the man
    standing on the pavement in frame 0, cut against ``bg``)."""
    if not _PROPS:
        from vision.clips import cut_object, median_background

        bg = median_background(media_frames(VTEST, 10))
        first = next(media_frames(VTEST, 10))
        _PROPS.update(
            bg=bg,
            cloth=cut_object(first, (66, 492, 162, 530)),
            man=cut_object(first, (248, 214, 292, 312), bg),
        )
    return _PROPS


#: The board's map has painted a frame with its data, not just said it loaded: every source loaded
#: (``loaded()``), and, read back from the canvas in MapLibre's render event (before the frame is
#: handed on), 25 points of the canvas opaque and of at least three colours (the dark fill, cells,
#: outlines or markers), not the style's bare background. ``loaded()`` alone, or a render event, can
#: come before that paint (a screenshot then shows a blank or half-drawn map). With ``n``, the figure
#: must also hold all ``n`` cells. Pass it to ``wait_for_function`` with ``arg=n`` (or ``None``).
MAP_PAINTED = """(n) => { const g = document.querySelector('#board-map .js-plotly-plot');
  const m = g && g.data && g._fullLayout && g._fullLayout.map && g._fullLayout.map._subplot
            && g._fullLayout.map._subplot.map;
  if (!m || (n && g.data[0].locations.length !== n)) return false;
  if (!m.__watched) { m.__watched = true;
    m.on('render', () => { if (m.__painted || !m.loaded()) return;
      const gl = m.painter.context.gl, w = gl.drawingBufferWidth, h = gl.drawingBufferHeight, p = new Uint8Array(4);
      const seen = new Set(); let clear = false;
      for (let i = 1; i <= 5; i++) for (let j = 1; j <= 5; j++) {
        gl.readPixels(Math.floor(w * i / 6), Math.floor(h * j / 6), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, p);
        if (p[3] === 0) clear = true; seen.add(p.join(',')); }
      if (!clear && seen.size >= 3) m.__painted = true; });
    m.triggerRepaint(); }
  return !!m.__painted; }"""
#: The board's three charts hold data.
CHARTS_DRAWN = """() => ['chart-trend', 'chart-type', 'chart-street'].every(id => {
  const g = document.querySelector('#' + id + ' .js-plotly-plot'); return g && g.data && g.data.length > 0; })"""
#: Where the board's panels are and how big its type is (the wall-size tests read it).
BOARD_FIT = """() => {
  const d = document.documentElement, vw = innerWidth, vh = innerHeight;
  const out = [...document.querySelectorAll('.nav, .header, .kpi, .panel, .cam-sum-row, .cam-sum-link, .incident, #board-map')]
    .map(e => { const r = e.getBoundingClientRect();
                return {what: e.id || e.className, top: r.top, left: r.left, bottom: r.bottom, right: r.right}; })
    .filter(b => b.top < -0.5 || b.left < -0.5 || b.bottom > vh + 0.5 || b.right > vw + 0.5);
  const visible = [...document.querySelectorAll('.incident')].filter(e => {
    const r = e.getBoundingClientRect(), p = document.getElementById('ticker').getBoundingClientRect();
    return r.bottom <= p.bottom + 0.5; }).length;
  const chart = document.querySelector('#chart-type .js-plotly-plot');
  return {vw, vh, docH: d.scrollHeight, docW: d.scrollWidth, bodyH: document.body.scrollHeight, out,
          title: parseFloat(getComputedStyle(document.getElementById('title')).fontSize),
          kpi: parseFloat(getComputedStyle(document.querySelector('.kpi-value')).fontSize),
          map: document.querySelector('#board-map').getBoundingClientRect().height,
          chartFont: chart._fullLayout.font.size, tiles: document.querySelectorAll('.cam-tile').length,
          cams: document.querySelectorAll('#camera-wall .cam-sum-row').length,
          link: (document.getElementById('cam-wall-link') || {}).innerText, visible};
}"""


def map_shows(shot: bytes, box: dict) -> dict:
    """What a screenshot (PNG bytes) shows inside the map's bounding box ``box`` (Playwright's, CSS
    pixels at a scale of 1), as shares of its pixels: ``top``, the commonest colour (a blank or
    background-only map is one colour), ``streets``, the street outlines (theme.STREET_LINE), and
    ``markers``, the incidents' colours (theme.STATE_COLOURS, red when overdue)."""
    from dashboard.theme import OVERDUE_COLOUR, STATE_COLOURS, STREET_LINE

    img = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
    x0, y0 = max(int(box["x"]), 0), max(int(box["y"]), 0)
    px = img[y0 : y0 + int(box["height"]), x0 : x0 + int(box["width"])].reshape(-1, 3)
    near = lambda c, tol: (np.abs(px - c) <= tol).all(axis=1)  # noqa: E731
    _, counts = np.unique(px // 8, axis=0, return_counts=True)
    markers = np.zeros(len(px), bool)
    for colour in (*STATE_COLOURS.values(), OVERDUE_COLOUR):
        markers |= near(np.array(ImageColor.getrgb(colour)), 40)
    return {
        "top": float(counts.max() / len(px)),
        "streets": float(near(np.array(ImageColor.getrgb(STREET_LINE)), 30).mean()),
        "markers": float(markers.mean()),
    }
