"""Explore's map in the HTML page itself: a browser that loads /explore gets Streamlit's page with the map's
first view already in it, on screen before Streamlit's own scripts have run.

A page load (a shared link, a bookmark, a reload) of Streamlit's app shows only a loading skeleton until
Streamlit's frontend has loaded, found its server, opened its websocket and drawn the page's run: about a
second on this machine, before any work of ours. The map of the collection is the page; so the server
sends it with the HTML. :class:`PrerenderMiddleware` (on ``st.App`` in ``app.py``) answers ``GET /explore``
with Streamlit's own ``index.html`` and, after its root element, the picture the page's first run will
draw (:func:`figures.first_view_html` of the same figure, :func:`first_spec`) at the place that run will
draw it. Streamlit then loads as usual; the picture stays on top, lined up with the page as it is
drawn, until the page's own first view of the map is on screen, and goes away then (or after
:data:`figures.FIRST_VIEW_HIDE_S` seconds, or as soon as the page shows anything else in its place: a
message, another page). It takes no clicks.

It is only sent where the page's first run will draw exactly that map: a URL with no query but the
collection (``?bundle=<name>``, as the page writes it), a collection that opens, a map of at most
:data:`figures.FIRST_VIEW_MAX_POINTS` paintings; and only where it can be placed before Streamlit has
drawn anything (a window at least :data:`MIN_WIDTH` px wide, else the page's own first view only).
``ARTEXTRACT_PRERENDER=0`` turns it off. Anything that goes wrong while making it sends Streamlit's page as
it is.
"""

from __future__ import annotations

import html
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..bundle import Bundle
from ..errors import ArtExtractError
from . import data, figures

log = logging.getLogger(__name__)

#: ``0`` turns the map in the HTML page off (the page's own first view still shows it)
PRERENDER_ENV = "ARTEXTRACT_PRERENDER"
#: Explore's map height in px (the chart component's and its first view's)
MAP_HEIGHT = 620
#: Explore's URL path (its script's name; ``app.py``'s navigation)
PAGE = "explore"
#: narrower windows get no map in the HTML page: Streamlit lays its page out differently there
MIN_WIDTH = 1024
#: the element Streamlit draws its app into; the picture goes right after it
ROOT = '<div id="root"></div>'
#: Streamlit's page layout (wide), in px, as its page's first run draws Explore: the sidebar's width
#: unless the curator has dragged it, the main block's side and top padding, the title's height, the
#: caption's line height, the gap under the caption, and the px the map's column gives up to the gap
#: between the two columns (measured in Chromium at 1,024-2,560 px; tests/test_browser.py checks them)
LAYOUT = {"sidebar": 300, "pad": 80, "top": 96, "title": 88.8, "line": 22.4, "gap": 16, "columns": 16}
#: the share of the main block's width that the map's column takes (``st.columns([3, 2])``)
MAP_COLUMN = 3 / 5


def prerender_wanted() -> bool:
    """Whether /explore's HTML page carries the map (``$ARTEXTRACT_PRERENDER`` not ``0``)."""
    return os.environ.get(PRERENDER_ENV, "1").strip() != "0" and figures.first_view_wanted()


def first_values(b: Bundle) -> tuple[str, str, float, bool, tuple[tuple[str, tuple[str, ...]], ...]]:
    """Explore's controls as a page load starts them: projection, colour-by label, outlier threshold,
    flagged-only, filters (none). The page's first run draws the map with these, before it draws the
    controls themselves."""
    options = data.colour_options(b)
    return (
        b.projections[0],
        next(iter(options)),
        float(b.outlier_threshold),
        False,
        tuple((a, ()) for a in b.attributes if a in b.items.columns),
    )


def map_caption(shown: int, total: int, hidden: bool = False) -> str:
    """The line under Explore's title: how many paintings the map shows, and how to use it."""
    return (
        f"{shown:,} of {total:,} paintings shown"
        + (" (not the one open on the right)" if hidden else "")
        + ". Hover for title and artist; click a point, or drag a lasso (double-click to clear), to inspect."
    )


