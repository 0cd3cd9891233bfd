"""One AppTest per page, over the real tiny bundle (tests/conftest.py)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artextract import review
from artextract.app import cards, data, pairs
from artextract.bundle import open_bundle
from artextract.errors import BundleError

APP = Path(__file__).resolve().parents[1] / "app.py"
pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402


@pytest.fixture()
def env(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(tiny_bundle))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path / "data"))
    return open_bundle(tiny_bundle)


def run_page(page: str | None = None, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    if page:
        at.switch_page(f"pages/{page}.py")
        for k, v in (state or {}).items():
            at.session_state[k] = v
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    return "\n".join(
        [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.subheader]
    )


def test_home_shows_what_is_loaded(env):
    import re

    at = run_page()
    shown = [m.value for m in at.markdown]
    stats = dict(
        re.findall(r'<div style="font-size:0.875rem">(.+?)</div><div[^>]*>(.+?)</div>', "".join(shown))
    )
    assert stats["Paintings"] == f"{len(env.items):,}"
    assert stats["Flagged outliers"] == f"{int(env.items['flagged'].sum()):,}"
    assert stats["Reference paintings"] == f"{len(env.reference.items):,}"
    # the headline table, as Markdown: one row per attribute, accuracy to three places
    table = next(m for m in shown if m.startswith("| attribute |"))
    rows = [r.strip("|").split("|") for r in table.splitlines()[2:]]
    header = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
    acc = header.index("accuracy")
    assert [r[0].strip() for r in rows] == env.attributes
    assert [r[acc].strip() for r in rows] == [f"{env.metrics[a]['accuracy']:.3f}" for a in env.attributes]
    assert not at.dataframe and not at.json  # no data grid or JSON viewer to fetch


def test_home_links_to_every_other_page(env):
    import importlib.util

    spec = importlib.util.spec_from_file_location("artextract_app_main", APP)
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    pages = sorted(p.stem for p in app.PAGES.glob("*.py") if p.stem != "home")
    at = run_page()
    assert sorted(link.proto.page for link in at.get("page_link")) == pages


def test_a_missing_bundle_is_one_clear_error_and_the_app_stays_up(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(tmp_path / "nowhere"))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path / "data"))
    at = run_page()
    assert len(at.error) == 1 and "artextract build" in at.error[0].value
    for page in ("explore", "confusion", "similar", "review"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception and len(at.error) == 1
    at.switch_page("pages/models.py").run()
    assert not at.exception and at.title[0].value == "Models"


def test_explore_inspector_and_neighbour_walk(env):
    row = int(np.flatnonzero(env.items["flagged"].to_numpy())[0])
    at = run_page("explore", {"explore.focus": row, "explore.selected": [row, (row + 1) % len(env.items)]})
    item = env.items.iloc[row]
    body = texts(at)
    assert f"### {item['title']}" in body and "2 selected" in body
    assert "Outlier score" in body and "flagged" in body
    # the page writes catalog text as escaped Markdown (shown as written): compare with the escaped text
    from artextract.text import md_escape

    for reason in item["outlier_reasons"].split("; "):
        assert md_escape(reason) in body
    for a in env.attributes:
        truth, pred = md_escape(item[a] or "(unlabelled)"), md_escape(item[f"pred_{a}"])
        assert f"**{a}**: catalog *{truth}*, predicted *{pred}*" in body
    assert at.get("download_button")  # export of the selection
    # walk to the first nearest painting, then back
    first_nb = env.neighbours_of(row, 1)[0][0]
    at.button(key="explore.nb.0").click().run()
    assert at.session_state["explore.focus"] == first_nb
    assert f"### {env.items.iloc[first_nb]['title']}" in texts(at)
    at.button(key="explore.back").click().run()
    assert at.session_state["explore.focus"] == row


def test_one_clicked_painting_opens_in_the_inspector_without_a_selection_table(env):
    """A click selects one painting: the inspector shows it, and no table of that one row (nor its
    export) is drawn under the map; two or more get the table (the test above)."""
    row = 3
    at = run_page("explore", {"explore.focus": row, "explore.selected": [row]})
    body = texts(at)
    assert f"### {env.items.iloc[row]['title']}" in body
    assert "selected" not in body and not at.get("download_button") and not at.dataframe


def test_explore_filters_show_class_names_as_a_curator_writes_them(env, monkeypatch):
    """The filter lists a catalog's ArtGAN class names (Naive_Art_Primitivism) as WikiArt writes them,
    and keeps the catalog's own value as what is chosen."""
    from artextract.app import data

    values = {"style": ["Naive_Art_Primitivism", "Pop_Art"], "artist": ["Paul_Cezanne"]}
    monkeypatch.setattr(data, "filter_values", lambda _b, _key, a: values.get(a, ["(unlabelled)"]))
    at = run_page("explore")
    assert at.multiselect(key="explore.filter.style").options == ["Naïve Art (Primitivism)", "Pop Art"]
    if "artist" in env.attributes:
        assert at.multiselect(key="explore.filter.artist").options == ["Paul Cézanne"]
    at.multiselect(key="explore.filter.style").set_value(["Pop_Art"]).run()
    assert at.multiselect(key="explore.filter.style").value == ["Pop_Art"]
    assert f"0 of {len(env.items):,} paintings shown" in texts(at) or "No painting matches" in "\n".join(
        i.value for i in at.info
    )


