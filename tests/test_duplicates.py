"""Near duplicates: layout descriptors, the self-join, pairs with a reference, verdicts, the page."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from artextract import review
from artextract.analysis.duplicates import (
    DETAIL_MIN,
    describe_paths,
    duplicate_pairs,
    layout_descriptor,
    pair_difference,
    pair_key,
    reference_pairs,
)
from artextract.errors import BundleError


def painting(seed: int, size=(200, 150)) -> Image.Image:
    """A smooth random picture (blobs of colour), different for every seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def altered(img: Image.Image) -> Image.Image:
    """Cropped 10%, resized to 60%, brighter and less saturated, re-encoded at JPEG quality 60."""
    w, h = img.size
    img = img.crop((int(0.05 * w), int(0.05 * h), int(0.95 * w), int(0.95 * h)))
    img = img.resize((int(0.6 * img.width), int(0.6 * img.height)), Image.Resampling.BICUBIC)
    img = ImageEnhance.Color(ImageEnhance.Brightness(img).enhance(1.08)).enhance(0.9)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=60)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def test_altered_copies_are_the_most_similar_pairs_and_flat_images_pair_with_nothing():
    originals = [painting(s) for s in range(60)]
    copies = {60 + j: j * 7 for j in range(6)}  # copy row -> original row
    imgs = originals + [altered(originals[o]) for o in copies.values()]
    imgs.append(Image.new("RGB", (120, 90), (128, 128, 128)))  # flat: no layout to match
    desc = np.stack([layout_descriptor(i) for i in imgs])
    assert desc.shape == (67, 3, 256) and np.allclose(np.linalg.norm(desc[:66], axis=2), 1.0, atol=1e-4)
    assert not desc[66].any()
    pairs = duplicate_pairs(desc, min_sim=-1.0)
    top = {(int(a), int(b)) for a, b in zip(pairs["a"][:6], pairs["b"][:6], strict=True)}
    assert top == {(o, c) for c, o in copies.items()}
    assert (pairs["a"] < pairs["b"]).all() and pairs["sim"].is_monotonic_decreasing
    assert (
        not ((pairs["a"] == 66) | (pairs["b"] == 66)).any() or pairs.loc[pairs["b"] == 66, "sim"].max() <= 0
    )
    kept = duplicate_pairs(desc)  # the default floor keeps the copies, drops most chance pairs
    assert len(kept) < len(pairs) and {(o, c) for c, o in copies.items()} <= set(
        zip(kept["a"], kept["b"], strict=True)
    )


def test_pairs_with_a_reference_collection():
    coll = np.stack([layout_descriptor(painting(s)) for s in range(20)])
    ref_imgs = [painting(100 + s) for s in range(30)] + [altered(painting(3)), altered(painting(11))]
    ref = np.stack([layout_descriptor(i) for i in ref_imgs])
    pairs = reference_pairs(coll, ref, min_sim=0.9)
    assert {(int(a), int(r)) for a, r in zip(pairs["a"], pairs["ref"], strict=True)} == {(3, 30), (11, 31)}


def test_describe_paths_reports_unreadable_files_and_shows_progress(tmp_path):
    good = tmp_path / "a.png"
    painting(1).save(good)
    bad = tmp_path / "b.jpg"
    bad.write_bytes(b"not an image")
    seen = []
    desc, failed = describe_paths([good, bad], progress=lambda d, t: seen.append((d, t)))
    assert list(failed) == [1] and desc[0].any() and not desc[1].any()
    assert seen[-1] == (2, 2)


