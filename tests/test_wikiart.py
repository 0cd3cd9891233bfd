"""Indexing a local WikiArt folder with the ArtGAN splits into a catalog."""

from __future__ import annotations

import pytest
from artgan_fixtures import make_images, write_splits

from artextract.catalog import read_catalog
from artextract.errors import CatalogError
from artextract.images import load_image
from artextract.sources.artgan import ArtGANSplitError
from artextract.sources.wikiart import index_wikiart, run_wikiart

PROPER = "Symbolism/arnold-böcklin_the-plague-1898.jpg"
LISTED_MOJIBAKE = "Symbolism/" + PROPER.split("/", 1)[1].encode("utf-8").decode("latin-1").lower()


@pytest.fixture
def collection(tmp_path):
    splits = write_splits(
        tmp_path / "splits",
        style={
            "train": ["Impressionism/claude-monet_water-lilies-6.jpg,0", "Realism/ilya-repin_barge-haulers.jpg,1",
                      f"{LISTED_MOJIBAKE},2", "Realism/gone_missing-painting.jpg,1"],
            "val": ["Impressionism/claude-monet_haystacks-1891.jpg,0"],
        },
        artist={"train": ["Impressionism/claude-monet_water-lilies-6.jpg,0"],
                "val": ["Impressionism/claude-monet_haystacks-1891.jpg,0"]},
        genre={"train": ["Realism/ilya-repin_barge-haulers.jpg,0"], "val": []},
    )  # fmt: skip
    root = tmp_path / "wikiart"
    make_images(
        root,
        [
            "Impressionism/claude-monet_water-lilies-6.jpg",
            "Impressionism/claude-monet_haystacks-1891.jpg",
            "Realism/ilya-repin_barge-haulers.jpg",
            PROPER,  # on disk with its proper name, listed doubly encoded
            "Realism/someone_not-in-any-list.jpg",  # unlisted
        ],
    )
    (root / "README.txt").write_text("not an image; ignored")
    return root, splits


def test_index_in_place_reports_missing_and_unlisted(collection):
    root, splits = collection
    path, s = index_wikiart(root, splits)
    assert path == root / "catalog.csv"
    cat = read_catalog(root)
    assert s.listed == 5 and s.indexed == len(cat) == 4
    assert s.missing == ["Realism/gone_missing-painting.jpg"]
    assert s.unlisted == ["Realism/someone_not-in-any-list.jpg"]
    assert (root / "wikiart_missing.txt").read_text().split() == s.missing
    assert (root / "wikiart_unlisted.txt").read_text().split() == s.unlisted
    for rel in cat["image"]:
        load_image(root / rel)
    row = cat.set_index("id").loc["Impressionism/claude-monet_water-lilies-6.jpg"]
    assert row["style"] == "Impressionism" and row["artist"] == "Claude_Monet" and row["split"] == "train"
    assert row["title"] == "Water Lilies 6" and row["artist_name"] == "Claude Monet"
    assert (
        row["source"] == "wikiart"
        and row["source_url"] == "https://www.wikiart.org/en/claude-monet/water-lilies-6"
    )
    assert "non-commercial" in row["license"]
    assert PROPER in set(cat["image"])  # matched despite the listed mojibake
    barge = cat.set_index("id").loc["Realism/ilya-repin_barge-haulers.jpg"]
    assert barge["artist"] == "" and barge["genre"] == "landscape"  # artist masked, genre labelled
    line = s.summary_line()
    assert (
        "4 painting(s) indexed" in line
        and "1 listed but missing" in line
        and "1 present but unlisted" in line
    )
    assert "gone_missing-painting.jpg" in line and "train 3, val 1" in line


def test_index_elsewhere_links_images(collection, tmp_path):
    root, splits = collection
    out = tmp_path / "collections" / "wikiart"
    s = run_wikiart(root, splits, out, progress=False)
    cat = read_catalog(out)
    assert (out / "images").is_symlink() and all(r.startswith("images/") for r in cat["image"])
    for rel in cat["image"]:
        load_image(out / rel)
    assert s.indexed == 4
    # rerun is fine (same link); a folder containing the root uses relative paths instead
    run_wikiart(root, splits, out, progress=False)
    s2 = run_wikiart(root, splits, tmp_path, progress=False)
    cat2 = read_catalog(tmp_path)
    assert all(r.startswith("wikiart/") for r in cat2["image"]) and s2.indexed == 4


def test_on_missing_fail(collection):
    root, splits = collection
    with pytest.raises(ArtGANSplitError, match=r"missing image.*: 1 \(e\.g\. Realism/gone_missing-painting"):
        index_wikiart(root, splits, on_missing="fail")
    assert not (root / "catalog.csv").exists()
    with pytest.raises(CatalogError, match="skip, fail"):
        index_wikiart(root, splits, on_missing="maybe")
    with pytest.raises(CatalogError, match="not found"):
        index_wikiart(root / "nope", splits)


def test_decode_check_drops_unreadable(collection):
    root, splits = collection
    (root / "Realism" / "ilya-repin_barge-haulers.jpg").write_bytes(b"\xff\xd8\xff truncated")
    _, s = index_wikiart(root, splits, check_images="decode")
    assert s.indexed == 3 and not s.ok
    assert any(i.kind == "unreadable image" for i in s.artgan.issues)