def test_explore_filters_narrow_the_map(env):
    at = run_page("explore")
    style = env.items["style"].value_counts().index[0]
    at.multiselect(key="explore.filter.style").set_value([style]).run()
    n = int((env.items["style"] == style).sum())
    assert f"{n:,} of {len(env.items):,} paintings shown" in texts(at)
    at.checkbox(key="explore.flagged_only").check().run()
    n_flag = int(((env.items["style"] == style) & env.items["flagged"]).sum())
    body = texts(at)
    assert f"{n_flag:,} of {len(env.items):,} paintings shown" in body or "No painting matches" in "\n".join(
        i.value for i in at.info
    )
    for label in data.colour_options(env):
        at.selectbox(key="explore.colour").set_value(label).run()
        assert not at.exception, label


def _chart_args(at: AppTest) -> dict:
    import json

    (chart,) = at.get("component_instance")  # the Explore map (artextract.app.chart)
    return json.loads(chart.proto.json_args)


def test_a_page_load_on_explore_draws_the_map_before_its_controls(env):
    """A browser that opens the app on Explore gets the map first: no control and no collection switcher in
    that run (their scripts would hold the map's frame back), and a chart that reports its first drawing.
    The run after that report draws them, at the values the map was drawn with: the same figure, so only
    its fingerprint is sent. A session that arrives from another page gets its controls at once."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/explore.py").run()
    assert not at.exception and at.session_state["app.landing"] == "explore"
    assert (
        not at.sidebar.selectbox and not at.radio and not at.slider and not at.checkbox and not at.multiselect
    )
    first = _chart_args(at)
    assert first["report_drawn"] and first["spec"]
    assert f"{len(env.items):,} of {len(env.items):,} paintings shown" in texts(at)

    at.session_state["explore.chart.drawn"] = True  # what the chart's callback records on the report
    at.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="app.bundle_switcher").value == env.root.name
    assert at.radio(key="explore.projection").value == env.projections[0]
    assert at.slider(key="explore.threshold").value == env.outlier_threshold
    assert [m.value for m in at.multiselect] == [[] for _ in at.multiselect] and len(at.multiselect) >= 3
    second = _chart_args(at)
    assert not second["report_drawn"] and second["spec_id"] == first["spec_id"] and not second["spec"]

    at.selectbox(key="explore.colour").set_value(list(data.colour_options(env))[1]).run()
    assert _chart_args(at)["spec_id"] != first["spec_id"]  # the controls drive the map from here on

    home_first = run_page("explore")  # opened on Home, then Explore: no wait for the map
    assert home_first.multiselect and home_first.sidebar.selectbox
    assert not _chart_args(home_first)["report_drawn"]


def test_explore_finds_a_painting_and_opens_it_on_the_map(env):
    from artextract.app.widgets import FIND_LIMIT
    from artextract.text import md_escape

    at = run_page("explore")
    row = 17
    item = env.items.iloc[row]
    at.text_input(key="explore.find").input(str(item["id"])).run()
    assert "1 match:" in texts(at)
    (found,) = [b for b in at.button if b.key.startswith("explore.find.")]
    assert found.key == f"explore.find.{row}" and md_escape(str(item["title"])) in found.label
    assert md_escape(data.artist_of(item)) in found.label and str(item["id"]) not in found.label
    found.click().run()
    assert not at.exception and at.session_state["explore.focus"] == row
    assert f"### {md_escape(str(item['title']))}" in texts(at)
    assert _chart_args(at)["mark"]["row"] == row  # ringed on the map

    # an artist with more paintings than the box lists: the count, and the first ones
    artist = env.items["artist"].value_counts().index[0]
    n = int(data.search_items(env, data.bundle_key(env), artist).size)
    assert n > FIND_LIMIT
    at.text_input(key="explore.find").input(artist).run()
    assert f"{n:,} matches, the first {FIND_LIMIT}:" in texts(at)
    assert len([b for b in at.button if b.key.startswith("explore.find.")]) == FIND_LIMIT
    for needle in ("no such painting anywhere", "(.*[" * 200, "../../etc/passwd"):
        at.text_input(key="explore.find").input(needle).run()
        assert not at.exception and "No painting matches." in texts(at), needle
        assert not [b for b in at.button if b.key.startswith("explore.find.")]

    # filters that hide the open painting: the caption says so, and there is no ring
    other = next(s for s in env.items["style"].unique() if s != item["style"])
    at.multiselect(key="explore.filter.style").set_value([other]).run()
    assert "(not the one open on the right)" in texts(at) and _chart_args(at)["mark"] is None
    at.multiselect(key="explore.filter.style").set_value([item["style"]]).run()
    assert "(not the one open on the right)" not in texts(at) and _chart_args(at)["mark"]["row"] == row


@pytest.mark.parametrize(("page", "builder"), [("explore", "scatter_json"), ("confusion", "confusion_json")])
def test_a_page_load_whose_chart_fails_shows_the_error_with_the_switcher(env, monkeypatch, page, builder):
    """A landing run that holds controls back until its chart has drawn: a chart that cannot be built
    never reports, so the error is shown with the collection switcher (and Explore's controls)."""
    from artextract.app import figures

    def broken(*args, **kwargs):
        raise RuntimeError("no figure today")

    monkeypatch.setattr(figures, builder, broken)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(f"pages/{page}.py").run()
    assert at.exception and "no figure today" in at.exception[0].value
    assert at.sidebar.selectbox(key="app.bundle_switcher").value == env.root.name
    if page == "explore":
        assert at.multiselect


def test_a_page_load_on_an_explore_with_no_map_draws_its_controls(env, monkeypatch):
    from artextract.bundle import Bundle

    monkeypatch.setattr(Bundle, "projections", property(lambda self: []))
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/explore.py").run()
    assert not at.exception and "has no map" in at.info[0].value
    assert at.sidebar.selectbox(key="app.bundle_switcher").value == env.root.name  # not waiting for a map


def test_confusion_cell_opens_a_gallery(env):
    attr = env.attributes[0]
    cm = np.asarray(env.metrics[attr]["confusion"])
    t, p = (int(v) for v in np.argwhere(cm == cm.max())[0])
    at = run_page("confusion", {f"confusion.{attr}.cell": (t, p)})
    classes = env.classes[attr]
    assert f"Catalogued {classes[t]}, predicted {classes[p]}: {cm[t, p]} painting(s)" in texts(at)
    rows = data.cell_rows(env, attr, t, p)
    at.button(key=f"confusion.{attr}.g.{rows[0]}").click().run()
    assert f"### {env.items.iloc[rows[0]]['title']}" in texts(at)
    at.segmented_control(key="confusion.mode").set_value("Row-normalised").run()
    assert not at.exception


def test_confusion_builds_only_the_open_tab(env):
    """Each attribute's tab holds a matrix (a chart frame) and a table; only the open one is built, and
    picking another tab builds that one."""
    attrs, _ = data.scored_attributes(env)
    assert len(attrs) >= 2
    at = run_page("confusion")
    assert len(at.get("component_instance")) == 1 and len(at.dataframe) == 1
    assert f"confusion.{attrs[0]}.chart.sent" in at.session_state
    assert f"confusion.{attrs[1]}.chart.sent" not in at.session_state
    at.session_state["confusion.tab"] = data.attribute_label(attrs[1])
    at.run()
    assert not at.exception and len(at.get("component_instance")) == 1
    assert f"confusion.{attrs[1]}.chart.sent" in at.session_state


def test_a_page_load_on_confusion_draws_the_matrix_before_its_table_and_switcher(env):
    """Opened on Confusion, a fresh browser gets the open tab's matrix first, with no per-class table and
    no collection switcher (their scripts would hold the matrix's frame back) and a chart that reports its
    first drawing; the run after that report draws them. Arrived at from Home, they come at once."""
    attrs, _ = data.scored_attributes(env)
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/confusion.py").run()
    assert not at.exception and at.session_state["app.landing"] == "confusion"
    assert not at.dataframe and not at.sidebar.selectbox
    first = _chart_args(at)
    assert first["report_drawn"] and first["spec"]

    at.session_state[f"confusion.{attrs[0]}.chart.drawn"] = True  # what the chart's callback records
    at.run()
    assert not at.exception and len(at.dataframe) == 1
    assert at.sidebar.selectbox(key="app.bundle_switcher").value == env.root.name
    second = _chart_args(at)
    assert not second["report_drawn"] and second["spec_id"] == first["spec_id"] and not second["spec"]
    # another tab, picked after a matrix has drawn, gets its table at once
    at.session_state["confusion.tab"] = data.attribute_label(attrs[1])
    at.run()
    assert not at.exception and len(at.dataframe) == 1 and not _chart_args(at)["report_drawn"]

    home_first = run_page("confusion")
    assert home_first.dataframe and home_first.sidebar.selectbox
    assert not _chart_args(home_first)["report_drawn"]


def jpeg_bytes(path: Path) -> bytes:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, format="JPEG")
    return buf.getvalue()


