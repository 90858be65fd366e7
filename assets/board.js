/* The wall board's live link (dashboard/pages/board.py): no eval, so it runs under the board's CSP.
 *
 * - Once the map has drawn, tell the server the page's scale (board-scale): that first update
 *   brings the charts, and every resize brings them again at the new size.
 * - Then follow /board/events (server-sent events): each message is the live state's new version,
 *   handed to the board-push element at once when no cards request is in flight, else the newest
 *   one as soon as the answer is in (the fast lane: KPI tiles, incident cards, cameras),
 *   and to board-map-push once the messages pause for data-quiet-ms, or data-max-wait-ms after the
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
  var cardsWanted = null; // the newest version the cards have not been asked for
  var cardsAt = 0; // when the cards were asked last (0: no request in flight)
  var cardsSawBusy = false;

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

  function cardsBusy() {
    // Dash marks a callback's outputs as loading (data-dash-is-loading) while its request is out
    return !!document.querySelector(
      "#kpis[data-dash-is-loading], #ticker[data-dash-is-loading], #camera-wall[data-dash-is-loading]"
    );
  }

  function askCards() {
    // at most one cards request in flight: Dash drops an answer when a newer request for the same
    // outputs is out, so a push per event (several a second at fleet scale) never let one land.
    // The newest version waits until the answer is in (or 250 ms showed no request, or 10 s passed).
    if (cardsAt) {
      var waited = Date.now() - cardsAt;
      if (cardsBusy()) cardsSawBusy = true;
      var inFlight = cardsSawBusy ? cardsBusy() : waited < 250;
      if (inFlight && waited < 10000) return;
      cardsAt = 0;
    }
    if (cardsWanted === null) return;
    if (setProps("board-push", { value: cardsWanted })) {
      cardsAt = Date.now();
      cardsSawBusy = false;
      cardsWanted = null;
    }
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
    if (!document.getElementById("board-push")) {
      if (source) {
        source.close();
        source = null;
      }
      clearTimeout(mapTimer);
      mapTimer = null;
      mapWanted = mapAsked = null;
      firstWanted = drawStart = drawCost = lastDrawEnd = 0;
      cardsWanted = null;
      cardsAt = 0;
      scaled = false;
      since = 0;
      return;
    }
    since = since || Date.now();
    watchDraw();
    askCards();
    if (!scaled && (mapDrawn() || Date.now() - since > 5000)) {
      scaled = setProps("board-scale", { value: scale() });
    }
    if (scaled && !source) {
      source = new EventSource("/board/events");
      source.onmessage = function (e) {
        var version = Number(e.data);
        cardsWanted = version;
        askCards();
        wantMap(version);
      };
    }
  }

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