@pytest.mark.shared_data
def test_real_splits_with_a_tiny_folder(shared_data, tmp_path):
    from artextract.sources.artgan import read_artgan_splits

    splits = shared_data / "artgan_splits"
    table, _ = read_artgan_splits(splits)
    pick = list(table["path"][table["artist"] != ""][:3]) + list(table["path"][table["split"] == "val"][:3])
    root = tmp_path / "wikiart"
    make_images(root, pick)
    _, s = index_wikiart(root, splits)
    cat = read_catalog(root)
    assert s.indexed == len(set(pick)) == len(cat) and s.listed == len(table)
    assert len(s.missing) == len(table) - len(set(pick)) and not s.unlisted
    assert set(cat["split"]) <= {"train", "val"} and (cat["style"] != "").any()


@pytest.mark.parametrize(
    ("slug", "title", "date"),
    [
        ("paris-boulevard-in-the-rain-1893", "Paris Boulevard in the Rain", "1893"),
        ("self-portrait-c-1887-2", "Self Portrait", "c. 1887"),
        ("untitled-1979(3)", "Untitled", "1979"),
        (
            "segawa-kikunojo-iii-and-bando-mitsugoro-ii-1798",
            "Segawa Kikunojo III and Bando Mitsugoro II",
            "1798",
        ),
        ("the-girl-s-head-1890", "The Girl's Head", "1890"),
        ("water-lilies-6", "Water Lilies 6", ""),
        ("1890", "1890", ""),
    ],
)
def test_titles_and_dates_read_as_a_curator_writes_them(slug, title, date):
    from artextract.sources.wikiart import title_and_date

    assert title_and_date(slug) == (title, date)


@pytest.mark.parametrize(
    ("slug", "title"),
    [
        # WikiArt drops every letter outside ASCII; the accented words come back
        ("fray-pedro-fern-ndez-pecha-1657", "Fray Pedro Fernández Pecha"),
        (
            "d-molition-de-l-glise-saint-jean-en-gr-ve-mus-e-carnavalet-1800",
            "Démolition de l'Église Saint Jean en Grève Musée Carnavalet",
        ),
        ("landscape-of-carri-res-1909", "Landscape of Carrières"),
        ("ein-r-mischer-kalkofen-1919", "Ein Römischer Kalkofen"),
        ("peisaj-din-bucure-ti", "Peisaj Din București"),
        ("adoraci-n-de-los-magos", "Adoración de Los Magos"),
        # elisions: "l'", "d'" joined, "d'un" kept small
        ("l-hermitage-pontoise-snow-effect-1874", "L'Hermitage Pontoise Snow Effect"),
        ("les-demoiselles-d-avignon", "Les Demoiselles d'Avignon"),
        ("interieur-d-un-bar", "Interieur d'un Bar"),
        ("arcades-at-l-estaque-1882", "Arcades at L'Estaque"),
        ("the-gardens-of-the-villa-d-este-tivoli", "The Gardens of the Villa d'Este Tivoli"),
        ("portr-t-der-cousine-des-k-nstlers-1861", "Porträt der Cousine des Künstlers"),
        ("untitled-l-i48-sfe-015", "Untitled L I48 Sfe 015"),
        # a file named with its accents and apostrophes keeps them
        ("démolition-de-l'église-1800", "Démolition de l'Église"),
        # English titles keep their words: no "inşa", "onça", "asía", "Aragonès", "Donát", "d'In"
        ("girl-in-a-doorway", "Girl in a Doorway"),
        ("two-dancers-on-a-bench", "Two Dancers on a Bench"),
        ("self-portrait-as-a-mature-man", "Self Portrait as a Mature Man"),
        ("illustration-for-louis-aragon-s-work", "Illustration for Louis Aragon's Work"),
        ("don-t-bungle-the-jungle", "Don't Bungle the Jungle"),
        ("i-ll-show-it-all-so-come-soon", "I'll Show It All So Come Soon"),
        ("he-wasn-t-18", "He Wasn't 18"),
        ("portrait-of-i-m-golovin", "Portrait of I M Golovin"),
        ("the-five-women-t-sei", "The Five Women T Sei"),
        ("yvonne-d-in-profile", "Yvonne D in Profile"),
        ("st-mark-s-basin", "St Mark's Basin"),
        ("the-march-of-the-pass", "The March of the Pass"),
        ("portrait-of-d-ivanov", "Portrait of D Ivanov"),
    ],
)
def test_titles_put_back_the_accents_and_elisions_the_slug_broke(slug, title):
    from artextract.sources.wikiart import title_and_date

    assert title_and_date(slug)[0] == title


def test_every_word_of_the_accent_list_can_be_found():
    from artextract.sources import titles

    keys = titles.lexicon()
    assert len(keys) > 50_000
    # the repair tries runs of at most _MAX_PIECES pieces: no word of the list may break into more
    assert max(k.count("-") + 1 for k in keys) <= titles._MAX_PIECES
    assert all(k == titles.slug_key(w) and not w.isascii() for k, w in keys.items())


def test_titles_without_the_accent_list_keep_the_slugs_words(monkeypatch, tmp_path):
    from artextract.sources import titles
    from artextract.sources.wikiart import title_and_date

    assert titles.LEXICON_FILE.stat().st_size < 2_000_000  # committed: stays small
    monkeypatch.setattr(titles, "LEXICON_FILE", tmp_path / "absent.txt.gz")
    titles.lexicon.cache_clear()
    try:
        assert title_and_date("fray-pedro-fern-ndez-pecha") == ("Fray Pedro Fern Ndez Pecha", "")
        assert title_and_date("l-hermitage-pontoise") == ("L'Hermitage Pontoise", "")
    finally:
        titles.lexicon.cache_clear()
