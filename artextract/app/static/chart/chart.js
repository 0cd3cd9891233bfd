// ArtExtract's charts (the Explore map, the Confusion matrices): a Streamlit component (protocol v1)
// that draws a plotly figure with a plotly.js build holding only the scatter, scattergl and heatmap
// traces, and reports a click, a lasso or a box selection back to Python in st.plotly_chart's shape:
// {selection: {points: [{customdata}, ...]}, mode, event}.
(function () {
  'use strict';
  var gd = document.getElementById('chart');
  var problem = document.getElementById('problem');
  var lastSpec = null; // the fingerprint of the figure drawn
  var pending = null; // [data, layout, config] waiting for the frame to have a width
  var bound = false;
  var event = 0;
  var lastDouble = 0; // when the last double-click was (ms)
  var ink = '#111'; // the theme's text colour: the ring shows on a light or a dark background
  var ringRow = null; // the painting (bundle row) the ring marks on the map, or null
  var wantMark = null; // the painting Python asks to mark: {row, x, y} (the one open in the inspector)
  var reportDrawn = false; // Python asks to hear when the first figure has drawn (or failed to)
  var told = false; // this frame has sent its "drawn" report (once: a click that replaces it says the same)

  function post(type, data) {
    var msg = { isStreamlitMessage: true, type: type };
    for (var k in data) msg[k] = data[k];
    window.parent.postMessage(msg, '*');
  }

  function send(points, mode) {
    event += 1;
    var out = [];
    for (var i = 0; i < points.length; i++) out.push({ customdata: points[i].customdata });
    post('streamlit:setComponentValue', {
      value: { selection: { points: out }, mode: mode, event: event },
      dataType: 'json'
    });
  }

  function ringShape(x, y) {
    var r = 12; // larger and darker than the rings of flagged paintings
    return {
      type: 'circle', xref: 'x', yref: 'y', xsizemode: 'pixel', ysizemode: 'pixel',
      xanchor: x, yanchor: y, x0: -r, x1: r, y0: -r, y1: r,
      line: { color: ink, width: 3 }, layer: 'above'
    };
  }

  function clearRing() {
    ringRow = null;
    if (gd.layout.shapes && gd.layout.shapes.length) Plotly.relayout(gd, { shapes: [] });
  }

  // The ring marks the painting open in the inspector, wherever it was opened from: a click, a shared
  // link, a walk to a neighbour, a row of the selection table. A WebGL map (thousands of points) selects
  // nothing on a click: dimming every other point would cost about half a second per click there, so
  // the ring, drawn after the click is sent, is all that marks the painting.
  function ring(pt) {
    if (!pt) return clearRing(); // a lasso, a box or a double-click: the ring goes
    ringRow = pt.customdata;
    var layout = { shapes: [ringShape(pt.x, pt.y)] };
    if (!pt.data || pt.data.type !== 'scattergl') return Plotly.relayout(gd, layout); // SVG: dimmed too
    // a click replaces a lasso or box selection (as Python does): that selection's dimming and outline go
    var selected = [];
    for (var i = 0; i < gd.data.length; i++) if (gd.data[i].selectedpoints) selected.push(i);
    if (!selected.length) return Plotly.relayout(gd, layout);
    layout.selections = [];
    Plotly.update(gd, { selectedpoints: [null] }, layout, selected);
  }

  // after a run: ring the painting Python names, unless the ring already marks it
  function syncMark() {
    if (!bound) return; // not drawn yet: drawPending calls this once it is
    var row = wantMark ? wantMark.row : null;
    if (row === ringRow) return;
    if (!wantMark) return clearRing();
    ringRow = row;
    Plotly.relayout(gd, { shapes: [ringShape(wantMark.x, wantMark.y)] });
  }

  function bind() {
    bound = true;
    gd.on('plotly_click', function (ev) {
      if (!ev || !ev.points || !ev.points.length) return;
      if (Date.now() - lastDouble < 500) return; // plotly may report a double-click's second click too
      send(ev.points, 'click');
      ring(ev.points[0]);
    });
    gd.on('plotly_selected', function (ev) {
      // a click also selects (clickmode event+select); only a drawn lasso or box is a selection here
      if (ev && (ev.lassoPoints || ev.range)) {
        send(ev.points || [], ev.lassoPoints ? 'lasso' : 'box');
        ring(null);
      }
    });
    gd.on('plotly_deselect', function () {
      send([], 'clear');
      ring(null);
    });
    // a double-click clears a clicked WebGL painting as it clears a selection (nothing was selected)
    gd.on('plotly_doubleclick', function () {
      lastDouble = Date.now();
      if (!gd.layout.shapes || !gd.layout.shapes.length) return;
      send([], 'clear');
      ring(null);
    });
  }

  function render(args, theme) {
    post('streamlit:setFrameHeight', { height: args.height });
    wantMark = args.mark || null;
    reportDrawn = !!args.report_drawn;
    if (args.spec_id === lastSpec) return syncMark(); // a rerun with the same figure keeps zoom and selection
    if (args.spec == null) {
      // a rerun sent only the fingerprint of a figure this frame does not hold (it was reloaded): ask
      event += 1;
      post('streamlit:setComponentValue', { value: { need: args.spec_id, event: event }, dataType: 'json' });
      return;
    }
    lastSpec = args.spec_id;
    try {
      var fig = JSON.parse(args.spec);
      var layout = fig.layout || {};
      if (theme && theme.textColor) ink = theme.textColor;
      if (theme && theme.backgroundColor) {
        layout.paper_bgcolor = theme.backgroundColor;
        layout.font = Object.assign({ color: theme.textColor, family: 'sans-serif' }, layout.font || {});
      }
      pending = [fig.data || [], layout, args.config || {}];
      drawPending();
    } catch (err) {
      fail(err);
    }
  }

  // A chart in a hidden tab has no width: it is drawn when it is shown (drawn at width 0, plotly lays
  // out its labels for no room at all). Afterwards plotly follows the frame's size itself (responsive).
  function drawPending() {
    if (!pending || window.innerWidth === 0) return;
    var p = pending;
    pending = null;
    Plotly.react(gd, p[0], p[1], p[2]).then(function () {
      if (!bound) bind();
      ringRow = null; // a new figure comes without the ring
      syncMark();
      problem.hidden = true;
      gd.hidden = false;
      gd.setAttribute('data-drawn', String(Date.now()));
      if (reportDrawn) tellDrawn();
    }, fail);
  }

  // if Python asks: the figure is on screen (or could not be drawn), so the page can send what it held
  // back until then. Told after the next frame is painted, so the page's work on that does not keep the
  // map off the screen (a hidden tab paints nothing: told at once there).
  function tellDrawn() {
    if (told) return;
    told = true;
    var tell = function () {
      setTimeout(function () {
        event += 1;
        post('streamlit:setComponentValue', { value: { drawn: lastSpec, event: event }, dataType: 'json' });
      }, 0);
    };
    if (document.hidden) tell();
    else requestAnimationFrame(tell);
  }

  // one line in place of the chart; the page around it keeps working, and the next good figure replaces it
  function fail(err) {
    problem.textContent = 'The chart could not be drawn: ' + (err && err.message ? err.message : String(err));
    problem.hidden = false;
    gd.hidden = true;
    if (reportDrawn) tellDrawn();
  }

  window.addEventListener('resize', drawPending);
  window.addEventListener('message', function (ev) {
    if (ev.source !== window.parent || !ev.data || ev.data.type !== 'streamlit:render') return;
    render(ev.data.args || {}, ev.data.theme);
  });
  post('streamlit:componentReady', { apiVersion: 1 });
})();
