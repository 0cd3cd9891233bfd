// plotly.js core (which carries the SVG `scatter` trace) plus the WebGL `scattergl` trace and `heatmap`:
// all the Explore map and the Confusion matrices draw. plotly.js's own partial bundles either lack
// scattergl (basic, cartesian) or stop at 3.x (gl2d).
var Plotly = require('plotly.js/lib/core');

Plotly.register([require('plotly.js/lib/scattergl'), require('plotly.js/lib/heatmap')]);

module.exports = Plotly;
