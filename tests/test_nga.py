"""NGA open data: selection and joins on small tables with the real headers, IIIF download against
the local fault server, table fetching (CSV and zip) and the offline message."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from fault_server import FaultServer

from artextract.catalog import read_catalog
from artextract.errors import CatalogError, OfflineError
from artextract.images import load_image
from artextract.sources import nga

# The published column lists (../shared/data/nga_opendata/schema_*.sql); checked below when present.
HEADERS = {
    "objects": [
        "objectid",
        "accessioned",
        "accessionnum",
        "locationid",
        "title",
        "displaydate",
        "beginyear",
        "endyear",
        "visualbrowsertimespan",
        "medium",
        "dimensions",
        "inscription",
        "markings",
        "attributioninverted",
        "attribution",
        "provenancetext",
        "creditline",
        "classification",
        "subclassification",
        "visualbrowserclassification",
        "parentid",
        "isvirtual",
        "departmentabbr",
        "portfolio",
        "series",
        "volume",
        "watermarks",
        "lastdetectedmodification",
        "wikidataid",
        "customprinturl",
    ],
    "published_images": [
        "uuid",
        "iiifurl",
        "iiifthumburl",
        "viewtype",
        "sequence",
        "width",
        "height",
        "maxpixels",
        "created",
        "modified",
        "depictstmsobjectid",
        "assistivetext",
    ],
    "objects_constituents": [
        "objectid",
        "constituentid",
        "displayorder",
        "roletype",
        "role",
        "prefix",
        "suffix",
        "displaydate",
        "beginyear",
        "endyear",
        "country",
        "zipcode",
    ],
    "constituents": [
        "constituentid",
        "ulanid",
        "preferreddisplayname",
        "forwarddisplayname",
        "lastname",
        "displaydate",
        "artistofngaobject",
        "beginyear",
        "endyear",
        "visualbrowsertimespan",
        "nationality",
        "visualbrowsernationality",
        "constituenttype",
        "wikidataid",
    ],
}


def schema_columns(path: Path) -> list[str]:
    """Column names from a psql ``\\d`` listing."""
    cols, started = [], False
    for line in path.read_text().splitlines():
        if line.startswith("---"):
            started = True
            continue
        if started and "|" in line:
            cols.append(line.split("|")[0].strip())
    return cols


def write_table(folder: Path, name: str, rows: list[dict], header: list[str] | None = None) -> Path:
    header = header or HEADERS[name]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in header})
    return path


IIIF = "https://api.nga.gov/iiif"

OBJECTS = [
    # painting, open primary image, two artists (display order 2 then 1) and a donor
    dict(objectid="101", accessionnum="1937.1.1", title="_The Alba Madonna_", displaydate="c. 1510",
         medium="oil on panel transferred to canvas", attribution="Raphael and Workshop",
         classification="Painting"),
    # painting whose only image is fair-use restricted (maxpixels set): not open access
    dict(objectid="102", title="Restricted", classification="Painting", attribution="Someone Modern"),
    # a drawing with an open image: not a painting
    dict(objectid="103", title="A Drawing", classification="Drawing", attribution="Draughtsman"),
    # painting with an alternate view (sequence 0) and a primary view (sequence 1)
    dict(objectid="104", title="Two Views", displaydate="1880", medium="oil on canvas",
         classification="Painting", attribution="Claude Monet"),
    # painting with no image at all
    dict(objectid="105", title="No Image", classification="Painting"),
    # painting without artist links: the attribution text is used
    dict(objectid="106", title="Unknown Hand", classification="Painting",
         attribution="Follower of _Giotto_"),
]  # fmt: skip
IMAGES = [
    dict(uuid="u101", iiifurl=f"{IIIF}/u101", viewtype="primary", sequence="0", depictstmsobjectid="101"),
    dict(uuid="u102", iiifurl=f"{IIIF}/u102", viewtype="primary", sequence="0", maxpixels="640",
         depictstmsobjectid="102"),
    dict(uuid="u103", iiifurl=f"{IIIF}/u103", viewtype="primary", sequence="0", depictstmsobjectid="103"),
    dict(uuid="u104a", iiifurl=f"{IIIF}/u104a", viewtype="alternate", sequence="0", depictstmsobjectid="104"),
    dict(uuid="u104p", iiifurl=f"{IIIF}/u104p", viewtype="primary", sequence="1", depictstmsobjectid="104"),
    dict(uuid="u106", iiifurl=f"{IIIF}/u106", viewtype="primary", sequence="0", depictstmsobjectid="106"),
]  # fmt: skip
LINKS = [
    dict(objectid="101", constituentid="2", displayorder="2", roletype="artist", role="painter"),
    dict(objectid="101", constituentid="1", displayorder="1", roletype="artist", role="painter"),
    dict(objectid="101", constituentid="9", displayorder="3", roletype="donor", role="donor"),
    dict(objectid="104", constituentid="3", displayorder="1", roletype="artist", role="painter"),
]
PEOPLE = [
    dict(constituentid="1", preferreddisplayname="Raphael", forwarddisplayname="Raphael"),
    dict(constituentid="2", preferreddisplayname="Workshop of Raphael", forwarddisplayname=""),
    dict(constituentid="3", preferreddisplayname="Monet, Claude", forwarddisplayname="Claude Monet"),
    dict(constituentid="9", preferreddisplayname="Mellon, Andrew W.", forwarddisplayname="Andrew W. Mellon"),
]


def make_tables(folder: Path, *, images=IMAGES, people=PEOPLE, objects=OBJECTS) -> Path:
    write_table(folder, "objects", objects)
    write_table(folder, "published_images", images)
    write_table(folder, "objects_constituents", LINKS)
    write_table(folder, "constituents", people)
    return folder


def test_headers_match_published_schemas(shared_data):
    for name, cols in HEADERS.items():
        assert schema_columns(shared_data / "nga_opendata" / f"schema_{name}.sql") == cols, name
    with open(shared_data / "nga_opendata" / "constituents.csv", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == HEADERS["constituents"]


def test_selects_open_access_paintings_and_joins(tmp_path):
    tables = make_tables(tmp_path / "tables")
    df, counts = nga.select_nga_paintings(tables, size=256)
    assert counts == {"objects": 6, "paintings": 5, "open_access": 3, "selected": 3}
    assert list(df["id"]) == ["nga-101", "nga-104", "nga-106"]
    row = df.set_index("id").loc["nga-101"]
    assert row["title"] == "The Alba Madonna"  # NGA's _italics_ markup removed
    assert row["artist"] == "Raphael; Workshop of Raphael"  # display order, no donor
    assert row["date"] == "c. 1510" and row["medium"].startswith("oil on panel")
    assert row["image_url"] == f"{IIIF}/u101/full/!256,256/0/default.jpg"
    assert row["source_url"] == "https://www.nga.gov/collection/art-object-page.101.html"
    assert row["license"] == "CC0" and row["source"] == "nga" and row["image"] == "images/101.jpg"
    assert row["accession"] == "1937.1.1"
    by_id = df.set_index("id")
    assert by_id.loc["nga-104", "iiif_url"] == f"{IIIF}/u104p"  # primary view preferred
    assert by_id.loc["nga-106", "artist"] == "Follower of Giotto"  # attribution fallback
    path = nga.build_nga_catalog(tables, tmp_path / "col")
    cat = read_catalog(path.parent)
    assert len(cat) == 3 and (cat["style"] == "").all() and (cat["split"] == "").all()


def test_openaccess_column_is_used_when_published(tmp_path):
    images = [dict(r, openaccess="0" if r["uuid"] == "u101" else "1", maxpixels="") for r in IMAGES]
    header = HEADERS["published_images"] + ["openaccess"]
    tables = make_tables(tmp_path / "t", images=[])
    write_table(tables, "published_images", images, header=header)
    df, counts = nga.select_nga_paintings(tables)
    assert set(df["id"]) == {"nga-102", "nga-104", "nga-106"}  # 102 open here, 101 not
    assert counts["open_access"] == 3


def test_limit_is_a_seeded_subset(tmp_path):
    tables = make_tables(tmp_path / "t")
    a, _ = nga.select_nga_paintings(tables, limit=2, seed=0)
    b, _ = nga.select_nga_paintings(tables, limit=2, seed=0)
    full, _ = nga.select_nga_paintings(tables)
    assert len(a) == 2 and a.equals(b) and set(a["id"]) <= set(full["id"])


def test_missing_column_names_it(tmp_path):
    tables = make_tables(tmp_path / "t")
    write_table(tables, "objects", OBJECTS, header=[c for c in HEADERS["objects"] if c != "classification"])
    with pytest.raises(CatalogError, match="missing column.*classification"):
        nga.select_nga_paintings(tables)
    (tables / "constituents.csv").unlink()
    write_table(tables, "objects", OBJECTS)
    with pytest.raises(CatalogError, match="constituents.csv not found.*--tables"):
        nga.select_nga_paintings(tables)


def test_real_constituents_names(shared_data, tmp_path):
    folder = tmp_path / "t"
    make_tables(folder)
    (folder / "constituents.csv").write_bytes(
        (shared_data / "nga_opendata" / "constituents.csv").read_bytes()
    )
    df, _ = nga.select_nga_paintings(folder)
    # constituent 3 is not Monet in the real table; 1726 is: relink object 104 to it
    links = [dict(r, constituentid="1726") if r["objectid"] == "104" else r for r in LINKS]
    write_table(folder, "objects_constituents", links)
    df, _ = nga.select_nga_paintings(folder)
    assert df.set_index("id").loc["nga-104", "artist"] == "Claude Monet"


def test_run_nga_downloads_through_iiif_with_faults_and_resumes(tmp_path):
    routes = {
        "iiif/u101/full/!64,64/0/default.jpg": ("status_then_ok", 1, 503),
        "iiif/u104p/full/!64,64/0/default.jpg": ("ok",),
        "iiif/u106/full/!64,64/0/default.jpg": ("status", 500),
    }
    with FaultServer(routes) as srv:
        base = srv.url("iiif")
        images = [dict(r, iiifurl=r["iiifurl"].replace(IIIF, base)) for r in IMAGES]
        tables = make_tables(tmp_path / "tables", images=images)
        out = tmp_path / "nga"
        kw = dict(
            size=64, workers=2, retries=1, timeout=2.0, backoff=0.01, progress=False, log=lambda m: None
        )
        s1 = nga.run_nga(out, tables=tables, **kw)
        first = dict(srv.counts)
        s2 = nga.run_nga(out, tables=tables, **kw)
        second = dict(srv.counts)
    assert not s1.ok and s1.downloads.downloaded == 2 and s1.downloads.failed == 1
    line = s1.summary_line()
    assert "3 painting(s) selected" in line and "2 row(s)" in line and "1 HTTP 500" in line
    assert "download_failures.csv" in line
    cat = read_catalog(out)
    assert set(cat["id"]) == {"nga-101", "nga-104"}  # only verified images are catalogued
    for rel in cat["image"]:
        load_image(out / rel)
    assert "nga-106" in (out / "download_failures.csv").read_text()
    # rerun: verified files are not requested again; the failed one is tried again
    assert s2.downloads.skipped == 2
    for path in ("iiif/u101/full/!64,64/0/default.jpg", "iiif/u104p/full/!64,64/0/default.jpg"):
        assert second[path] == first[path]
    assert second["iiif/u106/full/!64,64/0/default.jpg"] == first["iiif/u106/full/!64,64/0/default.jpg"] + 2


def test_fetch_tables_csv_and_zip_fallback(tmp_path):
    src = make_tables(tmp_path / "src")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.write(src / "objects_constituents.csv", "objects_constituents.csv")
    routes = {
        "data/objects.csv": ("body", (src / "objects.csv").read_bytes(), "text/csv"),
        "data/published_images.csv": ("body", (src / "published_images.csv").read_bytes(), "text/plain"),
        "data/objects_constituents.zip": ("body", zbuf.getvalue(), "application/zip"),
        "data/constituents.csv": ("body", (src / "constituents.csv").read_bytes(), "text/csv"),
    }
    with FaultServer(routes) as srv:
        s = nga.run_nga(tmp_path / "nga", base_url=srv.url("data/"), skip_images=True, log=lambda m: None)
        assert srv.counts["data/objects_constituents.csv"] == 1  # 404, then the zip
        n_before = sum(srv.counts.values())
        nga.run_nga(tmp_path / "nga", base_url=srv.url("data/"), skip_images=True, log=lambda m: None)
        assert sum(srv.counts.values()) == n_before  # tables already present are reused
    assert s.ok and s.catalog_rows == 3 and "images not downloaded" in s.summary_line()
    for name in nga.TABLES:
        assert (tmp_path / "nga" / "tables" / f"{name}.csv").read_bytes() == (
            src / f"{name}.csv"
        ).read_bytes()


def test_offline_one_clear_line(tmp_path):
    with pytest.raises(OfflineError) as exc:
        nga.run_nga(tmp_path / "nga", base_url="http://no-such-host.invalid/data/", log=lambda m: None)
    msg = str(exc.value)
    assert "\n" not in msg and "no-such-host.invalid" in msg and "--tables" in msg


def test_downloader_never_writes_outside_its_folder(tmp_path):
    """A catalog handed to the downloader cannot aim its files at ../ or an absolute path."""
    import pandas as pd

    from artextract.errors import CatalogError
    from artextract.sources.nga import download_images

    for bad in ("../escaped.jpg", "/tmp/escaped.jpg"):
        df = pd.DataFrame({"id": ["x"], "image": [bad], "image_url": ["http://127.0.0.1:9/x.jpg"]})
        with pytest.raises(CatalogError, match="image path"):
            download_images(df, tmp_path / "out", progress=False)
    assert not (tmp_path / "escaped.jpg").exists()
