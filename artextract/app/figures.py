"""Plotly figure builders: bundle data in, a figure dict out (no streamlit).

``customdata`` of every point carries what a click must map back to (a bundle row, or a confusion cell's
class indices), so the pages turn a selection into paintings without searching.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from ..bundle import Bundle
from .data import artist_column, bundle_cached, confusion_matrix, pretty_label

#: Categorical colourings show the most frequent classes; the rest are drawn grey as "(other)".
MAX_LEGEND = 20

#: Up to this many points the map is SVG (drawn in about 0.15 s per 1,000 in a fresh browser);
#: above it WebGL, whose set-up costs about 0.4 s in a browser without a GPU, whatever the count.
SVG_MAX_POINTS = 3000


OTHER = "(other)"


#: Class colours, in the order classes are given them: each as far from the ones before it as could be
#: found (CIE Lab), and none near the rings' red, purple and grey, so a flagged painting stands out in
#: any class (test_ui checks both).
# fmt: off
PALETTE = (
    "#4C78A8", "#FFA600", "#2CA02C", "#CF1C90", "#FF9DA6",
    "#BCBD22", "#17BECF", "#FFBE7D", "#8C564B", "#11A579",
    "#9467BD", "#98DF8A", "#E377C2", "#D4A6C8", "#003F5C",
    "#B6992D", "#FF7F0E", "#4B4B8F", "#008695", "#D37295",
)
# fmt: on
#: Greys are kept for points that get no name: "(other)", "(unlabelled)" and "none of the N ... it knows".


VERDICT_COLOURS = {"to review": "#D62728", "confirmed": "#7B1FA2", "dismissed": "#757575"}


def _hover_text(items: pd.DataFrame) -> np.ndarray:
    import html

    title = items["title"].fillna("").astype(str).replace("", "(untitled)")
    artist = artist_column(items).replace("", "unknown artist")
    # plotly renders a subset of HTML in hover labels: catalog text is shown as text
    return np.array([html.escape(t) for t in (title + " — " + artist)], dtype=object)


#: How a painting the open-set check stops reads in the "Predicted <attribute>" legend.
NONE_OF_PREFIX = "none of the "


def _open_set_labels(b: Bundle, key: str, colour: str, idx: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``Predicted <attribute>`` of a head with an open-set check: paintings it stops read "none of the N
    <attribute>s it knows" instead of the name the head alone would give (as in the inspector)."""
    if not colour.startswith("pred_"):
        return labels
    from ..analysis.open_set import stops
    from .data import stopped_label
    from .models import bundle_p_known, gate_stamp, open_set_gate

    gate, _ = open_set_gate(b)
    if gate is None or colour != f"pred_{gate.attribute}":
        return labels
    p = bundle_p_known(b, key, gate_stamp(b))
    if p is None:
        return labels
    stopped = stops(np.asarray(p)[idx], gate.threshold)
    return np.where(stopped, stopped_label(gate.attribute, len(gate.classes)), labels)


#: The map's axes: no ticks, grid or titles (map coordinates have no units), so the plot area is the
#: figure less its margins.
AXIS = {"showticklabels": False, "showgrid": False, "zeroline": False, "title": None, "autorange": False}

#: Room around the outermost points, as a share of the span (a ring around an edge point stays whole).
RANGE_PAD = 0.04


def axis_range(v: np.ndarray) -> list[float]:
    """A map axis's range: the points' span and ``RANGE_PAD`` of it each side (1 each side when every point
    has the same value, or there are none)."""
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if len(v) else (0.0, 0.0)
    pad = (hi - lo) * RANGE_PAD or 1.0
    return [lo - pad, hi + pad]


