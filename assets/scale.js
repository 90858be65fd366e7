/* The desk pages' scale (dashboard/pages/evaluation.py): an html.Data with data-scale-sink gets the
 * screen's width over 1920 (never below 1, as the CSS --px), when it appears and after each resize,
 * so a server-drawn map can zoom with the page (CSS alone cannot zoom a map). */
(function () {
  "use strict";
  function scale() {
    return Math.max(1, Math.round((window.innerWidth / 1920) * 4) / 4);
  }
  setInterval(function () {
    var dc = window.dash_clientside;
    if (!dc || !dc.set_props) return;
    document.querySelectorAll("[data-scale-sink]").forEach(function (el) {
      var s = String(scale());
      if (el.getAttribute("data-sent") !== s) {
        el.setAttribute("data-sent", s);
        dc.set_props(el.id, { value: s });
      }
    });
  }, 400);
})();
