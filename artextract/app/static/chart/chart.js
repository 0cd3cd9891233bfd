// ArtExtract's charts (the Explore map, the Confusion matrices): a Streamlit component (protocol v1)
// that draws a plotly figure with a plotly.js build holding only the scatter, scattergl and heatmap
// traces, and reports a click, a lasso or a box selection back to Python in st.plotly_chart's shape:
// {selection: {points: [{customdata}, ...]}, mode, event}.
//
// A map is on screen before plotly.js has run: its points and rings are first drawn on a canvas, at the
// places plotly will draw them (the figure gives its axis ranges), and plotly.js (1.5 MB to compile and
// run) is started only after that; its SVG or WebGL map then takes the canvas's place. A map's legend
// is HTML under the chart (layout.meta.legend == "html"), the same before and after plotly.js.
(function () {
  'use strict';
  var gd = document.getElementById('chart');
  var stage = document.getElementById('stage');
  var legend = document.getElementById('legend');
  var problem = document.getElementById('problem');
  var plotly = 'idle'; // plotly.js: 'idle' (not asked for yet), 'loading', 'ready' or 'failed'
  var frameHeight = 0; // the height Python gives the chart (px), without the legend
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
    frameHeight = args.height;
    fitFrame();
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
      buildLegend(pending[0], layout);
      drawPending();
    } catch (err) {
      fail(err);
    }
  }

  // A chart in a hidden tab has no width: it is drawn when it is shown (drawn at width 0, plotly lays
  // out its labels for no room at all). Afterwards plotly follows the frame's size itself (responsive).
  function drawPending() {
    if (!pending || window.innerWidth === 0) return;
    if (plotly !== 'ready') {
      // until plotly.js has run, the figure is drawn on a canvas if it can be; plotly.js is run once
      // the first one is on screen
      var shown = preview(pending[0], pending[1]);
      if (!shown) removePreview();
      else {
        afterPaint(hidePageView);
        if (reportDrawn) tellDrawn();
      }
      if (plotly === 'idle') {
        if (shown) afterPaint(loadPlotly);
        else loadPlotly();
      } else if (plotly === 'failed' && !shown) fail(new Error('plotly.js could not be loaded'));
      return;
    }
    var p = pending;
    pending = null;
    Plotly.react(gd, p[0], p[1], p[2]).then(function () {
      removePreview();
      if (!bound) bind();
      ringRow = null; // a new figure comes without the ring
      syncMark();
      if (!problem.hidden) {
        problem.hidden = true;
        fitFrame();
      }
      gd.hidden = false;
      gd.setAttribute('data-drawn', String(Date.now()));
      afterPaint(hidePageView);
      if (reportDrawn) tellDrawn();
    }, fail);
  }

  // The page's picture of this map (figures.first_view_html: an element just before this frame's, laid
  // over it while the frame loaded) has done its work once the frame has drawn the map: hidden, so
  // plotly's hover labels show. The page drops it on its next run; a page that has none is left alone.
  function hidePageView() {
    try {
      var box = window.frameElement && window.frameElement.closest('[data-testid="stElementContainer"]');
      for (var k = 0, prev = box; k < 2 && prev; k++) {
        prev = prev.previousElementSibling;
        var view = prev && prev.querySelector('.artextract-first-view');
        if (view) {
          view.style.visibility = 'hidden';
          return;
        }
      }
    } catch (e) {
      // a page of another origin: it drops the picture itself
    }
  }

  // if Python asks: the figure is on screen, as a map's first view or drawn by plotly (or it could not be
  // drawn), so the page can send what it held back until then. Told after the next frame is painted, so
  // the page's work on that does not keep the map off the screen (a hidden tab paints nothing: told at
  // once there).
  function tellDrawn() {
    if (told) return;
    told = true;
    afterPaint(function () {
      event += 1;
      post('streamlit:setComponentValue', { value: { drawn: lastSpec, event: event }, dataType: 'json' });
    });
  }

  // after the next frame is painted (at once in a hidden tab, which paints nothing)
  function afterPaint(fn) {
    var later = function () {
      setTimeout(fn, 0);
    };
    if (document.hidden) later();
    else requestAnimationFrame(later);
  }

  // plotly.js, fetched by the page's preload, run now
  function loadPlotly() {
    if (plotly !== 'idle') return;
    plotly = 'loading';
    var s = document.createElement('script');
    s.src = 'plotly-lite.min.js';
    s.onload = function () {
      plotly = 'ready';
      drawPending();
    };
    s.onerror = function () {
      plotly = 'failed';
      if (!document.getElementById('preview')) return fail(new Error('plotly.js could not be loaded'));
      // the map stays on screen, as a picture
      problem.textContent = 'The map cannot be clicked or zoomed: plotly.js could not be loaded.';
      problem.hidden = false;
      fitFrame();
      if (reportDrawn) tellDrawn();
    };
    document.head.appendChild(s);
  }

  // a typed array of a figure's array: plain, or plotly.py's base64 ({dtype, bdata})
  var TYPED = {
    f4: Float32Array, f8: Float64Array, i1: Int8Array, u1: Uint8Array, i2: Int16Array,
    u2: Uint16Array, i4: Int32Array, u4: Uint32Array
  };
  function values(a) {
    if (Array.isArray(a)) return a;
    if (!a || typeof a.bdata !== 'string' || !TYPED[a.dtype] || a.shape) return null;
    var bin = atob(a.bdata);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new TYPED[a.dtype](bytes.buffer);
  }

  // A map's first view, on a canvas: each trace's markers (filled circles, or rings for an open
  // symbol) where plotly will draw them, in trace order. Only for what it draws as plotly does: marker
  // traces of one colour each, on axes of fixed ranges; anything else waits for plotly.js (false).
  function preview(data, layout) {
    var xr = (layout.xaxis || {}).range, yr = (layout.yaxis || {}).range;
    if (!xr || !yr || xr[1] === xr[0] || yr[1] === yr[0]) return false;
    var traces = [];
    for (var i = 0; i < data.length; i++) {
      var t = data[i], m = t.marker || {};
      if (t.visible === false || t.visible === 'legendonly') continue;
      if ((t.type && t.type !== 'scatter' && t.type !== 'scattergl') || t.mode !== 'markers') return false;
      if (typeof m.color !== 'string' || (m.symbol && m.symbol !== 'circle' && m.symbol !== 'circle-open')) {
        return false;
      }
      var x = values(t.x), y = values(t.y);
      if (!x || !y) return false;
      traces.push([x, y, m]);
    }
    var mg = layout.margin || {};
    var l = mg.l == null ? 80 : mg.l, r = mg.r == null ? 80 : mg.r;
    var top = mg.t == null ? 100 : mg.t, b = mg.b == null ? 80 : mg.b;
    var w = gd.clientWidth || window.innerWidth, h = layout.height || 450;
    var pw = w - l - r, ph = h - top - b;
    if (pw <= 0 || ph <= 0) return false;
    var dpr = window.devicePixelRatio || 1;
    var canvas = document.createElement('canvas');
    canvas.id = 'preview';
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    canvas.style.width = w + 'px';
    canvas.style.height = h + 'px';
    var ctx = canvas.getContext('2d');
    ctx.scale(dpr, dpr);
    ctx.fillStyle = layout.paper_bgcolor || '#fff';
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = layout.plot_bgcolor || '#fff';
    ctx.fillRect(l, top, pw, ph);
    ctx.save();
    ctx.beginPath();
    ctx.rect(l, top, pw, ph);
    ctx.clip();
    var sx = pw / (xr[1] - xr[0]), sy = ph / (yr[1] - yr[0]);
    var drawn = 0;
    var img = null; // the canvas's pixels while small dots are set in them directly
    for (var k = 0; k < traces.length; k++) {
      var xs = traces[k][0], ys = traces[k][1], mk = traces[k][2];
      var open = mk.symbol === 'circle-open';
      var rad = (mk.size == null ? 6 : mk.size) / 2;
      var alpha = mk.opacity == null ? 1 : mk.opacity;
      var rgb = /^#[0-9a-f]{6}$/i.test(mk.color) ? parseInt(mk.color.slice(1), 16) : null;
      if (!open && rad * dpr <= 2.5 && rgb !== null) {
        // small dots (big maps: 100,000 arcs take 0.3-0.4 s on a canvas): set in the pixels, as discs
        if (!img) img = ctx.getImageData(0, 0, canvas.width, canvas.height);
        dots(img, xs, ys, rad * dpr, rgb, alpha, function (x) {
          return (l + (x - xr[0]) * sx) * dpr;
        }, function (y) {
          return (top + ph - (y - yr[0]) * sy) * dpr;
        }, [l * dpr, top * dpr, (l + pw) * dpr, (top + ph) * dpr]);
        drawn += xs.length;
        continue;
      }
      if (img) {
        ctx.putImageData(img, 0, 0);
        img = null;
      }
      ctx.globalAlpha = alpha;
      ctx.beginPath();
      for (var j = 0; j < xs.length; j++) {
        var px = l + (xs[j] - xr[0]) * sx, py = top + ph - (ys[j] - yr[0]) * sy;
        ctx.moveTo(px + rad, py);
        ctx.arc(px, py, rad, 0, 2 * Math.PI);
      }
      if (open) {
        var line = mk.line || {};
        ctx.lineWidth = line.width == null ? 1 : line.width;
        ctx.strokeStyle = typeof line.color === 'string' ? line.color : mk.color;
        ctx.stroke();
      } else {
        ctx.fillStyle = mk.color;
        ctx.fill();
        drawn += xs.length;
      }
    }
    if (img) ctx.putImageData(img, 0, 0);
    if (wantMark) {
      // the ring of the painting open in the inspector, as ringShape draws it
      ctx.globalAlpha = 1;
      ctx.beginPath();
      ctx.arc(l + (wantMark.x - xr[0]) * sx, top + ph - (wantMark.y - yr[0]) * sy, 12, 0, 2 * Math.PI);
      ctx.lineWidth = 3;
      ctx.strokeStyle = ink;
      ctx.stroke();
    }
    ctx.restore();
    canvas.setAttribute('data-points', String(drawn)); // the paintings on it (rings not counted)
    removePreview();
    stage.style.height = h + 'px';
    stage.appendChild(canvas);
    if (plotly !== 'failed' && !problem.hidden) {
      problem.hidden = true; // a figure before this one could not be drawn
      fitFrame();
    }
    return true;
  }

  // discs of radius r (device px) in colour rgb (0xRRGGBB) at opacity alpha, blended into the pixels img
  // at the places px(x), py(y), inside box [x0, y0, x1, y1]; each pixel by the share of it the disc
  // covers (4 x 4 samples), so a dot weighs what plotly's antialiased one does
  function dots(img, xs, ys, r, rgb, alpha, px, py, box) {
    var d = img.data, w = img.width, span = Math.ceil(r), offs = [];
    for (var dy = -span; dy <= span; dy++) {
      for (var dx = -span; dx <= span; dx++) {
        var inside = 0;
        for (var sy = 0; sy < 4; sy++) {
          for (var sx = 0; sx < 4; sx++) {
            var ux = dx + (sx + 0.5) / 4 - 0.5, uy = dy + (sy + 0.5) / 4 - 0.5;
            if (ux * ux + uy * uy <= r * r) inside += 1;
          }
        }
        if (inside) offs.push(dx, dy, (alpha * inside) / 16);
      }
    }
    var cr = rgb >> 16, cg = (rgb >> 8) & 255, cb = rgb & 255;
    for (var j = 0; j < xs.length; j++) {
      var cx = Math.floor(px(xs[j])), cy = Math.floor(py(ys[j]));
      for (var o = 0; o < offs.length; o += 3) {
        var x = cx + offs[o], y = cy + offs[o + 1], a = offs[o + 2];
        if (x < box[0] || y < box[1] || x >= box[2] || y >= box[3]) continue;
        var i = (y * w + x) * 4;
        d[i] += (cr - d[i]) * a;
        d[i + 1] += (cg - d[i + 1]) * a;
        d[i + 2] += (cb - d[i + 2]) * a;
      }
    }
  }

  function removePreview() {
    var old = document.getElementById('preview');
    if (old) old.remove();
    stage.style.height = '';
  }

  // The legend of a map (layout.meta.legend == "html"): one button per trace shown in it; a click
  // hides or shows that trace, a double-click shows it alone (or everything again), as plotly's does.
  function buildLegend(data, layout) {
    legend.textContent = '';
    var html = layout.meta && layout.meta.legend === 'html';
    legend.hidden = !html;
    if (!html) return fitFrame();
    legend.style.color = ink;
    data.forEach(function (t, i) {
      if (t.showlegend === false) return;
      var m = t.marker || {};
      var item = document.createElement('button');
      item.type = 'button';
      item.setAttribute('data-trace', String(i));
      item.setAttribute('aria-pressed', 'true');
      var sw = document.createElement('span');
      sw.className = 'swatch';
      if (m.symbol === 'circle-open') {
        sw.className += ' open';
        sw.style.borderColor = m.color;
      } else sw.style.backgroundColor = m.color;
      item.appendChild(sw);
      item.appendChild(document.createTextNode(t.name == null ? 'trace ' + i : String(t.name)));
      item.addEventListener('click', function () {
        setShown([i], item.classList.contains('off'));
      });
      item.addEventListener('dblclick', function () {
        var others = legendItems().filter(function (it) {
          return it !== item;
        });
        var alone = others.every(function (it) {
          return it.classList.contains('off');
        });
        setShown([i], true);
        setShown(others.map(function (it) {
          return +it.getAttribute('data-trace');
        }), alone);
      });
      legend.appendChild(item);
    });
    fitFrame();
  }

  function legendItems() {
    return Array.prototype.slice.call(legend.querySelectorAll('button'));
  }

  // show or hide the traces at these indices (a hidden trace stays in the legend, greyed)
  function setShown(indices, shown) {
    if (!indices.length) return;
    indices.forEach(function (i) {
      var item = legend.querySelector('button[data-trace="' + i + '"]');
      if (item) {
        item.classList.toggle('off', !shown);
        item.setAttribute('aria-pressed', String(shown));
      }
      if (pending) pending[0][i].visible = shown ? true : 'legendonly';
    });
    if (pending) drawPending(); // not drawn by plotly yet: its first view is drawn again
    else if (bound) Plotly.restyle(gd, { visible: shown ? true : 'legendonly' }, indices);
  }

  // the frame's height: the chart's, and the legend's and a problem's under it
  function fitFrame() {
    var h = frameHeight + (legend.hidden ? 0 : legend.offsetHeight) + (problem.hidden ? 0 : problem.offsetHeight + 16);
    if (h > 0) post('streamlit:setFrameHeight', { height: h });
  }

  // one line in place of the chart; the page around it keeps working, and the next good figure replaces it
  function fail(err) {
    problem.textContent = 'The chart could not be drawn: ' + (err && err.message ? err.message : String(err));
    problem.hidden = false;
    gd.hidden = true;
    removePreview();
    hidePageView();
    fitFrame();
    if (reportDrawn) tellDrawn();
  }

  window.addEventListener('resize', function () {
    drawPending();
    fitFrame(); // the legend may wrap to more or fewer lines
  });
  window.addEventListener('message', function (ev) {
    if (ev.source !== window.parent || !ev.data || ev.data.type !== 'streamlit:render') return;
    render(ev.data.args || {}, ev.data.theme);
  });
  post('streamlit:componentReady', { apiVersion: 1 });
})();