def map_spec(
    b: Bundle,
    projection: str,
    colour_label: str,
    rows: tuple[int, ...] | None,
    threshold: float,
    verdict_of: dict[str, str],
) -> str:
    """Explore's map as plotly JSON (cached): ``colour_label`` one of :func:`data.colour_options`, ``rows``
    the paintings shown (``None``: all), flagged from ``threshold`` on, with the current verdicts."""
    from . import models

    return figures.scatter_json(
        b,
        data.bundle_key(b),
        projection,
        data.colour_options(b)[colour_label],
        rows,
        threshold,
        data.verdict_signature(verdict_of),
        MAP_HEIGHT,
        models.gate_stamp(b),
    )


def first_spec(b: Bundle, verdict_of: dict[str, str]) -> str:
    """The figure Explore's first run draws on a page load (no filters, nothing selected)."""
    projection, colour_label, threshold, _, _ = first_values(b)
    return map_spec(b, projection, colour_label, None, threshold, verdict_of)


#: placed, kept in line with the page as Streamlit draws it, and removed (see the module's docstring)
_SCRIPT = """<script>(() => {
  const box = document.getElementById('artextract-prerender'), L = LAYOUT, started = performance.now();
  const probe = box.querySelector('.artextract-prerender-probe'), path = location.pathname;
  let done = false;
  // why it went (tests and benchmarks read it): frames, left, timeout, message, narrow
  const gone = (why) => { done = true; box.remove(); window.__artextractPrerender = why; };
  const sidebar = () => {
    try { const w = parseFloat(localStorage.getItem('sidebarWidth')); if (w > 0) return w; } catch (e) {}
    return L.sidebar;
  };
  let at = '';
  const put = (left, top, width) => {  // (only a change touches the page's layout)
    const now = left + ',' + top + ',' + width;
    if (now === at) return;
    at = now;
    box.style.left = left + 'px'; box.style.top = top + 'px'; box.style.width = width + 'px';
  };
  // before Streamlit has drawn anything: where its page's first run will put the map
  const predict = () => {
    const w = document.documentElement.clientWidth;
    if (w < MIN_WIDTH) return gone('narrow');
    const left = sidebar() + L.pad, main = w - left - L.pad;
    probe.style.width = main + 'px';
    const lines = Math.max(1, Math.round(probe.getBoundingClientRect().height / L.line));
    put(left, L.top + L.title + L.gap + lines * L.line + L.gap, main * SHARE - L.columns);
    box.style.visibility = 'visible';
  };
  // as Streamlit draws the page: under its caption; gone once its own picture of the map has been in the
  // page for a few frames (the same picture at the same place), or as soon as it shows anything else there
  let frames = 0;
  const MESSAGES = '[data-testid="stAlert"], [data-testid="stException"]';
  // Each frame reads the page's layout only once Streamlit has drawn what it reads (its caption, a
  // message): reading it sooner would make the browser lay out the page Streamlit is still building.
  const follow = () => {
    if (done) return;
    if (location.pathname !== path) return gone('left');
    if (performance.now() - started > HIDE_MS) return gone('timeout');
    const main = document.querySelector('#root [data-testid="stMain"]');
    if (main) {
      const own = main.querySelector('.artextract-first-view img');
      frames = own && own.complete ? frames + 1 : 0;
      if (frames >= 3) return gone('frames');
      // a message where the map goes (an error, the page's own notice), not the inspector's hint beside it
      const shown = main.querySelectorAll(MESSAGES);
      if (shown.length) {
        const b = box.getBoundingClientRect();
        for (const m of shown) {
          const r = m.getBoundingClientRect();
          if (r.width && r.left < b.right && r.right > b.left) return gone('message');
        }
      }
      const caption = main.querySelector('[data-testid="stCaptionContainer"]');
      if (caption) {
        const r = caption.getBoundingClientRect();
        put(r.left, r.bottom + L.gap, r.width * SHARE - L.columns);
      }
    }
    requestAnimationFrame(follow);
  };
  const start = () => { if (!done) { predict(); requestAnimationFrame(follow); } };
  const font = document.fonts && document.fonts.load('14px "Source Sans"');
  if (font) Promise.race([font, new Promise(r => setTimeout(r, 300))]).then(start, start); else start();
})();</script>"""


