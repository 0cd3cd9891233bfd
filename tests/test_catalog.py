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


# ------------------------------------------------------------------------------ hostile paths
@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("/etc/passwd", "is absolute"),
        ("/proc/self/environ", "is absolute"),
        ("C:/Windows/win.ini", "is absolute"),
        ("images/../../secret.jpg", "with '..'"),
        ("..\\..\\secret.jpg", "with '..'"),
    ],
)
def test_hostile_image_paths_are_refused_at_validation_naming_the_row(tmp_path, image, message):
    df = _rows()
    df.loc[1, "image"] = image
    (tmp_path / "catalog.csv").write_text(df.to_csv(index=False))
    with pytest.raises(CatalogError, match=f"row 'p1': image path .* {message}") as err:
        read_catalog(tmp_path)
    assert "\n" not in str(err.value)


def test_a_symlink_out_of_the_collection_is_not_followed(tmp_path):
    coll = tmp_path / "coll"
    (coll / "images").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"x")
    (coll / "images" / "link.jpg").symlink_to(outside / "secret.jpg")
    (coll / "images" / "proc").symlink_to("/proc", target_is_directory=True)
    (coll / "images" / "inside.jpg").write_bytes(b"x")
    (coll / "images" / "alias.jpg").symlink_to(coll / "images" / "inside.jpg")  # a link inside is fine
    assert image_path(coll, "images/alias.jpg").name == "alias.jpg"
    for rel in ("images/link.jpg", "images/proc/self/environ"):
        with pytest.raises(CatalogError, match="leads outside the collection folder"):
            image_path(coll, rel)


def test_only_a_recorded_link_may_lead_to_images_kept_elsewhere(tmp_path):
    import json

    store = tmp_path / "wikiart"
    (store / "Baroque").mkdir(parents=True)
    (store / "Baroque" / "a.jpg").write_bytes(b"x")
    coll = tmp_path / "coll"
    coll.mkdir()
    (coll / "images").symlink_to(store, target_is_directory=True)
    with pytest.raises(CatalogError, match="outside"):
        image_path(coll, "images/Baroque/a.jpg")
    (coll / "image_roots.json").write_text(json.dumps({"images": str(store)}))
    assert image_path(coll, "images/Baroque/a.jpg").is_file()
    # a recorded link that now points elsewhere is not trusted
    (coll / "images").unlink()
    (coll / "images").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(CatalogError, match="outside"):
        image_path(coll, "images/wikiart/Baroque/a.jpg")


def test_the_build_and_the_bundle_resolve_through_the_same_function(tiny_demo, tiny_checkpoints, tmp_path):
    import shutil

    from artextract.build import BuildConfig, build_bundle

    coll = tmp_path / "coll"
    shutil.copytree(tiny_demo["collection"], coll)
    cat = read_catalog(coll)
    target = coll / cat["image"][3]
    target.unlink()
    target.symlink_to("/etc/hostname")
    with pytest.raises(CatalogError, match=f"row '{cat['id'][3]}'.*leads outside"):
        build_bundle(
            BuildConfig(collection=coll, classifier=tiny_checkpoints["classifier"], out=tmp_path / "b",
                        progress=False),
            log=lambda _m: None,
        )  # fmt: skip
