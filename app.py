"""ArtExtract, the curator's app: ``streamlit run app.py`` (or ``artextract app``).

Reads one artifact bundle (``$ARTEXTRACT_BUNDLE``, default ``data/artifacts/sample``) built by
``artextract build``; the only model work it does is classifying and embedding an uploaded image.
Served by ``st.App`` (``app`` at the end, which ``streamlit run`` finds), whose middleware sends Explore's
map with its HTML page (``artextract/app/prerender.py``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from artextract.app.state import LANDING_KEY

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"
# served by the app itself: a material-icon favicon would be fetched from fonts.gstatic.com
FAVICON = HERE / "artextract" / "app" / "static" / "favicon.png"


def build_navigation() -> StreamlitPage:
    """The app's pages, in menu order (a function so tests can drive the same navigation)."""
    pages = [
        st.Page(PAGES / "home.py", title="Home", icon=":material/home:", default=True),
        st.Page(PAGES / "explore.py", title="Explore", icon=":material/scatter_plot:"),
        st.Page(PAGES / "confusion.py", title="Confusion", icon=":material/grid_on:"),
        st.Page(PAGES / "similar.py", title="Similar", icon=":material/image_search:"),
        st.Page(PAGES / "review.py", title="Review", icon=":material/fact_check:"),
        st.Page(PAGES / "duplicates.py", title="Duplicates", icon=":material/content_copy:"),
        st.Page(PAGES / "collections.py", title="Collections", icon=":material/library_add:"),
        st.Page(PAGES / "models.py", title="Models", icon=":material/model_training:"),
    ]
    return st.navigation(pages)


def main() -> None:
    icon = str(FAVICON) if FAVICON.is_file() else None  # a checkout without it still opens
    st.set_page_config(page_title="ArtExtract", page_icon=icon, layout="wide")
    page = build_navigation()
    st.session_state.setdefault(LANDING_KEY, page.url_path)  # the page this browser session opened on
    page.run()


if __name__ == "__main__":  # Streamlit runs this file as each browser session's script
    main()
else:  # `streamlit run app.py` imports it as its server (st.App): Explore's HTML page carries its map
    from starlette.middleware import Middleware

    from artextract.app.prerender import PrerenderMiddleware

    app = st.App(__file__, middleware=[Middleware(PrerenderMiddleware)])
