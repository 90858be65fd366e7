/* The wall board's live link (dashboard/pages/board.py): no eval, so it runs under the board's CSP.
 *
 * - Once the map has drawn, tell the server the page's scale (board-scale): that first update
 *   brings the charts, and every resize brings them again at the new size.
 * - Then follow /board/events (server-sent events): each message is the live state's new version,
 *   handed to the board-push element, whose callback patches only what changed.
 * - A click on an incident card opens its detail (board-focus); the detail's x closes it.
 * Pages other than the board have no #board-push, so nothing runs there.
 */
(function () {
  "use strict";
  var source = null;
  var scaled = false;
  var since = 0;
  var resizeTimer = null;

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

  function check() {
    if (!document.getElementById("board-push")) {
      if (source) {
        source.close();
        source = null;
      }
      scaled = false;
      since = 0;
      return;
    }
    since = since || Date.now();
    if (!scaled && (mapDrawn() || Date.now() - since > 5000)) {
      scaled = setProps("board-scale", { value: scale() });
    }
    if (scaled && !source) {
      source = new EventSource("/board/events");
      source.onmessage = function (e) {
        setProps("board-push", { value: Number(e.data) });
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
