/* The wall board's live link (dashboard/pages/board.py): no eval, so it runs under the board's CSP.
 *
 * - Once the map has drawn, tell the server the page's scale (board-scale): that first update
 *   brings the charts, and every resize brings them again at the new size.
 * - Follow /board/events (server-sent events): each message is the live state's new version. The
 *   fast lane: fetch /board/cards (one request in flight; a push meanwhile asks again once it is in)
 *   and draw the KPI tiles and the cards here, text only (textContent: no markup from data), each
 *   card only when its key changed; Dash never renders #kpis or #ticker, so nothing waits for a
 *   Dash round trip or a React render. When the camera panel's key changes, board-cams-push asks
 *   Dash for that panel. The page's first cards come in the layout (board-push's data-cards), and
 *   a new drill-down (board-drill) asks for its cards at once.
 * - The slow lane: the version is handed to board-map-push once the messages pause for data-quiet-ms, or data-max-wait-ms after the
 *   first one not yet drawn, and never while the map is still drawing the last one (the slow lane:
 *   the map and the charts). A map redraw (all its cells and markers) costs far more than a card,
 *   so a burst of events brings every card at once and one redraw of the map after it; and the map
 *   gets at most data-share of the page's time (a slow machine redraws it less often, so the
 *   cards still come at once).
 * - A click on an incident card opens its detail (board-focus); the detail's x closes it.
 * Pages other than the board have no #board-push, so nothing runs there.
 */
