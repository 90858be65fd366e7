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

module.exports = Plotly;