def test_pair_difference_names_crop_resolution_and_colour():
    a = painting(5, (400, 300))
    b = altered(a)
    d = pair_difference(a, b)
    assert d["size_a"] == (400, 300) and d["size_b"] == b.size
    assert "resolution" in d["summary"] and d["thumbnail_correlation"] > 0.8
    same = pair_difference(a, a.copy())
    assert same["summary"] == "no visible difference at thumbnail scale"
    shifted = pair_difference(a, ImageEnhance.Brightness(a).enhance(1.4))
    assert "colour shifted" in shifted["summary"]
    # an altered copy's fine detail agrees; another picture on the same layout (the same blobs of colour
    # under other brushwork, here other grain) shares the composition but not the detail
    assert d["detail_agreement"] >= DETAIL_MIN and "fine detail" not in d["summary"]
    rng = np.random.default_rng(9)

    def brushwork(img):  # strokes of about 5 px
        strokes = Image.fromarray(
            rng.normal(128, 20, (img.height // 5, img.width // 5)).clip(0, 255).astype(np.uint8)
        )
        grain = np.asarray(strokes.resize(img.size, Image.Resampling.NEAREST), float)[..., None] - 128
        return Image.fromarray((np.asarray(img, float) + grain).clip(0, 255).astype(np.uint8))

    one, other = brushwork(a), brushwork(a)
    assert pair_difference(one, altered(one))["detail_agreement"] >= DETAIL_MIN
    lookalike = pair_difference(one, other)
    assert lookalike["thumbnail_correlation"] > 0.8 and lookalike["detail_agreement"] < DETAIL_MIN
    assert "fine detail differs" in lookalike["summary"]


def test_pair_verdicts_are_kept_per_pair_and_the_latest_wins(tmp_path):
    db = tmp_path / "r.sqlite"
    key = pair_key("b-2", "a-1")
    assert key == pair_key("a-1", "b-2") == "a-1 | b-2"
    review.record_pair(key, "coll", "duplicate", reviewer="Ada", db=db)
    review.record_pair(key, "coll", "distinct", reviewer="Ada", db=db)
    review.record_pair(pair_key("x", "y"), "other", "duplicate", db=db)
    assert review.pair_verdict_map("coll", db=db) == {key: "distinct"}
    with pytest.raises(review.ReviewError, match="unknown verdict"):
        review.record_pair(key, "coll", "confirmed", db=db)
    assert review.verdict_map("coll", db=db) == {}  # painting verdicts are another table


@pytest.fixture()
def dup_bundle(tiny_demo, tiny_checkpoints, tmp_path):
    """The tiny collection with altered copies of three of its paintings, built with a reference."""
    from artextract.build import BuildConfig, build_bundle
    from artextract.catalog import image_path, read_catalog, write_catalog

    coll = tmp_path / "coll"
    shutil.copytree(tiny_demo["collection"], coll)
    cat = read_catalog(coll)
    rows = []
    for j, i in enumerate((2, 40, 77)):
        src = cat.iloc[i].copy()
        img = altered(Image.open(image_path(coll, src["image"])).convert("RGB").resize((256, 256)))
        rel = f"images/copy_{j}.jpg"
        img.save(coll / rel)
        src["id"], src["image"], src["title"] = f"copy-{j}", rel, f"{src['title']} (copy)"
        rows.append(src)
    import pandas as pd

    write_catalog(pd.concat([cat, pd.DataFrame(rows)], ignore_index=True), coll)
    out = tmp_path / "data" / "artifacts" / "dups"
    report = build_bundle(
        BuildConfig(
            collection=coll,
            classifier=tiny_checkpoints["classifier"],
            out=out,
            name="dups",
            reference=tiny_demo["reference"],
            encoder=tiny_checkpoints["encoder"],
            projections=("tsne",),
            progress=False,
        ),
        log=lambda m: None,
    )
    assert "duplicates" in report.ran
    return out, cat


def test_build_lists_the_planted_copies_first(dup_bundle):
    from artextract.bundle import open_bundle

    out, cat = dup_bundle
    b = open_bundle(out)
    pairs = b.duplicate_pairs()
    ids = b.items["id"].to_numpy()
    top = {frozenset((ids[a], ids[c])) for a, c in zip(pairs["a"][:3], pairs["b"][:3], strict=True)}
    assert top == {frozenset((cat["id"].iloc[i], f"copy-{j}")) for j, i in enumerate((2, 40, 77))}
    assert b.duplicate_pairs("reference") is not None and b.manifest["duplicates"]["pairs"] == len(pairs)
    with pytest.raises(BundleError, match="unknown duplicate scope"):
        b.duplicate_pairs("elsewhere")


def test_duplicates_page_marks_a_pair(dup_bundle, monkeypatch, tmp_path):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    out, cat = dup_bundle
    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(out))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path / "data"))
    app = Path(__file__).resolve().parents[1] / "app.py"
    at = AppTest.from_file(app, default_timeout=60).run()
    at.switch_page("pages/duplicates.py").run()
    assert not at.exception, [e.value for e in at.exception]
    body = "\n".join(m.value for m in at.markdown)
    assert "pair(s)** at similarity ≥ 0.90" in body and "**Similarity " in body
    assert any("Difference (right vs left)" in c.value for c in at.caption)
    # the planted copies keep their records ("... (copy)" holds the title): the same work filed twice
    assert "The catalogue records agree on the artist, the title, the date, the style and the genre." in body
    at.selectbox(key="duplicates.records").select("Agree (filed twice?)").run()
    assert not at.exception
    body = "\n".join(m.value for m in at.markdown)
    assert "catalogue records: agree (filed twice?)" in body and "**Similarity " in body
    assert "The catalogue records disagree" not in body
    at.selectbox(key="duplicates.records").select("Any").run()
    at.selectbox(key="duplicates.detail").select("Agrees (the same picture)").run()
    assert not at.exception
    body = "\n".join(m.value for m in at.markdown)
    assert "fine detail: agrees" in body and "copy" in body  # the planted copies' pairs stay
    at.selectbox(key="duplicates.detail").select("Any").run()
    assert at.get("download_button")  # the listed pairs, as CSV
    dup = [b for b in at.button if b.label == "Duplicate"]
    assert dup and all(b.disabled for b in dup)  # a verdict needs a name
    at.text_input(key="review.reviewer").input("Ada").run()
    first = next(b for b in at.button if b.label == "Duplicate")
    pair = first.key.removeprefix("duplicates.dup.")
    first.click().run()
    assert not at.exception and review.pair_verdict_map("dups") == {pair: "duplicate"}
    assert any("Recorded" in s.value for s in at.success)
    at.selectbox(key="duplicates.queue").select("Duplicate").run()
    assert "1 pair(s)" in "\n".join(m.value for m in at.markdown)


