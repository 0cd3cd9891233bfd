"""Session state, URL parameters and the bundle of this page (streamlit).

Session-state keys are namespaced by page (``"explore.focus"``, ``"confusion.style.focus"``, ...):
``<ns>.focus`` is the row shown in the inspector, ``<ns>.selected`` the rows of the last selection,
``<ns>.history`` the rows walked through via neighbour links.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from .. import review
from ..bundle import Bundle
from ..errors import BundleError
from .data import (
    BUNDLE_ENV,
    BundleInfo,
    _get,
    cell_from_selection,
    list_bundles,
    load_bundle,
    rows_from_selection,
)

REVIEWER_KEY = "review.reviewer"  # one name per browser session, shared by every page


def reviewer_name() -> str:
    return " ".join(str(st.session_state.get(REVIEWER_KEY, "") or "").split())


def reviewer_input() -> None:
    """The curator's name, asked once per browser session and recorded with every verdict."""
    if REVIEWER_KEY not in st.session_state:
        st.session_state[REVIEWER_KEY] = ""
    st.text_input(
        "Your name (recorded with each verdict)",
        key=REVIEWER_KEY,
        max_chars=review.MAX_REVIEWER_CHARS,
        placeholder="asked once per browser session",
    )


BUNDLE_KEY = "app.bundle"  # the bundle folder name this browser session looks at
_SWITCHER_KEY = "app.bundle_switcher"
_URL_PAINTING_KEY = "app.url_painting"  # the ?painting= value already applied (so it is applied once)
# what a link named that is not there, kept past the run that read the link: a page load that lands on a
# page with a map reruns it at once (its controls drawn once the map has), and a warning shown in one
# run only was gone before a curator could read it
_URL_MISSING_PAINTING_KEY = "app.url_missing_painting"  # (bundle name, painting id)
_URL_BUNDLE_NOTICE_KEY = "app.url_bundle_notice"  # [message, runs left to show it]
LANDING_KEY = "app.landing"  # the URL path of the page this browser session opened on (app.py sets it)


def _switch_bundle() -> None:
    st.session_state[BUNDLE_KEY] = st.session_state[_SWITCHER_KEY]
    st.query_params["bundle"] = st.session_state[_SWITCHER_KEY]
    st.query_params.pop("painting", None)  # a painting id belongs to the bundle it came from


def chosen_bundle(infos: Sequence[BundleInfo]) -> BundleInfo:
    """The bundle of this session: ``?bundle=`` when it names a listed one, else the last chosen, else the
    default (first). An unknown name is reported once and ignored: a URL names a bundle, never a path."""
    by_name = {i.name: i for i in infos}
    wanted = st.query_params.get("bundle")
    if wanted is not None and wanted not in by_name:
        # shown in this run and the next (a page with a map reruns at once to draw its controls)
        st.session_state[_URL_BUNDLE_NOTICE_KEY] = [
            f"No collection named {wanted!r}; showing {infos[0].name} instead.",
            2,
        ]
        st.query_params.pop("bundle", None)
        wanted = None
    notice = st.session_state.get(_URL_BUNDLE_NOTICE_KEY)
    if notice:
        st.warning(notice[0])
        notice[1] -= 1
        if notice[1] <= 0:
            st.session_state.pop(_URL_BUNDLE_NOTICE_KEY, None)
    if wanted is not None and wanted != st.session_state.get(BUNDLE_KEY):
        st.session_state[BUNDLE_KEY] = wanted
    name = st.session_state.get(BUNDLE_KEY)
    if name not in by_name:
        name = infos[0].name
        st.session_state[BUNDLE_KEY] = name
    return by_name[name]


def bundle_switcher(draw: bool = True) -> BundleInfo:
    """The sidebar's collection switcher (every page has it); the URL carries the chosen bundle's name.
    ``draw=False`` chooses the bundle the same way and leaves the switcher for a later run."""
    infos = list_bundles()
    info = chosen_bundle(infos)
    st.query_params["bundle"] = info.name
    if draw:
        _draw_switcher(infos, info)
    return info


