"""The wall board in headless Chromium: time to a fully drawn board (2,257 cells, N open incidents),
bytes for the first load and per incident update, and latency from an event's XADD to its
appearance in the page's DOM (pushed over /board/events; ``--refresh-ms`` only sets the slow safety
tick). Beside it, in the same run, the naive baseline: a Dash page with one
``go.Choroplethmap`` of the same cells at full precision and nothing else, on stock Dash and
plotly.js; and the same naive page on CityOps' smaller plotly.js build (dashboard.plotly_bundle),
to show how much of the difference is that build and how much the board's own design. And the limit:
the board's map alone (cells coloured by open incidents, outlines, a marker per incident) drawn by hand
with MapLibre at the same place and size, without Dash or plotly.js traces; with, for each page, when
its map was made, which splits the time into before the map exists and after, and the CPU seconds
all of Chromium's processes used meanwhile (from /proc; a first draw keeps both cores busy). Each page is
drawn once to warm its server, then ``--draws`` times in turn (the median is printed, and each run),
each in a fresh browser context (nothing cached).

Event -> DOM is taken by the page's own clock: a MutationObserver notes when the card enters the
DOM and the end of the first frame after it (drawn); Playwright's ``wait_for_selector``, which drives
the loop, looks again only after a back-off of up to 500 ms, so its figure (also printed) is the
page's latency plus that back-off. The lag until the incident's marker is on the map is printed too.

    .venv/bin/python bench/board_render.py [--incidents 5000] [--events 200] [--refresh-ms 500] [--draws 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cityops.config import CityOpsConfig  # noqa: E402
from gis.default import load_grid  # noqa: E402
from streams.bus import connect, publish, publish_many  # noqa: E402
from streams.embedded import EmbeddedRedis, free_port  # noqa: E402
from streams.schemas import INCIDENTS, IncidentEvent  # noqa: E402
from tests.helpers import MAP_PAINTED  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip
WATCH = """() => { window.__seen = {}; window.__onmap = {}; window.__want = new Set();
  const note = (el) => { const id = el.id; if (!id || !id.startsWith('incident-') || window.__seen[id]) return;
    const rec = window.__seen[id] = {dom: Date.now()};
    requestAnimationFrame(() => setTimeout(() => { rec.drawn = Date.now(); }, 0)); };
  new MutationObserver((list) => { for (const m of list) for (const n of m.addedNodes) {
    if (n.nodeType !== 1) continue; note(n); n.querySelectorAll('[id^="incident-"]').forEach(note); } })
    .observe(document.body, {childList: true, subtree: true});
  setInterval(() => { if (!window.__want.size) return;
    const g = document.querySelector('#board-map .js-plotly-plot');
    const d = g && g.data && g.data.find((t) => t.name === 'incidents');
    if (!d) return;
    for (const id of Array.from(window.__want)) if (d.customdata.includes(id)) {
      window.__onmap[id] = Date.now(); window.__want.delete(id); } }, 50); }"""
CHARTS = """() => { const g = document.querySelector('#chart-type .js-plotly-plot');
  return !!(g && g.data && g.data.length > 0); }"""
#: drawn: the cells are all in the figure and the map has painted a frame with its data, read back
#: from the canvas (tests.helpers.MAP_PAINTED, the same probe the wall tests wait on)
DRAWN = MAP_PAINTED


def event(k: int, grid, now: datetime) -> IncidentEvent:
    cell = grid.cells[k % len(grid.cells)]
    p = cell.geometry.representative_point()
    return IncidentEvent(incident_id=k + 1, version=2, action="assigned", state="dispatched", type="illegal_parking",
                         cell=cell.code, lon=p.x, lat=p.y, assignee="i1", at=now, opened_at=now)  # fmt: skip


def wait_for(url: str, tries: int = 600) -> None:
    """Until ``url`` answers (a server starting), at most ``tries`` times 0.2 s."""
    import urllib.request

    for _ in range(tries):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)


@contextlib.contextmanager
def board_server(n_incidents: int, refresh_ms: int = 500):
    """The CityOps board (``cityops dashboard`` with an embedded Redis and a data folder of its own)
    with ``n_incidents`` open incidents on the stream; yields (port, config, grid, Redis client, the
    incidents) once it answers, and stops it after."""
    with tempfile.TemporaryDirectory() as d, EmbeddedRedis(Path(d) / "redis") as srv:
        tmp = Path(d)
        port = free_port()
        cfg_dict = {"data_dir": str(tmp), "dashboard": {"port": port, "refresh_ms": refresh_ms}}
        cfg = CityOpsConfig.model_validate(cfg_dict)
        grid = load_grid(cfg.grid, cfg.data)
        r = connect(srv.url)
        now = datetime.now(UTC)
        incidents = [event(k, grid, now) for k in range(n_incidents)]
        publish_many(r, INCIDENTS, incidents)
        (tmp / "cfg.yaml").write_text(yaml.safe_dump(cfg_dict))
        env = {**os.environ, "REDIS_URL": srv.url}
        proc = subprocess.Popen([sys.executable, "-m", "cityops", "dashboard", "--config", str(tmp / "cfg.yaml")], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_for(f"http://127.0.0.1:{port}/api/live")
            yield port, cfg, grid, r, incidents
        finally:
            proc.terminate()
            proc.wait(10)


def naive_app(grid, port: int, bundle: bool = False) -> None:
    """The baseline page: the cells at full precision in one Choroplethmap, nothing else (stock Dash
    and plotly.js; with ``bundle``, on CityOps' smaller plotly.js build, dashboard.plotly_bundle)."""
    import plotly.graph_objects as go
    from dash import Dash, dcc, html

    gj = grid.to_geojson()
    fig = go.Figure(go.Choroplethmap(geojson=gj, locations=list(grid.codes), z=np.zeros(len(grid)),
                                     featureidkey="properties.code"))  # fmt: skip
    fig.update_layout(map={"style": "white-bg", "zoom": 11, "center": {"lon": 118.19, "lat": 39.66}})
    app = Dash(__name__)
    app.layout = html.Div([dcc.Graph(id="board-map", figure=fig, style={"height": "900px"})])
    if bundle:
        from dashboard import plotly_bundle

        plotly_bundle.install(app.server)
    threading.Thread(target=lambda: app.run(port=port, debug=False), daemon=True).start()


HAND_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<style>body{margin:0;background:%(background)s} #board-map{position:absolute;left:%(left)dpx;top:%(top)dpx;
width:%(width)dpx;height:%(height)dpx}</style><script src="/plotly.js"></script></head>
<body><div id="board-map"><div class="js-plotly-plot"></div></div><script>
const view = %(view)s, c = %(colours)s, layer = (id, type, source, paint) => ({id, type, source, paint});
const maplibregl = Plotly.maplibre(), style = {version: 8, sources: {
  cells: {type: 'geojson', data: '/geo/cell.json'}, community: {type: 'geojson', data: '/geo/community.json'},
  street: {type: 'geojson', data: '/geo/street.json'}, markers: {type: 'geojson', data: '/markers.json'}},
  layers: [layer('bg', 'background', undefined, {'background-color': c.background}),
    layer('cells', 'fill', 'cells', {'fill-opacity': 0.85, 'fill-color': ['step', ['get', 'n'], c.idle,
      1, c.counts[0], 2, c.counts[1], 4, c.counts[2]]}),
    layer('cell-lines', 'line', 'cells', {'line-color': c.cell, 'line-width': 0.3}),
    layer('communities', 'line', 'community', {'line-color': c.community, 'line-width': 1.2}),
    layer('streets', 'line', 'street', {'line-color': c.street, 'line-width': 2.6}),
    layer('markers', 'circle', 'markers', {'circle-radius': 4, 'circle-color': ['get', 'colour']})]};