def test_record_disagreements_read_names_dates_and_labels_as_a_curator_would():
    """The two catalogue records of a pair, compared field by field: an artist named more or less fully is
    the same artist, a year in common is the same date, a title differing in case or punctuation is the
    same title; a field either record leaves empty is not compared."""
    import pandas as pd

    from artextract.app.pairs import record_disagreements, records_sentence

    rubens = pd.Series(
        {
            "artist": "Peter_Paul_Rubens",
            "artist_name": "Sir Peter Paul Rubens",
            "title": "Portrait of Isabella Brandt",
            "date": "1626",
            "style": "Baroque",
            "genre": "portrait",
        }
    )
    van_dyck = pd.Series(
        {
            "artist": "Anthony_Van_Dyck",
            "artist_name": "Sir Anthony van Dyck",
            "title": "Isabella Brandt",
            "date": "1621",
            "style": "Baroque",
            "genre": "portrait",
        }
    )
    differ, compared = record_disagreements(rubens, van_dyck)
    assert [f for f, _, _ in differ] == ["artist", "date"]  # one title inside the other: the same title
    assert differ[0] == ("artist", "Sir Peter Paul Rubens", "Sir Anthony van Dyck")
    assert compared == ["artist", "title", "date", "style", "genre"]
    line = records_sentence(differ, compared)
    assert line.startswith("The catalogue records disagree on the artist (Sir Peter Paul Rubens | Sir ")
    assert line.endswith("and the date (1626 | 1621).")

    # the same work as a museum catalogues it: fuller name, "ca." date, other case; no style or genre
    wikiart = pd.Series(
        {
            "artist": "Diego_Velazquez",
            "artist_name": "",
            "title": "Juan de Pareja",
            "date": "1650",
            "style": "Baroque",
            "genre": "portrait",
        }
    )
    met = pd.Series(
        {
            "artist": "",
            "artist_name": "Velázquez (Diego Rodríguez de Silva y Velázquez)",
            "title": "Juan De Pareja",
            "date": "ca. 1650",
            "style": "",
            "genre": "",
        }
    )
    differ, compared = record_disagreements(wikiart, met)
    assert differ == [] and compared == ["artist", "title", "date"]
    assert (
        records_sentence(differ, compared)
        == "The catalogue records agree on the artist, the title and the date."
    )
    # one style label against another, written as a curator reads it; a missing value is not compared
    fauve = wikiart.copy()
    fauve["style"], fauve["date"] = "Naive_Art_Primitivism", float("nan")
    differ, compared = record_disagreements(wikiart, fauve)
    assert differ == [("style", "Baroque", "Naïve Art (Primitivism)")] and "date" not in compared
    # nothing in common: the sentence says what that most likely means; a one-word title is no anchor
    dou = pd.Series({"artist_name": "Gerrit Dou", "title": "Heraklith", "date": "1632"})
    frago = pd.Series(
        {"artist_name": "Jean Honoré Fragonard", "title": "Self Portrait of Heraklith", "date": "1770"}
    )
    differ, compared = record_disagreements(dou, frago)
    assert [f for f, _, _ in differ] == ["artist", "title", "date"]
    assert records_sentence(differ, compared).endswith("most likely two works that only look alike.")
    # another man with a name in common is another artist
    peale = pd.Series({"artist_name": "Rembrandt Peale"})
    assert record_disagreements(pd.Series({"artist_name": "Rembrandt van Rijn"}), peale)[0][0][0] == "artist"
    assert records_sentence([], []) == "The catalogue records share no field to compare."


