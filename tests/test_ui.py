"""The app's helper module outside a running app: figures, filters, selections, queues."""

from __future__ import annotations

import base64
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from artextract.app import cards, data, figures
from artextract.bundle import open_bundle
from artextract.errors import BundleError


@pytest.fixture(scope="module")
def b(tiny_bundle):
    return open_bundle(tiny_bundle)


def arr(v) -> np.ndarray:
    """A figure-dict array: plain list or Plotly's typed-array encoding {dtype, bdata, shape}."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        shape = v.get("shape")
        if shape:
            a = a.reshape([int(d) for d in str(shape).split(",")])
        return a
    return np.asarray(v)


def _rows_in(fig: dict, flagged: bool) -> np.ndarray:
    parts = [
        arr(t["customdata"]).ravel()
        for t in fig["data"]
        if str(t.get("name", "")).startswith("flagged") == flagged
    ]
    return np.concatenate(parts) if parts else np.array([], dtype=int)


@pytest.mark.parametrize("colour", ["style", "pred_artist", "correct_genre", "outlier_score", "_verdict"])
def test_scatter_shows_every_painting_once_and_rings_the_flagged(b, colour):
    fig = figures.scatter_figure(b, data.bundle_key(b), b.projections[0], colour, None, b.outlier_threshold)
    rows = _rows_in(fig, flagged=False)
    assert sorted(rows.tolist()) == list(range(len(b.items)))
    ringed = _rows_in(fig, flagged=True)
    assert sorted(ringed.tolist()) == np.flatnonzero(b.items["flagged"].to_numpy()).tolist()
    first = fig["data"][0]
    x = arr(first["x"]).astype(float)
    rows0 = arr(first["customdata"]).ravel()
    np.testing.assert_allclose(x, b.items[f"{b.projections[0]}_x"].to_numpy()[rows0], rtol=1e-6)


def _lab(hex_colour: str) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB ``#RRGGBB``."""
    c = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = m @ c / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_class_colours_are_far_apart_and_far_from_the_rings_and_greys():
    """A flagged painting's ring stands out on a point of any class, and a collection's first classes (the
    eleven styles of WikiArt here) get colours a curator can tell apart."""
    delta = lambda a, b: float(np.linalg.norm(_lab(a) - _lab(b)))  # noqa: E731
    palette = list(figures.PALETTE)
    assert len(set(palette)) == len(palette) == figures.MAX_LEGEND
    for colour in palette:
        # the ring most flagged paintings get
        assert delta(colour, figures.VERDICT_COLOURS["to review"]) >= 40, colour
        for other in [*figures.VERDICT_COLOURS.values(), "#9E9E9E", "#C8C8C8", "#E0E0E0"]:
            assert delta(colour, other) >= 25, (colour, other)
    first = palette[:12]
    assert min(delta(a, b) for i, a in enumerate(first) for b in first[i + 1 :]) >= 30


def test_scatter_of_a_filtered_subset_and_verdict_rings(b):
    rows = data.filtered_rows(b, data.bundle_key(b), (("style", (b.items["style"].iloc[0],)),))
    assert len(rows) == int((b.items["style"] == b.items["style"].iloc[0]).sum())
    pid = b.items["id"].iloc[int(np.flatnonzero(b.items["flagged"].to_numpy())[0])]
    fig = figures.scatter_figure(
        b, data.bundle_key(b), b.projections[0], "style", None, b.outlier_threshold, ((pid, "confirmed"),)
    )
    names = [t["name"] for t in fig["data"]]
    assert any(n.startswith("flagged: confirmed (1)") for n in names)
    sub = figures.scatter_figure(b, data.bundle_key(b), b.projections[0], "style", tuple(rows.tolist()), 1.1)
    assert sorted(_rows_in(sub, flagged=False).tolist()) == rows.tolist()


def test_the_map_rings_the_open_painting_where_its_point_is(b):
    proj = b.projections[-1]
    fig = figures.scatter_figure(b, data.bundle_key(b), proj, "style", None, 1.1)
    first = fig["data"][0]
    row = int(arr(first["customdata"]).ravel()[0])
    x0, y0 = float(arr(first["x"])[0]), float(arr(first["y"])[0])
    assert data.map_mark(b, proj, row) == (row, x0, y0)  # exactly on the point the figure draws
    same_style = data.filtered_rows(b, data.bundle_key(b), (("style", (b.items["style"].iloc[row],)),))
    other = int(np.setdiff1d(np.arange(len(b.items)), same_style)[0])
    assert data.map_mark(b, proj, row, same_style) is not None
    assert data.map_mark(b, proj, other, same_style) is None  # filtered off the map: no ring
    assert data.map_mark(b, proj, None) is None and data.map_mark(b, proj, len(b.items)) is None


def test_a_chart_value_other_than_need_says_the_map_is_drawn():
    """The "drawn" report of a map drawn before its controls may never reach Python: a click that
    follows it replaces it (Streamlit keeps a widget's latest value between runs). The click must
    then say the map is there, or the page would wait for the report forever."""
    from artextract.app.chart import on_value

    state = {"c": {"need": "abc", "event": 1}, "c.sent": "abc"}
    assert on_value(state, "c") is False and "c.sent" not in state and "c.drawn" not in state
    state["c"] = {"drawn": "abc", "event": 2}
    assert on_value(state, "c") is False and state["c.drawn"] is True  # not the curator's: no on_change
    state = {"c": {"selection": {"points": [{"customdata": 3}]}, "mode": "click", "event": 3}}
    assert on_value(state, "c") is True and state["c.drawn"] is True
    state = {"c": {"selection": {"points": []}, "mode": "clear", "event": 4}}
    assert on_value(state, "c") is True and state["c.drawn"] is True


