// plotly.js core (which carries the SVG `scatter` trace) plus the WebGL `scattergl` trace: all the
// Explore map draws. plotly.js's own partial bundles either lack scattergl (basic, cartesian) or stop
// at 3.x (gl2d).
var Plotly = require('plotly.js/lib/core');

Plotly.register([require('plotly.js/lib/scattergl')]);

module.exports = Plotly;
