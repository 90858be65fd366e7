// Paint a map once its data is in, not frame by frame while it comes.
//
// MapLibre paints a frame each time a source or tile arrives. On a machine without a GPU (a wall
// screen's small PC, Chromium's software WebGL) each frame of the board's 2,257 cells and thousands
// of markers costs 70-350 ms, and the first draw painted nine of them, six of a half-loaded map.
// For its first FIRST_PAINT_WAIT_MS, a map skips the paint of frames in which its sources are still
// loading (the frame's other work, which asks for the tiles, still runs) and paints once they are in
// (plotly's map loads an empty style first and adds the traces' sources after it, so "loaded once"
// says nothing: the window does). After the window it paints whatever it has, so a slow tile server
// never keeps a map blank for longer, and every frame paints as before: panning and zooming are
// never held back.
'use strict';

var FIRST_PAINT_WAIT_MS = 3000;

module.exports = function paintOnceLoaded(maplibregl) {
  var Map = maplibregl.Map;
  var render = Map.prototype._render;
  if (typeof render !== 'function') return; // another MapLibre: leave it as it is
  Map.prototype._render = function (time) {
    var map = this;
    if (!map._cityopsPaint && map.painter && typeof map.painter.render === 'function') {
      var paint = map.painter.render;
      var born = Date.now();
      map._cityopsPaint = true;
      setTimeout(function () {
        if (!map._removed) map.triggerRepaint();
      }, FIRST_PAINT_WAIT_MS);
      map.painter.render = function () {
        if (Date.now() - born < FIRST_PAINT_WAIT_MS && !map.loaded()) return;
        return paint.apply(this, arguments);
      };
    }
    return render.call(this, time);
  };
};
