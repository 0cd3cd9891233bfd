"""Explore's map in its HTML page (artextract/app/prerender.py): what is sent, and when nothing is."""

from __future__ import annotations

import asyncio
import re

import pytest

from artextract.app import data, figures, prerender

INDEX = '<!doctype html><html><head></head><body><div id="root"></div></body></html>'


@pytest.fixture()
def served(tiny_bundle, tmp_path, monkeypatch):
    """The app's environment as `streamlit run app.py` has it: the tiny bundle as the default."""
    monkeypatch.setenv(data.BUNDLE_ENV, str(tiny_bundle))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path))
    monkeypatch.delenv(prerender.PRERENDER_ENV, raising=False)
    monkeypatch.delenv(figures.FIRST_VIEW_ENV, raising=False)
    return data.load_bundle(tiny_bundle)


def _img_src(html: str) -> str:
    return re.search(r'<img alt="" elementtiming="artextract-map" src="([^"]+)"', html).group(1)


def test_the_page_load_gets_the_picture_of_the_map_the_pages_first_run_draws(served):
    """The HTML page carries the first view of the very figure Explore's first run draws on a page load
    (the controls' first values, no filters, the current verdicts), with its point count, taking no
    clicks; the page's own caption goes with it, to place it under that caption."""
    b = served
    html = prerender.prerender_for({})
    assert 'id="artextract-prerender"' in html and "pointer-events:none" in html
    assert f'data-points="{len(b.items)}"' in html
    own = figures.first_view_html(prerender.first_spec(b, {}), None, offset=0)
    assert _img_src(html) == _img_src(own)
    projection, colour, threshold, flagged_only, filters = prerender.first_values(b)
    assert projection == b.projections[0] and colour == next(iter(data.colour_options(b)))
    assert threshold == float(b.outlier_threshold) and not flagged_only and all(v == () for _, v in filters)
    assert prerender.map_caption(len(b.items), len(b.items)) in html
    # the collection the page writes into its URL gets the same
    assert prerender.prerender_for({"bundle": b.name}) == html


def test_no_picture_where_the_first_run_draws_something_else(served, monkeypatch):
    """A shared painting (the map rings it), an unknown collection (the page says so), any other query,
    a bundle that does not open, or the first views turned off: Streamlit's page as it is."""
    assert prerender.prerender_for({"painting": "0"}) == ""
    assert prerender.prerender_for({"bundle": "no-such-collection"}) == ""
    assert prerender.prerender_for({"bundle": "../../etc"}) == ""
    assert prerender.prerender_for({"bundle": served.name, "x": "1"}) == ""
    for env in (prerender.PRERENDER_ENV, figures.FIRST_VIEW_ENV):
        monkeypatch.setenv(env, "0")
        assert prerender.prerender_for({}) == ""
        monkeypatch.delenv(env)
    assert prerender.prerender_for({})
    monkeypatch.setenv(data.BUNDLE_ENV, str(served.root / "missing"))
    assert prerender.prerender_for({}) == ""


def test_the_picture_goes_after_streamlits_root_and_text_is_escaped():
    """Inserted once, right after the element Streamlit draws into; a page without one is sent as it is;
    the caption is text."""
    assert prerender.page_html(INDEX, "<p>x</p>") == INDEX.replace(
        '<div id="root"></div>', '<div id="root"></div><p>x</p>'
    )
    assert prerender.page_html(INDEX, "") == INDEX
    assert prerender.page_html("<html></html>", "<p>x</p>") == "<html></html>"
    spec = '{"data": [{"type": "scatter", "mode": "markers", "x": [0, 1], "y": [0, 1], "marker": {"color": "#123456"}}],'
    spec += ' "layout": {"xaxis": {"range": [0, 1]}, "yaxis": {"range": [0, 1]}, "height": 620}}'
    html = prerender.prerender_html(spec, "<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert prerender.prerender_html('{"data": [], "layout": {}}', "x") == ""


def _call(path: str, method: str = "GET", query: bytes = b"") -> tuple[list, list]:
    """Run the middleware on one request: (what Streamlit's app was asked, what was sent back)."""
    passed, sent = [], []

    async def inner(scope, receive, send):
        passed.append(scope["path"])

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": [],
        "root_path": "",
    }
    asyncio.run(prerender.PrerenderMiddleware(inner)(scope, receive, send))
    return passed, sent


def test_the_middleware_answers_explores_page_only(served, monkeypatch):
    """GET /explore is answered with Streamlit's index.html and the picture (no cache); every other path
    and method goes on to Streamlit; a failure sends Streamlit's own answer."""
    monkeypatch.setattr(prerender, "streamlit_index", lambda: INDEX)
    passed, sent = _call("/explore")
    assert passed == [] and sent[0]["status"] == 200
    headers = dict(sent[0]["headers"])
    assert headers[b"cache-control"] == b"no-cache" and headers[b"content-type"].startswith(b"text/html")
    body = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert body.startswith("<!doctype html>") and 'id="artextract-prerender"' in body
    passed, sent = _call("/explore", query=b"painting=3")
    assert 'id="artextract-prerender"' not in b"".join(m.get("body", b"") for m in sent[1:]).decode()
    for path, method in (
        ("/", "GET"),
        ("/explore/_stcore/health", "GET"),
        ("/similar", "GET"),
        ("/explore", "POST"),
    ):
        passed, sent = _call(path, method)
        assert passed == [path] and sent == []

    def broken(query):
        raise RuntimeError("boom")

    monkeypatch.setattr(prerender, "prerender_for", broken)
    passed, sent = _call("/explore")
    assert passed == ["/explore"] and sent == []


def test_app_py_serves_the_middleware_and_runs_as_the_script():
    """`streamlit run app.py` finds its st.App (with the middleware) by reading it; run as each session's
    script, app.py makes none."""
    from pathlib import Path

    from streamlit.web.server.app_discovery import discover_asgi_app

    app_py = Path(__file__).resolve().parent.parent / "app.py"
    found = discover_asgi_app(app_py)
    assert found.is_asgi_app and found.import_string.endswith(":app")
    text = app_py.read_text()
    assert "PrerenderMiddleware" in text and 'if __name__ == "__main__":' in text