@bundle_cached(16)
def scatter_figure(
    _b: Bundle,
    key: str,
    projection: str,
    colour: str,
    rows: tuple[int, ...] | None,
    threshold: float,
    verdict_sig: tuple[tuple[str, str], ...] = (),
    height: int = 620,
    open_set: int = 0,
) -> dict[str, Any]:
    """The Explore map as a plotly figure dict: points (SVG, or WebGL above ``SVG_MAX_POINTS``), one
    trace per colour class, and rings.

    ``customdata`` of every point is its bundle row, so a click or lasso maps straight back to
    paintings. Flagged paintings (score >= ``threshold``) get a ring coloured by their review verdict.
    Built once per (bundle, options) and cached; no per-point Python work. ``open_set``: the open-set
    gate's stamp (:func:`models.gate_stamp`), so "Predicted artist" follows a refitted gate.
    """
    import plotly.graph_objects as go

    items = _b.items
    idx = np.arange(len(items)) if rows is None else np.asarray(rows, dtype=np.int64)
    sub = items.iloc[idx]
    x = sub[f"{projection}_x"].to_numpy(dtype=np.float32)
    y = sub[f"{projection}_y"].to_numpy(dtype=np.float32)
    hover = _hover_text(sub)
    cdata = idx.astype(np.int32)
    marker_size = 6 if len(idx) < 5000 else (4 if len(idx) < 30000 else 3)
    hovertemplate = "%{hovertext}<extra></extra>"
    vmap = dict(verdict_sig)
    traces: list[Any] = []
    trace = go.Scatter if len(idx) <= SVG_MAX_POINTS else go.Scattergl

    def points(m: np.ndarray, **kw: Any) -> Any:
        """One marker trace of the points selected by mask ``m`` (row in ``customdata``)."""
        return trace(x=x[m], y=y[m], mode="markers", customdata=cdata[m], hovertext=hover[m], **kw)

    if colour in ("outlier_score",) or colour.startswith("conf_"):
        val = sub[colour].to_numpy(dtype=np.float32)
        traces.append(
            trace(
                x=x,
                y=y,
                mode="markers",
                customdata=cdata,
                hovertext=hover,
                hovertemplate=hovertemplate,
                name=colour,
                showlegend=False,
                marker={
                    "size": marker_size,
                    "color": val,
                    "colorscale": "YlOrRd",
                    "cmin": 0.0,
                    "cmax": 1.0,
                    "colorbar": {"title": {"text": "outlier" if colour == "outlier_score" else "conf."}},
                    "opacity": 0.85,
                },
            )
        )
    else:
        if colour == "_verdict":
            labels = sub["id"].map(vmap).fillna("").to_numpy(dtype=object)
            labels = np.where(labels == "", "no verdict", labels)
        else:
            labels = sub[colour].fillna("").astype(str).replace("", "(unlabelled)").to_numpy(dtype=object)
            labels = _open_set_labels(_b, key, colour, idx, labels)
        counts = pd.Series(labels).value_counts()
        top = counts.index[:MAX_LEGEND].tolist()
        if len(counts) > MAX_LEGEND:
            labels = np.where(pd.Series(labels).isin(top).to_numpy(), labels, OTHER)
            top.append(OTHER)
        for i, lab in enumerate(sorted(top, key=lambda s: (s == OTHER, s))):
            m = labels == lab
            colour_hex = "#C8C8C8" if lab == OTHER else PALETTE[i % len(PALETTE)]
            if lab.startswith(NONE_OF_PREFIX):
                colour_hex = "#9E9E9E"  # no name given: grey, like "(other)"
            elif lab == "(unlabelled)":
                colour_hex = "#E0E0E0"
            if colour.startswith("correct_"):
                colour_hex = {"yes": "#54A24B", "no": "#E45756"}.get(lab, "#C8C8C8")
            traces.append(
                points(
                    m,
                    hovertemplate=hovertemplate,
                    name=f"{pretty_label(lab)} ({int(m.sum())})",
                    marker={"size": marker_size, "color": colour_hex, "opacity": 0.8},
                    unselected={"marker": {"opacity": 0.3}},
                )
            )

    flagged = sub["outlier_score"].to_numpy(dtype=float) >= threshold
    if flagged.any():
        status = sub["id"].map(vmap).fillna("to review").to_numpy(dtype=object)
        for lab, hexc in VERDICT_COLOURS.items():
            m = flagged & (status == lab)
            if not m.any():
                continue
            traces.append(
                points(
                    m,
                    hovertemplate="⚑ %{hovertext}<extra></extra>",
                    name=f"flagged: {pretty_label(lab)} ({int(m.sum())})",
                    marker={
                        # thinner, tighter rings on big maps, where thousands of them would hide the points
                        "size": marker_size + (8 if len(idx) < 5000 else 3),
                        "symbol": "circle-open",
                        "color": hexc,
                        "line": {"width": 2 if len(idx) < 5000 else 1, "color": hexc},
                    },
                )
            )

    fig = go.Figure(traces)
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        # drag pans, a click opens the painting under the cursor; lasso and box are on the mode bar.
        # An SVG map also selects it (dimming the rest); a WebGL one does not (about 0.5 s at 100,000
        # points), its chart component rings the painting instead.
        dragmode="pan",
        clickmode="event+select" if trace is go.Scatter else "event",
        hovermode="closest",
        uirevision=f"{projection}",
        # the chart component draws the legend in HTML under the map (the map gets the column's whole
        # width), and a first view of the map before plotly.js has run: on these fixed axis ranges,
        # where plotly draws it next (artextract/app/static/chart/chart.js)
        showlegend=False,
        meta={"legend": "html"},
        xaxis={"range": axis_range(x), **AXIS},
        yaxis={"range": axis_range(y), **AXIS},
        plot_bgcolor="white",
    )
    return fig.to_dict()