delete style.layers[0].source;
const m = new maplibregl.Map({container: 'board-map', style, center: view.center, zoom: view.zoom,
                              attributionControl: false});
// what MAP_PAINTED reads, where a plotly.js graph keeps it
Object.assign(document.querySelector('#board-map .js-plotly-plot'),
              {data: [{locations: view.codes}], _fullLayout: {map: {_subplot: {map: m}}}});
</script></body></html>"""


def hand_app(
    cfg: CityOpsConfig, grid, port: int, incidents: list[IncidentEvent], box: dict, view: dict
) -> None:
    """The limit: the board's map alone (its cells coloured by open incidents, the cells', communities'
    and streets' outlines, a marker per incident), drawn by hand with MapLibre at the board's map's
    place and size: no Dash, no plotly.js traces (MapLibre comes from CityOps' plotly.js build, which
    runs first, as on the board). How fast the map itself can be drawn on this machine."""
    import json

    from flask import Flask, Response

    from dashboard import plotly_bundle, theme
    from dashboard.maps import grid_layer

    counts: dict[str, int] = {}
    for inc in incidents:
        counts[inc.cell] = counts.get(inc.cell, 0) + 1
    cells = grid_layer(cfg, grid, "cell")
    cells = {**cells, "features": [{**f, "properties": {**f["properties"], "n": counts.get(f["properties"]["code"], 0)}}
                                   for f in cells["features"]]}  # fmt: skip
    markers = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"colour": theme.incident_colour(i.state, False)},
         "geometry": {"type": "Point", "coordinates": [i.lon, i.lat]}} for i in incidents]}  # fmt: skip
    files = {f"/geo/{level}.json": json.dumps(layer) for level, layer in
             (("cell", cells), ("community", grid_layer(cfg, grid, "community")),
              ("street", grid_layer(cfg, grid, "street")))}  # fmt: skip
    files["/markers.json"] = json.dumps(markers)
    page = HAND_PAGE % {
        **{k: round(v) for k, v in box.items()},
        "view": json.dumps({**view, "codes": list(grid.codes)}),
        "background": theme.MAP_BACKGROUND,
        "colours": json.dumps(
            {
                "background": theme.MAP_BACKGROUND,
                "idle": theme.IDLE_CELL,
                "counts": theme.CELL_COUNT_COLOURS,
                "cell": theme.CELL_LINE,
                "community": theme.COMMUNITY_LINE,
                "street": theme.STREET_LINE,
            }
        ),
    }
    app = Flask(__name__)

    @app.get("/")
    def index():
        return Response(page, mimetype="text/html")

    @app.get("/plotly.js")
    def bundle():
        return plotly_bundle.response()

    @app.get("/<path:name>")
    def data(name):
        if "/" + name not in files:
            return Response(status=404)
        return Response(files["/" + name], mimetype="application/json")

    threading.Thread(target=lambda: app.run(port=port, debug=False), daemon=True).start()


VIEWPORT = {"width": 1920, "height": 1080}
#: when the page's map came to be (ms after navigation), polled every 5 ms
MAP_BORN = """(() => { const t = setInterval(() => { const g = document.querySelector('#board-map .js-plotly-plot');
  if (g && g._fullLayout && g._fullLayout.map && g._fullLayout.map._subplot) {
    window.__mapBorn = performance.now(); clearInterval(t); } }, 5); })()"""


def chromium_processes() -> dict[str, tuple[str, float]]:
    """Each running Chromium process by pid: its kind (``gpu``, ``renderer`` or ``other``: the
    browser and its helpers) and the CPU seconds it used so far (user + system, from /proc). Empty
    where there is no /proc."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: dict[str, tuple[str, float]] = {}
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if (
            b"chrom" in cmd.split(b"\0", 1)[0]
        ):  # chromium, chrome; children retitle themselves (argv[0] with flags)
            kind = (
                "gpu"
                if b"--type=gpu-process" in cmd
                else "renderer"
                if b"--type=renderer" in cmd
                else "other"
            )
            out[pid] = (kind, (int(stat[11]) + int(stat[12])) / tick)
    return out