(function () {
  "use strict";
  var source = null;
  var scaled = false;
  var since = 0;
  var resizeTimer = null;
  var mapTimer = null;
  var mapWanted = null; // the newest version the map has not been asked to draw
  var mapAsked = null; // the version the map was asked to draw last
  var firstWanted = 0; // when the oldest version not yet drawn arrived
  var drawStart = 0; // when the map was asked to draw (0: not drawing)
  var sawBusy = false;
  var drawCost = 0; // how long the last map update took, ask to idle (ms)
  var lastDrawEnd = 0;
  var cardsWanted = false; // a push came while the cards request was in flight
  var cardsAt = 0; // when the cards were asked (0: no request in flight)
  var cardsText = null; // the fast lane's JSON drawn last
  var lastDrill = null; // the drill-down the cards were asked for last
  var pendingMap = null; // a version pushed before the map's first draw
  var lastAsked = 0; // when the cards were asked last (a safety net asks every SAFETY_MS)
  var SAFETY_MS = 10000;

  function setProps(id, props) {
    var dc = window.dash_clientside;
    if (dc && dc.set_props && document.getElementById(id)) {
      dc.set_props(id, props);
      return true;
    }
    return false;
  }

  function scale() {
    var s = Math.min(window.innerWidth / 1920, window.innerHeight / 1080);
    return Math.max(0.5, Math.round(s * 4) / 4);
  }

  function mapDrawn() {
    var g = document.querySelector("#board-map .js-plotly-plot");
    var sub = g && g._fullLayout && g._fullLayout.map && g._fullLayout.map._subplot;
    return !!(sub && sub.map && sub.map.loaded());
  }

  function mapBusy() {
    var g = document.querySelector("#board-map .js-plotly-plot");
    var sub = g && g._fullLayout && g._fullLayout.map && g._fullLayout.map._subplot;
    return !!(sub && sub.map && !sub.map.loaded());
  }

  // -- the fast lane: the KPI tiles and the cards, drawn here from /board/cards (text only) ------------
  function fastLane() {
    return document.getElementById("board-push");
  }

  function drillNow() {
    var el = document.getElementById("board-drill");
    return (el && el.value) || "";
  }

  function askCards() {
    // at most one request in flight; a push that comes meanwhile asks again once it is in
    var el = fastLane();
    if (!el) return;
    if (cardsAt) {
      cardsWanted = true;
      return;
    }
    cardsAt = lastAsked = Date.now();
    cardsWanted = false;
    var drill = drillNow();
    var url =
      "/board/cards?lang=" + encodeURIComponent(el.dataset.lang || "") + "&drill=" + encodeURIComponent(drill);
    fetch(url, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        return r.ok ? r.text() : null;
      })
      .then(
        function (text) {
          cardsAt = 0;
          if (text && drill === drillNow()) drawCards(text);
          if (cardsWanted || drill !== drillNow()) askCards();
        },
        function () {
          cardsAt = 0;
          if (cardsWanted) setTimeout(askCards, 1000);
        }
      );
  }

  function make(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined && text !== null) el.textContent = String(text);
    return el;
  }

  function buildCard(row) {
    var el;
    if (row.kind === "alarm") {
      el = make("div", row.cls);
      el.id = "alarm-" + row.id;
      el.setAttribute("role", "alert");
      var head = make("div", "inc-title");
      head.appendChild(make("span", "alarm-badge", row.badge));
      head.appendChild(document.createTextNode(" "));
      head.appendChild(make("span", "inc-id", "#" + row.id + " "));
      head.appendChild(document.createTextNode(row.type));
      el.appendChild(head);
      el.appendChild(make("div", "inc-meta", row.meta));
    } else if (row.kind === "incident") {
      el = make("div", row.cls);
      el.id = "incident-" + row.id;
      el.dataset.id = String(row.id);
      var thumb;
      if (row.photo) {
        thumb = make("img", "thumb");
        thumb.src = row.photo;
        thumb.alt = row.alt;
      } else {
        thumb = make("div", "thumb empty", row.no_photo);
      }
      el.appendChild(thumb);
      var body = make("div", "inc-body");
      var title = make("div", "inc-title");
      title.appendChild(make("span", "inc-id", "#" + row.id + " "));
      title.appendChild(document.createTextNode(row.type));
      var chip = make("span", "chip" + (row.overdue ? " overdue" : ""), row.state);
      chip.style.borderColor = row.colour;
      title.appendChild(chip);
      body.appendChild(title);
      body.appendChild(make("div", "inc-place", row.place));
      body.appendChild(make("div", "inc-meta", row.meta));
      el.appendChild(body);
    } else {
      el = make("div", "empty", row.text);
    }
    el.dataset.key = row.key || "";
    return el;
  }

  function drawTicker(rows) {
    var box = document.getElementById("ticker");
    if (!box) return;
    var old = {};
    var k;
    for (k = 0; k < box.children.length; k++) old[box.children[k].dataset.key] = box.children[k];
    for (k = 0; k < rows.length; k++) {
      var want = (rows[k].key && old[rows[k].key]) || buildCard(rows[k]);
      delete old[rows[k].key];
      var at = box.children[k];
      if (at !== want) box.insertBefore(want, at || null);
    }
    while (box.children.length > rows.length) box.removeChild(box.lastElementChild);
  }

  function drawKpis(tiles) {
    var box = document.getElementById("kpis");
    if (!box) return;
    var same = box.children.length === tiles.length;
    for (var k = 0; same && k < tiles.length; k++) same = box.children[k].firstChild.id === tiles[k].id;
    if (!same) {
      while (box.firstChild) box.removeChild(box.firstChild);
      tiles.forEach(function (tile) {
        var el = make("div", "kpi");
        var value = make("div", "kpi-value");
        value.id = tile.id;
        el.appendChild(value);
        el.appendChild(make("div", "kpi-label", tile.label));
        box.appendChild(el);
      });
    }
    tiles.forEach(function (tile, k) {
      var value = box.children[k].firstChild;
      var cls = "kpi-value" + (tile.warn ? " warn" : "");
      if (value.textContent !== tile.value) value.textContent = tile.value;
      if (value.className !== cls) value.className = cls;
      var label = box.children[k].lastChild;
      if (label.textContent !== tile.label) label.textContent = tile.label;
    });
  }

  function drawCards(text) {
    if (text === cardsText) return;
    var data;
    try {
      data = JSON.parse(text);
    } catch (err) {
      return;
    }
    cardsText = text;
    drawTicker(data.ticker || []);
    drawKpis(data.kpis || []);
    var cams = document.getElementById("board-cams-push");
    if (cams && data.cams && cams.value !== data.cams) setProps("board-cams-push", { value: data.cams });
  }

  function mapSettings() {
    var el = document.getElementById("board-map-push");
    return {
      quiet: Number(el && el.dataset.quietMs) || 1000,
      maxWait: Number(el && el.dataset.maxWaitMs) || 5000,
      share: Number(el && el.dataset.share) || 0.25,
    };
  }

  function watchDraw() {
    // how long the map took to draw what it was asked last: from the ask until it is idle again
    if (!drawStart) return;
    if (mapBusy()) {
      sawBusy = true;
    } else if (sawBusy || Date.now() - drawStart > 10000) {
      if (sawBusy) drawCost = Date.now() - drawStart;
      lastDrawEnd = Date.now();
      drawStart = 0;
      sawBusy = false;
    }
  }

  function askMap() {
    mapTimer = null;
    if (mapWanted === null || mapWanted === mapAsked) return;
    var now = Date.now();
    // the map's redraws get at most `share` of the page's time: after one that took drawCost,
    // the next waits drawCost * (1 / share - 1)
    var share = mapSettings().share;
    var rest = lastDrawEnd + (drawCost * (1 - share)) / share - now;
    if (drawStart || (mapBusy() && now - firstWanted < 15000) || rest > 0) {
      mapTimer = setTimeout(askMap, Math.max(100, rest)); // still drawing, or resting after it
      return;
    }
    if (setProps("board-map-push", { value: mapWanted })) {
      mapAsked = mapWanted;
      drawStart = now;
      sawBusy = false;
    }
    mapWanted = null;
    firstWanted = 0;
  }

  function wantMap(version) {
    var el = document.getElementById("board-map-push");
    if (!el) return;
    if (mapAsked === null) mapAsked = Number(el.value);
    if (version === mapAsked) return;
    var got = mapSettings();
    var now = Date.now();
    mapWanted = version;
    firstWanted = firstWanted || now;
    clearTimeout(mapTimer);
    mapTimer = setTimeout(askMap, Math.max(0, Math.min(got.quiet, firstWanted + got.maxWait - now)));
  }

  function check() {
    var el = fastLane();
    if (!el) {
      if (source) {
        source.close();
        source = null;
      }
      clearTimeout(mapTimer);
      mapTimer = null;
      mapWanted = mapAsked = pendingMap = null;
      firstWanted = drawStart = drawCost = lastDrawEnd = 0;
      cardsWanted = false;
      cardsText = lastDrill = null;
      scaled = false;
      since = 0;
      return;
    }
    if (cardsText === null) drawCards(el.dataset.cards || ""); // the page's first cards, at once
    if (drillNow() !== lastDrill) {
      if (lastDrill !== null) askCards(); // a new drill-down: its cards
      lastDrill = drillNow();
    }
    if (lastAsked && Date.now() - lastAsked > SAFETY_MS) askCards(); // a push lost on the way
    since = since || Date.now();
    lastAsked = lastAsked || Date.now();
    watchDraw();
    if (!scaled && (mapDrawn() || Date.now() - since > 5000)) {
      scaled = setProps("board-scale", { value: scale() });
      if (scaled && pendingMap !== null) wantMap(pendingMap);
    }
    if (!source) {
      source = new EventSource("/board/events");
      source.onmessage = function (e) {
        var version = Number(e.data);
        askCards();
        if (scaled) wantMap(version);
        else pendingMap = version;
      };
    }
  }

  // plotly.js (dashboard/plotly_bundle.py: 3.0 MB, ~0.35 s of script on this kind of machine) runs
  // only once the board's graphs mount, after the page's layout came back: on the board, run it
  // while that answer is being computed instead (dashboard/app.py signals when Dash asks for it), so
  // the map draws at once. Until it has run, window.Plotly is a promise of it: dcc.Graph waits for
  // window.Plotly when it is set (Promise.resolve adopts it) and adds its own copy of the script
  // only when it is not, so a graph that mounts first does not run all of plotly.js a second time.
  window.addEventListener("cityops:layout-asked", function () {
    var link = document.querySelector('link[rel="preload"][href*="plotly.min.js"]');
    if (window.Plotly || !link || location.pathname !== "/") return;
    var script = document.createElement("script");
    var ran = new Promise(function (resolve, reject) {
      script.onload = function () {
        resolve(window.Plotly);
      };
      script.onerror = function (e) {
        delete window.Plotly; // a graph that mounts later loads it itself
        reject(e);
      };
    });
    window.Plotly = {
      then: function (ok, fail) {
        return ran.then(ok, fail);
      },
    };
    script.src = link.href;
    script.async = true;
    // after this task: the layout's request goes out first
    setTimeout(function () {
      document.head.appendChild(script);
    }, 0);
  });
  setInterval(check, 50);
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      if (scaled) setProps("board-scale", { value: scale() });
    }, 200);
  });
  document.addEventListener("click", function (e) {
    var el = e.target;
    if (!el || !el.closest) return;
    if (el.closest("#detail-close")) {
      setProps("board-focus", { value: null });
      return;
    }
    var card = el.closest("#ticker .incident");
    if (card && card.dataset.id) setProps("board-focus", { value: Number(card.dataset.id) });
  });
})();