def _draw_switcher(infos: Sequence[BundleInfo], info: BundleInfo) -> None:
    st.session_state[_SWITCHER_KEY] = info.name
    labels = {i.name: i.label() for i in infos}
    st.sidebar.selectbox(
        "Collection",
        [i.name for i in infos],
        key=_SWITCHER_KEY,
        format_func=lambda n: labels.get(n, n),
        on_change=_switch_bundle,
        help="Every bundle built under data/artifacts; the Collections page adds more.",
    )


def draw_switcher() -> None:
    """The sidebar's collection switcher, for a page that chose its bundle earlier in this run with
    ``current_bundle(switcher=False)`` (the bundle is not chosen again)."""
    infos = list_bundles()
    by_name = {i.name: i for i in infos}
    _draw_switcher(infos, by_name.get(st.session_state.get(BUNDLE_KEY)) or infos[0])


def current_bundle(switcher: bool = True) -> Bundle:
    """The bundle for this page, chosen in the sidebar's switcher (``switcher=False``: chosen the same
    way, the switcher left for a later run; see :func:`map_before_controls`).

    On a BundleError show the message and stop the page (the app stays up), the switcher drawn."""
    info = bundle_switcher(draw=switcher)
    try:
        return load_bundle(info.path)
    except BundleError as exc:
        if not switcher:  # the curator needs it to pick another collection
            _draw_switcher(list_bundles(), info)
        st.error(str(exc))
        st.caption(f"Bundle folder: `{info.path}` (set {BUNDLE_ENV} to open another by default).")
        st.stop()
        raise  # unreachable: st.stop raises


def focus_from_url(ns: str, b: Bundle) -> None:
    """Open the painting a shared link names (``?painting=<id>``) in the ``ns`` inspector, once. A painting
    the bundle does not have gets a warning, shown until the inspector opens a painting (or the
    collection changes)."""
    pid = st.query_params.get("painting")
    if pid and st.session_state.get(_URL_PAINTING_KEY) != (b.name, pid):
        st.session_state[_URL_PAINTING_KEY] = (b.name, pid)
        try:
            row = b.row_of(pid)
        except BundleError:
            st.session_state[_URL_MISSING_PAINTING_KEY] = (b.name, pid)
        else:
            st.session_state.pop(_URL_MISSING_PAINTING_KEY, None)
            focus_row(ns, row)
    missing = st.session_state.get(_URL_MISSING_PAINTING_KEY)
    if missing and missing[0] == b.name and st.session_state.get(f"{ns}.focus") is None:
        st.warning(f"The link names painting {missing[1]!r}, which is not in {b.name}.")


def painting_to_url(b: Bundle, row: int | None) -> None:
    """Put the inspected painting in the address bar, so the URL is a link to it."""
    if row is None:
        st.query_params.pop("painting", None)
        return
    pid = str(b.items.iloc[int(row)]["id"])
    st.session_state[_URL_PAINTING_KEY] = (b.name, pid)
    st.query_params["painting"] = pid


def share_link(b: Bundle, row: int, page: str = "explore") -> str:
    """An absolute link that opens painting ``row`` of ``b`` in the ``page`` inspector."""
    from urllib.parse import urlencode, urlsplit

    try:
        u = urlsplit(st.context.url or "")
        origin = f"{u.scheme}://{u.netloc}" if u.scheme and u.netloc else ""
    except Exception:  # no browser context (tests, bare mode)
        origin = ""
    query = urlencode({"bundle": b.root.name, "painting": str(b.items.iloc[int(row)]["id"])})
    return f"{origin}/{page}?{query}"


def _current(read, b: Bundle, what: str) -> dict[str, str]:
    """A verdict map of this bundle, read fresh (verdicts change under us); a warning if unreadable."""
    try:
        return read(b.name)
    except review.ReviewError as exc:
        st.warning(f"{what} unavailable: {exc}")
        return {}


def verdicts(b: Bundle) -> dict[str, str]:
    """Current verdict per painting id for this bundle."""
    return _current(review.verdict_map, b, "Review verdicts")


def pair_verdicts(b: Bundle) -> dict[str, str]:
    """Current verdict per near-duplicate pair of this bundle."""
    return _current(review.pair_verdict_map, b, "Pair verdicts")


def reviewers(b: Bundle) -> dict[str, str]:
    """Who made the current verdict on each painting of this bundle."""
    try:
        return review.reviewer_map(b.name)
    except review.ReviewError:
        return {}


