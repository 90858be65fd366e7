// CityOps' plotly.js: plotly's core (scatter, the cartesian axes, hover, the map subplot's code)
// with only the trace types the pages draw. dashboard/plotly_bundle.py lists them (TRACES) and
// serves the result where Dash's graphs load plotly.js from; tools/plotly/build.sh builds it.
var css = require('maplibre-gl/dist/maplibre-gl.css'); // the map's stylesheet, as text (see build.sh)
var Plotly = require('plotly.js/lib/core');

if (typeof document !== 'undefined') {
  var style = document.createElement('style');
  style.setAttribute('data-source', 'maplibre-gl');
  style.textContent = css;
  document.head.appendChild(style);
}

Plotly.register([
  require('plotly.js/lib/bar'),
  require('plotly.js/lib/choroplethmap'),
  require('plotly.js/lib/scattermap'),
]);

// MapLibre, the library plotly.js draws its maps with (the same module and worker), for a page that
// draws a map by hand: bench/board_render.py's limit, the board's map without Dash or plotly.js.
var maplibregl = require('maplibre-gl/dist/maplibre-gl.mjs');
var workerSource = require('plotly.js/build/maplibre_worker');
var workerSet = false;
Plotly.maplibre = function () {
  if (!workerSet) {
    workerSet = true;
    maplibregl.setWorkerUrl(URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' })));
  }
  return maplibregl;
};

module.exports = Plotly;