def test_sources_line_says_where_the_paintings_come_from_most_first():
    from artextract.app.data import sources_line

    src = ["wikiart"] * 5 + ["The Met"] * 3 + ["nga"] * 2 + ["Cleveland"] + ["", None]
    items = pd.DataFrame({"source": src})
    assert (
        sources_line(items)
        == "5 from WikiArt, 3 from The Met, 2 from National Gallery of Art and 1 from Cleveland"
    )
    assert sources_line(items, most=2) == "5 from WikiArt, 3 from The Met and 3 from 2 more sources"
    assert sources_line(items, most=3) == (
        "5 from WikiArt, 3 from The Met, 2 from National Gallery of Art and 1 from Cleveland"
    )
    assert sources_line(pd.DataFrame({"source": ["wikiart"] * 1200})) == "1,200 from WikiArt"
    assert sources_line(pd.DataFrame({"source": ["", None]})) == ""
    mixed = pd.DataFrame({"source": pd.Categorical(["wikiart", " WikiArt", "b", "a", None])})
    assert sources_line(mixed) == "2 from WikiArt, 1 from a and 1 from b"  # one name per source, ties by name
    assert sources_line(pd.DataFrame({"title": ["x"]})) == ""
    demo = pd.DataFrame({"source": ["artextract-demo-reference"] * 40})  # what sources/demo.py writes
    assert sources_line(demo) == "40 from the generated demo"


def test_per_class_figures_with_nothing_to_measure_are_empty_not_zero():
    from types import SimpleNamespace

    pc = [
        {"class": "Pop_Art", "precision": 0.0, "recall": 0.0, "support": 0, "predicted": 3},  # none here
        {"class": "Minimalism", "precision": 0.0, "recall": 0.0, "support": 4, "predicted": 0},  # never said
        {"class": "Baroque", "precision": 0.8, "recall": 0.9, "support": 10, "predicted": 11},
    ]
    t = data.per_class_table(SimpleNamespace(metrics={"style": {"per_class": pc}}), "style")
    assert list(t.columns) == ["class", "precision", "recall", "support"]
    assert t["class"].tolist() == ["Pop Art", "Minimalism", "Baroque"]
    assert np.isnan(t["recall"][0]) and t["precision"][0] == 0.0  # 3 predicted, all wrong: 0 is right
    assert np.isnan(t["precision"][1]) and t["recall"][1] == 0.0
    assert (t["precision"][2], t["recall"][2]) == (0.8, 0.9)
    old = [{k: v for k, v in row.items() if k != "predicted"} for row in pc]  # a bundle from before
    assert data.per_class_table(SimpleNamespace(metrics={"style": {"per_class": old}}), "style")[
        "precision"
    ].tolist() == [0.0, 0.0, 0.8]


def test_too_many_classes_fold_into_other(b, monkeypatch):
    monkeypatch.setattr(figures, "MAX_LEGEND", 2)
    fig = figures.scatter_figure.__wrapped__(b, "k", b.projections[0], "artist", None, 1.1)
    names = [t["name"].rsplit(" (", 1)[0] for t in fig["data"]]
    assert len(names) == 3 and names[-1] == figures.OTHER


def test_flagged_only_and_threshold(b):
    key = data.bundle_key(b)
    assert data.filtered_rows(b, key, (), True, None).tolist() == np.flatnonzero(b.items["flagged"]).tolist()
    assert len(data.filtered_rows(b, key, (), True, 0.0)) == len(b.items)


def test_the_map_has_fixed_axis_ranges_around_its_points_and_an_html_legend(b):
    """The chart component draws a map's first view before plotly.js runs, where plotly then draws it:
    that needs the axis ranges in the figure (plotly's autorange depends on marker sizes and is only
    known to plotly). The legend is the component's HTML, so plotly draws none."""
    key = data.bundle_key(b)
    proj = b.projections[0]
    for rows in (None, tuple(range(0, len(b.items), 3))):
        fig = figures.scatter_figure.__wrapped__(b, key, proj, "style", rows, b.outlier_threshold)
        lay = fig["layout"]
        assert lay["showlegend"] is False and lay["meta"] == {"legend": "html"}
        sub = b.items if rows is None else b.items.iloc[list(rows)]
        for axis, col in (("xaxis", f"{proj}_x"), ("yaxis", f"{proj}_y")):
            lo, hi = lay[axis]["range"]
            v = sub[col].to_numpy(dtype=np.float32)  # as the figure holds them
            pad = (v.max() - v.min()) * figures.RANGE_PAD
            assert [lo, hi] == pytest.approx([v.min() - pad, v.max() + pad], rel=1e-6)
            assert lay[axis]["autorange"] is False and lay[axis]["showticklabels"] is False
    # one point, or all in one place: a range of 2 around it, not of 0 (nothing could be drawn)
    assert figures.axis_range(np.array([3.0, 3.0], dtype=np.float32)) == [2.0, 4.0]
    assert figures.axis_range(np.array([np.nan, 1.0, 5.0])) == pytest.approx([0.84, 5.16])
    assert figures.axis_range(np.array([], dtype=np.float32)) == [-1.0, 1.0]


def test_the_map_is_svg_up_to_a_size_then_webgl_and_its_json_keeps_every_row(b, monkeypatch):
    key = data.bundle_key(b)
    fig = figures.scatter_figure.__wrapped__(b, key, b.projections[0], "style", None, b.outlier_threshold)
    assert {t["type"] for t in fig["data"]} == {"scatter"}  # the tiny bundle is under SVG_MAX_POINTS
    assert fig["layout"]["clickmode"] == "event+select" and fig["layout"]["dragmode"] == "pan"
    monkeypatch.setattr(figures, "SVG_MAX_POINTS", len(b.items) - 1)
    gl = figures.scatter_figure.__wrapped__(b, key, b.projections[0], "outlier_score", None, 1.1)
    assert {t["type"] for t in gl["data"]} == {"scattergl"}
    # a click on a WebGL map selects nothing (dimming every other point costs ~0.5 s at 100,000)
    assert gl["layout"]["clickmode"] == "event"
    # what the component receives: plotly JSON whose typed arrays decode to the same rows and places
    spec = json.loads(figures.scatter_json.__wrapped__(b, key, b.projections[0], "style", None, 1.1))
    rows = np.concatenate([arr(t["customdata"]).ravel() for t in spec["data"]])
    assert sorted(rows.tolist()) == list(range(len(b.items)))
    first = spec["data"][0]
    np.testing.assert_allclose(
        arr(first["x"]).astype(float),
        b.items[f"{b.projections[0]}_x"].to_numpy()[arr(first["customdata"]).ravel()],
        rtol=1e-6,
    )


