/* The camera wall's live view (dashboard/pages/cameras.py): closing the panel ends the stream.
 *
 * Chromium goes on loading a multipart (MJPEG) picture that was only taken out of the page, so the
 * board would go on marking the camera watched and its worker on publishing. A click on the panel's
 * close button, or on the open camera's tile (which closes it too), first points the picture at
 * nothing, which ends the request. No eval: it runs under the board's CSP.
 */
(function () {
  "use strict";
  document.addEventListener(
    "click",
    function (ev) {
      var target = ev.target;
      if (!target || !target.closest) {
        return;
      }
      var close = target.closest("#cam-live-close");
      var tile = target.closest(".cam-tile");
      if (!close && !tile) {
        return;
      }
      document.querySelectorAll("#cam-live img.live-view").forEach(function (img) {
        if (close || tile.getAttribute("data-camera") === img.getAttribute("data-camera")) {
          img.src = "data:,";
        }
      });
    },
    true
  );
})();
