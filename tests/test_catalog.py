import pandas as pd
import pytest

from artextract.catalog import COLUMNS, image_path, label_vocab, read_catalog, write_catalog
from artextract.errors import CatalogError


def _rows(n=3, **over):
    rows = []
    for i in range(n):
        r = {c: "" for c in COLUMNS}
        r.update(id=f"p{i}", image=f"images/p{i}.jpg", style="A" if i % 2 else "B", split="train")
        r.update(over)
        rows.append(r)
    return pd.DataFrame(rows)


def test_round_trip_keeps_extra_columns_and_empty_values(tmp_path):
    df = _rows()
    df["medium"] = ["oil", "", "tempera"]
    write_catalog(df, tmp_path)
    back = read_catalog(tmp_path)
    assert list(back.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert back["medium"].tolist() == ["oil", "", "tempera"]
    assert back["artist"].tolist() == ["", "", ""]  # unknown stays empty, never NaN
    assert label_vocab(back, "style") == ["A", "B"]


def test_missing_column_is_named(tmp_path):
    (tmp_path / "catalog.csv").write_text("id,image\np1,a.jpg\n")
    with pytest.raises(CatalogError, match="missing column.*title"):
        read_catalog(tmp_path)


def test_duplicate_ids_and_bad_split_are_refused():
    df = _rows()
    df.loc[2, "id"] = "p0"
    with pytest.raises(CatalogError, match="duplicate id"):
        write_catalog(df, "/nonexistent/never-written")
    with pytest.raises(CatalogError, match="unknown split"):
        write_catalog(_rows(split="test"), "/nonexistent/never-written")


def test_missing_catalog_says_how_to_create_one(tmp_path):
    with pytest.raises(CatalogError, match="artextract data"):
        read_catalog(tmp_path)


def test_binary_garbage_is_a_catalog_error(tmp_path):
    (tmp_path / "catalog.csv").write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    with pytest.raises(CatalogError):
        read_catalog(tmp_path)


def test_image_path_cannot_escape_the_collection(tmp_path):
    assert image_path(tmp_path, "images/a.jpg") == (tmp_path / "images/a.jpg").resolve()
    with pytest.raises(CatalogError, match="outside"):
        image_path(tmp_path, "../../etc/passwd")