def test_similar_upload_then_corrupt_upload(env):
    at = run_page("similar")
    at.slider(key="similar.k").set_value(5).run()
    at.file_uploader(key="similar.upload").upload(
        "query.jpg", jpeg_bytes(env.image_path(0)), "image/jpeg"
    ).run()
    assert not at.exception and not at.error
    assert "5 nearest reference paintings" in texts(at)
    assert "similarity" in texts(at)
    seen = at.dataframe[0].value  # the classifier's top-3 per head
    assert list(seen["attribute"]) == env.attributes
    at.file_uploader(key="similar.upload").set_value(
        ("bad.jpg", b"\xff\xd8\xff\xe0 not a jpeg", "image/jpeg")
    )
    at.run()
    assert not at.exception and len(at.error) == 1 and "bad.jpg" in at.error[0].value
    assert at.slider(key="similar.k").value == 5  # the page is still there and usable


def test_similar_works_a_query_out_once_and_reruns_from_what_it_remembers(env, monkeypatch):
    from artextract.app import models

    monkeypatch.setattr(models, "_ANSWERS", models.OrderedDict())  # what other tests asked is not ours
    calls = []
    real = models.classify_and_embed
    monkeypatch.setattr(models, "classify_and_embed", lambda b, img: calls.append(img.size) or real(b, img))
    big = Image.open(env.image_path(1)).convert("RGB").resize((2400, 1800))
    buf = io.BytesIO()
    big.save(buf, format="JPEG")
    at = run_page("similar")
    at.slider(key="similar.k").set_value(3).run()
    at.file_uploader(key="similar.upload").upload("photo.jpg", buf.getvalue(), "image/jpeg").run()
    assert not at.exception and not at.error and calls == [(2400, 1800)]
    labels = at.dataframe[0].value
    assert "3 nearest reference paintings" in texts(at)
    # another neighbour count: searched again, not classified again, with the same labels
    at.slider(key="similar.k").set_value(6).run()
    assert "6 nearest reference paintings" in texts(at) and calls == [(2400, 1800)]
    assert at.dataframe[0].value.equals(labels)
    # the same bytes under another name are the same query; other bytes are a new one
    at.file_uploader(key="similar.upload").upload("again.jpg", buf.getvalue(), "image/jpeg").run()
    assert len(calls) == 1
    at.file_uploader(key="similar.upload").upload(
        "other.jpg", jpeg_bytes(env.image_path(2)), "image/jpeg"
    ).run()
    assert len(calls) == 2 and not at.error
    # what the page shows is a small copy, not the 4-megapixel upload
    shown = models.remembered_answer(env, data.upload_id(buf))
    assert shown is not None and max(Image.open(io.BytesIO(shown.shown)).size) == models.QUERY_SHOWN_PX


