"""ArtGAN split files: the real ones (skipped when absent) and small synthetic ones for validation."""

from __future__ import annotations

import pytest
from artgan_fixtures import ARTISTS, GENRES, STYLES, make_images, write_splits

from artextract.sources.artgan import (
    ArtGANSplitError,
    fix_mojibake,
    load_artgan,
    path_key,
    read_artgan_splits,
    read_class_list,
)


# ---------------------------------------------------------------------------------- real files
def _raw_rows(path, sep=","):
    """Independent, naive reading of a published split file: {path: index}."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("("):
            continue
        p, i = line.rsplit(sep, 1)
        rows.setdefault(p, set()).add(int(i))
    return rows


@pytest.mark.shared_data
def test_real_splits_merge_and_mask(shared_data):
    d = shared_data / "artgan_splits"
    s = load_artgan(d)
    table, vocab, rep = s.table, s.vocab, s.report
    assert {a: len(v) for a, v in vocab.items()} == {"style": 27, "artist": 23, "genre": 10}
    assert vocab["style"][12] == "Impressionism" and vocab["artist"][4] == "Claude_Monet"
    raw = {
        ("style", "train"): _raw_rows(d / "style_train.csv"),
        ("style", "val"): _raw_rows(d / "style_val.csv"),
        ("genre", "train"): _raw_rows(d / "genre_train.csv"),
        ("genre", "val"): _raw_rows(d / "genre_val.csv"),
        ("artist", "train"): _raw_rows(d / "artist_train", ",,"),
        ("artist", "val"): _raw_rows(d / "artist_val", ",,"),
    }
    all_paths = set().union(*raw.values())
    assert len(table) == len(all_paths) == rep.n_images and table["path"].is_unique
    assert set(table["split"]) == {"train", "val"}
    by_path = table.set_index("path")
    val_paths = set().union(*(rows for (a, sp), rows in raw.items() if sp == "val"))
    assert set(by_path.index[by_path["split"] == "val"]) == val_paths  # any val listing -> val
    for (attr, split), rows in raw.items():
        sub = by_path[(by_path[attr] != "") & (by_path["split"] == split)]
        unambiguous = {p for p, idx in rows.items() if len(idx) == 1}
        if split == "val":  # each task's val set is exactly the official one (minus contradictions)
            assert set(sub.index) == unambiguous
        else:  # train labels of images that another task puts in val are masked
            assert set(sub.index) == unambiguous - val_paths
        for p in list(sub.index)[:200]:
            assert sub.at[p, attr] == vocab[attr][next(iter(rows[p]))]
    for attr in ("style", "artist", "genre"):  # the report's counts are the table's
        labelled = table[table[attr] != ""]
        assert rep.labelled[attr] == labelled["split"].value_counts().to_dict()
    assert (table["artist"] == "").sum() > 60000  # 23 artists label only a fraction: masked, not invented
    assert rep.split_conflicts > 0 and rep.ok  # the published quirks are not errors
    assert "train/val conflict" in "\n".join(rep.lines())


@pytest.mark.shared_data
def test_real_class_lists_and_mojibake_paths(shared_data):
    d = shared_data / "artgan_splits"
    assert read_class_list(d / "genre_class")[9] == "still_life"
    table, _ = read_artgan_splits(d)
    odd = [p for p in table["path"] if not p.isascii()]
    assert odd, "the published files contain doubly encoded names"
    fixed = [fix_mojibake(p) for p in odd]
    assert any("böcklin" in f for f in fixed) and any("grégoire" in f for f in fixed)
    assert all("ã" not in f and "Ã" not in f for f in fixed)


# ----------------------------------------------------------------------------- synthetic files
def test_merge_masks_missing_labels_and_cross_task_conflicts(tmp_path):
    d = write_splits(
        tmp_path / "s",
        style={"train": ["Impressionism/a.jpg,0", "Realism/b.jpg,1", "Symbolism/c.jpg,2"], "val": ["Realism/d.jpg,1"]},
        artist={"train": ["Impressionism/a.jpg,0"], "val": ["Realism/b.jpg,1"]},
        genre={"train": ["Impressionism/a.jpg,0", "Realism/b.jpg,1"], "val": []},
        bare_genre_classes=True,
    )  # fmt: skip
    table, vocab = read_artgan_splits(d)
    assert vocab == {"style": STYLES, "artist": ARTISTS, "genre": GENRES}
    t = table.set_index("path")
    assert t.loc["Impressionism/a.jpg"].to_dict() == {
        "style": "Impressionism", "artist": "Claude_Monet", "genre": "landscape", "split": "train"
    }  # fmt: skip
    # b: style+genre train, artist val -> val, train labels masked
    assert t.loc["Realism/b.jpg"].to_dict() == {
        "style": "",
        "artist": "Ilya_Repin",
        "genre": "",
        "split": "val",
    }
    assert t.loc["Symbolism/c.jpg", "artist"] == "" and t.loc["Symbolism/c.jpg", "genre"] == ""
    assert t.loc["Realism/d.jpg", "split"] == "val"


def test_validation_reports_counts_and_examples(tmp_path):
    d = write_splits(
        tmp_path / "s",
        style={
            "train": ["Impressionism/a.jpg,0", "Realism/nocomma.jpg", "Realism/empty.jpg,", "Realism/big.jpg,27",
                      "Realism/neg.jpg,-1", "Realism/word.jpg,x", "Symbolism/gone.jpg,2", "Symbolism/bad.jpg,2"],
            "val": ["Realism/v.jpg,1"],
        },
        artist={"train": ["Impressionism/a.jpg,5"], "val": []},
    )  # fmt: skip
    root = tmp_path / "wikiart"
    make_images(root, ["Impressionism/a.jpg", "Realism/v.jpg"])
    (root / "Symbolism").mkdir()
    (root / "Symbolism" / "bad.jpg").write_bytes(b"\xff\xd8\xff not a jpeg at all")
    s = load_artgan(d, images_root=root, check_images="decode")
    rep = s.report
    kinds = {(i.kind, i.where): i for i in rep.issues}
    assert kinds[("missing column", "style_train.csv")].count == 2
    assert kinds[("bad class index", "style_train.csv")].count == 3
    assert "outside 0..2" in " ".join(kinds[("bad class index", "style_train.csv")].examples)
    assert kinds[("bad class index", "artist_train")].count == 1
    assert kinds[("missing image", str(root))].examples == ["Symbolism/gone.jpg"]
    assert kinds[("unreadable image", str(root))].count == 1
    assert rep.missing_images == ["Symbolism/gone.jpg"] and not rep.ok
    # skip: bad labels masked, missing/unreadable images dropped, good rows kept
    assert sorted(s.table["path"]) == ["Impressionism/a.jpg", "Realism/v.jpg"]
    assert s.table.set_index("path").at["Impressionism/a.jpg", "artist"] == ""
    assert "missing column in style_train.csv: 2" in rep.summary_line()
    with pytest.raises(ArtGANSplitError) as exc:
        load_artgan(d, images_root=root, check_images="decode", on_error="fail")
    msg = str(exc.value)
    for piece in (
        "missing column in style_train.csv: 2",
        "bad class index",
        "missing image",
        "unreadable image",
    ):
        assert piece in msg
    assert "Realism/nocomma.jpg" in msg and "on_error='skip'" in msg


def test_missing_split_file_and_bad_choices(tmp_path):
    d = write_splits(tmp_path / "s", style={"train": ["Realism/a.jpg,1"], "val": ["Realism/b.jpg,1"]})
    (d / "genre_val.csv").unlink()
    s = load_artgan(d)
    assert any(i.kind == "missing file" and "genre_val" in i.examples[0] for i in s.report.issues)
    with pytest.raises(ArtGANSplitError, match="missing file"):
        load_artgan(d, on_error="fail")
    with pytest.raises(Exception, match="skip, fail"):
        load_artgan(d, on_error="ignore")


def test_contradictory_duplicate_is_masked_not_fatal(tmp_path):
    d = write_splits(
        tmp_path / "s",
        style={"train": ["Realism/a.jpg,1"], "val": ["Realism/b.jpg,1"]},
        genre={"train": [], "val": ["Realism/b.jpg,0", "Realism/b.jpg,1", "Realism/b.jpg,1"]},
    )
    s = load_artgan(d, on_error="fail")
    assert s.table.set_index("path").at["Realism/b.jpg", "genre"] == ""
    assert "1 contradictory label(s) masked" in s.report.summary_line()


def test_path_key_matches_either_encoding():
    proper = "Symbolism/arnold-böcklin_the-plague-1898.jpg"
    doubled = proper.encode("utf-8").decode("latin-1")
    assert doubled != proper and path_key(doubled) == path_key(proper) == proper
    lowered = "Symbolism/" + doubled.split("/", 1)[1].lower()  # as in the ArtGAN files
    assert lowered != doubled and path_key(lowered) == proper
    import unicodedata

    assert path_key(unicodedata.normalize("NFD", proper)) == proper
    assert fix_mojibake("plain-ascii.jpg") == "plain-ascii.jpg"