def prerender_html(spec: str, caption: str) -> str:
    """The map's picture for the HTML page, with the script that places it: ``""`` where
    :func:`figures.first_view_html` draws no first view of ``spec``. ``caption``: the line the page writes
    above the map (its height, one line or two, moves the map down)."""
    view = figures.first_view_html(spec, None, offset=0)
    if not view:
        return ""
    script = (
        _SCRIPT.replace("LAYOUT", json.dumps(LAYOUT))
        .replace("MIN_WIDTH", str(MIN_WIDTH))
        .replace("SHARE", repr(MAP_COLUMN))
        .replace("HIDE_MS", str(figures.FIRST_VIEW_HIDE_S * 1000))
    )
    return (
        '<div id="artextract-prerender" class="artextract-prerender" aria-hidden="true" '
        'style="position:fixed;left:0;top:0;width:0;z-index:1000;pointer-events:none;visibility:hidden">'
        f"{view}"
        '<div class="artextract-prerender-probe" style="position:absolute;left:-99999px;top:0;'
        'visibility:hidden;font:14px/22.4px &quot;Source Sans&quot;,sans-serif;overflow-wrap:break-word">'
        f"{html.escape(caption)}</div></div>{script}"
    )


def page_html(index: str, prerender: str) -> str:
    """Streamlit's ``index.html`` with ``prerender`` right after its root element (as it is without one)."""
    if not prerender or ROOT not in index:
        return index
    return index.replace(ROOT, ROOT + prerender, 1)


def prerender_for(query: Mapping[str, str]) -> str:
    """The map's picture for a page load of /explore with this URL query, or ``""`` where the page's
    first run will not draw exactly that map (see the module's docstring)."""
    from .. import review

    if not prerender_wanted() or set(query) - {"bundle"}:
        return ""
    infos = data.list_bundles()
    wanted = query.get("bundle")
    info = next((i for i in infos if i.name == wanted), None) if wanted is not None else infos[0]
    if info is None:  # the page says it knows no such collection
        return ""
    try:
        b = data.load_bundle(info.path)
        if not b.projections or not 0 < len(b.items) <= figures.FIRST_VIEW_MAX_POINTS:
            return ""
        spec = first_spec(b, review.verdict_map(b.name))
    except (ArtExtractError, review.ReviewError, OSError, ValueError):
        return ""
    return prerender_html(spec, map_caption(len(b.items), len(b.items)))


_index_lock = threading.Lock()
_index: dict[str, Any] = {}


def streamlit_index() -> str:
    """Streamlit's own ``index.html`` (read once per change on disk)."""
    from streamlit import file_util

    path = Path(file_util.get_static_dir()) / "index.html"
    stamp = path.stat().st_mtime_ns
    with _index_lock:
        if _index.get("stamp") != stamp:
            _index.update(stamp=stamp, text=path.read_text(encoding="utf-8"))
        return _index["text"]


class PrerenderMiddleware:
    """ASGI middleware for ``st.App``: ``GET``/``HEAD`` of Explore's path gets Streamlit's page with the map
    in it (:func:`prerender_for`); every other request goes on to Streamlit untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope.get("type") != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or not self._is_page(scope)
        ):
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import HTMLResponse

        query = dict(Request(scope).query_params)
        try:
            prerender = await run_in_threadpool(prerender_for, query)
            body = page_html(streamlit_index(), prerender)
        except Exception:  # noqa: BLE001 - never in the way of the page itself
            log.exception("Explore's map could not be put in its HTML page; Streamlit's page sent as it is")
            await self.app(scope, receive, send)
            return
        await HTMLResponse(body, headers={"Cache-Control": "no-cache"})(scope, receive, send)

    @staticmethod
    def _is_page(scope: dict[str, Any]) -> bool:
        from streamlit import config

        base = str(config.get_option("server.baseUrlPath") or "").strip("/")
        return scope.get("path") == "/" + "/".join(p for p in (base, PAGE) if p)
