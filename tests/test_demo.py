"""The built-in demo collection: deterministic, complete, readable, with planted outliers on record."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from artextract.catalog import read_catalog
from artextract.cli import main
from artextract.errors import ArtExtractError
from artextract.sources import demo


def _digest(folder) -> str:
    h = hashlib.sha256()
    for p in sorted((folder / "images").iterdir()):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    h.update((folder / "catalog.csv").read_bytes())
    return h.hexdigest()


def test_recipe_meets_the_brief():
    assert len(demo.STYLES) >= 6 and len(demo.GENRES) >= 5 and len(demo.ARTISTS) >= 8
    for a in demo.ARTISTS:
        assert 1 <= len(a.styles) <= 3 and set(a.styles) <= set(demo.STYLES)
        assert set(a.genres) <= set(demo.GENRES)
        assert len(a.palette) == 5 and a.years[0] < a.years[1]
    assert set(demo.PAINTERS) == set(demo.STYLES)
    assert len({a.palette for a in demo.ARTISTS}) == len(demo.ARTISTS)  # every artist has own colours


def test_default_plan_size_and_outlier_share():
    rows, jobs, truth = demo.plan(1600, 128, 0, "demo", 0.02)
    df = pd.DataFrame(rows)
    assert len(df) == 1600 and df["id"].is_unique
    assert df["style"].nunique() >= 6 and df["artist"].nunique() >= 8 and df["genre"].nunique() >= 5
    assert 0.18 < (df["split"] == "val").mean() < 0.22
    for attr in ("style", "artist", "genre"):  # every class in both splits
        for split in ("train", "val"):
            assert set(df.loc[df["split"] == split, attr]) == set(df[attr]), (attr, split)
    assert len(truth) == 32  # 2%
    assert {t["kind"] for t in truth} == set(demo.OUTLIER_KINDS)
    # every artist's catalogued styles are its own, except the deliberately mis-attributed ones
    wrong = {t["id"] for t in truth if t["kind"] == "wrong_artist"}
    by_name = {a.name: a for a in demo.ARTISTS}
    ok = df[~df["id"].isin(wrong)]
    assert all(s in by_name[a].styles for a, s in zip(ok["artist"], ok["style"], strict=True))


def test_tiny_demo_is_a_valid_collection(tiny_demo):
    cat = read_catalog(tiny_demo["collection"])
    assert len(cat) == 120
    for attr in ("style", "artist", "genre"):  # every class is trainable
        train = set(cat.loc[cat["split"] == "train", attr])
        assert set(cat[attr]) == train, attr
    assert set(cat.loc[cat["split"] == "val", "artist"]) == set(cat["artist"])
    truth = pd.read_csv(tiny_demo["collection"] / demo.TRUTH_FILE, dtype=str)
    assert list(truth.columns) == ["id", "kind", "detail"]
    assert set(truth["id"]) <= set(cat["id"]) and len(truth) == round(0.02 * 120)
    for rel in cat["image"].head(10):
        with Image.open(tiny_demo["collection"] / rel) as im:
            assert im.format == "JPEG" and im.size == (64, 64) and im.mode == "RGB"
    ref = read_catalog(tiny_demo["reference"])
    assert len(ref) == 40 and (ref["split"] == "").all()
    assert ref["source_url"].str.startswith("https://").all() and (ref["title"] != "").all()
    assert not (tiny_demo["reference"] / demo.TRUTH_FILE).exists()
    assert not set(ref["id"]) & set(cat["id"])


def test_generation_is_deterministic_and_seed_dependent(tmp_path):
    # 70 paintings: enough for the process pool (2 workers) to be used, against the serial path
    demo.make_demo(tmp_path / "a", n=70, size=40, seed=3, workers=1, progress=False)
    demo.make_demo(tmp_path / "b", n=70, size=40, seed=3, workers=2, progress=False)
    demo.make_demo(tmp_path / "c", n=70, size=40, seed=4, workers=1, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_styles_look_different_from_each_other():
    """The same composition painted in each style gives clearly different pictures."""
    a = demo.ARTISTS[0]
    base = demo.compose("landscape", a.palette, 96, np.random.default_rng(0))
    imgs = {s: np.asarray(p(base, a, np.random.default_rng(1)), np.float32) for s, p in demo.PAINTERS.items()}
    names = list(imgs)
    for i, s in enumerate(names):
        for t in names[i + 1 :]:
            assert np.abs(imgs[s] - imgs[t]).mean() > 8, (s, t)


def test_outlier_kinds_are_what_they_claim(tmp_path):
    rows, jobs, truth = demo.plan(300, 64, 0, "demo", 0.02)
    kinds = {t["id"]: t["kind"] for t in truth}
    by_id = {r["id"]: (r, j) for r, j in zip(rows, jobs, strict=True)}
    for tid, kind in kinds.items():
        row, job = by_id[tid]
        assert job.kind == kind
        painter = demo.ARTISTS[job.artist].name
        assert (row["artist"] != painter) == (kind == "wrong_artist")


@pytest.mark.parametrize("n,size,share", [(0, 64, 0.02), (10, 8, 0.02), (10, 64, 1.5)])
def test_rejects_nonsense_arguments(tmp_path, n, size, share):
    with pytest.raises(ArtExtractError, match="at least 1 painting"):
        demo.make_demo(tmp_path / "x", n=n, size=size, outliers=share, progress=False)
    assert not (tmp_path / "x").exists()  # nothing written


@pytest.mark.parametrize("n,size", [(0, 64), (10, 8)])
def test_cli_says_what_is_wrong_in_one_line(tmp_path, capsys, n, size):
    assert main(["data", "demo", "--out", str(tmp_path / "z"), "--n", str(n), "--size", str(size)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("artextract: error: the demo needs")
    with pytest.raises(ArtExtractError):
        demo.make_reference(tmp_path / "y", n=n, size=size, progress=False)