def test_the_map_component_ships_the_plotly_js_that_plotly_py_targets():
    """The vendored build of plotly.js is the version plotly.py writes figures for: upgrading
    plotly.py without rebuilding ``scripts/plotly-bundle`` fails here."""
    from plotly.offline import get_plotlyjs_version

    from artextract.app import chart

    html = (chart.FRONTEND / "index.html").read_text()
    # the frame preloads the build at once, and chart.js runs it once a map's first view is drawn
    assert '<link rel="preload" href="plotly-lite.min.js" as="script">' in html
    assert '<script src="chart.js">' in html
    assert "s.src = 'plotly-lite.min.js'" in (chart.FRONTEND / "chart.js").read_text()
    bundle = chart.FRONTEND / "plotly-lite.min.js"
    head = bundle.read_text(encoding="utf-8")[:200]
    assert (
        f"plotly.js v{get_plotlyjs_version()} " in head
        and "traces scatter, scattergl and heatmap only" in head
    )
    assert bundle.stat().st_size < 2_000_000
    assert f"{chart.__name__}.plotly_chart" == chart.FRAME_TITLE


def test_selection_points_map_back_to_rows():
    state = {
        "selection": {
            "points": [
                {"customdata": 7},
                {"customdata": [3, "x"]},
                {"customdata": {"0": 5, "1": 2}},
                {"customdata": 7},  # same painting in the ring trace
                {"x": 1.0},  # no customdata
            ]
        }
    }
    assert data.rows_from_selection(state) == [7, 3, 5]
    assert data.rows_from_selection(None) == []
    # the map component's value: the same shape, plus what made it
    lasso = {"selection": {"points": [{"customdata": 4}, {"customdata": 1}]}, "mode": "lasso", "event": 2}
    assert data.rows_from_selection(lasso) == [4, 1]
    assert data.rows_from_selection({"selection": {"points": []}, "mode": "clear", "event": 3}) == []
    assert data.cell_from_selection(
        {"selection": {"points": [{"customdata": {"0": 2, "1": 1, "2": 9}}]}}
    ) == (
        2,
        1,
    )
    assert data.cell_from_selection({"selection": {"points": []}}) is None


def test_confusion_cells_match_the_matrix(b):
    for attr in b.attributes:
        cm = np.asarray(b.metrics[attr]["confusion"])
        for t, p in np.argwhere(cm > 0)[:5]:
            rows = data.cell_rows(b, attr, int(t), int(p))
            assert len(rows) == cm[t, p]
            assert (b.items["split"].iloc[rows] == "val").all()
        fig = figures.confusion_figure(b, data.bundle_key(b), attr, False)
        cells = arr(fig["data"][1]["customdata"])
        assert (cells[:, 2].reshape(cm.shape) == cm).all()
        # the matrix fills the plot, first class on top: no padded rows or columns around it
        c, lay = len(cm), fig["layout"]
        assert lay["xaxis"]["range"] == [-0.5, c - 0.5] and lay["yaxis"]["range"] == [c - 0.5, -0.5]
        assert lay["xaxis"]["autorange"] is False and lay["yaxis"]["autorange"] is False
        shown, counts, _ = data.confusion_matrix(b, attr, True)
        nz = counts.sum(1) > 0
        np.testing.assert_allclose(shown[nz].sum(1), 1.0)
    with pytest.raises(BundleError, match="no confusion matrix"):
        data.confusion_matrix(b, "medium", False)


def test_selection_table_and_csv(b):
    rows = [3, 1]
    t = data.selection_table(b, rows, {b.items["id"].iloc[1]: "dismissed"})
    assert t["id"].tolist() == b.items["id"].iloc[rows].tolist()
    assert t["verdict"].tolist() == ["", "dismissed"]
    assert {"outlier_score", "outlier_reasons", f"pred_{b.attributes[0]}"} <= set(t.columns)
    back = pd.read_csv(__import__("io").BytesIO(data.to_csv_bytes(t)), keep_default_na=False)
    assert back["id"].tolist() == t["id"].tolist()


def test_the_selection_reads_as_a_curator_writes_it_and_exports_the_catalog(b):
    """On screen, ArtGAN class names as WikiArt writes them and the artist's own name; the CSV keeps the
    catalog's values, row for row."""
    items = b.items.copy()
    attr = b.attributes[0]
    items.loc[items.index[:2], attr] = ["Naive_Art_Primitivism", "Post_Impressionism"]
    items.loc[items.index[:2], f"pred_{attr}"] = ["Pop_Art", "Naive_Art_Primitivism"]
    items.loc[items.index[:2], "artist"] = ["Paul_Cezanne", "Pierre_Auguste_Renoir"]
    if "artist_name" in items.columns:
        items.loc[items.index[:2], "artist_name"] = ["", "Auguste Renoir"]
    fake = type("B", (), {"items": items, "attributes": b.attributes})()
    raw = data.selection_table(fake, [0, 1, 2])
    shown = data.readable_table(fake, [0, 1, 2], raw)
    assert shown["id"].tolist() == raw["id"].tolist() and set(shown.columns) == set(raw.columns)
    assert list(raw.columns)[0] == "id" and list(shown.columns)[-1] == "id"  # title first on screen
    assert shown[attr].tolist()[:2] == ["Naïve Art (Primitivism)", "Post-Impressionism"]
    assert shown[f"pred_{attr}"].tolist()[:2] == ["Pop Art", "Naïve Art (Primitivism)"]
    renoir = "Auguste Renoir" if "artist_name" in items.columns else "Pierre-Auguste Renoir"
    assert shown["artist"].tolist()[:2] == ["Paul Cézanne", renoir]
    assert raw[attr].tolist()[:2] == ["Naive_Art_Primitivism", "Post_Impressionism"]  # untouched
    back = pd.read_csv(__import__("io").BytesIO(data.to_csv_bytes(raw)), keep_default_na=False)
    assert back["artist"].tolist()[:2] == ["Paul_Cezanne", "Pierre_Auguste_Renoir"]