def _json(fig: dict[str, Any]) -> str:
    import plotly.io as pio

    return pio.to_json(fig, validate=False)


@bundle_cached(16)
def scatter_json(_b: Bundle, key: str, *options: Any) -> str:
    """:func:`scatter_figure` of the same arguments as plotly JSON (arrays as base64 typed arrays): what
    the chart component draws. Cached, so a rerun with the same options neither rebuilds nor re-encodes it."""
    return _json(scatter_figure(_b, key, *options))


@bundle_cached(32)
def confusion_json(_b: Bundle, key: str, *options: Any) -> str:
    """:func:`confusion_figure` of the same arguments as plotly JSON, cached like :func:`scatter_json`."""
    return _json(confusion_figure(_b, key, *options))


@bundle_cached(32)
def confusion_figure(_b: Bundle, key: str, attr: str, normalise: bool) -> dict[str, Any]:
    """Heatmap of the confusion matrix with a transparent clickable marker on every cell.

    Plotly heatmaps do not report selections, so each cell also carries a square scatter marker
    (``customdata = [true, predicted]`` class indices) that a click selects.
    """
    import plotly.graph_objects as go

    shown, counts, classes = confusion_matrix(_b, attr, normalise)
    c = len(classes)
    ti, pi = np.meshgrid(np.arange(c), np.arange(c), indexing="ij")
    text = np.where(counts > 0, (np.round(shown, 2) if normalise else counts).astype(str), "")
    classes = [pretty_label(c) for c in classes]
    heat = go.Heatmap(
        z=shown,
        x=classes,
        y=classes,
        colorscale="Blues",
        hoverinfo="skip",
        text=text if c <= 30 else None,
        texttemplate="%{text}" if c <= 30 else None,
        colorbar={"title": {"text": "share of row" if normalise else "paintings"}},
    )
    cells = go.Scatter(
        x=[classes[j] for j in pi.ravel()],
        y=[classes[i] for i in ti.ravel()],
        mode="markers",
        marker={"symbol": "square", "size": max(8, min(40, 600 // max(c, 1))), "opacity": 0.0},
        customdata=np.stack([ti.ravel(), pi.ravel(), counts.ravel()], axis=1),
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata[2]} painting(s)<extra>click to open</extra>",
        showlegend=False,
    )
    fig = go.Figure([heat, cells])
    side = max(360, min(900, 60 + 32 * c))
    fig.update_layout(
        height=side,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        # automargin: the class names get the room they need (Streamlit's theme used to set it).
        # The ranges are the matrix's own: plotly's autorange pads the axes for the clickable markers,
        # which left an empty row above and below the matrix and columns beside it, crossed by grid lines.
        xaxis={
            "title": {"text": "predicted"},
            "side": "top",
            "type": "category",
            "automargin": True,
            "range": [-0.5, c - 0.5],
            "autorange": False,
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={
            "title": {"text": "true (catalog)"},
            "range": [c - 0.5, -0.5],  # the first class on top
            "autorange": False,
            "type": "category",
            "automargin": True,
            "showgrid": False,
            "zeroline": False,
        },
        clickmode="event+select",
        dragmode=False,
    )
    return fig.to_dict()


#: Maps of up to this many paintings get a first view in the page itself (:func:`first_view_html`)
FIRST_VIEW_MAX_POINTS = 5000
#: ... and it hides itself this long after it is drawn, should the page never drop it
FIRST_VIEW_HIDE_S = 10
#: ``0`` turns the first view off (the map then shows when its chart component first draws it)
FIRST_VIEW_ENV = "ARTEXTRACT_FIRST_VIEW"


def first_view_wanted() -> bool:
    """Whether a page load draws the map's first view in the page (``$ARTEXTRACT_FIRST_VIEW`` not ``0``)."""
    import os

    return os.environ.get(FIRST_VIEW_ENV, "1").strip() != "0"


def _typed(a: Any) -> np.ndarray | None:
    """A figure's array as numpy: a plain list, or plotly.py's base64 typed array (``{dtype, bdata}``)."""
    import base64

    try:
        if isinstance(a, list):
            return np.array([np.nan if v is None else v for v in a], dtype=float)
        if isinstance(a, dict) and isinstance(a.get("bdata"), str) and "shape" not in a:
            return np.frombuffer(base64.b64decode(a["bdata"]), dtype=np.dtype(a["dtype"])).astype(float)
    except (TypeError, ValueError):
        pass
    return None


def _colour(c: Any) -> bool:
    """A colour the first view writes into its markup as it is: ``#rgb``/``#rrggbb`` or a plain name."""
    import re

    return isinstance(c, str) and re.fullmatch(r"#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6}|[a-z]{3,20}", c) is not None


@functools.lru_cache(maxsize=8)
def _first_view(spec: str) -> tuple[str, int, tuple[float, ...], tuple[int, ...], tuple[str, str]] | None:
    """What :func:`first_view_html` draws of a figure: its markers as SVG in trace order (a trace of dots
    as one path on the plot area, a trace of rings as circles at percentages of it: either way any
    width gives plotly's places), the number of paintings they show (rings not counted), the axis
    ranges ``(x0, x1, y0, y1)``, ``(left, right, top, bottom, height)`` of the plot area in px and the
    figure's and the plot area's background colours. None
    for a figure that is not a map of one-colour circle markers on fixed axes, or of more than
    :data:`FIRST_VIEW_MAX_POINTS` paintings."""
    import json

    fig = json.loads(spec)
    lay = fig.get("layout", {})
    xr, yr = (lay.get(a, {}).get("range") for a in ("xaxis", "yaxis"))
    if not xr or not yr or xr[1] == xr[0] or yr[1] == yr[0]:
        return None
    parts, shown = [], 0
    for t in fig.get("data", []):
        m = t.get("marker", {})
        if t.get("visible") in (False, "legendonly"):
            continue
        if t.get("type") not in (None, "scatter", "scattergl") or t.get("mode") != "markers":
            return None
        symbol = m.get("symbol", "circle")
        colour, stroke = m.get("color"), m.get("line", {}).get("color", m.get("color"))
        if not (_colour(colour) and _colour(stroke)) or symbol not in ("circle", "circle-open"):
            return None
        x, y = _typed(t.get("x")), _typed(t.get("y"))
        if x is None or y is None or len(x) != len(y):
            return None
        px = (x - xr[0]) / (xr[1] - xr[0]) * 100
        py = (1 - (y - yr[0]) / (yr[1] - yr[0])) * 100
        ok = np.isfinite(px) & np.isfinite(py)  # plotly draws no point without both coordinates
        px, py = px[ok], py[ok]
        if symbol == "circle":
            shown += len(x)
            if shown > FIRST_VIEW_MAX_POINTS:
                return None
            # one path of dots (round caps of zero-length strokes, as wide as a marker in screen px) on a
            # plot area of 10,000 units each way, stretched to the chart's: one element, not one per point
            d = "".join(
                f"M{a} {b}h0"
                for a, b in zip(np.rint(px * 100).astype(int), np.rint(py * 100).astype(int), strict=True)
            )
            parts.append(
                '<svg viewBox="0 0 10000 10000" preserveAspectRatio="none" width="100%" height="100%">'
                f'<path d="{d}" fill="none" stroke="{colour}" stroke-opacity="{float(m.get("opacity", 1)):g}" '
                f'stroke-width="{float(m.get("size", 6)):g}" stroke-linecap="round" '
                'vector-effect="non-scaling-stroke"/></svg>'
            )
        else:
            r = f"{float(m.get('size', 6)) / 2:g}"
            g = f'<g fill="none" stroke="{stroke}" stroke-width="{float(m.get("line", {}).get("width", 1)):g}">'
            rings = (f'<circle cx="{a:.2f}%" cy="{b:.2f}%" r="{r}"/>' for a, b in zip(px, py, strict=True))
            parts.append(g + "".join(rings) + "</g>")
    mg = lay.get("margin", {})
    box = tuple(int(mg.get(k, d)) for k, d in (("l", 80), ("r", 80), ("t", 100), ("b", 80))) + (
        int(lay.get("height", 450)),
    )
    bgs = tuple(str(lay.get(k, "white")) for k in ("paper_bgcolor", "plot_bgcolor"))
    if not all(_colour(c) for c in bgs):
        return None
    return "".join(parts), shown, (float(xr[0]), float(xr[1]), float(yr[0]), float(yr[1])), box, bgs


def first_view_html(spec: str, mark: tuple[float, float] | None = None, *, offset: int = 16) -> str:
    """A map's first view in the page itself (HTML for ``st.html``), on screen as soon as the page's
    run arrives, while its chart component loads (a frame, its scripts, then plotly.js): the figure's
    markers as an SVG picture, drawn where plotly then draws them. It takes no height: put it just before
    the chart component (``offset``: the page's gap between the two, in px) and it covers the chart's
    place, letting clicks through to the chart under it. The chart hides it once it has drawn the map
    (``static/chart/chart.js``) and the page's next run drops it; should neither happen, it hides
    itself after :data:`FIRST_VIEW_HIDE_S` seconds, so it never hides the chart's own messages for long.
    ``mark``: ``(x, y)`` of the painting to ring (the one open in the inspector). ``""`` for a figure it
    does not draw (:func:`_first_view`)."""
    import base64

    view = _first_view(spec)
    if view is None:
        return ""
    svg, shown, (x0, x1, y0, y1), (left, right, top, bottom, height), (paper, bg) = view
    ring = ""
    if mark is not None:
        mx, my = (mark[0] - x0) / (x1 - x0) * 100, (1 - (mark[1] - y0) / (y1 - y0)) * 100
        ring = f'<circle cx="{mx:.2f}%" cy="{my:.2f}%" r="12" fill="none" stroke="#111" stroke-width="3"/>'
    doc = f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" height="100%">{svg}{ring}</svg>'
    src = "data:image/svg+xml;base64," + base64.b64encode(doc.encode("utf-8")).decode("ascii")
    return (
        "<style>@keyframes artextract-first-view-out{to{visibility:hidden}}</style>"
        f'<div class="artextract-first-view" data-points="{shown}" style="position:relative;height:0;'
        f'pointer-events:none;z-index:1;animation:artextract-first-view-out 0s {FIRST_VIEW_HIDE_S}s forwards">'
        f'<div style="position:absolute;left:0;right:0;top:{offset}px;height:{height}px;background:{paper}">'
        f'<img alt="" elementtiming="artextract-map" src="{src}" style="position:absolute;left:{left}px;top:{top}px;'
        f'width:calc(100% - {left + right}px);height:{height - top - bottom}px;max-width:none;background:{bg}">'
        "</div></div>"
    )