def test_remembered_answers_are_few_and_keyed_on_the_bundle(env, monkeypatch):
    from artextract.app import models

    monkeypatch.setattr(models, "ANSWERS_KEPT", 2)
    monkeypatch.setattr(models, "_ANSWERS", models.OrderedDict())
    img = Image.open(env.image_path(0)).convert("RGB")
    first = models.answer_query(env, "upload:a", img)
    assert models.remembered_answer(env, "upload:a") is first
    models.answer_query(env, "upload:b", img)
    models.answer_query(env, "upload:c", img)
    assert models.remembered_answer(env, "upload:a") is None  # the oldest is dropped
    assert models.remembered_answer(env, "upload:c") is not None
    # the same name on another bundle version is another query
    monkeypatch.setattr(models, "bundle_key", lambda b: "another version")
    assert models.remembered_answer(env, "upload:c") is None
    np.testing.assert_allclose(np.linalg.norm(first.embedding), 1.0, rtol=1e-5)
    # a same-picture check that could not run is said, and tried again on the next run (not remembered)
    monkeypatch.undo()
    monkeypatch.setattr(models, "_ANSWERS", models.OrderedDict())

    def unreadable(b, img):
        raise BundleError("layout.npy: unreadable")

    monkeypatch.setattr(pairs, "upload_same_picture", unreadable)
    ans = models.answer_query(env, "upload:d", img)
    assert ans.same_problem == "layout.npy: unreadable" and ans.labels
    assert models.remembered_answer(env, "upload:d") is None