def test_duplicate_table_keeps_pairs_by_what_their_records_say(dup_bundle):
    """The planted copies keep their records (the title "X (copy)" holds X): their pairs are among those
    whose records agree, and none of them is listed as having different titles."""
    from artextract.app.pairs import RECORD_FILTERS, duplicate_table
    from artextract.bundle import open_bundle

    out, cat = dup_bundle
    b = open_bundle(out)
    every = duplicate_table(b, "k", "collection", 0.0, "All")
    assert "disagree" in every and len(every) == len(b.duplicate_pairs())
    ids = b.items["id"].to_numpy()

    def listed(t):
        return {frozenset((ids[a], ids[o])) for a, o in zip(t["a"], t["b"], strict=True)}

    planted = {frozenset((cat["id"].iloc[i], f"copy-{j}")) for j, i in enumerate((2, 40, 77))}
    agree = duplicate_table(b, "k", "collection", 0.0, "All", (), "Agree (filed twice?)")
    assert planted <= listed(agree) and (agree["disagree"].map(len) == 0).all()
    titles = duplicate_table(b, "k", "collection", 0.0, "All", (), "Different titles")
    assert len(titles) and all("title" in d for d in titles["disagree"]) and not planted & listed(titles)
    far = duplicate_table(b, "k", "collection", 0.0, "All", (), "Unrelated (likely distinct)")
    assert len(far) and far["disagree"].map(lambda d: {"artist", "title", "date"} <= set(d)).all()
    assert not set(far["pair"]) & set(titles["pair"])  # not listed again as "different titles"
    # every pair lands in "agree", "unrelated" or at least one "different ..." list
    covered = set(agree["pair"])
    for name, fields in RECORD_FILTERS.items():
        if fields:  # the field lists and the unrelated list
            covered |= set(duplicate_table(b, "k", "collection", 0.0, "All", (), name)["pair"])
    assert covered == set(every["pair"])
    with pytest.raises(ValueError, match="unknown records filter"):
        duplicate_table(b, "k", "collection", 0.0, "All", (), "Odd ones")


