// Paint a map once its data is in, not frame by frame while it comes.
//
// MapLibre paints a frame each time a source or tile arrives. On a machine without a GPU (a wall
// screen's small PC, Chromium's software WebGL) each frame of the board's 2,257 cells and thousands
// of markers costs 70-350 ms, and the first draw painted nine of them, six of a half-loaded map.
// Until a map's first full frame (every source and tile of plotly's traces loaded: plotly's map
// loads an empty style first and adds the traces' layers after it, so the first "loaded" moment says
// nothing), this skips the paint of frames whose sources are still loading (the frame's other work,
// which asks for the tiles, still runs) and paints once they are in. From that frame on, every frame
// paints as before, so panning and zooming are never held back; and after FIRST_PAINT_WAIT_MS a map
// paints whatever it has, so a slow tile server never keeps it blank for longer.
'use strict';

var FIRST_PAINT_WAIT_MS = 3000;
var TRACE_LAYER = 'plotly-trace-layer-'; // plotly's ids of its traces' map layers

function hasTraces(map) {
  var order = typeof map.getLayersOrder === 'function' ? map.getLayersOrder() : [];
  for (var i = 0; i < order.length; i++) if (order[i].indexOf(TRACE_LAYER) === 0) return true;
  return false;
}

module.exports = function paintOnceLoaded(maplibregl) {
  var Map = maplibregl.Map;
  var render = Map.prototype._render;
  if (typeof render !== 'function') return; // another MapLibre: leave it as it is
  Map.prototype._render = function (time) {
    var map = this;
    if (!map._cityopsPaint && map.painter && typeof map.painter.render === 'function') {
      var paint = map.painter.render;
      var born = Date.now();
      var full = false; // the first full frame is painted: paint every frame from now on
      map._cityopsPaint = true;
      setTimeout(function () {
        if (!map._removed) map.triggerRepaint();
      }, FIRST_PAINT_WAIT_MS);
      map.painter.render = function () {
        if (!full) {
          var ready = map.loaded() && hasTraces(map);
          if (!ready && Date.now() - born < FIRST_PAINT_WAIT_MS) return;
          full = true;
        }
        return paint.apply(this, arguments);
      };
    }
    return render.call(this, time);
  };
};