def test_similar_says_what_it_searches(env):
    at = run_page("similar")
    origin = data.sources_line(env.reference.items)
    assert origin and f"Searching {len(env.reference.items):,} reference paintings: {origin}." in texts(at)


def test_similar_pick_from_the_collection(env):
    at = run_page("similar")
    at.radio(key="similar.source").set_value("A painting from the collection").run()
    title = env.items["title"].iloc[3]
    at.text_input(key="similar.search").input(env.items["id"].iloc[3]).run()
    assert title in data.painting_label(env, at.selectbox(key="similar.pick").value)
    assert "nearest reference paintings" in texts(at) and not at.error


def test_review_records_a_verdict(env, tmp_path):
    at = run_page("review")
    queue = data.review_queue(env, {}, "To review")
    first = queue["row"].iloc[0]
    assert f"### {env.items.iloc[first]['title']}" in texts(at)
    assert at.button(key="review.confirm").disabled  # no verdict without the reviewer's name
    at.text_input(key="review.reviewer").input("Ana Reviewer").run()
    at.text_input(key="review.note").input("catalogued under the wrong artist").run()
    at.button(key="review.confirm").click().run()
    pid = env.items.iloc[first]["id"]
    assert review.list_verdicts(env.name)["reviewer"].iloc[0] == "Ana Reviewer"
    assert review.verdict_map(env.name) == {pid: "confirmed"}
    assert review.list_verdicts(env.name)["note"].iloc[0] == "catalogued under the wrong artist"
    if len(queue) > 1:  # the next painting in the queue is shown
        assert f"### {env.items.iloc[queue['row'].iloc[1]]['title']}" in texts(at)
    at.segmented_control(key="review.show").set_value("Confirmed").run()
    assert list(at.dataframe[0].value["title"]) == [env.items.iloc[first]["title"]]