def test_the_inspector_lists_the_same_picture_elsewhere_and_opens_it(dup_bundle, monkeypatch, tmp_path):
    """A planted copy and its original name each other in the inspector ("The same picture elsewhere?"),
    with what their records say; a pair whose records share no artist, title or date is left out."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from artextract.app.pairs import same_picture
    from artextract.bundle import open_bundle

    out, cat = dup_bundle
    b = open_bundle(out)
    ids = b.items["id"].astype(str).tolist()
    orig, copy = ids.index(str(cat["id"].iloc[2])), ids.index("copy-0")
    same = same_picture(b, orig)
    hit = next(s for s in same if s.scope == "collection" and s.row == copy)
    assert hit.sim >= 0.9 and hit.where == "this collection" and hit.url == ""
    assert hit.sentence.startswith("The catalogue records agree on the artist, the title")
    assert hit.label.startswith(str(b.items.iloc[copy]["title"]))
    assert [s.sim for s in same] == sorted((s.sim for s in same), reverse=True)
    assert any(s.row == orig for s in same_picture(b, copy) if s.scope == "collection")  # both ways
    assert not same_picture(b, orig, min_sim=1.01)

    # the same pair, had its pictures' fine detail not agreed: a shared layout, and nothing more
    from artextract.app import pairs

    with monkeypatch.context() as m:
        m.setattr(pairs, "pair_detail", lambda pa, pb: 0.1)
        assert copy not in [s.row for s in same_picture(b, orig) if s.scope == "collection"]

    # the same pair, its records made to share nothing: looks alike, and nothing more
    items = b.items.copy()
    for c in ("title", "artist_name", "date"):
        items[c] = items[c].astype(object) if c in items.columns else ""
    items.loc[items.index[copy], ["title", "artist_name", "date"]] = ["Another Work", "Someone Else", "1999"]
    monkeypatch.setattr(b, "items", items)
    assert copy not in [s.row for s in same_picture(b, orig) if s.scope == "collection"]

    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(out))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path / "data"))
    at = AppTest.from_file(Path(__file__).resolve().parents[1] / "app.py", default_timeout=60).run()
    at.switch_page("pages/explore.py")
    at.session_state["explore.focus"] = orig
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    body = "\n".join(m.value for m in at.markdown)
    assert "**The same picture elsewhere?**" in body and "layout match" in body
    k = next(i for i, s in enumerate(same_picture(open_bundle(out), orig)) if s.row == copy)
    at.button(key=f"explore.same.{k}").click().run()
    assert not at.exception and at.session_state["explore.focus"] == copy


def test_an_upload_is_named_the_same_picture_as_a_reference_painting_even_on_a_wall(dup_bundle, monkeypatch):
    """The Similar page's check: a reference painting uploaded again (re-encoded, or photographed on a wall
    with some of it around the picture) is named, with its layout match; a picture the reference does not
    hold is not; a bundle built before the reference layouts were kept names nothing."""
    import io

    import numpy as np
    from PIL import Image

    from artextract.analysis.duplicates import layout_descriptor, match_layouts
    from artextract.app.pairs import upload_same_picture
    from artextract.bundle import Reference, open_bundle

    out, _ = dup_bundle
    b = open_bundle(out)
    ref = b.reference
    assert ref.layout is not None and ref.layout.shape[0] == len(ref.items)
    row = len(ref.items) // 2
    img = Image.open(ref.image_path(row)).convert("RGB")
    # exact: the painting itself first, at 1.0
    assert match_layouts(layout_descriptor(img)[None], ref.layout, k=3)[0] == (
        row,
        pytest.approx(1.0, abs=2e-3),
    )

    buf = io.BytesIO()
    img.resize((img.width * 3, img.height * 3)).save(buf, "JPEG", quality=70)
    again = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    w, h = again.size
    wall = Image.new("RGB", (int(w * 1.25), int(h * 1.25)), (196, 188, 170))
    wall.paste(again, (int(w * 0.125), int(h * 0.125)))
    for up in (again, wall):
        hits = upload_same_picture(b, up)
        assert hits and hits[0].row == row and hits[0].sim >= 0.95 and hits[0].scope == "reference"
        assert hits[0].where.startswith("the reference collection")
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (80, 60, 3), dtype=np.uint8))
    assert upload_same_picture(b, noise) == []
    monkeypatch.setattr(Reference, "layout", property(lambda self: None))
    assert upload_same_picture(open_bundle(out), again) == []
    monkeypatch.undo()
    # a layout file of another shape (another descriptor) is not used; a broken one is one clear error
    f = out / "reference" / "layout.npy"
    good = f.read_bytes()
    try:
        np.save(f, np.zeros((len(ref.items), 2, 64), np.float16))
        assert open_bundle(out, verify=False).reference.layout is None
        f.write_bytes(b"not an array")
        with pytest.raises(BundleError, match="layout.npy: unreadable"):
            open_bundle(out, verify=False).reference.layout  # noqa: B018
    finally:
        f.write_bytes(good)


def test_a_picture_that_only_shares_a_reference_paintings_layout_is_not_named(dup_bundle):
    """Two round portraits on dark corners, two etchings on pale paper: a layout match alone is not the
    same picture. Here: a reference painting's layout kept (blurred) with other fine detail on it."""
    from PIL import ImageFilter

    from artextract.analysis.duplicates import detail_descriptor, layout_descriptor, match_layouts
    from artextract.app.pairs import UPLOAD_DETAIL_MIN, UPLOAD_SAME_MIN, upload_same_picture
    from artextract.bundle import open_bundle

    out, _ = dup_bundle
    b = open_bundle(out)
    ref = b.reference
    row = len(ref.items) // 3
    img = Image.open(ref.image_path(row)).convert("RGB").resize((240, 240))
    rng = np.random.default_rng(5)
    grain = Image.fromarray(
        rng.normal(0, 28, (240, 240, 1)).clip(-60, 60).astype(np.int16).repeat(3, 2).astype(np.uint8)
    )
    other = Image.fromarray(
        (np.asarray(img.filter(ImageFilter.GaussianBlur(6)), np.int16) + np.asarray(grain, np.int16) - 30)
        .clip(0, 255)
        .astype(np.uint8)
    )
    o, sim = match_layouts(layout_descriptor(other)[None], ref.layout, k=3)[0]
    assert o == row and sim >= UPLOAD_SAME_MIN  # the layout says "the same"
    assert float(detail_descriptor(other) @ detail_descriptor(img)) < UPLOAD_DETAIL_MIN  # the detail does not
    assert upload_same_picture(b, other) == []
    assert [h.row for h in upload_same_picture(b, img)][:1] == [row]  # the picture itself still is


