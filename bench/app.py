"""Benchmark the curator's app in headless Chromium: time to first render of Explore and click-to-inspector.

Usage::

    python bench/app.py [--bundle data/artifacts/demo] [--sizes 1000 100000] [--clicks 5] [--sessions 10]

For each size, the source bundle is scaled to that many paintings in a temporary folder (rows tiled,
map coordinates jittered, images, predictions and neighbours reused; the manifest still points at the
source's checkpoints and catalogs, so the app verifies it like any bundle). Then ``streamlit run app.py``
is started on it and Chromium (Playwright) measures:

- ``first render``: from navigation to /explore until the map is on screen with all its points (its
  picture in the HTML page, ``artextract/app/prerender.py``; the page's first view, the same picture
  drawn as the run arrives; the chart
  component's first view on a canvas, drawn before plotly.js has run; or plotly's map), on a cold
  server (figure built and cached) and again warm (the median of ``--loads`` later visits, cached figure,
  and the slowest), each in a fresh browser context (``controls drawn``: until the sidebar's controls,
  which follow the map, are there too; ``interactive``: until plotly has drawn the map, which can then be
  hovered, clicked and lassoed); ``in page``: the same loads by the page's own clock, from its
  navigation start to the check that saw the map drawn (this script learns of it 0.2-0.5 s later on a
  busy 2-core machine); ``painted``: by the page's clock too, when the browser painted the map's picture
  (its Element Timing; in the HTML page where ``prerender.py`` sends it, else the page's run's; the
  check, polled from the page, sees it only once the page's main thread is free: 0.5-0.8 s later);
  and ``from home``: from a click on Explore's sidebar link, in a browser that has the app open on
  Home, to the map on screen and to plotly's map (how a curator usually arrives: Streamlit switches
  pages in place);
- ``click -> inspector``: from a click on a point until the inspector shows that painting's title
  (median of ``--clicks`` different points, and the slowest; ``--json`` also lists each click's time, in
  the order clicked, as ``click_to_inspector_each_s``).

With ``--sessions N`` (needs a bundle with checkpoints and a reference collection), N browser sessions
upload a painting on Similar at once and the bench checks that every one gets its neighbours.
The first size is the baseline; the last line prints each size against it.

``--breakdown`` says where Explore's first render goes: in the same run and the same headless Chromium
(a fresh browser context each time, median of 3), a bare Streamlit page (a title), the same page with a
chart of as many points drawn by ``st.plotly_chart`` (all of plotly.js, a 4.7 MB script to load and
compile) and by our chart component (``artextract.app.chart``: plotly.js with only the traces the
app draws, 1.5 MB, in a component frame), the same build drawn in the page itself by a Streamlit
components-v2 prototype (no frame), and our Explore page on the bundle, each to its last point drawn;
then our Confusion page, to its first matrix drawn; and the bare page and Explore once more on a server
without uvloop and httptools (uvicorn's pure-Python defaults), to see what those two packages give.
The rows with Explore's sidebar controls are drawn several ways: in the same run as the chart, before
or after it; in the next run, once the chart reports it has drawn (what Explore does on a page load,
``state.map_before_controls``); in a collapsed expander or a closed popover; or one kind of widget
alone. Where the whole sidebar of controls is drawn, the table also gives when it was complete.
``--only TEXT`` keeps the rows whose name holds TEXT (or any of ``A|B``); ``--repeats N`` sets the page
loads per row.
With ``--peer PYTHON`` (below) the table gains a row for Spotlight on the same points, timed the same way.
``--pure-python-server`` runs the size measurements on such a server, for the same comparison.
``--streamlit-option SECTION.OPTION=VALUE`` (repeatable) serves the app with that setting over the
project's ``.streamlit/config.toml``, e.g. ``server.fileWatcherType=auto`` (Streamlit's default, which
the project turns off) to see what it costs.

``--compile`` times Streamlit's compile of app.py and each page (its own script cache, emptied first, as
after the last browser session has closed, so on a fresh page load) with its "magic" (Streamlit's
default) and without (``runner.magicEnabled = false``, the project's setting); no browser.

``--peer PYTHON`` measures the issue's peer in the same run: Renumics Spotlight, run by ``PYTHON`` (an
interpreter that has ``renumics-spotlight``; it is not one of the app's requirements, e.g. ``python -m
venv .peer && .peer/bin/pip install renumics-spotlight==1.8.2``), on the same paintings (each size's map
coordinates), with a layout of one scatterplot coloured as Explore first colours them (by style where the
bundle has styles). Each warm load of Explore is
followed by one of Spotlight's, each in a fresh browser context, timed the same way: from navigation
until Spotlight has drawn all ``n`` points on its canvas (``n`` arcs after a clear, then a frame). The
table gains ``peer_first_render_warm_s`` and the ratio of ours to it.

``--timeline`` says when each step of a fresh browser's load of /explore happens, on the first size:
Streamlit's page scripts fetched, its first call to its server (under the page's own path), the call that
found it, the websocket open, the run's first message, the map on screen (its first view in the page),
the chart's frame requested and the chart's own first view drawn, in ms from navigation start by the
page's clock (median of ``--loads`` fresh browser contexts, after one that warms the server), with the
main thread's long tasks until the map was on screen.

``--first-view`` times Explore's page load (first size) with its first view in the page
(``figures.first_view_html``) against the same app with it turned off (``ARTEXTRACT_FIRST_VIEW=0``), on
two servers, alternating fresh browser contexts (median of ``--loads`` each, by the page's clock): the map
on screen, and plotly's map drawn, on a page load and from a click on Explore's sidebar link with Home
open; with ``--peer``, Spotlight's first draw of the same points in the same
run.

``--prerender`` does the same with the map in /explore's HTML page (``artextract/app/prerender.py``)
against without it (``ARTEXTRACT_PRERENDER=0``), and gives when the browser painted the map's picture
(its Element Timing) beside when the check polled from the page saw it.

``--upload`` measures instead, on the server side, what the Similar page does for one uploaded painting
with the bundle's released checkpoints: decode the upload (sample paintings enlarged to 2,048 px on
the long side, JPEG quality 90, the size of a photo of a painting), classify it (top-3 per head), embed it and
search the reference index, against a reference of each ``--sizes`` paintings (the bundle's real
reference vectors tiled with noise to that size, an hnswlib index built on them). Median over
``--queries`` real JPEGs; the first size is the baseline. Goal: under 0.5 s at 100,000.

``--home`` times Home, the page the app opens on, in a fresh browser context until its numbers, its
table and its links are drawn: the first load after the server starts, then the median of ``--loads``
more, each followed by a load of a bare Streamlit page (a title, a server of its own), the baseline.

``--first-upload N`` times the first upload after the server starts, as a curator meets it: on each of N
fresh servers, Similar opened in a fresh browser, ``--pick-s`` seconds (default 5) to choose a file, then a
2,048 px JPEG uploaded, until every neighbour is drawn; the baseline is the next upload on the same page.

``--similar-reruns N`` times the Similar page itself (Streamlit's AppTest, server side) after a
12-megapixel upload: N reruns after the neighbour count changes with the query's answer remembered (what
the page does), against N with it forgotten first (decoded, classified and checked for the same picture
again, as the page did before), interleaved in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from artextract import config  # noqa: E402
from artextract.app.prerender import PRERENDER_ENV  # noqa: E402
from artextract.bundle import open_bundle, resolve_rel  # noqa: E402


def scale_bundle(src: Path, dst: Path, n: int, seed: int = 0) -> Path:
    """A copy of bundle ``src`` with ``n`` paintings (tiled rows, jittered coordinates) in ``dst``."""
    b = open_bundle(src)
    m = len(b.items)
    rng = np.random.default_rng(seed)
    take = np.arange(n) % m
    block = np.arange(n) // m
    items = b.items.iloc[take].reset_index(drop=True).copy()
    items["id"] = items["id"].astype(str) + np.where(block > 0, "~" + block.astype(str), "")
    items["title"] = items["title"].astype(str) + np.where(block > 0, " #" + block.astype(str), "")
    for p in b.projections:
        for ax in ("x", "y"):
            col = items[f"{p}_{ax}"].to_numpy(dtype=np.float32)
            spread = float(np.std(col)) or 1.0
            items[f"{p}_{ax}"] = col + rng.normal(0, 0.04 * spread, n).astype(np.float32)
    dst.mkdir(parents=True, exist_ok=True)
    items.to_parquet(dst / "items.parquet", index=False)
    for a in b.attributes:
        np.save(dst / f"probs_{a}.npy", np.asarray(b.probs(a))[take])
    idx, sims = b.neighbours
    np.save(dst / "neighbours.npy", np.asarray(idx)[take])
    np.save(dst / "neighbour_sims.npy", np.asarray(sims)[take])
    if (src / "embeddings.npy").exists():
        np.save(dst / "embeddings.npy", np.load(src / "embeddings.npy", mmap_mode="r")[take])
    shutil.copy(src / "metrics.json", dst / "metrics.json")
    if (src / "reference").is_dir():
        shutil.copytree(src / "reference", dst / "reference", dirs_exist_ok=True)
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["name"] = f"{manifest['name']}-x{n}"
    for role in ("collection", "reference"):
        if manifest.get(role):
            manifest[role]["path"] = str(resolve_rel(b.root, manifest[role]["path"]))
    for ck in manifest.get("checkpoints", {}).values():
        ck["weights"] = str(resolve_rel(b.root, ck["weights"]))
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dst


def _jpeg(path: Path, long_side: int | None = None) -> bytes:
    from PIL import Image

    img = Image.open(path).convert("RGB")
    if long_side:  # upscaled to the size of a photo of a painting
        s = long_side / max(img.size)
        img = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


#: Renumics Spotlight on a parquet of map points (``x``, ``y``, ``style``, ``title``): one scatterplot.
PEER_SERVER = """
import sys, pandas as pd
from renumics import spotlight
from renumics.spotlight import layout
df = pd.read_parquet(sys.argv[1])
lay = layout.layout(layout.scatterplot(name="map", x_column="x", y_column="y", color_by_column="style"))
spotlight.show(df, port=int(sys.argv[2]), no_browser=True, layout=lay, wait="forever", analyze=False, embed=False)
"""

#: In a Spotlight page: when one canvas frame has drawn all n points (n arcs since the last clear).
PEER_DRAWN_INIT = """(() => {
  const n = %d; let k = 0; const C = CanvasRenderingContext2D.prototype;
  const fillRect = C.fillRect, arc = C.arc;
  C.fillRect = function (...a) { k = 0; return fillRect.apply(this, a); };
  C.arc = function (...a) {
    k += 1;
    if (k === n && window.__drawnAt === undefined) requestAnimationFrame(() => { window.__drawnAt = performance.now(); });
    return arc.apply(this, a);
  };
})();"""


#: The breakdown's row for the peer (``--breakdown --peer``).
PEER_ROW = "Renumics Spotlight (--peer), the same points in one scatterplot"


@contextlib.contextmanager
def peer_server(python: str, bundle: Path, data: Path) -> Iterator[str]:
    """Spotlight (run by ``python``) on the bundle's first map, coloured as Explore first colours it (by
    style where the bundle has styles; its column is called ``style`` either way); yields its URL."""
    import subprocess
    import urllib.request

    from test_browser import free_port

    from artextract.app.data import colour_options

    b = open_bundle(bundle)
    proj = b.projections[0]
    colour = next(iter(colour_options(b).values()))
    points = pd.DataFrame({
        "x": b.items[f"{proj}_x"].astype("float32"), "y": b.items[f"{proj}_y"].astype("float32"),
        "style": b.items[colour].fillna("").astype(str), "title": b.items["title"].astype(str),
    })  # fmt: skip
    points.to_parquet(data / "peer.parquet", index=False)
    port = free_port()
    with open(data / "peer.log", "ab") as log:
        # its own process group: Spotlight serves from a child process, which must stop with it
        proc = subprocess.Popen(
            [python, "-c", PEER_SERVER, str(data / "peer.parquet"), str(port)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Spotlight did not start: see {data / 'peer.log'}") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def peer_first_render(browser, url: str, n: int) -> tuple[float, float]:
    """One fresh-context load of Spotlight: seconds from navigation until its n points have drawn, as this
    script saw it and as the page's clock says (from its navigation start)."""
    ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
    ctx.add_init_script(PEER_DRAWN_INIT % n)
    page = ctx.new_page()
    page.set_default_timeout(180_000)
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function("() => window.__drawnAt !== undefined", polling=20)
    elapsed = time.perf_counter() - t0
    in_page = page.evaluate("window.__drawnAt") / 1000
    ctx.close()
    return elapsed, in_page