def test_models_shows_the_bundle_checkpoints(env):
    at = run_page("models")
    labels = [e.label for e in at.expander]
    assert any(lab.startswith("classifier") for lab in labels) and any(
        lab.startswith("encoder") for lab in labels
    )
    card = cards.read_card(str(env.checkpoint_dir("classifier")))
    assert card["arch"] in texts(at)
    heads = [h for df in at.dataframe for h in df.value["head"]]
    assert "style" in heads and "style · k-NN probe" in heads and "knn" not in heads  # the encoder's probe
    # each checkpoint's training curves: Vega-Lite specs of its log's columns against the epoch
    charts = at.get("vega_lite_chart")
    assert charts, "no training curves"
    spec = json.loads(charts[0].proto.spec)
    assert spec["mark"]["type"] == "line" and spec["encoding"]["x"]["field"] in ("epoch", "step")


@pytest.fixture()
def unlabelled_env(tiny_demo, tiny_checkpoints, tmp_path, monkeypatch):
    """A collection like NGA's: no style, no genre, artists the classifier does not know, no split."""
    import shutil

    from artextract.build import BuildConfig, build_bundle
    from artextract.catalog import read_catalog, write_catalog

    coll = tmp_path / "nga_like"
    shutil.copytree(tiny_demo["collection"], coll)
    (coll / "outliers_truth.csv").unlink()
    cat = read_catalog(coll)
    cat["style"], cat["genre"], cat["split"] = "", "", ""
    cat["artist"] = [f"Painter {i % 7}" for i in range(len(cat))]
    write_catalog(cat, coll)
    out = tmp_path / "bundle"
    build_bundle(
        BuildConfig(
            collection=coll,
            classifier=tiny_checkpoints["classifier"],
            out=out,
            projections=("tsne",),
            progress=False,
        ),
        log=lambda m: None,
    )
    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(out))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path / "data"))
    return open_bundle(out)


def test_an_unlabelled_collection_says_why_there_are_no_metrics(unlabelled_env):
    at = run_page()
    assert len(at.dataframe) == 0 and "cannot be scored here" in at.info[0].value
    at = run_page("confusion")
    assert "cannot be scored here" in at.info[0].value
    assert "What the classifier sees" in texts(at)
    opts = list(data.colour_options(unlabelled_env))
    assert opts[0] == "Artist" and "Style" not in opts and "Genre" not in opts
    at = run_page("explore")
    assert at.selectbox(key="explore.colour").value == "Artist"


