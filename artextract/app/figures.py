"""Plotly figure builders: bundle data in, a figure dict out (no streamlit).

``customdata`` of every point carries what a click must map back to (a bundle row, or a confusion cell's
class indices), so the pages turn a selection into paintings without searching.
"""

from __future__ import annotations

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
        # automargin: the class names get the room they need (Streamlit's theme used to set it)
        xaxis={"title": {"text": "predicted"}, "side": "top", "type": "category", "automargin": True},
        yaxis={
            "title": {"text": "true (catalog)"},
            "autorange": "reversed",
            "type": "category",
            "automargin": True,
        },
        clickmode="event+select",
        dragmode=False,
    )
    return fig.to_dict()
