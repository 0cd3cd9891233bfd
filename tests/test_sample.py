"""The committed public-domain sample (data/sample): real paintings, public domain by the stated rule."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from artextract.catalog import image_path, read_catalog
from artextract.sources.sample import (
    PD_DEATH_BEFORE,
    PD_YEAR_BEFORE,
    death_years,
    museum_rows,
    public_domain_rows,
    slugify,
)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def test_committed_sample_is_real_public_domain_and_small():
    coll, ref = read_catalog(SAMPLE / "collection"), read_catalog(SAMPLE / "reference")
    assert 1200 <= len(coll) <= 1300
    # the artists NGA writes otherwise are there (NGA_NAMES), under NGA's names
    names = set(coll["artist_name"])
    assert {"Rembrandt van Rijn", "Auguste Renoir", "Sir Peter Paul Rubens"} <= names
    assert set(coll["split"]) == {"val"} and (coll["style"] != "").all()
    wiki = ref[ref["source"] == "wikiart"]
    museum = ref[ref["source"] != "wikiart"]
    assert len(wiki) >= 1500 and len(museum) == 125
    assert (museum["source"] == "National Gallery of Art").sum() == 32
    assert "Cleveland Art Museum" not in set(museum["source"])  # the museum's own name (test below)
    for df in (coll, wiki):
        years = df["date"].str[-4:].astype(int)
        assert (years < PD_YEAR_BEFORE).all()
        died = df["license"].str.extract(r"artist died (\d{4})")[0].astype(int)
        assert (died < PD_DEATH_BEFORE).all()
    for df in (coll, ref):
        assert df["source_url"].str.match(r"https?://").all()
        assert (df["title"] != "").all()
    # titles read as a curator writes them: capitalised, no year left inside
    assert not any(t.endswith(d) for t, d in zip(coll["title"], coll["date"], strict=True))
    assert (coll["title"].str[0].str.upper() == coll["title"].str[0]).all()
    total = sum(image_path(SAMPLE / "collection", p).stat().st_size for p in coll["image"])
    total += sum(image_path(SAMPLE / "reference", p).stat().st_size for p in ref["image"])
    assert total <= 30e6


def test_public_domain_rule_on_a_small_table():
    deaths = pd.DataFrame(
        {
            "endyear": [1926, 1973, 1890],
            "forwarddisplayname": ["Claude Monet", "Pablo Picasso", "Vincent van Gogh"],
        },
        index=["claude-monet", "pablo-picasso", "vincent-van-gogh"],
    )
    ids = [
        "Impressionism/claude-monet_water-lilies-1916.jpg",  # in
        "Impressionism/claude-monet_water-lilies-1931.jpg",  # dated too late (hypothetical)
        "Cubism/pablo-picasso_guitar-1913.jpg",  # artist died too late
        "Impressionism/vincent-van-gogh_irises.jpg",  # no year in the file name
        "Impressionism/nobody-known_a-field-1880.jpg",  # artist not in the table
        "Impressionism/vincent-van-gogh_the-starry-night-1889.jpg",  # in
    ]
    cat = pd.DataFrame({"id": ids, "image": ["images/" + i for i in ids], "artist": ""})
    for c in ("title", "date", "style", "genre", "source", "source_url", "license"):
        cat[c] = ""
    cat["split"] = "val"
    out = public_domain_rows(cat, deaths)
    assert list(out["id"]) == [ids[0], ids[5]]
    assert list(out["title"]) == ["Water Lilies", "The Starry Night"]
    assert list(out["date"]) == ["1916", "1889"]
    assert list(out["artist"]) == ["Claude_Monet", "Vincent_Van_Gogh"]
    assert list(out["artist_name"]) == ["Claude Monet", "Vincent van Gogh"]
    assert (
        slugify("Pierre-Auguste Renoir") == "pierre-auguste-renoir"
        and slugify("Albrecht Dürer") == "albrecht-durer"
    )


def test_nga_names_match_artists_nga_writes_otherwise(tmp_path):
    """WikiArt's ``rembrandt`` is NGA's "Rembrandt van Rijn": matched through the alias, with NGA's death
    year; an alias whose NGA name the table lacks adds nothing, and a slug NGA has as is keeps its own row
    (the alias never overrides the table)."""
    (tmp_path / "constituents.csv").write_text(
        "constituentid,forwarddisplayname,endyear\n"
        "1,Rembrandt van Rijn,1669\n"
        "2,Rembrandt Peale,1860\n"
        "3,Auguste Renoir,1919\n"
        "4,Claude Monet,1926\n"
        "5,Nobody Dated,\n",
        encoding="utf-8",
    )
    aliases = {
        "rembrandt": "Rembrandt van Rijn",
        "pierre-auguste-renoir": "Auguste Renoir",
        "claude-monet": "Rembrandt Peale",  # the table has claude-monet itself: the alias is not used
        "someone": "Not In The Table",
    }
    d = death_years(tmp_path / "constituents.csv", aliases)
    assert d.loc["rembrandt"].tolist() == [1669, "Rembrandt van Rijn"]
    assert d.loc["pierre-auguste-renoir"].tolist() == [1919, "Auguste Renoir"]
    assert d.loc["claude-monet"].tolist() == [1926, "Claude Monet"]
    assert "someone" not in d.index and "nobody-dated" not in d.index
    ids = ["Baroque/rembrandt_portrait-of-titus-1653.jpg", "Baroque/rembrandt-peale_a-man-1800.jpg"]
    cat = pd.DataFrame({"id": ids, "image": ["images/" + i for i in ids], "artist": ["Rembrandt", ""]})
    for c in ("title", "date", "style", "genre", "source", "source_url", "license"):
        cat[c] = ""
    out = public_domain_rows(cat, d)
    assert list(out["artist_name"]) == ["Rembrandt van Rijn", "Rembrandt Peale"]
    assert list(out["artist"]) == ["Rembrandt", "Rembrandt_Peale"]
    assert "artist died 1669" in out["license"].iloc[0]
    # without the alias the rule drops him, as before
    assert public_domain_rows(cat, death_years(tmp_path / "constituents.csv", {}))["id"].tolist() == [ids[1]]


def test_museum_rows_name_each_museum_as_it_names_itself_and_link_its_page(tmp_path):
    """The thumbnails' credit line says "via Cleveland Art Museum"; the museum is The Cleveland Museum of
    Art. Other names pass through as the credit line writes them; a row without one keeps its source."""
    credit = "MIT (repo); artwork public domain / open access via {} ({})"
    cat = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "image": ["images/a.jpg", "images/b.jpg", "images/c.jpg"],
            "title": ["June", "The Bedroom", "Untitled"],
            "artist": ["William Sommer", "Vincent van Gogh", ""],
            "source": ["repo@1"] * 3,
            "source_url": ["https://example.org/a", "https://example.org/b", "https://example.org/c"],
            "license": [
                credit.format("Cleveland Art Museum", "https://www.clevelandart.org/art/1950.397.a"),
                credit.format("The Art Institute of Chicago", "https://www.artic.edu/artworks/28560"),
                "public domain",
            ],
        }
    )
    for c in ("date", "style", "genre", "split"):
        cat[c] = ""
    cat.to_csv(tmp_path / "catalog.csv", index=False)
    out = museum_rows(tmp_path)
    assert list(out["source"]) == ["The Cleveland Museum of Art", "The Art Institute of Chicago", "repo@1"]
    assert list(out["source_url"]) == [
        "https://www.clevelandart.org/art/1950.397.a",
        "https://www.artic.edu/artworks/28560",
        "https://example.org/c",
    ]
    assert list(out["artist_name"]) == ["William Sommer", "Vincent van Gogh", ""]


def test_sample_rebuilds_from_the_shared_data(shared_data, tmp_path):
    from artextract.sources.sample import make_sample

    summary = make_sample(
        shared_data / "wikiart",
        shared_data / "artgan_splits",
        shared_data / "nga_opendata" / "constituents.csv",
        shared_data / "museum_sample",
        tmp_path / "sample",
    )
    assert re.search(r"\d+ public-domain val paintings", summary.summary_line())
    rebuilt = read_catalog(tmp_path / "sample" / "collection")
    committed = read_catalog(SAMPLE / "collection")
    pd.testing.assert_frame_equal(rebuilt, committed)
    pd.testing.assert_frame_equal(
        read_catalog(tmp_path / "sample" / "reference"), read_catalog(SAMPLE / "reference")
    )