def test_bundle_switcher_lists_built_bundles_and_the_url_carries_bundle_and_painting(
    env, tiny_demo, tiny_checkpoints, tmp_path
):
    from artextract.build import BuildConfig, build_bundle

    second = tmp_path / "data" / "artifacts" / "second"
    build_bundle(
        BuildConfig(
            collection=tiny_demo["collection"],
            classifier=tiny_checkpoints["classifier"],
            out=second,
            name="second",
            projections=("tsne",),
            progress=False,
        ),
        log=lambda m: None,
    )
    (tmp_path / "data" / "artifacts" / "broken").mkdir()  # no manifest: not a bundle, not listed
    at = run_page()
    switcher = at.sidebar.selectbox(key="app.bundle_switcher")
    assert switcher.options[0].startswith(env.root.name) and "120 paintings" in switcher.options[0]
    assert len(switcher.options) == 2 and switcher.options[1].startswith("second · 120 paintings")
    assert at.query_params["bundle"] == env.root.name
    switcher.select("second").run()
    assert not at.exception and at.query_params["bundle"] == "second"
    assert at.subheader[0].value == "Collection: second"
    at.switch_page("pages/explore.py").run()  # the choice holds on every page
    assert at.sidebar.selectbox(key="app.bundle_switcher").value == "second"

    # a shared link: bundle and painting in the URL open that painting in the Explore inspector
    row = 17
    item = env.items.iloc[row]
    link = AppTest.from_file(APP, default_timeout=60)
    link.query_params["bundle"] = env.root.name
    link.query_params["painting"] = str(item["id"])
    link.run()
    link.switch_page("pages/explore.py").run()
    assert not link.exception
    assert f"### {item['title']}" in texts(link)
    assert link.session_state["explore.focus"] == row
    assert link.query_params["painting"] == str(item["id"])
    assert any(f"painting={item['id']}" in c.value for c in link.code)  # the inspector's share link


def test_a_hostile_or_unknown_bundle_in_the_url_is_ignored(env):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["bundle"] = "../../etc"
    at.run()
    assert not at.exception and "No collection named '../../etc'" in at.warning[0].value
    assert at.subheader[0].value == f"Collection: {env.name}"
    at.run()  # the run after: still said (a page with a map reruns at once, to draw its controls)
    assert "No collection named '../../etc'" in at.warning[0].value
    at.run()  # then gone
    assert not any("No collection named" in w.value for w in at.warning)
    at.query_params["bundle"] = env.root.name
    at.query_params["painting"] = "no-such-id"
    at.switch_page("pages/explore.py").run()
    assert not at.exception and any("no-such-id" in w.value for w in at.warning)
    # the painting's warning stays until the inspector opens a painting
    at.run()
    assert any("no-such-id" in w.value for w in at.warning)
    at.session_state["explore.focus"] = 0
    at.run()
    assert not any("no-such-id" in w.value for w in at.warning)


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build")
def test_the_server_runs_on_uvloop_and_httptools():
    """requirements.txt installs them, and Streamlit's server (uvicorn) picks them when they import; with
    them a fresh page's scripts arrive sooner (bench/app.py --breakdown)."""
    import uvloop
    from uvicorn.loops.auto import auto_loop_factory
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert AutoHTTPProtocol is HttpToolsProtocol
    assert auto_loop_factory() is uvloop.new_event_loop


def test_similar_loads_the_models_while_the_curator_picks_a_painting(env, monkeypatch):
    from artextract.app import models

    models._embedder.cache_clear()
    monkeypatch.setattr(models, "_WARMED", {})
    run_page("similar")
    threads = list(models._WARMED.values())
    assert threads, "the page started no warm-up"
    for t in threads:
        t.join(timeout=120)
    assert models._embedder.cache_info().currsize >= 1
    assert models.warm_up(env) is None  # started once per checkpoint version: nothing more to start
    hits = models._embedder.cache_info().hits
    models.embedder(env, "classifier")  # the page's own call finds it loaded
    assert models._embedder.cache_info().hits == hits + 1