def measure(
    bundle: Path,
    data: Path,
    clicks: int,
    sessions: int,
    pure_python: bool = False,
    loads: int = 3,
    peer: str | None = None,
    options: tuple[str, ...] = (),
) -> dict[str, float | str]:
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, POINT_JS, app_server

    b = open_bundle(bundle)
    n = len(b.items)
    loads = max(1, loads)
    out: dict[str, float | str] = {"paintings": n}
    launcher = ["-m", "streamlit"]
    if pure_python:
        (data / "pure_python_server.py").write_text(PURE_PYTHON_SERVER)
        launcher = [str(data / "pure_python_server.py")]
    with (
        app_server(bundle, data, data / "server.log", launcher=launcher, options=options) as url,
        peer_server(peer, bundle, data) if peer else contextlib.nullcontext() as peer_url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        peer_renders: list[tuple[float, float]] = []  # (as this script saw it, by the page's clock)
        if peer_url:
            peer_first_render(browser, peer_url, n)  # its cold load
        renders: dict[str, list[float]] = {}
        in_page: dict[str, list[float]] = {}  # the same, by the page's clock (from its navigation start)
        ready: dict[str, list[float]] = {}  # until plotly's map is drawn (it can be clicked)
        controls: dict[str, list[float]] = {}
        painted: dict[str, list[float]] = {}  # the map painted, by the page's clock (Element Timing)
        for i, label in enumerate(["cold"] + ["warm"] * loads):
            last = i == loads
            ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
            page = ctx.new_page()
            page.set_default_timeout(180_000)
            t0 = time.perf_counter()
            page.goto(f"{url}/explore")
            wait_shown(page, n, CHART_FRAME, timeout=180_000)
            renders.setdefault(label, []).append(time.perf_counter() - t0)
            in_page.setdefault(label, []).append(page.evaluate("window.__shownAt") / 1000)
            painted_at = page.evaluate(PAINTED_JS)  # the map's picture, where it has one
            painted.setdefault(label, []).append(
                in_page[label][-1] if painted_at is None else painted_at / 1000
            )
            frame = wait_drawn(page, n, CHART_FRAME, timeout=180_000)
            ready.setdefault(label, []).append(time.perf_counter() - t0)
            page.wait_for_function(CONTROLS_JS, polling=20)  # a page load draws them once the map has drawn
            controls.setdefault(label, []).append(time.perf_counter() - t0)
            out[f"first_render_{label}_s"] = statistics.median(renders[label])
            out[f"interactive_{label}_s"] = statistics.median(ready[label])
            out[f"controls_drawn_{label}_s"] = statistics.median(controls[label])
            if label == "warm":
                out["first_render_warm_max_s"] = max(renders["warm"])
                out["first_render_warm_in_page_s"] = statistics.median(in_page["warm"])
                out["first_render_warm_painted_s"] = statistics.median(painted["warm"])
            if last:
                times = []
                rng = np.random.default_rng(1)
                box = page.locator(f'iframe[title="{CHART_FRAME}"]').bounding_box()
                n0 = frame.evaluate("() => document.querySelector('.js-plotly-plot')._fullData[0].x.length")
                # the nearest point under the cursor may be a coincident one from another trace, so
                # wait for the inspector to show a different painting than before the click
                heading_js = (
                    "(prev) => { const h = document.querySelector('.st-key-explore-inspector h3');"
                    " return !!h && h.innerText !== prev; }"
                )
                prev = ""
                for i in rng.choice(n0, size=min(clicks, n0), replace=False):
                    x, y, _row = frame.evaluate(POINT_JS, [0, 0, int(i)])
                    x, y = x + box["x"], y + box["y"]
                    page.mouse.move(x, y)
                    t0 = time.perf_counter()
                    page.mouse.click(x, y)
                    page.wait_for_function(heading_js, arg=prev, polling=20)
                    times.append(time.perf_counter() - t0)
                    prev = page.evaluate(
                        "() => document.querySelector('.st-key-explore-inspector h3').innerText"
                    )
                    page.wait_for_timeout(500)
                out["click_to_inspector_median_s"] = statistics.median(times)
                out["click_to_inspector_max_s"] = max(times)
                out["click_to_inspector_each_s"] = [round(t, 3) for t in times]
            ctx.close()
            if peer_url and label == "warm":  # interleaved: one of Spotlight's loads after each of ours
                peer_renders.append(peer_first_render(browser, peer_url, n))
                out["peer_first_render_warm_s"] = statistics.median(r[0] for r in peer_renders)
                out["peer_first_render_warm_in_page_s"] = statistics.median(r[1] for r in peer_renders)
                out["ours_vs_peer"] = out["first_render_warm_s"] / out["peer_first_render_warm_s"]
                out["ours_vs_peer_in_page"] = (
                    out["first_render_warm_in_page_s"] / out["peer_first_render_warm_in_page_s"]
                )
        # the way a curator usually gets there: the app opened on Home, then Explore's sidebar link
        # (Streamlit switches pages without loading the page again)
        ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        page.goto(f"{url}/")
        page.get_by_role("heading", name="ArtExtract").first.wait_for()
        page.wait_for_load_state("networkidle")
        link = page.locator("[data-testid=stSidebarNavLink]", has_text="Explore")
        t0 = time.perf_counter()
        link.click()
        wait_shown(page, n, CHART_FRAME, timeout=180_000)
        out["first_render_from_home_s"] = time.perf_counter() - t0
        wait_drawn(page, n, CHART_FRAME, timeout=180_000)
        out["interactive_from_home_s"] = time.perf_counter() - t0
        ctx.close()
        if sessions:
            out.update(_concurrent_uploads(browser, url, b, sessions))
        browser.close()
    return out


def _concurrent_uploads(browser, url: str, b, sessions: int) -> dict[str, float | str]:
    """``sessions`` browser sessions upload on Similar at the same time; all must get neighbours."""
    if b.reference is None or not b.manifest.get("checkpoints"):
        return {"sessions": "skipped (bundle has no models/reference)"}
    pages, ctxs = [], []
    for _ in range(sessions):
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        page.goto(f"{url}/similar")
        page.locator("input[type=file]").wait_for(state="attached")
        ctxs.append(ctx)
        pages.append(page)
    t0 = time.perf_counter()
    for i, page in enumerate(pages):
        img = _jpeg(b.image_path(i % len(b.items)))
        page.locator("input[type=file]").set_input_files(
            files=[{"name": f"q{i}.jpg", "mimeType": "image/jpeg", "buffer": img}]
        )
    ok = 0
    for page in pages:
        page.get_by_text("nearest reference paintings").wait_for()
        ok += page.locator("[data-testid=stAlertContentError]").count() == 0
    elapsed = time.perf_counter() - t0
    for ctx in ctxs:
        ctx.close()
    return {"sessions_ok": f"{ok}/{sessions}", "sessions_all_results_s": elapsed}


#: A chart of n points has drawn: every point is in the figure and on screen (a WebGL canvas, or one
#: SVG point each; the rings of flagged paintings are extra points in their own traces). The chart is
#: looked up in the page or, given a title, in that component frame's document, polled from the page:
#: waiting inside the frame through Playwright adds about 0.4 s of its own here.
CHART_JS = """([n, title]) => {
  const doc = title ? document.querySelector(`iframe[title="${title}"]`)?.contentDocument : document;
  const gd = doc?.querySelector('.js-plotly-plot');
  if (!gd || !gd._fullData) return false;
  let k = 0; for (const t of gd._fullData) if (!String(t.name).startsWith('flagged')) k += t.x.length;
  const drawn = k === n && (!!gd.querySelector('canvas') || gd.querySelectorAll('.scatterlayer .point').length >= n);
  if (drawn && window.__drawnAt === undefined) window.__drawnAt = performance.now();
  return drawn;
}"""
CHART_FRAME = "artextract.app.chart.plotly_chart"  # the chart component's frame title (chart.FRAME_TITLE)


DRAWN_JS = """(title) => {
  const drawn = !!document.querySelector(`iframe[title="${title}"]`)
    ?.contentDocument?.querySelector('.js-plotly-plot[data-drawn]');
  if (drawn && window.__drawnAt === undefined) window.__drawnAt = performance.now();
  return drawn;
}"""


#: A map of n points is on screen: the page's first view of it (a picture of its n points in the page
#: itself, drawn as the run arrives, figures.first_view_html), the chart component's (a canvas of n
#: points, drawn before plotly.js has run, see artextract/app/static/chart/chart.js) or plotly's map
#: (CHART_JS).
SHOWN_JS = (
    """([n, title]) => {
  const page = document.querySelector('.artextract-first-view[data-points]');
  const img = page?.querySelector('img');
  const inPage = !!img && img.complete && +page.dataset.points === n;
  const doc = title ? document.querySelector(`iframe[title="${title}"]`)?.contentDocument : document;
  const first = doc?.querySelector('#preview[data-points]');
  const shown = inPage || (!!first && +first.dataset.points === n) || (CHART_JS)([n, title]);
  if (shown && window.__shownAt === undefined) window.__shownAt = performance.now();
  return shown;
}"""
).replace("CHART_JS", CHART_JS)


def wait_shown(page, n: int, frame_title: str | None = None, timeout: int = 60_000) -> None:
    """Wait until a map of ``n`` points is on screen (:data:`SHOWN_JS`); ``window.__shownAt`` says when."""
    page.wait_for_function(SHOWN_JS, arg=[n, frame_title], polling=20, timeout=timeout)


def wait_drawn(page, n: int, frame_title: str | None = None, timeout: int = 60_000):
    """Wait until a chart of ``n`` points has drawn, on the page or in the named component frame;
    returns the frame it is in."""
    page.wait_for_function(CHART_JS, arg=[n, frame_title], polling=20, timeout=timeout)
    if not frame_title:
        return page.main_frame
    return page.locator(f'iframe[title="{frame_title}"]').element_handle().content_frame()


BARE_APP = """
import json, numpy as np, plotly.graph_objects as go, plotly.io as pio, streamlit as st
import streamlit.components.v2
from artextract.app import chart, figures
st.set_page_config(layout="wide")
# a prototype, for comparison only: the same plotly.js build drawn in the page itself (Streamlit's
# components v2 mount in the app's document; no frame, no second document to load)
INLINE = st.components.v2.component("bench_inline_chart", isolate_styles=False, js='''
export default function(component) {
  const { data, parentElement } = component;
  if (!data || parentElement.querySelector('.js-plotly-plot')) return;
  const load = window.__plotlyLite || (window.__plotlyLite = new Promise((res, rej) => {
    const s = document.createElement('script'); s.src = data.src;
    s.onload = () => res(window.Plotly); s.onerror = rej; document.head.appendChild(s);
  }));
  const gd = document.createElement('div'); gd.style.width = '100%'; parentElement.appendChild(gd);
  const fig = JSON.parse(data.spec);
  load.then(P => P.react(gd, fig.data, fig.layout, {responsive: true}));
}''')
st.title("Explore")
n = int(st.query_params.get("n", "0"))
CONTROLS = st.query_params.get("controls", "")
AFTER = CONTROLS.startswith("after")  # controls=after: the same controls, sent after the chart
CONTROLS = CONTROLS.removeprefix("after") or ("sidebar" if AFTER else "")
def controls():
    with st.sidebar:
        box = (
            st.expander("Map and filters")
            if CONTROLS == "expander"
            else st.popover("Map and filters")
            if CONTROLS == "popover"
            else st.container()
        )
        with box:  # controls=only:<kind> keeps one kind of widget, to see what each kind costs
            only = CONTROLS.split(":", 1)[1] if CONTROLS.startswith("only:") else ""
            st.subheader("Map")
            if only in ("", "radio"):
                st.radio("Projection", ["t-SNE", "UMAP"], horizontal=True)
                st.checkbox("Flagged only")
            if only in ("", "select"):
                st.selectbox("Colour by", ["Style", "Genre", "Artist"])
            if only in ("", "slider"):
                st.slider("Outlier threshold", 0.0, 1.0, 0.9, 0.01)
            if only in ("", "multiselect"):
                st.subheader("Filter")
                for a in ("Style", "Genre", "Artist"):
                    st.multiselect(a, ["a", "b", "c"])
DEFER = CONTROLS == "deferred"  # controls=deferred: sent once the chart reports it has drawn
if DEFER:
    CONTROLS = "sidebar"
if CONTROLS and not AFTER and not DEFER:  # Explore's sidebar controls, to see what they cost the first render
    controls()
if n:
    rng = np.random.default_rng(0)
    trace = go.Scatter if n <= figures.SVG_MAX_POINTS else go.Scattergl  # as the Explore map
    fig = go.Figure(trace(x=rng.normal(size=n), y=rng.normal(size=n), mode="markers", customdata=np.arange(n)))
    fig.update_layout(height=620)
    if st.query_params.get("chart") == "map":
        chart.plotly_chart(pio.to_json(fig, validate=False), key="c", height=620, report_drawn=DEFER)
    elif st.query_params.get("chart") == "inline":
        spec = pio.to_json(fig, validate=False)
        INLINE(data={"spec": spec, "src": f"/component/{chart.FRAME_TITLE}/plotly-lite.min.js"}, key="c", height=630)
    else:
        st.plotly_chart(fig, key="c", on_select="rerun")
else:
    st.write("no chart")
if CONTROLS and (AFTER or DEFER and st.session_state.get("c.drawn")):
    controls()
"""


#: Runs streamlit's command line with uvicorn (Streamlit's server) on its pure-Python defaults, asyncio's
#: event loop and the h11 HTTP parser, as when uvloop and httptools (requirements.txt) are not installed.
PURE_PYTHON_SERVER = """
import sys
sys.modules["uvloop"] = None
sys.modules["httptools"] = None
from streamlit.web.cli import main
sys.argv[0] = "streamlit"
sys.exit(main())
"""


#: Explore's sidebar controls have been drawn (its filters are the last of them).
CONTROLS_JS = "() => !!document.querySelector('[data-testid=stSidebar] [data-testid=stMultiSelect]')"

#: When the last script file the page had when its chart was drawn arrived (ms from navigation).
LAST_SCRIPT_JS = """() => Math.max(0, ...performance.getEntriesByType('resource')
    .filter(e => e.name.split('?')[0].endsWith('.js') && e.responseEnd <= (window.__drawnAt ?? Infinity))
    .map(e => e.responseEnd))"""


def breakdown(
    bundle: Path, repeats: int = 3, only: str = "", peer: str | None = None
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Median first render (s) of a bare page, the same with a chart two ways, and Explore; each page also
    on a server without uvloop and httptools; with ``peer`` (an interpreter with renumics-spotlight),
    Spotlight on the same points too. ``only``: the rows whose name holds this text. Returns the
    first renders; for the rows with Explore's controls, when they had all been drawn too; and, per row,
    the median time its page's last script file arrived (s)."""
    import subprocess
    import urllib.request

    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, app_server, free_port

    n = len(open_bundle(bundle).items)
    out: dict[str, list[float]] = {}
    scripts: dict[str, list[float]] = {}
    controls: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "bare.py"
        app.write_text(BARE_APP)
        pure = Path(tmp) / "pure_python_server.py"
        pure.write_text(PURE_PYTHON_SERVER)
        procs, bares = [], []
        for launcher in (["-m", "streamlit"], [str(pure)]):
            port = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, *launcher, "run", str(app), "--server.headless", "true", "--server.port",
                 str(port), "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            bares.append(f"http://127.0.0.1:{port}")
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{bares[-1]}/_stcore/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
        bare, bare_pure = bares
        data, data_pure = Path(tmp) / "data", Path(tmp) / "data-pure"
        data.mkdir()
        data_pure.mkdir()
        try:
            with (
                app_server(bundle, data, data / "server.log") as url,
                app_server(bundle, data_pure, data_pure / "server.log", launcher=[str(pure)]) as url_pure,
                peer_server(peer, bundle, data) if peer else contextlib.nullcontext() as peer_url,
                sync_playwright() as p,
            ):
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                targets = {
                    "bare page": (f"{bare}/", None, None),
                    "bare page + st.plotly_chart": (f"{bare}/?n={n}", n, None),
                    "bare page + chart component": (f"{bare}/?n={n}&chart=map", n, CHART_FRAME),
                    "bare page + the same chart in the page (components v2 prototype)": (
                        f"{bare}/?n={n}&chart=inline",
                        n,
                        None,
                    ),
                    "bare page + chart component + Explore's sidebar controls": (
                        f"{bare}/?n={n}&chart=map&controls=sidebar",
                        n,
                        CHART_FRAME,
                    ),
                    **{
                        f"bare page + chart component + {kind} only": (
                            f"{bare}/?n={n}&chart=map&controls=only:{kind}",
                            n,
                            CHART_FRAME,
                        )
                        for kind in ("radio", "select", "slider", "multiselect")
                    },
                    "the same, controls sent after the chart": (
                        f"{bare}/?n={n}&chart=map&controls=after",
                        n,
                        CHART_FRAME,
                    ),
                    "the same, controls sent once the chart has drawn (as Explore on a page load)": (
                        f"{bare}/?n={n}&chart=map&controls=deferred",
                        n,
                        CHART_FRAME,
                    ),
                    "the same, controls in a collapsed expander": (
                        f"{bare}/?n={n}&chart=map&controls=expander",
                        n,
                        CHART_FRAME,
                    ),
                    "the same, controls in a closed popover": (
                        f"{bare}/?n={n}&chart=map&controls=popover",
                        n,
                        CHART_FRAME,
                    ),
                    "Explore": (f"{url}/explore", n, CHART_FRAME),
                    "Confusion (first matrix)": (f"{url}/confusion", 0, CHART_FRAME),
                    "bare page, pure-Python server (no uvloop, no httptools)": (f"{bare_pure}/", None, None),
                    "Explore, pure-Python server (no uvloop, no httptools)": (
                        f"{url_pure}/explore",
                        n,
                        CHART_FRAME,
                    ),
                }
                if peer_url:
                    targets[PEER_ROW] = (peer_url, n, PEER_ROW)
                targets = {k: v for k, v in targets.items() if any(o in k for o in only.split("|"))}
                # rows whose page has Explore's whole sidebar of controls: also timed to the controls drawn
                with_controls = {
                    k for k in targets if k.startswith(("Explore", "bare page + chart component + Explore's"))
                } | {k for k in targets if k.startswith("the same, controls sent")}
                for _ in range(repeats + 1):  # the first round warms the servers up and is not counted
                    for name, (target, pts, frame) in targets.items():
                        out.setdefault(name, [])
                        ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
                        if frame == PEER_ROW:
                            ctx.add_init_script(PEER_DRAWN_INIT % n)
                        page = ctx.new_page()
                        t0 = time.perf_counter()
                        page.goto(target)
                        if frame == PEER_ROW:
                            page.wait_for_function("() => window.__drawnAt !== undefined", polling=20)
                        elif pts is None:
                            page.get_by_text("no chart").wait_for(timeout=60_000)
                        elif pts == 0:  # any chart: the first component frame has drawn its figure
                            page.wait_for_function(DRAWN_JS, arg=frame, polling=20, timeout=60_000)
                        else:
                            wait_shown(page, pts, frame)
                        out[name].append(time.perf_counter() - t0)
                        # when the page's last script file arrived, from navigation (s)
                        scripts.setdefault(name, []).append(page.evaluate(LAST_SCRIPT_JS) / 1000)
                        if name in with_controls:
                            page.wait_for_function(CONTROLS_JS, polling=20, timeout=60_000)
                            controls.setdefault(name, []).append(time.perf_counter() - t0)
                        ctx.close()
                browser.close()
        finally:
            for proc in procs:
                proc.terminate()
    return (
        {k: statistics.median(v[1:]) for k, v in out.items()},
        {k: statistics.median(v[1:]) for k, v in controls.items()},
        {k: statistics.median(v[1:]) for k, v in scripts.items()},
    )


# In every document of a page load (the app's and the chart's frame): the WebSocket's open and first
# message, and the main thread's long tasks, by the page's clock.
TIMELINE_INIT = """
window.__timeline = {long: 0};
try {
  new PerformanceObserver(l => { for (const e of l.getEntries())
    if (window.__shownAt === undefined) window.__timeline.long += e.duration; })
    .observe({type: 'longtask', buffered: true});
} catch (e) {}
const _WS = window.WebSocket;
window.WebSocket = class extends _WS {
  constructor(...a) {
    super(...a);
    window.__timeline.ws_new ??= performance.now();
    this.addEventListener('open', () => { window.__timeline.ws_open ??= performance.now(); });
    this.addEventListener('message', () => { window.__timeline.ws_message ??= performance.now(); });
  }
};
"""
TIMELINE_JS = """() => {
  const t = window.__timeline, res = performance.getEntriesByType('resource');
  const health = res.filter(e => e.name.endsWith('/_stcore/health'));
  const frame = res.find(e => e.name.includes('/component/') && e.name.includes('/index.html'));
  const scripts = res.filter(e => e.name.includes('/static/js/') && (!health.length || e.startTime < health[0].startTime));
  return {
    scripts: Math.max(...scripts.map(e => e.responseEnd)),
    probe: health.length ? health[0].startTime : NaN,
    found: health.length ? health[health.length - 1].startTime : NaN,
    probes: health.length,
    ws_open: t.ws_open, ws_message: t.ws_message,
    frame: frame ? frame.startTime : NaN,
    shown: window.__ownAt, chart: window.__frameShownAt, long: t.long,
  };
}"""
TIMELINE_ROWS = [
    ("painted", "the map painted from its HTML page (prerender.py; Element Timing of its picture)"),
    ("scripts", "Streamlit's page scripts fetched (those before it first calls its server)"),
    ("probe", "its first call to its server (/_stcore/health under the page's path)"),
    ("found", "the call that found it (the app's root; the probe and a retry delay before it)"),
    ("ws_open", "websocket open"),
    ("ws_message", "first message from the page's run"),
    ("shown", "the page's run's own picture of the map on screen (figures.first_view_html)"),
    ("frame", "the chart's frame requested"),
    ("chart", "the chart's own first view drawn (its canvas)"),
]

#: The chart component has drawn the map of n points: its canvas first view, or plotly's map.
FRAME_SHOWN_JS = (
    """([n, title]) => {
  const doc = document.querySelector(`iframe[title="${title}"]`)?.contentDocument;
  const first = doc?.querySelector('#preview[data-points]');
  const shown = (!!first && +first.dataset.points === n) || (CHART_JS)([n, title]);
  if (shown && window.__frameShownAt === undefined) window.__frameShownAt = performance.now();
  return shown;
}"""
).replace("CHART_JS", CHART_JS)


#: The page's run has its own picture of the map (figures.first_view_html) on screen
OWN_SHOWN_JS = """() => {
  const img = document.querySelector('#root .artextract-first-view img');
  if (img && img.complete && window.__ownAt === undefined) window.__ownAt = performance.now();
  return window.__ownAt !== undefined;
}"""


def timeline_load(browser, url: str, n: int, path: str = "explore") -> dict[str, float]:
    """One fresh browser context's load of ``url/path`` until its map of ``n`` paintings is on screen
    and drawn by its chart component too: when each step of :data:`TIMELINE_ROWS` happened, in ms from
    navigation start by the page's clock; ``long``: the main thread's long tasks (over 50 ms) until the
    map was on screen, summed; ``probes``: its calls to /_stcore/health."""
    ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        page = ctx.new_page()
        page.add_init_script(TIMELINE_INIT)
        page.set_default_timeout(180_000)
        page.goto(f"{url}/{path}")
        wait_shown(page, n, CHART_FRAME, timeout=180_000)
        page.wait_for_function(OWN_SHOWN_JS, polling=20, timeout=180_000)
        page.wait_for_function(FRAME_SHOWN_JS, arg=[n, CHART_FRAME], polling=20, timeout=180_000)
        painted = page.evaluate(PAINTED_JS)
        return {**page.evaluate(TIMELINE_JS), "painted": float("nan") if painted is None else painted}
    finally:
        ctx.close()


def timeline(bundle: Path, data: Path, loads: int) -> dict[str, float]:
    """:func:`timeline_load` of /explore on ``bundle``: the median of each value over ``loads`` fresh
    browser contexts, after one that warms the server (the figure built and cached)."""
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, app_server

    n = len(open_bundle(bundle).items)
    with app_server(bundle, data, data / "server.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        runs = [timeline_load(browser, url, n) for _ in range(loads + 1)][1:]
        browser.close()
    return {k: float(statistics.median(r[k] for r in runs)) for k in runs[0]}


def upload_latency(bundle: Path, sizes: list[int], queries: int) -> list[dict[str, float]]:
    """Server-side Similar: upload bytes -> classified + neighbours, per reference size."""
    from artextract.analysis.index import VectorIndex
    from artextract.images import load_image
    from artextract.predict import classify_image, embed_query, l2_normalize, load_embedder, top_k_labels

    b = open_bundle(bundle)
    same = b.checkpoint_dir("classifier") == b.checkpoint_dir("encoder")
    clf = load_embedder(b.checkpoint_dir("classifier"))
    enc = clf if same else load_embedder(b.checkpoint_dir("encoder"))
    uploads = [_jpeg(b.image_path(i), long_side=2048) for i in range(queries)]  # a photo-sized upload
    real = np.asarray(b.reference.embeddings, dtype=np.float32)
    rng = np.random.default_rng(0)
    out = []
    for n in sizes:
        base = real[np.arange(n) % len(real)] + rng.normal(0, 0.05, (n, real.shape[1])).astype(np.float32)
        t = time.perf_counter()
        index = VectorIndex.build(l2_normalize(base))
        built = time.perf_counter() - t
        classify_image(clf, load_image(uploads[0], name="warm.jpg"))  # warm-up
        steps: dict[str, list[float]] = {"decode": [], "classify": [], "embed": [], "search": [], "total": []}
        for data in uploads:
            t0 = time.perf_counter()
            img = load_image(data, name="upload.jpg")
            t1 = time.perf_counter()
            res = clf.embed_images([img])  # as models.classify_and_search: one pass if one checkpoint
            top_k_labels(res.probs, clf.card["heads"])
            t2 = time.perf_counter()
            q = l2_normalize(res.embeddings[0]) if same else embed_query(enc, img)
            t3 = time.perf_counter()
            index.query(q.reshape(1, -1), 12)
            t4 = time.perf_counter()
            for k, v in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
                steps[k].append(v)
        row = {"reference": n, "index_build_s": built}
        row.update({f"{k}_ms": 1000 * statistics.median(v) for k, v in steps.items()})
        out.append(row)
        print(f"[{n:,} reference paintings] {row}", file=sys.stderr)
    return out


# Home is drawn: its headline table (Markdown's, or the data grid's canvas as Home drew it before), the
# "Where to go" heading after it and a page link
HOME_DRAWN_JS = """() => !!document.querySelector('[data-testid=stMarkdownContainer] table, [data-testid=stDataFrame] canvas')
  && document.body.innerText.includes('Where to go') && !!document.querySelector('[data-testid=stPageLink]')"""


#: When the browser painted the map's picture (figures.first_view_html, in the page's run or in its HTML
#: page: Element Timing of its image), in ms from navigation start; null without one
PAINTED_JS = """() => new Promise((res) => {
  try {
    new PerformanceObserver((list) => {
      const t = list.getEntries().filter((e) => e.identifier === 'artextract-map').map((e) => e.renderTime || e.loadTime);
      res(t.length ? Math.min(...t) : null);
    }).observe({type: 'element', buffered: true});
  } catch (e) { res(null); }
  setTimeout(() => res(null), 1000);
})"""


def first_view_ab(
    bundle: Path, data: Path, loads: int, peer: str | None = None, env: str | None = None
) -> dict[str, float]:
    """Explore's page load with its first view in the page (``figures.first_view_html``) against the same
    app with it turned off (``ARTEXTRACT_FIRST_VIEW=0``: the map shows when the chart component first
    draws it), on two servers, each load in a fresh browser context, alternating, after one that warms
    each server: the median, by the page's clock, of the map on screen (``shown``: as a check polled from
    the page saw it), of the map's picture painted (``painted``: the browser's Element Timing of it, where
    there is one) and of plotly's map drawn (``interactive``), in s; the same from a click on Explore's
    sidebar link in a browser that has Home open (``home_on``, ``home_off``); with ``peer``, Spotlight's
    first draw of the same points too. ``env``: the variable set to ``0`` for the ``off`` server instead
    (``ARTEXTRACT_PRERENDER``: the map in /explore's HTML page, ``prerender.py``)."""
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, app_server

    from artextract.app.figures import FIRST_VIEW_ENV

    env = env or FIRST_VIEW_ENV
    n = len(open_bundle(bundle).items)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(app_server(bundle, data, data / "server.log"))
        os.environ[env] = "0"
        try:
            off_url = stack.enter_context(app_server(bundle, data, data / "off.log"))
        finally:
            os.environ.pop(env)
        peer_url = stack.enter_context(peer_server(peer, bundle, data)) if peer else None
        p = stack.enter_context(sync_playwright())
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def load(target: str, from_home: bool = False) -> tuple[float, float, float]:
            """(map on screen, plotly's map drawn, map's picture painted) in ms by the page's clock: from
            navigation to /explore, or from a click on Explore's sidebar link in a browser that has Home
            open."""
            ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
            try:
                page = ctx.new_page()
                page.set_default_timeout(180_000)
                t0 = 0.0
                if from_home:
                    page.goto(f"{target}/")
                    page.get_by_role("heading", name="ArtExtract").first.wait_for()
                    page.wait_for_load_state("networkidle")
                    link = page.locator("[data-testid=stSidebarNavLink]", has_text="Explore")
                    t0 = page.evaluate("performance.now()")
                    link.click()
                else:
                    page.goto(f"{target}/explore")
                wait_shown(page, n, CHART_FRAME, timeout=180_000)
                wait_drawn(page, n, CHART_FRAME, timeout=180_000)
                shown, drawn = page.evaluate("[window.__shownAt, window.__drawnAt]")
                painted = page.evaluate(PAINTED_JS)
                return shown - t0, drawn - t0, (shown if painted is None else painted) - t0
            finally:
                ctx.close()

        runs: dict[str, list] = {"on": [], "off": [], "peer": [], "home_on": [], "home_off": []}
        for i in range(loads + 1):
            for label, target in (("on", url), ("off", off_url)):
                shown, drawn, painted = load(target)
                if i:
                    runs[label].append((shown / 1000, drawn / 1000, painted / 1000))
                shown, drawn, painted = load(target, from_home=True)
                if i:
                    runs[f"home_{label}"].append((shown / 1000, drawn / 1000, painted / 1000))
            if peer_url:
                t = peer_first_render(browser, peer_url, n)[1]
                if i:
                    runs["peer"].append(t)
        browser.close()
    out = {"paintings": float(n)}
    for label in ("on", "off", "home_on", "home_off"):
        out[f"shown_{label}_s"] = statistics.median(r[0] for r in runs[label])
        out[f"interactive_{label}_s"] = statistics.median(r[1] for r in runs[label])
        out[f"painted_{label}_s"] = statistics.median(r[2] for r in runs[label])
    if runs["peer"]:
        out["peer_s"] = statistics.median(runs["peer"])
    return out


def home_render(bundle: Path, data: Path, loads: int) -> dict[str, float]:
    """Home, the page the app opens on, in a fresh browser context until its numbers, its table and its
    links are drawn: the first load after the server starts (it loads the bundle and the open-set
    check), then the median of ``loads`` more, each followed by one of a bare Streamlit page (a title)
    on a server of its own, the baseline of the same run."""
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, app_server

    out: dict[str, float] = {}
    bare = data / "bare.py"
    bare.write_text(BARE_APP)
    with (
        app_server(bundle, data, data / "server.log") as url,
        app_server(bundle, data, data / "bare.log", script=bare) as bare_url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def load(target: str, drawn) -> float:
            ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
            page = ctx.new_page()
            t0 = time.perf_counter()
            page.goto(target)
            drawn(page)
            dt = time.perf_counter() - t0
            ctx.close()
            return dt

        def home(page) -> None:
            page.wait_for_function(HOME_DRAWN_JS, polling=20, timeout=180_000)

        def bare_page(page) -> None:
            page.get_by_text("no chart").wait_for(timeout=60_000)

        out["home_first_load_s"] = load(f"{url}/", home)
        load(f"{bare_url}/", bare_page)  # its server's first load, not counted
        times: dict[str, list[float]] = {"home": [], "bare": []}
        for _ in range(loads):
            times["home"].append(load(f"{url}/", home))
            times["bare"].append(load(f"{bare_url}/", bare_page))
        browser.close()
    out["home_s"] = statistics.median(times["home"])
    out["bare_page_s"] = statistics.median(times["bare"])
    return out


def first_upload(bundle: Path, data: Path, trials: int, pick_s: float) -> dict[str, float]:
    """The first upload after the server starts, as a curator meets it: a fresh server (its first page
    load, Similar), ``pick_s`` seconds to choose a file, then a photo-sized JPEG (a sample painting at
    2,048 px) uploaded, timed until every neighbour is drawn. The baseline, in the same run: a second
    upload (another painting) on the same page, the models then loaded. Median over ``trials`` servers."""
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, app_server, wait_neighbours

    b = open_bundle(bundle)
    files = []
    for i in range(2):
        f = data / f"photo-{i}.jpg"
        f.write_bytes(_jpeg(b.image_path(i), long_side=2048))
        files.append(f)
    times: dict[str, list[float]] = {"first": [], "second": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for trial in range(trials):
            d = data / f"server-{trial}"
            d.mkdir()
            with app_server(bundle, d, d / "server.log") as url:
                ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
                page = ctx.new_page()
                page.set_default_timeout(180_000)
                page.goto(f"{url}/similar")
                page.locator("input[type=file]").wait_for(state="attached")
                time.sleep(pick_s)
                for kind, f in zip(times, files, strict=True):
                    prev = page.get_by_text("nearest reference paintings").count()
                    t0 = time.perf_counter()
                    page.locator("input[type=file]").set_input_files(str(f))
                    page.get_by_text(f.name).first.wait_for()  # the uploader shows the new file
                    if prev:  # wait for the page to answer the new file, not the old one
                        page.locator(f"[data-testid=stImage] >> text={f.name}").first.wait_for()
                    wait_neighbours(page)
                    times[kind].append(time.perf_counter() - t0)
                ctx.close()
        browser.close()
    return {f"{k}_upload_s": statistics.median(v) for k, v in times.items()}


def similar_reruns(bundle: Path, reruns: int, megapixels: float = 12.0) -> dict[str, float]:
    """The Similar page (Streamlit's AppTest, server side) with a photograph-sized upload: the median time
    of a rerun after the neighbour count changes, with the query's answer remembered (the app) and with it
    forgotten before each rerun (decoded, classified and checked for the same picture again, as the page
    did before it remembered answers): the baseline, in the same run."""
    from PIL import Image
    from streamlit.testing.v1 import AppTest

    from artextract.app import models

    b = open_bundle(bundle)
    w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    img = Image.open(b.image_path(0)).convert("RGB").resize((w, w * 3 // 4))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    out: dict[str, float] = {
        "upload_mb": len(buf.getvalue()) / 1e6,
        "megapixels": img.width * img.height / 1e6,
    }
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(ARTEXTRACT_BUNDLE=str(bundle), ARTEXTRACT_DATA=tmp)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
        at.switch_page("pages/similar.py").run()
        at.file_uploader(key="similar.upload").upload("photo.jpg", buf.getvalue(), "image/jpeg").run()
        times: dict[str, list[float]] = {"remembered": [], "forgotten": []}
        for i in range(2 * reruns):
            kind = "forgotten" if i % 2 else "remembered"
            if kind == "forgotten":
                models._ANSWERS.clear()
            k = 2 + i % 20
            t0 = time.perf_counter()
            at.slider(key="similar.k").set_value(k).run()
            times[kind].append(time.perf_counter() - t0)
            shown = [s.value for s in at.subheader]
            if at.exception or f"{k} nearest reference paintings" not in shown:
                raise RuntimeError(f"the Similar page did not answer: {at.exception or shown}")
    for kind, v in times.items():
        out[f"rerun_{kind}_ms"] = 1000 * statistics.median(v)
    return out


def script_compile(repeats: int = 30) -> list[dict[str, float]]:
    """What Streamlit's compile of each page costs with its "magic" (Streamlit's default) and without
    (the project's ``runner.magicEnabled = false``): its own script cache, emptied before each compile
    as when the last browser session has closed; ms, median of ``repeats``, per script."""
    from streamlit import config
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    root = Path(__file__).resolve().parent.parent
    scripts = [root / "app.py", *sorted((root / "pages").glob("*.py"))]
    before = config.get_option("runner.magicEnabled")
    rows = []
    try:
        for path in scripts:
            row: dict[str, float] = {}
            for magic in (True, False):
                config.set_option("runner.magicEnabled", magic)
                times = []
                for _ in range(repeats):
                    cache = ScriptCache()
                    t0 = time.perf_counter()
                    cache.get_bytecode(str(path))
                    times.append((time.perf_counter() - t0) * 1000)
                row["magic_ms" if magic else "plain_ms"] = statistics.median(times)
            rows.append({"script": str(path.relative_to(root)), **row})
    finally:
        config.set_option("runner.magicEnabled", before)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--bundle", type=Path, default=config.artifacts_dir("demo"), help="source bundle to scale"
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000], help="first = baseline")
    ap.add_argument("--clicks", type=int, default=5, help="points clicked per size (median reported)")
    ap.add_argument("--loads", type=int, default=3, help="warm page loads per size (median reported)")
    ap.add_argument("--sessions", type=int, default=0, help="simultaneous Similar uploads (0 = skip)")
    ap.add_argument("--json", action="store_true", help="print results as JSON")
    ap.add_argument("--breakdown", action="store_true", help="where Explore's first render goes")
    ap.add_argument(
        "--only", default="", help="--breakdown: the rows whose name holds this text (A|B: either)"
    )
    ap.add_argument(
        "--repeats", type=int, default=3, help="--breakdown: page loads per row (median reported)"
    )
    ap.add_argument(
        "--pure-python-server", action="store_true", help="serve the app without uvloop and httptools"
    )
    ap.add_argument(
        "--streamlit-option",
        action="append",
        default=[],
        metavar="SECTION.OPTION=VALUE",
        help="serve the app with this Streamlit setting too (over .streamlit/config.toml), e.g. "
        "server.fileWatcherType=auto",
    )
    ap.add_argument(
        "--peer",
        metavar="PYTHON",
        help="also time Renumics Spotlight, run by this interpreter, in the same run",
    )
    ap.add_argument(
        "--first-view",
        action="store_true",
        help="Explore with its first view in the page against without it, alternating (first size)",
    )
    ap.add_argument(
        "--prerender",
        action="store_true",
        help="Explore with its map in its HTML page (prerender.py) against without it, alternating (first size)",
    )
    ap.add_argument(
        "--timeline", action="store_true", help="when each step of /explore's page load happens (first size)"
    )
    ap.add_argument("--upload", action="store_true", help="server-side upload -> classified + neighbours")
    ap.add_argument("--queries", type=int, default=10, help="uploads timed per size (--upload)")
    ap.add_argument(
        "--home", action="store_true", help="Home drawn in a fresh browser, against a bare Streamlit page"
    )
    ap.add_argument(
        "--first-upload",
        type=int,
        default=0,
        metavar="N",
        help="Similar: the first upload after the server starts (N fresh servers), against a second upload",
    )
    ap.add_argument("--pick-s", type=float, default=5.0, help="seconds to choose a file (--first-upload)")
    ap.add_argument(
        "--similar-reruns",
        type=int,
        default=0,
        metavar="N",
        help="Similar page: N reruns after a neighbour-count change, answer remembered vs worked out again",
    )
    ap.add_argument(
        "--compile",
        action="store_true",
        help="Streamlit's compile of each page with its magic and without (the project's setting)",
    )
    args = ap.parse_args(argv)

    if args.compile:
        rows = script_compile()
        print("| script | compile with magic (ms) | without (ms) | with / without |\n|---|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['script']} | {r['magic_ms']:.1f} | {r['plain_ms']:.1f} | x{r['magic_ms'] / r['plain_ms']:.1f} |"
            )
        total = {k: sum(r[k] for r in rows) for k in ("magic_ms", "plain_ms")}
        print(f"all scripts: {total['magic_ms']:.1f} ms with magic, {total['plain_ms']:.1f} ms without "
              f"(x{total['magic_ms'] / total['plain_ms']:.1f})")  # fmt: skip
        return 0

    if args.breakdown:
        res, with_controls, last_script = breakdown(
            args.bundle, repeats=args.repeats, only=args.only, peer=args.peer
        )
        print("| page, fresh browser context | first render (s) | controls drawn too (s) | its last script file "
              "arrived (s) |")  # fmt: skip
        print("|---|---:|---:|---:|")
        for k, v in res.items():
            ctl = f"{with_controls[k]:.2f}" if k in with_controls else ""
            print(f"| {k} | {v:.2f} | {ctl} | {last_script[k]:.2f} |")
        for page in ("bare page", "Explore"):
            pure = f"{page}, pure-Python server (no uvloop, no httptools)"
            if page in res and pure in res:
                print(f"{page}: {res[pure]:.2f} s on the pure-Python server, {res[page]:.2f} s with uvloop and "
                      f"httptools ({res[pure] / res[page]:.2f}x)")  # fmt: skip
        if args.only:
            return 0
        chrome = res["bare page"]
        plotly_chart = res["bare page + st.plotly_chart"] - chrome
        component = res["bare page + chart component"] - chrome
        page = res["Explore"] - res["bare page + chart component"]
        print(
            f"page chrome {chrome:.2f} s; a chart by st.plotly_chart {plotly_chart:.2f} s, by the chart component "
            f"{component:.2f} s ({plotly_chart / component:.1f}x faster); the rest of Explore {page:.2f} s"
        )
        return 0
    if args.timeline:
        with tempfile.TemporaryDirectory(prefix="artextract-bench-app-") as tmp:
            n = args.sizes[0]
            bundle = scale_bundle(args.bundle, Path(tmp) / f"b{n}", n)
            (Path(tmp) / "data").mkdir()
            t = timeline(bundle, Path(tmp) / "data", max(1, args.loads))
        print(f"{n:,} paintings, /explore in a fresh browser context, median of {max(1, args.loads)} loads "
              f"(ms from navigation start, by the page's clock):")  # fmt: skip
        print("| step | at (ms) | since the step before (ms) |\n|---|---:|---:|")
        prev = 0.0
        for key, label in TIMELINE_ROWS:
            print(f"| {label} | {t[key]:.0f} | {t[key] - prev:.0f} |")
            prev = t[key]
        print(
            f"main thread's long tasks until then: {t['long']:.0f} ms; calls to /_stcore/health: {t['probes']:.0f}"
        )
        return 0
    if args.first_view:
        with tempfile.TemporaryDirectory(prefix="artextract-bench-app-") as tmp:
            n = args.sizes[0]
            bundle = scale_bundle(args.bundle, Path(tmp) / f"b{n}", n)
            (Path(tmp) / "data").mkdir()
            r = first_view_ab(bundle, Path(tmp) / "data", max(1, args.loads), args.peer)
        print(
            f"{int(r['paintings']):,} paintings, /explore in a fresh browser context, median of {max(1, args.loads)} "
            "loads each, by the page's clock:"
        )
        print("| Explore | map on screen (s) | plotly's map drawn (s) |\n|---|---:|---:|")
        print(f"| first view in the page (as served) | {r['shown_on_s']:.2f} | {r['interactive_on_s']:.2f} |")
        print(
            f"| without it (`{'ARTEXTRACT_FIRST_VIEW'}=0`) | {r['shown_off_s']:.2f} | {r['interactive_off_s']:.2f} |"
        )
        print(f"| from Home by the sidebar link (from the click), with it | {r['shown_home_on_s']:.2f} | "
              f"{r['interactive_home_on_s']:.2f} |")  # fmt: skip
        print(f"| from Home, without it | {r['shown_home_off_s']:.2f} | {r['interactive_home_off_s']:.2f} |")
        line = (
            f"map on screen x{r['shown_off_s'] / r['shown_on_s']:.2f} sooner with the first view; plotly's map "
            f"{r['interactive_on_s'] / r['interactive_off_s']:.2f}x the time without it; from Home, the map "
            f"x{r['shown_home_off_s'] / r['shown_home_on_s']:.2f} sooner, plotly's map "
            f"{r['interactive_home_on_s'] / r['interactive_home_off_s']:.2f}x the time"
        )
        if "peer_s" in r:
            line += f"; Spotlight {r['peer_s']:.2f} s (ours x{r['shown_on_s'] / r['peer_s']:.2f} of it)"
        print(line)
        return 0
    if args.prerender:
        with tempfile.TemporaryDirectory(prefix="artextract-bench-app-") as tmp:
            n = args.sizes[0]
            bundle = scale_bundle(args.bundle, Path(tmp) / f"b{n}", n)
            (Path(tmp) / "data").mkdir()
            r = first_view_ab(bundle, Path(tmp) / "data", max(1, args.loads), args.peer, env=PRERENDER_ENV)
        print(
            f"{int(r['paintings']):,} paintings, /explore in a fresh browser context, median of {max(1, args.loads)} "
            "loads each, by the page's clock:"
        )
        print(
            "| Explore | map painted (s) | map on screen, as a check polled from the page saw it (s) "
            "| plotly's map drawn (s) |\n|---|---:|---:|---:|"
        )
        for label, name in (
            ("on", "map in its HTML page (as served)"),
            ("off", f"without it (`{PRERENDER_ENV}=0`)"),
        ):
            print(f"| {name} | {r[f'painted_{label}_s']:.2f} | {r[f'shown_{label}_s']:.2f} | "
                  f"{r[f'interactive_{label}_s']:.2f} |")  # fmt: skip
        line = (
            f"map painted x{r['painted_off_s'] / r['painted_on_s']:.2f} sooner with it (seen by the check "
            f"x{r['shown_off_s'] / r['shown_on_s']:.2f} sooner); plotly's map "
            f"{r['interactive_on_s'] / r['interactive_off_s']:.2f}x the time without it"
        )
        if "peer_s" in r:
            line += (
                f"; Spotlight {r['peer_s']:.2f} s (ours x{r['painted_on_s'] / r['peer_s']:.2f} of it painted, "
                f"x{r['shown_on_s'] / r['peer_s']:.2f} seen by the check)"
            )
        print(line)
        return 0
    if args.home:
        with tempfile.TemporaryDirectory() as tmp:
            r = home_render(args.bundle, Path(tmp), max(1, args.loads))
        print(
            f"Home drawn in a fresh browser context (numbers, table and links), median of {args.loads} loads: "
            f"{r['home_s']:.2f}s vs a bare Streamlit page {r['bare_page_s']:.2f}s in the same run "
            f"(x{r['home_s'] / r['bare_page_s']:.2f}); the first load after the server started "
            f"{r['home_first_load_s']:.2f}s"
        )
        return 0
    if args.first_upload:
        with tempfile.TemporaryDirectory() as tmp:
            r = first_upload(args.bundle, Path(tmp), args.first_upload, args.pick_s)
        print(
            f"Similar, the first upload after the server starts ({args.pick_s:.0f} s to pick a file; median of "
            f"{args.first_upload} servers): {r['first_upload_s']:.2f}s to every neighbour drawn, against "
            f"{r['second_upload_s']:.2f}s for the upload after it (x{r['first_upload_s'] / r['second_upload_s']:.2f})"
        )
        return 0
    if args.similar_reruns:
        r = similar_reruns(args.bundle, args.similar_reruns)
        print(
            f"Similar page, a {r['megapixels']:.0f}-megapixel upload ({r['upload_mb']:.1f} MB JPEG), rerun after "
            f"the neighbour count changes (median of {args.similar_reruns}): {r['rerun_remembered_ms']:.0f} ms "
            f"with its answer remembered vs {r['rerun_forgotten_ms']:.0f} ms worked out again "
            f"(x{r['rerun_forgotten_ms'] / r['rerun_remembered_ms']:.1f} faster)"
        )
        return 0
    if args.upload:
        rows = upload_latency(args.bundle, args.sizes, args.queries)
        print(pd.DataFrame(rows).set_index("reference").to_string(float_format=lambda v: f"{v:.1f}"))
        for r in rows[1:]:
            print(
                f"{r['reference']:,} vs {rows[0]['reference']:,} reference paintings: upload -> classified + "
                f"neighbours {r['total_ms']:.0f} ms vs {rows[0]['total_ms']:.0f} ms "
                f"(x{r['total_ms'] / rows[0]['total_ms']:.2f}); goal under 500 ms: "
                f"{'met' if r['total_ms'] < 500 else 'NOT met'}"
            )
        return 0

    results = []
    with tempfile.TemporaryDirectory(prefix="artextract-bench-app-") as tmp:
        for i, n in enumerate(args.sizes):
            t0 = time.perf_counter()
            bundle = scale_bundle(args.bundle, Path(tmp) / f"b{n}", n)
            print(f"[{n:,} paintings] scaled bundle in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            data = Path(tmp) / f"data{n}"
            data.mkdir()
            res = measure(
                bundle,
                data,
                args.clicks,
                args.sessions if i == len(args.sizes) - 1 else 0,
                pure_python=args.pure_python_server,
                loads=args.loads,
                peer=args.peer,
                options=tuple(
                    arg
                    for opt in args.streamlit_option
                    for arg in (f"--{opt.split('=', 1)[0]}", opt.split("=", 1)[-1])
                ),
            )
            results.append(res)
            print(f"[{n:,} paintings] {res}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    df = pd.DataFrame(results).drop(columns="click_to_inspector_each_s").set_index("paintings")
    print(df.to_string(float_format=lambda v: f"{v:.2f}"))
    base = results[0]
    for r in results[1:]:
        print(
            f"{r['paintings']:,} vs {base['paintings']:,} paintings: first render (warm) "
            f"{r['first_render_warm_s']:.2f}s vs {base['first_render_warm_s']:.2f}s "
            f"(x{r['first_render_warm_s'] / base['first_render_warm_s']:.1f}); click -> inspector "
            f"{r['click_to_inspector_median_s']:.2f}s vs {base['click_to_inspector_median_s']:.2f}s"
        )
    for r in results:
        if "peer_first_render_warm_s" in r:
            print(
                f"{r['paintings']:,} paintings: Explore's first render (warm) {r['first_render_warm_s']:.2f}s vs "
                f"Spotlight's {r['peer_first_render_warm_s']:.2f}s, same run (x{r['ours_vs_peer']:.2f}); by the "
                f"pages' clocks {r['first_render_warm_in_page_s']:.2f}s vs {r['peer_first_render_warm_in_page_s']:.2f}s "
                f"(x{r['ours_vs_peer_in_page']:.2f}); Explore's map painted at {r['first_render_warm_painted_s']:.2f}s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