def colours_elsewhere(img: Image.Image) -> Image.Image:
    """The same grey picture (PIL's luma, which the layout and detail read, kept) with its colours laid
    out otherwise: the chroma turned upside down."""
    y, cb, cr = img.convert("YCbCr").split()
    flip = Image.Transpose.FLIP_TOP_BOTTOM
    return Image.merge("YCbCr", (y, cb.transpose(flip), cr.transpose(flip))).convert("RGB")


def test_colour_agreement_keeps_recoloured_copies_and_tells_colours_laid_out_elsewhere():
    """Where a picture's colours lie: a copy that is warmer, brighter, faded or re-encoded keeps it; the
    same grey picture with its colours elsewhere does not; a picture without colour has nothing to say."""
    from artextract.analysis.duplicates import COLOUR_MIN, colour_agreement, detail_agreement

    a = painting(3, (300, 240))
    warm = Image.fromarray((np.asarray(a, float) * [1.0, 0.93, 0.8]).clip(0, 255).astype(np.uint8))
    for copy in (altered(a), warm, ImageEnhance.Color(a).enhance(0.5)):
        assert colour_agreement(a, copy) >= 0.8
    other = colours_elsewhere(a)
    assert detail_agreement(a, other) >= 0.9  # the grey picture is the same ...
    assert colour_agreement(a, other) < COLOUR_MIN  # ... its colours are not where they were
    assert "colours lie elsewhere" in pair_difference(a, other)["summary"]
    assert "colours lie elsewhere" not in pair_difference(a, altered(a))["summary"]
    grey = a.convert("L").convert("RGB")
    assert colour_agreement(a, grey) is None and colour_agreement(grey, grey) is None
    assert pair_difference(a, grey)["colour_agreement"] is None