def test_the_inspector_names_the_catalog_artist_as_the_catalog_writes_the_name(b, monkeypatch):
    """The artist class ``David_Teniers_The_Younger`` reads "David Teniers the Younger" where the catalog
    has the name, and as WikiArt writes the class where it has not."""
    if "artist" not in b.attributes:
        pytest.skip("no artist head in this bundle")
    items = b.items.copy()
    items["artist"] = items["artist"].astype(object)
    items.loc[items.index[0], "artist"] = "David_Teniers_The_Younger"
    items["artist_name"] = ""
    items.loc[items.index[0], "artist_name"] = "David Teniers the Younger"
    items.loc[items.index[1], "artist"] = "Paul_Cezanne"
    monkeypatch.setattr(b, "items", items)
    assert "**artist**: catalog *David Teniers the Younger*" in data.labels_markdown(b, 0)
    assert "**artist**: catalog *Paul Cézanne*" in data.labels_markdown(b, 1)


def test_the_inspector_says_where_a_painting_comes_from_before_its_file():
    wiki = {
        "id": "Baroque/david-teniers-the-younger_the-gallery-1641.jpg",
        "split": "val",
        "source": "wikiart",
        "license": "public domain (dated 1641; artist died 1690); image via WikiArt",
    }
    assert data.provenance(wiki) == (
        "WikiArt · public domain (dated 1641; artist died 1690); image via WikiArt",
        "val split · Baroque/david-teniers-the-younger_the-gallery-1641.jpg",
    )
    # a museum named as it is, no licence, no split: nothing empty is joined
    museum = {"id": "ra000049", "split": "", "source": "The Cleveland Museum of Art", "license": ""}
    assert data.provenance(museum) == ("The Cleveland Museum of Art", "ra000049")
    assert data.provenance({}) == ("", "")


def test_a_painting_is_named_by_title_artist_and_date_and_its_id_only_when_needed(b, monkeypatch):
    items = b.items.copy()
    for c in ("title", "artist", "date", "artist_name"):
        items[c] = items[c].astype(object) if c in items.columns else ""
    items.loc[items.index[:4], "title"] = ["Dancing Couple", "Dancing Couple", "Dancing Couple", ""]
    items.loc[items.index[:4], "artist_name"] = ["Jan Steen", "Jan Steen", "Jan Steen", ""]
    items.loc[items.index[:4], "artist"] = ["Jan_Steen", "Jan_Steen", "Jan_Steen", "Paul_Cezanne"]
    items.loc[items.index[:4], "date"] = ["1663", "1663", "1660", ""]
    monkeypatch.setattr(b, "items", items)
    key = data.bundle_key(b) + "#test"  # its own cache entry: these items are not the bundle's
    names = data.painting_labels(b, key)
    ids = items["id"].astype(str).tolist()
    assert names[:4] == [
        f"Dancing Couple — Jan Steen, 1663 ({ids[0]})",  # two alike: the id tells them apart
        f"Dancing Couple — Jan Steen, 1663 ({ids[1]})",
        "Dancing Couple — Jan Steen, 1660",
        f"(untitled) — Paul Cézanne ({ids[3]})",
    ]
    assert len(names) == len(items)


def test_review_queue_orders_and_filters(b):
    q = data.review_queue(b, {}, "To review")
    assert len(q) == int(b.items["flagged"].sum())
    assert q["outlier_score"].is_monotonic_decreasing
    pid = b.items["id"].iloc[int(q["row"].iloc[0])]
    q2 = data.review_queue(b, {pid: "confirmed"}, "To review")
    assert len(q2) == len(q) - 1
    assert data.review_queue(b, {pid: "confirmed"}, "Confirmed")["row"].tolist() == [q["row"].iloc[0]]
    with pytest.raises(ValueError, match="To review"):
        data.review_queue(b, {}, "pending")
    # the short "flagged on" column says which findings the reasons hold, strongest first
    assert (q["on"] == q["reasons"].map(lambda r: data.flagged_on(r, b.attributes))).all()


def test_flagged_on_names_the_attributes_then_the_map():
    attrs = ["style", "artist", "genre"]
    reasons = (
        "genre: catalogued as portrait; 7 of its 10 nearest neighbours are catalogued as landscape; "
        "style: catalogued as Cubism; unlike the rest of the collection: its 10 nearest paintings are 2.1x "
        "farther than is typical here"
    )
    assert data.flagged_on(reasons, attrs) == "genre, style, unlike the rest"
    assert data.flagged_on("artist: catalogued as Claude Monet", attrs) == "artist"
    assert data.flagged_on("", attrs) == ""


def test_image_bytes_reports_an_unreadable_image(tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"nope")
    jpeg, err = data.image_bytes(str(bad))
    assert jpeg is None and "x.jpg" in err


def test_training_log_becomes_per_epoch_curves(tmp_path):
    """The trainers' log.jsonl (step, epoch and resume records; epochs from 0) -> one row per epoch."""
    recs = [
        {"type": "step", "epoch": 0, "step": 20, "loss": 2.0, "lr": 0.01},
        {
            "type": "epoch",
            "epoch": 0,
            "lr": 0.1,
            "train_loss": 1.0,
            "val": {"style": {"top1": 0.3, "top5": 0.9}},
        },
        {"type": "resume", "epoch": 1, "step": 40},
        {
            "type": "epoch",
            "epoch": 1,
            "lr": 0.05,
            "train_loss": 0.5,
            "val": {"style": {"top1": 0.6, "top5": 1}},
        },
        {
            "type": "epoch",
            "epoch": 1,
            "lr": 0.05,
            "train_loss": 0.4,
            "val": {"style": {"top1": 0.7, "top5": 1}},
        },
    ]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\nnot json\n")
    log = cards.read_log.__wrapped__(str(tmp_path))
    assert log["epoch"].tolist() == [1, 2] and log["train_loss"].tolist() == [1.0, 0.4]
    groups = cards.curve_columns(log)
    assert groups["loss"] == ["epoch", "train_loss"]
    assert groups["validation top-1"] == ["epoch", "val.style.top1"]
    assert groups["schedule"] == ["epoch", "lr"]
    assert cards.curve_columns(pd.DataFrame()) == {}


