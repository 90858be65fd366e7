/* Button presses that survive a live re-render (dashboard/press.py).
 *
 * A button drawn inside a part that a live update redraws (the console's action bar, a phone's
 * card list) loses its click when the redraw lands between the click and its callback: Dash drops
 * the callback, or reads the new button's n_clicks of 0, and nothing happens. So such buttons
 * carry data-press="<id of an html.Data outside the redrawn part>" and their data-* fields, and
 * this one listener hands each press to that element as JSON; the element is never redrawn, so
 * the press always reaches its callback, which checks it against what is selected now.
 */
(function () {
  "use strict";
  var count = 0;
  document.addEventListener(
    "click",
    function (ev) {
      var el = ev.target && ev.target.closest ? ev.target.closest("[data-press]") : null;
      if (!el || el.disabled) return;
      var dc = window.dash_clientside;
      var sink = el.getAttribute("data-press");
      if (!dc || !dc.set_props || !document.getElementById(sink)) return;
      var press = { n: ++count, at: Date.now() };
      Object.keys(el.dataset).forEach(function (k) {
        if (k !== "press") press[k] = el.dataset[k];
      });
      dc.set_props(sink, { value: JSON.stringify(press) });
    },
    true
  );
})();
