// The Explore map: a Streamlit component (protocol v1) that draws a plotly figure with a plotly.js
// bundle holding only the scatter traces, and reports a click, a lasso or a box selection back to
// Python in st.plotly_chart's shape: {selection: {points: [{customdata}, ...]}, mode, event}.
(function () {
  'use strict';
  var gd = document.getElementById('chart');
  var problem = document.getElementById('problem');
  var lastSpec = null; // the fingerprint of the figure drawn
  var bound = false;
  var event = 0;

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

  function bind() {
    bound = true;
    gd.on('plotly_click', function (ev) {
      if (ev && ev.points && ev.points.length) send(ev.points, 'click');
    });
    gd.on('plotly_selected', function (ev) {
      // a click also selects (clickmode event+select); only a drawn lasso or box is a selection here
      if (ev && (ev.lassoPoints || ev.range)) send(ev.points || [], ev.lassoPoints ? 'lasso' : 'box');
    });
    gd.on('plotly_deselect', function () { send([], 'clear'); });
  }

  function render(args, theme) {
    post('streamlit:setFrameHeight', { height: args.height });
    if (args.spec_id === lastSpec) return; // a rerun with the same map keeps zoom and selection
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
      if (theme && theme.backgroundColor) {
        layout.paper_bgcolor = theme.backgroundColor;
        layout.font = Object.assign({ color: theme.textColor }, layout.font || {});
      }
      Plotly.react(gd, fig.data || [], layout, args.config || {}).then(function () {
        if (!bound) bind();
        problem.hidden = true;
        gd.hidden = false;
        gd.setAttribute('data-drawn', String(Date.now()));
      }, fail);
    } catch (err) {
      fail(err);
    }
  }

  // one line in place of the map; the page around it keeps working, and the next good map replaces it
  function fail(err) {
    problem.textContent = 'The map could not be drawn: ' + (err && err.message ? err.message : String(err));
    problem.hidden = false;
    gd.hidden = true;
  }

  window.addEventListener('message', function (ev) {
    if (ev.source !== window.parent || !ev.data || ev.data.type !== 'streamlit:render') return;
    render(ev.data.args || {}, ev.data.theme);
  });
  post('streamlit:componentReady', { apiVersion: 1 });
})();