def test_the_metrics_note_says_where_the_card_figures_come_from():
    bf16 = {
        "selected_on": "500 train paintings carved out; val reported once",
        "training": {"precision": "bf16"},
    }
    note = cards.metrics_note(bf16)
    assert "chosen on 500 train paintings carved out;" in note and "val reported" not in note
    assert "bf16" in note and "fp32" in note
    assert "bf16" not in cards.metrics_note({"training": {"precision": "fp32"}})
    assert (
        cards.metrics_note({"training": "garbled"}) == "Measured once by the trainer at the end of training."
    )


def test_reasons_are_grouped_per_attribute():
    text = (
        "style: catalogued as cubist; 9 of its 10 nearest neighbours are pointillist; artist: catalogued as A"
    )
    assert data.group_reasons(text, ["style", "artist"]) == [
        "style: catalogued as cubist; 9 of its 10 nearest neighbours are pointillist",
        "artist: catalogued as A",
    ]
    plain = "catalogued as Monet; the classifier gives Renoir 0.81"
    assert data.group_reasons(plain, ["artist"]) == [
        "catalogued as Monet",
        "the classifier gives Renoir 0.81",
    ]
    assert data.group_reasons("", ["artist"]) == []


def test_data_and_figures_import_no_streamlit_nor_does_the_rest_of_the_library():
    import subprocess
    import sys

    mods = [
        "artextract.app.data",
        "artextract.app.pairs",
        "artextract.app.figures",
        "artextract.app.models",
        "artextract.app.cards",
        "artextract.build",
        "artextract.cli",
        "artextract.bundle",
        "artextract.stages",
        "artextract.predict",
    ]
    code = (
        "import importlib, sys\n"
        + "".join(f"importlib.import_module({m!r})\n" for m in mods)
        + ("print('streamlit' in sys.modules)")
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.strip() == "False"


def test_classify_and_search_is_the_classifier_and_the_encoder_and_one_pass_when_they_are_one(b, monkeypatch):
    from artextract.app import models
    from artextract.images import load_image
    from artextract.predict import classify_image, embed_query

    img = load_image(b.image_path(0))
    labels, hits, gated = models.classify_and_search(b, img, 5)
    assert gated == {}  # the demo classifier has no open-set gate beside it
    assert labels == classify_image(models.embedder(b, "classifier"), img)
    q = embed_query(models.embedder(b, "encoder"), img)
    assert hits["id"].tolist() == b.reference.search(q, 5)["id"].tolist()

    # a bundle whose classifier is also its encoder (the sample): one forward pass serves both
    from types import SimpleNamespace

    from artextract.predict import l2_normalize

    one = models.embedder(b, "classifier")
    calls, queries = [], []
    real = one.embed_images
    monkeypatch.setattr(one, "embed_images", lambda imgs: calls.append(1) or real(imgs))
    monkeypatch.setattr(models, "embedder", lambda bundle, role: one)
    monkeypatch.setitem(
        b.__dict__, "reference", SimpleNamespace(search=lambda q, k: queries.append(q) or hits)
    )
    labels1, _, _ = models.classify_and_search(b, img, 5)
    assert len(calls) == 1 and labels1 == labels
    np.testing.assert_allclose(queries[0], l2_normalize(real([img]).embeddings[0]), atol=1e-6)


def test_two_runs_asking_for_a_model_at_once_load_it_once(b, monkeypatch):
    """Two sessions, or a rerun that starts while the run before is still loading (Streamlit's fast
    reruns), ask for the classifier at once: one load, and both get it. Two loads at once exported two
    ONNX graphs at once, and torch failed the second ("GLOBALS.in_onnx_export must be False")."""
    import threading
    import time

    from artextract import predict
    from artextract.app import models

    loads, inside, overlapped = [], [0], []

    def slow_load(checkpoint_dir):
        inside[0] += 1
        overlapped.append(inside[0] > 1)
        time.sleep(0.3)  # an ONNX export takes seconds
        loads.append(checkpoint_dir)
        inside[0] -= 1
        return object()

    monkeypatch.setattr(predict, "load_embedder", slow_load)
    models._embedder.cache_clear()
    got = []
    try:
        runs = [
            threading.Thread(target=lambda: got.append(models.embedder(b, "classifier"))) for _ in range(3)
        ]
        for t in runs:
            t.start()
        for t in runs:
            t.join()
    finally:
        models._embedder.cache_clear()  # the other tests load the real model again
    assert len(loads) == 1 and not any(overlapped)
    assert len(got) == 3 and got[0] is got[1] is got[2]


def test_the_inspector_names_no_artist_when_the_open_set_gate_stops_the_painting(b):
    """A painting the gate stops: no class is named, the top-3 are the closest of them, and the ✓/✗ says
    whether stopping it was right (the catalog names an artist outside the head's classes)."""

    from artextract.app.data import labels_markdown

    attr = "artist"
    assert attr in b.attributes
    row = int(np.flatnonzero(b.items[attr].astype(str).isin(b.classes[attr]))[0])
    n = len(b.classes[attr])
    stop = {attr: {"p_known": 0.001, "threshold": 0.01}}
    text = labels_markdown(b, row, stop)
    line = next(x for x in text.split("\n- ") if x.lstrip("- ").startswith(f"**{attr}**"))
    assert f"none of the {n} artists it knows* ✗" in line  # catalogued as one of them: wrongly stopped
    assert "closest of those" in line
    other = b.items.copy()
    other.loc[row, attr] = "Adriaen_Brouwer"
    ob = dataclasses.replace(b, items=other)
    assert f"none of the {n} artists it knows* ✓" in labels_markdown(ob, row, stop)
    # let through: the head's own answer, as without a gate
    through = {attr: {"p_known": 0.5, "threshold": 0.01}}
    assert labels_markdown(b, row, through) == labels_markdown(b, row)
    assert "none of the" not in labels_markdown(b, row, through)


def test_models_page_line_on_the_open_set_check(tmp_path):
    from artextract.app.cards import open_set_note

    assert open_set_note(tmp_path) is None  # no check beside this checkpoint
    (tmp_path / "card.json").write_text(json.dumps({"weights_sha256": "ab" * 32}))
    gate = {
        "attribute": "artist",
        "classes": ["a", "b", "c"],
        "val": {"known_let_through": 0.953, "other_stopped": 0.566, "auroc": 0.909},
        "weights_sha256": "ab" * 32,
    }
    (tmp_path / "open_set.json").write_text(json.dumps(gate))
    note = open_set_note(tmp_path)
    assert "one of the 3 artists" in note and "95%" in note and "57%" in note and "0.91" in note
    (tmp_path / "open_set.json").write_text(json.dumps({**gate, "weights_sha256": "cd" * 32}))
    assert "fitted for other weights, so it is not used" in open_set_note(tmp_path)
    (tmp_path / "open_set.json").write_text("{broken")
    assert open_set_note(tmp_path) is None


def test_explore_colours_paintings_the_open_set_check_stops_as_none_of_the_artists(b, monkeypatch):
    from artextract.analysis.open_set import OpenSetGate
    from artextract.app import figures, models

    n_cls = len(b.classes["artist"])
    gate = OpenSetGate("artist", tuple(b.classes["artist"]), np.zeros(4, np.float32), 0.0, 0.5)
    p = np.where(np.arange(len(b.items)) % 3 == 0, 0.1, 0.9)  # every third painting stopped
    monkeypatch.setattr(models, "open_set_gate", lambda _b: (gate, None))
    monkeypatch.setattr(models, "bundle_p_known", lambda _b, _k, _s: p)
    proj = b.projections[0]
    fig = figures.scatter_figure.__wrapped__(b, "k", proj, "pred_artist", None, 1.0)
    names = [t["name"] for t in fig["data"] if not t["name"].startswith("flagged")]
    stopped = f"none of the {n_cls} artists it knows ({int((p < 0.5).sum())})"
    assert stopped in names
    assert sum(int(name.rsplit("(", 1)[1].rstrip(")")) for name in names) == len(b.items)
    colours = {t["name"]: t["marker"]["color"] for t in fig["data"] if not t["name"].startswith("flagged")}
    greys = {"#9E9E9E", "#C8C8C8", "#E0E0E0"}
    assert colours.pop(stopped) == "#9E9E9E"  # no name given: grey, and no named artist is grey
    assert not greys & set(colours.values()) and not greys & set(figures.PALETTE)
    # other colourings are untouched
    fig = figures.scatter_figure.__wrapped__(b, "k", proj, "pred_style", None, 1.0)
    assert not any(t["name"].startswith("none of the") for t in fig["data"])


def test_home_line_counts_what_the_open_set_check_does_on_the_collection(b, monkeypatch):
    from artextract.analysis.open_set import OpenSetGate
    from artextract.app import models

    classes = tuple(b.classes["artist"])
    gate = OpenSetGate("artist", classes, np.zeros(4, np.float32), 0.0, 0.5)
    known = b.items["artist"].astype(str).isin(classes).to_numpy()
    items = b.items.copy()
    items.loc[items.index[:10], "artist"] = "Someone_Else"  # ten paintings by an artist it does not know
    items["split"] = "val"
    items.loc[items.index[-3:], "split"] = "train"  # the check may have been fitted on these: not counted
    ob = dataclasses.replace(b, items=items)
    p = np.where(np.arange(len(items)) < 5, 0.1, 0.9)  # it stops five of them, and nothing else
    monkeypatch.setattr(models, "open_set_gate", lambda _b: (gate, None))
    monkeypatch.setattr(models, "bundle_p_known", lambda _b, _k, _s: p)
    models._open_set_summary.cache_clear()  # cached per bundle and gate stamp: this test swaps gates in place
    line = models.open_set_summary(ob)
    n_known = int(known[10:-3].sum())
    assert (
        f"of the {n_known:,} paintings here (train split left out) by one of the {len(classes)} artists"
        in line
    )
    assert "lets 100% through" in line and "of the 10 by other artists, it stops 50%" in line
    monkeypatch.setattr(models, "open_set_gate", lambda _b: (None, "the gate was fitted for other weights"))
    models._open_set_summary.cache_clear()
    assert models.open_set_summary(ob) == "Open-set check not used: the gate was fitted for other weights"
    monkeypatch.setattr(models, "open_set_gate", lambda _b: (None, None))
    models._open_set_summary.cache_clear()
    assert models.open_set_summary(ob) is None


def test_a_refitted_open_set_gate_is_not_mixed_with_the_old_scores(b, tmp_path, monkeypatch):
    """The gate's answers for the bundle are cached on the gate files' stamp: rewrite the gate and the
    next answer comes from the new one."""
    import shutil
    import time

    from artextract.analysis.open_set import OpenSetGate, save_gate
    from artextract.app import models
    from artextract.nets.checkpoint import read_card

    ckpt = tmp_path / "classifier"
    shutil.copytree(b.checkpoint_dir("classifier"), ckpt)
    monkeypatch.setattr(b, "checkpoint_dir", lambda role: ckpt)
    card = read_card(ckpt)
    classes, dim = tuple(card["heads"]["artist"]), card["embedding_dim"]

    def write(bias: float) -> None:
        meta = {
            "format": "artextract-open-set/1",
            "attribute": "artist",
            "classes": list(classes),
            "threshold": 0.5,
        }
        save_gate(
            ckpt,
            OpenSetGate("artist", classes, np.zeros(dim, np.float32), bias, 0.5, meta),
            card["weights_sha256"],
        )

    assert models.gate_stamp(b) == 0 and models.open_set_gate(b) == (None, None)
    write(-5.0)  # stops everything
    assert models.row_gated(b, 0)["artist"]["p_known"] < 0.5
    time.sleep(0.01)
    write(5.0)  # lets everything through
    assert models.row_gated(b, 0)["artist"]["p_known"] > 0.5


def test_card_metrics_read_per_head_for_a_classifier_and_for_a_byol_probe():
    head = {"n": 30, "top1": 0.5, "top5": 0.9, "macro_f1": 0.4, "chance": 0.1, "majority": 0.2}
    table = cards.card_metrics({"metrics": {"epoch": 3, "mean_top1": 0.5, "style": head, "genre": head}})
    assert list(table.columns) == ["head", "paintings", "accuracy", "top-5", "macro-F1", "chance", "majority"]
    assert table["head"].tolist() == ["style", "genre"] and table["accuracy"].tolist() == [0.5, 0.5]
    # a BYOL card keeps its per-head k-NN probe one level down: a row per head, not one empty "knn" row
    byol = {"epoch": 2, "knn_score": 0.58, "knn": {"style": {"top1": 0.59, "n": 3000, "majority": 0.26}}}
    table = cards.card_metrics({"metrics": byol})
    assert table.to_dict("records") == [
        {"head": "style · k-NN probe", "paintings": 3000, "accuracy": 0.59, "majority": 0.26}
    ]
    assert cards.card_metrics({"metrics": {"epoch": 3, "loss": 0.5}}).to_dict("records") == [
        {"epoch": 3, "loss": 0.5}
    ]
    for empty in ({}, {"metrics": None}, {"metrics": {"knn": {}}}, {"metrics": {"style": {"x": [1]}}}):
        assert cards.card_metrics(empty).empty, empty


def test_trained_on_reads_counts_and_shortens_the_catalog_hash():
    line = cards.trained_on(
        {"collection": "data/wikiart", "catalog_sha256": "c6149b32f3e8aaa9f99f", "n_train": 17760,
         "n_selection": 500, "n_val": 5564, "val": "split column"}
    )  # fmt: skip
    assert line == (
        "Trained on `data/wikiart`, catalog sha256 `c6149b32f3e8…`, 17,760 train · 500 for selection · "
        "5,564 val paintings, val: split column"
    )
    line = cards.trained_on({"collection": "c", "n_images": 18260, "split": "train", "extra": {"a": 1}})
    assert line == "Trained on `c`, 18,260 paintings, split: train"
    # a card written by hand or by another tool: what is not a count is not read as one
    line = cards.trained_on(
        {"n_train": float("nan"), "n_val": True, "n_selection": float("inf"), "n_images": "9"}
    )
    assert line == "Trained on n_train: nan, n_val: True, n_selection: inf, n_images: 9"


def test_an_ensemble_card_names_its_members_and_who_measured_it():
    from pathlib import Path

    card = {
        "arch": "ensemble",
        "arch_kwargs": {"members": [{"arch": "rla_mobilenetv2"}, {"arch": "mobilenetv2"}]},
        "kind": "classifier",
        "input_size": 160,
        "heads": {"style": ["a", "b"]},
        "training": {"trainer": "artextract.train ensemble", "precision": "bf16"},
    }
    text = cards.card_summary(card, Path("models/x"))
    assert "**ensemble** of rla_mobilenetv2 + mobilenetv2" in text and "logits averaged" in text
    assert cards.metrics_note(card).startswith("Measured once by `python -m artextract.train ensemble`")
    # a garbled members list falls back to the plain architecture line
    assert "**ensemble** ·" in cards.card_summary({**card, "arch_kwargs": {"members": "x"}}, Path("m"))


def test_a_checkpoint_serving_two_roles_is_listed_once(tmp_path, monkeypatch):
    from pathlib import Path

    from artextract.errors import BundleError

    models = tmp_path / "models"
    for name in ("ens", "byol", "other"):
        (models / name).mkdir(parents=True)
        (models / name / "card.json").write_text("{}")
    monkeypatch.setenv("ARTEXTRACT_MODELS", str(models))

    class Stub:
        name = "sample"
        manifest = {"checkpoints": {"classifier": {}, "encoder": {}, "evidence_encoder": {}, "gone": {}}}

        def checkpoint_dir(self, role: str) -> Path:
            if role == "gone":
                raise BundleError("moved away")
            return models / {"classifier": "ens", "encoder": "ens", "evidence_encoder": "byol"}[role]

    found = cards.checkpoint_dirs(Stub())
    assert found == {
        "classifier and encoder (used by sample)": models / "ens",
        "evidence_encoder (used by sample)": models / "byol",
        "other": models / "other",
    }


def test_a_bundle_finished_within_one_clock_tick_of_its_last_stage_is_listed(tmp_path, monkeypatch):
    """A build writes its manifest "complete": false after its last stage and "complete": true moments
    later, often within one tick of the file clock: a listing read in between must not keep the new
    bundle out until the app restarts."""
    import os

    from artextract.fileio import write_json_atomic

    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path))
    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(tmp_path / "artifacts" / "default"))
    man = tmp_path / "artifacts" / "mine" / "manifest.json"
    man.parent.mkdir(parents=True)
    write_json_atomic(man, {"name": "mine", "complete": False, "collection": {"n": 25}})
    tick = man.stat().st_mtime_ns
    assert "mine" not in [i.name for i in data.list_bundles()]  # a build running: left out
    write_json_atomic(man, {"name": "mine", "complete": True, "collection": {"n": 25}, "build_seconds": 1.0})
    os.utime(man, ns=(tick, tick))  # the same modification time as the manifest read above
    listed = {i.name: i for i in data.list_bundles()}
    assert "mine" in listed and listed["mine"].paintings == 25