def test_an_upload_in_colour_is_named_only_where_its_colours_lie_as_the_reference_paintings(dup_bundle):
    """A saturated sunset against a brown river valley of the same grey layout: the layout and the fine
    detail say "the same picture", the colours do not. The reference painting with its colours elsewhere
    is not named; the painting warmer and faded, or photographed in black and white, still is."""
    from artextract.analysis.duplicates import (
        colour_agreement,
        detail_descriptor,
        layout_descriptor,
        match_layouts,
    )
    from artextract.app.pairs import (
        UPLOAD_COLOUR_MIN,
        UPLOAD_DETAIL_MIN,
        UPLOAD_SAME_MIN,
        upload_same_picture,
    )
    from artextract.bundle import open_bundle

    out, _ = dup_bundle
    b = open_bundle(out)
    ref = b.reference
    row = len(ref.items) // 4
    img = Image.open(ref.image_path(row)).convert("RGB").resize((240, 240))
    other = colours_elsewhere(img)
    o, sim = match_layouts(layout_descriptor(other)[None], ref.layout, k=3)[0]
    assert o == row and sim >= UPLOAD_SAME_MIN  # the layout says "the same"
    assert float(detail_descriptor(other) @ detail_descriptor(img)) >= UPLOAD_DETAIL_MIN  # so does the detail
    assert colour_agreement(other, img) < UPLOAD_COLOUR_MIN  # the colours do not
    assert row not in [h.row for h in upload_same_picture(b, other)]
    assert [h.row for h in upload_same_picture(b, other, min_colour=-2.0)][:1] == [row]  # the check's doing
    faded = ImageEnhance.Color(ImageEnhance.Brightness(img).enhance(1.1)).enhance(0.6)
    for up in (img, faded, img.convert("L").convert("RGB")):
        assert [h.row for h in upload_same_picture(b, up)][:1] == [row]
    # each match says what confirmed it: the detail, and the colours where both pictures have some
    hit = upload_same_picture(b, faded)[0]
    assert hit.detail >= UPLOAD_DETAIL_MIN and hit.colour >= UPLOAD_COLOUR_MIN
    assert upload_same_picture(b, img.convert("L").convert("RGB"))[0].colour is None


def test_similar_page_says_when_the_upload_is_a_reference_painting(dup_bundle, monkeypatch, tmp_path):
    import io
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from artextract.bundle import open_bundle

    out, _ = dup_bundle
    ref = open_bundle(out).reference
    buf = io.BytesIO(ref.image_path(3).read_bytes())
    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(out))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path / "data"))
    at = AppTest.from_file(Path(__file__).resolve().parents[1] / "app.py", default_timeout=60).run()
    at.switch_page("pages/similar.py").run()
    at.file_uploader(key="similar.upload").upload("photo.jpg", buf.getvalue(), "image/jpeg").run()
    assert not at.exception, [e.value for e in at.exception]
    said = [s.value for s in at.success]
    assert any(s.startswith("**The same picture as** *") and "layout match 1.00" in s for s in said), said
    title = str(ref.items.iloc[3]["title"])
    assert any(title in s for s in said)