def focus_row(ns: str, row: int | None, *, push: bool = True) -> None:
    """Show ``row`` in the ``ns`` inspector (remembering the previous one for Back)."""
    prev = st.session_state.get(f"{ns}.focus")
    st.session_state.pop(f"{ns}.unringed", None)  # opened again: the map rings it again
    if push and prev is not None and prev != row:
        hist = list(st.session_state.get(f"{ns}.history", []))[-20:]
        st.session_state[f"{ns}.history"] = [*hist, prev]
    st.session_state[f"{ns}.focus"] = row


def _go_back(ns: str) -> None:
    hist = list(st.session_state.get(f"{ns}.history", []))
    if hist:
        st.session_state.pop(f"{ns}.unringed", None)
        st.session_state[f"{ns}.focus"] = hist.pop()
        st.session_state[f"{ns}.history"] = hist


def map_before_controls(page: str, *chart_keys: str) -> bool:
    """Whether this run draws the page's map and holds its controls back until the map has drawn.

    Only on a page load that lands on ``page`` (a shared link, a bookmark, a reload): a fresh browser
    loads the script of each kind of Streamlit widget the first time one is shown, and the map's frame
    is put on the page only after them (the map came 0.1-0.4 s later, ``bench/app.py --breakdown``). The chart
    reports its first drawing (``chart.plotly_chart(report_drawn=True)``), which reruns the page with its
    controls at their first values, so the map is not drawn again. Arrived at from another page, the
    page draws its controls at once. Given several chart keys (a page with one chart per tab), until
    any of them has drawn.
    """
    return st.session_state.get(LANDING_KEY) == page and not any(
        st.session_state.get(f"{k}.drawn") for k in chart_keys
    )


def controls_now(chart_key: str) -> None:
    """A page that held its controls back has no map to draw after all: rerun it with its controls."""
    st.session_state[f"{chart_key}.drawn"] = True
    st.rerun()


def init_state(defaults: dict[str, Any]) -> None:
    """Initialise namespaced session-state keys once."""
    for k, v in defaults.items():
        if k not in st.session_state:
            st.session_state[k] = v


def selection_callback(ns: str, chart_key: str) -> Callable[[], None]:
    """on_select callback: copy the chart's selected rows into ``<ns>.selected`` and focus the first."""

    def _cb() -> None:
        rows = rows_from_selection(st.session_state.get(chart_key))
        st.session_state[f"{ns}.selected"] = rows
        if rows:
            focus_row(ns, rows[0])
        else:  # a double-click cleared the map: its ring too, while the inspector keeps the painting
            st.session_state[f"{ns}.unringed"] = st.session_state.get(f"{ns}.focus")

    return _cb


def table_callback(ns: str, table_key: str, rows: Sequence[int]) -> Callable[[], None]:
    """on_select callback of a single-row st.dataframe listing ``rows``: focus the picked one."""
    rows = list(rows)

    def _cb() -> None:
        state = st.session_state.get(table_key)
        picked = (_get(_get(state, "selection") or {}, "rows")) or []
        if picked and 0 <= int(picked[0]) < len(rows):
            focus_row(ns, rows[int(picked[0])])

    return _cb


def cell_callback(ns: str, chart_key: str) -> Callable[[], None]:
    """on_select callback of a confusion chart: remember the clicked cell, open its first painting."""

    def _cb() -> None:
        cell = cell_from_selection(st.session_state.get(chart_key))
        st.session_state[f"{ns}.cell"] = cell
        st.session_state[f"{ns}.focus"] = None
        st.session_state[f"{ns}.history"] = []
        st.session_state.pop(f"{ns}.page", None)

    return _cb


def ensure_app_navigation() -> None:
    """Make a page opened by its URL right after a server start run inside app.py's navigation.

    Streamlit treats an app with a ``pages/`` folder as a legacy multipage app until the main script
    has called ``st.navigation`` once; a first visit straight to ``/explore`` would otherwise get an
    auto-generated menu (with an "app" page) and no page config. Switch the server to app.py's
    navigation and rerun; a no-op on every later run.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a future Streamlit without the legacy mode
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