def test_markdown_table_right_aligns_numbers_formats_them_and_escapes_text():
    import pandas as pd

    from artextract.app.data import markdown_table

    df = pd.DataFrame(
        {"attribute": ["style", "a|b *c*"], "paintings scored": [1246.0, None], "accuracy": [0.8604, np.nan]}
    )
    md = markdown_table(df, whole=("paintings scored",)).splitlines()
    assert md[0] == "| attribute | paintings scored | accuracy |"
    assert md[1] == "|---|---:|---:|"
    assert md[2] == "| style | 1,246 | 0.860 |"
    assert md[3].startswith("| a\\|b \\*c\\* |") and md[3].endswith("| — | — |")
    assert len(md) == 4
    nullable = markdown_table(pd.DataFrame({"n": pd.array([3, None], dtype="Int64")})).splitlines()
    assert nullable[2:] == ["| 3 |", "| — |"]


def test_manifest_markdown_nests_escapes_and_shortens_long_lists():
    from artextract.app.data import manifest_markdown

    md = manifest_markdown(
        {"name": "my_set", "stages": {"embed": {"version": 2}}, "ids": list(range(20)), "none": None, "x": {}}
    )
    lines = md.splitlines()
    assert lines[0] == "- **name**: my\\_set"
    assert lines[1:3] == ["- **stages**:", "  - **embed**:"] and lines[3] == "    - **version**: 2"
    assert "  - 11" in lines and "  - 12" not in lines and "  - … 8 more" in lines
    assert lines[-2:] == ["- **none**: —", "- **x**: —"]