def browser_cpu() -> dict[str, float]:
    """CPU seconds used so far by each running Chromium process, by pid: what a page load costs the
    machine in all of Chromium's processes (the page's renderer and its map worker, the GPU process
    that paints WebGL in software here, the browser), not only its wall time."""
    return {pid: cpu for pid, (_kind, cpu) in chromium_processes().items()}


def cpu_since(before: dict[str, float]) -> float:
    """Chromium's CPU seconds since ``before`` (:func:`browser_cpu`); a process that ended meanwhile
    is not counted (its last seconds are lost: a lower bound)."""
    return sum(t - before.get(pid, 0.0) for pid, t in browser_cpu().items())


def open_and_measure(browser, url: str, n_cells: int) -> tuple[float, int, int, float, float]:
    """Open ``url`` in a new page of ``browser`` (a Browser: in a fresh context; a BrowserContext: with
    its cache) and time it until the map is drawn; with the bytes on the wire, all and Dash's, when
    its map was made, and the CPU seconds Chromium used meanwhile (all its processes)."""
    page = browser.new_page() if hasattr(browser, "pages") else browser.new_page(viewport=VIEWPORT)
    got = []
    page.on("response", lambda r: got.append(r))
    page.add_init_script(MAP_BORN)
    cpu0 = browser_cpu()
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(DRAWN, arg=n_cells, timeout=120_000, polling=50)
    elapsed = time.perf_counter() - t0
    cpu = cpu_since(cpu0)
    born = page.evaluate("() => window.__mapBorn") / 1000
    wire = data = 0
    for r in got:
        if "/board/events" in r.url:  # the push stream stays open: it has no final size
            continue
        try:
            size = r.request.sizes()["responseBodySize"]  # bytes on the wire (gzip where served)
        except Exception:  # noqa: BLE001 (redirects and aborted requests have no sizes)
            continue
        wire += size
        if "_dash-" in r.url:  # the layout and the callbacks: the figure and the live data
            data += size
    page.close()
    return elapsed, wire, data, born, cpu