def test_similar_page_checks_a_collection_painting_against_the_reference_too(
    dup_bundle, monkeypatch, tmp_path
):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from artextract.app import data, models
    from artextract.bundle import open_bundle
    from artextract.images import load_image

    out, _ = dup_bundle
    ref = open_bundle(out).reference
    # the collection painting picked is, in this test, a picture the reference holds
    monkeypatch.setattr(data, "painting_image", lambda b, row: load_image(ref.image_path(3)))
    monkeypatch.setattr(models, "_ANSWERS", models.OrderedDict())
    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(out))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path / "data"))
    at = AppTest.from_file(Path(__file__).resolve().parents[1] / "app.py", default_timeout=60).run()
    at.switch_page("pages/similar.py").run()
    at.radio(key="similar.source").set_value("A painting from the collection").run()
    assert not at.exception, [e.value for e in at.exception]
    said = [s.value for s in at.success]
    assert any(
        s.startswith("**The same picture as** *") and str(ref.items.iloc[3]["title"]) in s for s in said
    ), said


def test_the_fine_detail_filter_keeps_the_copies_and_parts_the_pairs(dup_bundle):
    from artextract.app.pairs import DETAIL_FILTERS, duplicate_table
    from artextract.bundle import open_bundle

    out, cat = dup_bundle
    b = open_bundle(out)
    everything = duplicate_table(b, "k", "collection", 0.0, "All")
    agree, differ = (
        duplicate_table(b, "k", "collection", 0.0, "All", detail=d) for d in list(DETAIL_FILTERS)[1:]
    )
    assert len(agree) + len(differ) == len(everything) and not set(agree["pair"]) & set(differ["pair"])
    copies = {pair_key(str(cat["id"].iloc[i]), f"copy-{j}") for j, i in enumerate((2, 40, 77))}
    assert copies <= set(everything["pair"]) and copies <= set(agree["pair"])  # the planted copies agree
    assert len(differ)  # and the pairs that only share a layout are there to hide
    with pytest.raises(ValueError, match="detail filter"):
        duplicate_table(b, "k", "collection", 0.0, "All", detail="Sometimes")


def test_pairs_export_holds_both_records_and_what_they_disagree_on(dup_bundle):
    import io

    import pandas as pd

    from artextract.analysis.duplicates import DETAIL_MIN
    from artextract.app.data import to_csv_bytes
    from artextract.app.pairs import duplicate_table, pairs_export
    from artextract.bundle import open_bundle

    out, cat = dup_bundle
    b = open_bundle(out)
    table = duplicate_table(b, "k", "collection", 0.0, "All")
    df = pairs_export(b, table, "collection")
    assert len(df) == len(table) and (df["b_in"] == "collection").all()
    assert df["similarity"].tolist() == table["sim"].astype(float).round(4).tolist()
    assert {"a_id", "a_title", "a_artist", "a_date", "b_id", "b_title", "b_source_url"} <= set(df.columns)
    ids = b.items["id"].astype(str)
    i = next(
        k for k, (a, o) in enumerate(zip(table["a"], table["b"], strict=True)) if "copy-0" in (ids[a], ids[o])
    )
    row = df.iloc[i]
    assert {row["a_id"], row["b_id"]} == {str(cat["id"].iloc[2]), "copy-0"}
    assert row["records_disagree_on"] == "" and "(copy)" in row["a_title"] + row["b_title"]
    assert row["fine_detail_agrees"] == "yes" and row["fine_detail"] >= DETAIL_MIN  # a planted copy
    differ = duplicate_table(b, "k", "collection", 0.0, "All", detail="Differs (a shared layout?)")
    assert len(differ) and set(pairs_export(b, differ, "collection")["fine_detail_agrees"]) == {"no"}
    unrelated = df[df["records_disagree_on"].str.contains("artist")]
    assert len(unrelated) and (unrelated["a_artist"] != unrelated["b_artist"]).all()
    # a spreadsheet reads it back as written
    back = pd.read_csv(io.BytesIO(to_csv_bytes(df)), dtype=str, keep_default_na=False)
    assert back["a_id"].tolist() == df["a_id"].tolist()
    ref = pairs_export(b, duplicate_table(b, "k", "reference", 0.0, "All"), "reference")
    assert len(ref) and (ref["b_in"] == "reference").all() and ref["b_id"].ne("").all()