def test_curve_chart_draws_each_logged_column_against_the_epoch():
    import pandas as pd

    from artextract.app.cards import curve_chart, curve_columns

    log = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.5, 1.2, np.nan], "val_loss": [1.1, 1.0, 0.9]})
    ((name, cols),) = curve_columns(log).items()
    data, spec = curve_chart(log, cols)
    assert name == "loss" and cols == ["epoch", "train_loss", "val_loss"]
    assert len(data) == 5  # the missing value is left out, not drawn as zero
    assert sorted(data["series"].unique()) == ["train_loss", "val_loss"]
    assert data.loc[data["series"] == "val_loss", "value"].tolist() == [1.1, 1.0, 0.9]
    assert spec["encoding"]["x"]["field"] == "epoch" and spec["encoding"]["color"]["field"] == "series"


def _first_view_svg(html: str) -> str:
    import re

    src = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert src, html[:200]
    return base64.b64decode(src.group(1)).decode("utf-8")


def test_the_first_view_puts_each_painting_where_plotly_draws_it(b):
    """A new chart frame has the map shown in the page itself until it has drawn it: every point of the
    figure at its place in the plot area (in hundredths of a percent of it, so any width gives plotly's
    places), in trace order, the rings of flagged paintings and of the open one; over the chart's whole
    place, letting clicks through."""
    import re

    key = data.bundle_key(b)
    proj = b.projections[0]
    spec = figures._json(figures.scatter_figure.__wrapped__(b, key, proj, "style", None, b.outlier_threshold))
    fig = json.loads(spec)
    (x0, x1), (y0, y1) = fig["layout"]["xaxis"]["range"], fig["layout"]["yaxis"]["range"]
    item = b.items.iloc[3]
    mx, my = float(item[f"{proj}_x"]), float(item[f"{proj}_y"])
    html = figures.first_view_html(spec, (mx, my))
    assert f'data-points="{len(b.items)}"' in html and "pointer-events:none" in html
    assert "top:16px;height:620px" in html  # the chart's whole place, under the page's gap
    svg = _first_view_svg(html)
    # each trace of dots is one path of zero-length strokes on a plot area of 10,000 units each way
    paths = re.findall(r'<path d="([^"]+)" fill="none" stroke="([^"]+)"', svg)
    dotted = [t for t in fig["data"] if t["marker"].get("symbol") != "circle-open"]
    assert [c for _, c in paths] == [t["marker"]["color"] for t in dotted]
    got = (
        np.array([(float(a), float(b)) for d, _ in paths for a, b in re.findall(r"M(\d+) (\d+)h0", d)]) / 100
    )
    assert len(got) == len(b.items) and 'vector-effect="non-scaling-stroke"' in svg
    xs = np.concatenate([figures._typed(t["x"]) for t in dotted])
    ys = np.concatenate([figures._typed(t["y"]) for t in dotted])
    assert np.allclose(got[:, 0], (xs - x0) / (x1 - x0) * 100, atol=0.006)
    assert np.allclose(got[:, 1], (1 - (ys - y0) / (y1 - y0)) * 100, atol=0.006)
    rings = len(re.findall(r'<g fill="none"[^>]*>(.*?)</g>', svg))  # flagged paintings' rings
    assert rings == sum(t["marker"].get("symbol") == "circle-open" for t in fig["data"]) > 0
    ring = re.search(r'<circle cx="([-\d.]+)%" cy="([-\d.]+)%" r="12"', svg)  # the open painting's
    assert ring and float(ring.group(1)) == pytest.approx((mx - x0) / (x1 - x0) * 100, abs=0.006)
    assert float(ring.group(2)) == pytest.approx((1 - (my - y0) / (y1 - y0)) * 100, abs=0.006)
    assert 'r="12"' not in _first_view_svg(figures.first_view_html(spec))