def median_draw(draws: list[tuple[float, int, int, float, float]]) -> tuple[float, int, int, float, float]:
    """The draw with the median time (its bytes and the moment its map was made with it)."""
    return sorted(draws)[len(draws) // 2]


def board_map(browser, url: str, n_cells: int) -> tuple[dict, dict]:
    """The board's map: its box on a 1920x1080 screen and its view (centre, zoom)."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.wait_for_function(DRAWN, arg=n_cells, timeout=120_000, polling=50)
    box = page.locator("#board-map").bounding_box()
    view = page.evaluate("""() => { const m = document.querySelector('#board-map .js-plotly-plot')._fullLayout.map._subplot.map;
      const c = m.getCenter(); return {center: [c.lng, c.lat], zoom: m.getZoom()}; }""")
    page.close()
    return {"left": box["x"], "top": box["y"], "width": box["width"], "height": box["height"]}, view


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=5000)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--refresh-ms", type=int, default=500)
    ap.add_argument("--draws", type=int, default=3, help="first draws of each page, taken in turn")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with board_server(args.incidents, args.refresh_ms) as (port, cfg, grid, r, incidents):
        naive_port, lean_port, hand_port = free_port(), free_port(), free_port()
        naive_app(grid, naive_port)
        naive_app(grid, lean_port, bundle=True)
        wait_for(f"http://127.0.0.1:{naive_port}/")
        wait_for(f"http://127.0.0.1:{lean_port}/")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            open_and_measure(browser, f"http://127.0.0.1:{port}/", len(grid))  # warm each server once:
            open_and_measure(browser, f"http://127.0.0.1:{naive_port}/", len(grid))  # first calls fill
            open_and_measure(browser, f"http://127.0.0.1:{lean_port}/", len(grid))  # caches
            hand_app(
                cfg,
                grid,
                hand_port,
                incidents,
                *board_map(browser, f"http://127.0.0.1:{port}/", len(grid)),
            )
            wait_for(f"http://127.0.0.1:{hand_port}/")
            open_and_measure(browser, f"http://127.0.0.1:{hand_port}/", len(grid))
            draws = {"naive": [], "lean": [], "board": [], "hand": []}
            pages = (("naive", naive_port), ("lean", lean_port), ("board", port), ("hand", hand_port))
            for _ in range(args.draws):  # in turn, so a busy moment of the machine hits all of them
                for name, at in pages:
                    draws[name].append(open_and_measure(browser, f"http://127.0.0.1:{at}/", len(grid)))
            # reloaded: the third load in one browser context (a wall that reloads); Chromium makes a
            # script's code cache on its second load and uses it from the third on
            for _ in range(args.draws):
                for name, at in (("naive again", naive_port), ("board again", port)):
                    context = browser.new_context(viewport=VIEWPORT)
                    for _ in range(2):
                        open_and_measure(context, f"http://127.0.0.1:{at}/", len(grid))
                    draws.setdefault(name, []).append(
                        open_and_measure(context, f"http://127.0.0.1:{at}/", len(grid))
                    )
                    context.close()
            naive_s, naive_bytes = median_draw(draws["naive"])[:2]
            lean_s, lean_bytes = median_draw(draws["lean"])[:2]
            board_s, board_bytes = median_draw(draws["board"])[:2]
            hand_s, hand_bytes = median_draw(draws["hand"])[:2]

            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function(DRAWN, arg=len(grid), timeout=120_000, polling=50)
            page.wait_for_function(CHARTS, timeout=60_000, polling=50)  # charts follow the map
            page.wait_for_timeout(1000)
            current: list[int] = []

            def on_response(resp):  # the Dash callbacks' answers and the fast lane's JSON
                if "_dash-update-component" in resp.url or "/board/cards" in resp.url:
                    try:
                        current.append(len(resp.body()))  # bytes of the answer (before gzip)
                    except Exception:  # noqa: BLE001
                        return

            page.on("response", on_response)
            page.evaluate(WATCH)
            latencies, sizes, sent_at = [], [], {}
            for k in range(args.events):
                ev = event(args.incidents + k, grid, datetime.now(UTC))
                current.clear()
                page.evaluate(f"() => window.__want.add({ev.incident_id})")
                t0 = time.perf_counter()
                sent_at[ev.incident_id] = time.time() * 1000
                publish(r, INCIDENTS, ev)
                page.wait_for_selector(f"#incident-{ev.incident_id}", timeout=30_000, state="attached")
                latencies.append(time.perf_counter() - t0)
                page.wait_for_timeout(60)  # let the answer's bytes be read
                sizes.append(sum(current))
            page.wait_for_function("() => window.__want.size === 0", timeout=60_000, polling=100)
            page.wait_for_timeout(500)
            seen = page.evaluate("() => window.__seen")
            onmap = page.evaluate("() => window.__onmap")
            browser.close()
    q = statistics.quantiles(latencies, n=100)
    print(
        f"cells {len(grid)}, open incidents {args.incidents}, refresh {args.refresh_ms} ms, 1920x1080 headless Chromium"
    )
    runs = lambda name: ", ".join(f"{d[0]:.2f}" for d in draws[name])  # noqa: E731
    print(f"first draw, median of {args.draws} in turn (each run in brackets; a fresh browser context each):")
    print(f"  naive page (one Choroplethmap, full precision, stock plotly.js): {naive_s:6.2f} s, "
          f"{naive_bytes / 1024:6.0f} KB  [{runs('naive')}]")  # fmt: skip
    print(f"  the same on CityOps' plotly.js build (dashboard.plotly_bundle):  {lean_s:6.2f} s, "
          f"{lean_bytes / 1024:6.0f} KB  [{runs('lean')}]")  # fmt: skip
    print(f"  CityOps board (everything on it):                                {board_s:6.2f} s, "
          f"{board_bytes / 1024:6.0f} KB  [{runs('board')}]")  # fmt: skip
    print(f"  the limit: the board's map alone by hand in MapLibre (no Dash):  {hand_s:6.2f} s, "
          f"{hand_bytes / 1024:6.0f} KB  [{runs('hand')}]")  # fmt: skip
    born = lambda name: statistics.median(d[3] for d in draws[name])  # noqa: E731
    print(f"the map made (median, s after navigation): naive {born('naive'):.2f}, on CityOps' build {born('lean'):.2f}, "
          f"board {born('board'):.2f}, by hand {born('hand'):.2f}; from then to drawn: board "
          f"{board_s - born('board'):.2f} s, by hand {hand_s - born('hand'):.2f} s")  # fmt: skip
    cpu = lambda name: statistics.median(d[4] for d in draws[name])  # noqa: E731
    busy = lambda name: statistics.median(d[4] / d[0] for d in draws[name])  # noqa: E731
    print(f"Chromium's CPU per first draw (median, all its processes; cores busy = CPU s / wall s, of "
          f"{os.cpu_count()}): " + ", ".join(f"{label} {cpu(name):.2f} s ({busy(name):.1f})" for name, label in
          (("naive", "naive"), ("lean", "on CityOps' build"), ("board", "board"), ("hand", "by hand"))))  # fmt: skip
    print(
        f"reloaded in the same browser (its third load: HTTP and code caches warm), median of {args.draws}:"
    )
    print(f"  naive page: {median_draw(draws['naive again'])[0]:6.2f} s  [{runs('naive again')}]   "
          f"CityOps board: {median_draw(draws['board again'])[0]:6.2f} s  [{runs('board again')}]")  # fmt: skip
    print(f"first-draw ratio board/naive: time {board_s / naive_s:5.2f}, bytes {board_bytes / naive_bytes:5.2f}; "
          f"board/naive on the same plotly.js build: time {board_s / lean_s:5.2f}")  # fmt: skip
    qs = statistics.quantiles(sizes, n=20)
    print(
        f"bytes per update (every callback answer and /board/cards JSON between XADD and the card in the DOM, "
        f"uncompressed): "
        f"median {statistics.median(sizes) / 1024:6.1f} KB, p95 {qs[18] / 1024:6.1f} KB over {len(sizes)} events"
    )
    drawn = [seen[f"incident-{i}"]["drawn"] - t for i, t in sent_at.items()]
    dom = [seen[f"incident-{i}"]["dom"] - t for i, t in sent_at.items()]
    lag = [onmap[str(i)] - t for i, t in sent_at.items()]
    pq = lambda xs: statistics.quantiles(xs, n=100)  # noqa: E731
    print(f"event -> DOM (XADD to the card drawn in the page, the page's clock) over {len(drawn)} events: "
          f"p50 {pq(drawn)[49]:6.0f} ms  p95 {pq(drawn)[94]:6.0f} ms  (in the DOM: p50 {pq(dom)[49]:.0f}, p95 {pq(dom)[94]:.0f})")  # fmt: skip
    print(f"event -> DOM as Playwright's polling saw it (its back-off adds up to 500 ms): "
          f"p50 {q[49] * 1000:6.0f} ms  p95 {q[94] * 1000:6.0f} ms")  # fmt: skip
    print(f"event -> its marker on the map: p50 {pq(lag)[49]:6.0f} ms  p95 {pq(lag)[94]:6.0f} ms")


if __name__ == "__main__":
    main()
