"""The app's charts (the Explore map, the Confusion matrices) as a small Streamlit component.

Streamlit's ``st.plotly_chart`` loads all of plotly.js, a 4.7 MB script that takes about a second to
compile in a fresh browser on 2 cores, before it draws anything. This component draws the same plotly
figures with a 1.5 MB build of plotly.js that holds only the traces the app uses: ``scatter`` (SVG),
``scattergl`` (WebGL) and ``heatmap`` (``static/chart/``, built by ``scripts/plotly-bundle``), in a
component frame. A map (a figure with fixed axis ranges, :func:`figures.scatter_figure`) is on screen
before that script has even run: the frame draws it on a canvas first, at the places plotly then draws
it, with its legend in HTML under it (``static/chart/chart.js``). It reports a click, a lasso or a box in ``st.plotly_chart``'s selection shape
(``{"selection": {"points": [{"customdata": ...}, ...]}}``), so the pages' callbacks read it unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

FRONTEND = Path(__file__).resolve().parent / "static" / "chart"

_component = components.declare_component("plotly_chart", path=str(FRONTEND))

#: The component frame's title in the page (what browser tests and the benchmark look for).
FRAME_TITLE = "artextract.app.chart.plotly_chart"


def spec_id(spec: str) -> str:
    """A short fingerprint of a figure's JSON: what a rerun sends instead of the figure it already sent."""
    return hashlib.blake2b(spec.encode("utf-8"), digest_size=12).hexdigest()


def on_value(state: MutableMapping[str, Any], key: str) -> bool:
    """Take in a new value of the chart ``key`` (``state``: the session state); True when it is the
    curator's (a click, a lasso, a box, a clear), for the page's ``on_change``.

    ``{"need": ...}``: the frame lost its figure, so the next run sends it whole. ``{"drawn": ...}``: the
    frame's first figure is on screen (or could not be drawn). Any value but ``need`` also says the
    map is there: a click may reach Python in place of the "drawn" report it followed (Streamlit keeps
    only a widget's latest value between runs), and the page must not wait for that report forever.
    """
    value = state.get(key)
    if isinstance(value, dict) and value.get("need"):
        state.pop(f"{key}.sent", None)
        return False
    state[f"{key}.drawn"] = True
    return not (isinstance(value, dict) and "drawn" in value)


def is_new(key: str) -> bool:
    """Whether the chart ``key`` is not on the page yet (its frame is made by this run: a page load, or
    the page reached from another): the component's own state outlives a run only while it is shown."""
    import streamlit as st

    return key not in st.session_state


def plotly_chart(
    spec: str,
    *,
    key: str,
    height: int,
    on_change: Callable[[], None] | None = None,
    config: dict[str, Any] | None = None,
    mark: tuple[int, float, float] | None = None,
    report_drawn: bool = False,
) -> Any:
    """Draw the figure ``spec`` (plotly JSON, see :func:`figures.scatter_json`) ``height`` px tall.

    Returns the last selection (also in ``st.session_state[key]``); ``on_change`` runs when the
    curator clicks a point or cell, draws a lasso or a box, or clears the selection (double-click).
    ``mark``: ``(row, x, y)`` of the painting to ring on a map (the one open in the inspector), or None.
    ``report_drawn``: the frame says once when its first figure is on screen (a map's first view on a
    canvas, or plotly's drawing) or could not be drawn;
    that reruns the page with ``st.session_state[f"{key}.drawn"]`` set, without calling ``on_change``
    (see :func:`on_value`: a click that replaces the report says the same, :func:`state.map_before_controls`).

    The figure travels once: while the component stays on the page, a rerun with the same figure sends
    only its fingerprint (at 100,000 paintings the figure is 6 MB, and every click reruns the page). A
    frame that no longer holds that figure asks for it, and the next run sends it whole.
    """
    import streamlit as st

    fid = spec_id(spec)
    sent_key = f"{key}.sent"
    # a new frame (is_new) gets the figure whole
    held = not is_new(key) and st.session_state.get(sent_key) == fid
    st.session_state[sent_key] = fid

    def changed() -> None:
        if on_value(st.session_state, key) and on_change is not None:
            on_change()

    return _component(
        spec=None if held else spec,
        spec_id=fid,
        height=int(height) + 10,
        config=config or {},
        mark=None if mark is None else {"row": int(mark[0]), "x": float(mark[1]), "y": float(mark[2])},
        report_drawn=bool(report_drawn),
        key=key,
        default=None,
        on_change=changed,
    )