def test_the_first_view_draws_only_what_it_draws_as_plotly_does(b, monkeypatch):
    """No first view (the chart component shows the map) for a figure it would not draw as plotly does:
    a confusion matrix, a colour it does not write as it is, more paintings than it draws; nor when
    ARTEXTRACT_FIRST_VIEW=0."""
    key = data.bundle_key(b)
    spec = figures._json(
        figures.scatter_figure.__wrapped__(b, key, b.projections[0], "style", None, b.outlier_threshold)
    )
    assert figures.first_view_html(spec)
    assert figures.first_view_html(figures.confusion_json(b, key, "style", False)) == ""
    fig = json.loads(spec)
    fig["data"][0]["marker"]["color"] = 'red" onload="alert(1)'
    assert figures.first_view_html(json.dumps(fig)) == ""
    fig["data"][0]["marker"]["color"] = "rgba(1, 2, 3, 0.5)"
    assert figures.first_view_html(json.dumps(fig)) == ""
    monkeypatch.setattr(figures, "FIRST_VIEW_MAX_POINTS", len(b.items) - 1)
    figures._first_view.cache_clear()
    try:
        assert figures.first_view_html(spec) == ""
    finally:
        figures._first_view.cache_clear()  # no answer of the lower limit is kept
    monkeypatch.setenv(figures.FIRST_VIEW_ENV, "0")
    assert not figures.first_view_wanted()
    monkeypatch.setenv(figures.FIRST_VIEW_ENV, "1")
    assert figures.first_view_wanted()
