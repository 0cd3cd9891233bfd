import json
import shutil

import numpy as np
import pytest

from artextract.build import BuildConfig, build_bundle
from artextract.bundle import open_bundle
from artextract.errors import BundleError


def test_tiny_bundle_is_complete_and_consistent(tiny_bundle, tiny_demo):
    b = open_bundle(tiny_bundle)
    n = len(b.items)
    assert n == 120 and b.manifest["complete"]
    assert set(b.attributes) == {"style", "artist", "genre"}
    for a in b.attributes:
        assert b.probs(a).shape == (n, len(b.classes[a]))
        np.testing.assert_allclose(np.asarray(b.probs(a)).sum(1), 1.0, atol=1e-3)
        m = b.metrics[a]
        assert np.asarray(m["confusion"]).shape == (len(b.classes[a]),) * 2
        assert m["split"] == "val" and m["n"] == int((b.items["split"] == "val").sum())
    for p in ("umap", "tsne"):
        assert np.isfinite(b.items[[f"{p}_x", f"{p}_y"]].to_numpy()).all()
    assert b.items["outlier_score"].between(0, 1).all()
    assert b.items["flagged"].sum() >= 1
    assert (b.items.loc[b.items["flagged"], "outlier_reasons"].str.len() > 0).all()
    nb = b.neighbours_of(0, 5)
    assert len(nb) == 5 and all(j != 0 for j, _ in nb)
    assert [s for _, s in nb] == sorted((s for _, s in nb), reverse=True)
    hits = b.reference.search(b.reference.embeddings[3], k=4)
    assert hits["id"].iloc[0] == b.reference.items["id"].iloc[3]  # a painting finds itself first
    assert hits["score"].is_monotonic_decreasing
    assert "planted_outliers" in b.metrics


@pytest.fixture()
def small_cfg(tiny_demo, tiny_checkpoints, tmp_path):
    return BuildConfig(
        collection=tiny_demo["collection"],
        classifier=tiny_checkpoints["classifier"],
        out=tmp_path / "bundle",
        projections=("tsne",),
        progress=False,
    )


def test_only_stale_stages_rerun(small_cfg):
    first = build_bundle(small_cfg, log=lambda m: None)
    assert {"classify", "neighbours", "tsne", "outliers", "metrics"} <= set(first.ran)
    again = build_bundle(small_cfg, log=lambda m: None)
    assert again.ran == []
    from dataclasses import replace

    reseeded = build_bundle(replace(small_cfg, seed=7), log=lambda m: None)
    assert "tsne" in reseeded.ran and "outliers" in reseeded.ran
    assert "classify" in reseeded.skipped and "neighbours" in reseeded.skipped
    # new outlier scores -> the planted-outlier recall in the metrics is recomputed too
    assert "metrics" in reseeded.ran


def test_label_free_evidence_encoder_feeds_the_outliers_and_is_part_of_their_key(small_cfg, tiny_checkpoints):
    from dataclasses import replace

    plain = build_bundle(small_cfg, log=lambda m: None)
    assert "evidence" not in plain.ran
    m = json.loads((small_cfg.out / "manifest.json").read_text())
    assert "classifier's embedding" in m["outlier_evidence"] and "evidence" not in m["checkpoints"]
    before = open_bundle(small_cfg.out).items["outlier_score"].to_numpy()

    cfg = replace(small_cfg, evidence=tiny_checkpoints["encoder"])
    with_ev = build_bundle(cfg, log=lambda m: None)
    assert {"evidence", "outliers"} <= set(with_ev.ran) and "classify" in with_ev.skipped
    m = json.loads((cfg.out / "manifest.json").read_text())
    assert m["checkpoints"]["evidence"]["arch"] == "resnet_demo" and "label-free" in m["outlier_evidence"]
    ev = np.load(cfg.out / "evidence.npy")
    b = open_bundle(cfg.out)
    assert ev.shape[0] == len(b.items) and np.isfinite(ev).all()
    assert not np.allclose(b.items["outlier_score"].to_numpy(), before)  # other evidence, other scores
    assert build_bundle(cfg, log=lambda m: None).ran == []
    # a collection the classifier never trained on may use its own predictions, said in the manifest
    own = build_bundle(replace(cfg, outlier_labels="classifier"), log=lambda m: None)
    assert "outliers" in own.ran and "evidence" in own.skipped
    m = json.loads((cfg.out / "manifest.json").read_text())
    assert "declared out-of-sample" in m["outlier_evidence"]
    with pytest.raises(BundleError, match="outlier_labels"):
        build_bundle(replace(cfg, outlier_labels="guess"), log=lambda m: None)


def test_regenerated_images_are_noticed_even_with_the_same_catalog(small_cfg, tmp_path):
    """A re-generated collection (e.g. at another size) keeps catalog.csv byte for byte."""
    import os
    from dataclasses import replace

    from PIL import Image

    coll = tmp_path / "coll"
    shutil.copytree(small_cfg.collection, coll)
    cfg = replace(small_cfg, collection=coll, out=tmp_path / "b")
    build_bundle(cfg, log=lambda m: None)
    first = coll / "images" / sorted(os.listdir(coll / "images"))[0]
    Image.new("RGB", (64, 64), (200, 30, 30)).save(first, format="JPEG")
    again = build_bundle(cfg, log=lambda m: None)
    assert "classify" in again.ran


def test_unlabelled_collection_flags_only_what_stands_out(small_cfg, tmp_path):
    """With no labels the score is density alone, mostly 0: the threshold must not fall to 0."""
    from dataclasses import replace

    from artextract.catalog import read_catalog, write_catalog

    coll = tmp_path / "coll"
    shutil.copytree(small_cfg.collection, coll)
    cat = read_catalog(coll)
    cat["style"], cat["artist"], cat["genre"], cat["split"] = "", "", "", ""
    write_catalog(cat, coll)
    cfg = replace(small_cfg, collection=coll, out=tmp_path / "b")
    build_bundle(cfg, log=lambda m: None)
    b = open_bundle(cfg.out)
    assert b.outlier_threshold > 0
    assert b.items["flagged"].mean() <= 0.1
    assert (b.items.loc[b.items["flagged"], "outlier_score"] > 0).all()


def test_confusion_cells_without_a_val_split_hold_their_paintings(small_cfg, tmp_path):
    from dataclasses import replace

    from artextract.app import data
    from artextract.catalog import read_catalog, write_catalog

    coll = tmp_path / "coll"
    shutil.copytree(small_cfg.collection, coll)
    cat = read_catalog(coll)
    cat["split"] = ""
    write_catalog(cat, coll)
    cfg = replace(small_cfg, collection=coll, out=tmp_path / "b")
    build_bundle(cfg, log=lambda m: None)
    b = open_bundle(cfg.out)
    m = b.metrics["style"]
    assert m["split"] == "all" and m["n"] == len(b.items)
    cm = np.asarray(m["confusion"])
    t, p = (int(v) for v in np.argwhere(cm == cm.max())[0])
    assert len(data.cell_rows(b, "style", t, p)) == cm[t, p] > 0


def test_changed_truth_file_reruns_only_the_metrics(small_cfg, tmp_path):
    from dataclasses import replace

    coll = tmp_path / "coll"
    shutil.copytree(small_cfg.collection, coll)
    cfg = replace(small_cfg, collection=coll, out=tmp_path / "b")
    build_bundle(cfg, log=lambda m: None)
    truth = coll / "outliers_truth.csv"
    rows = truth.read_text().splitlines()
    truth.write_text("\n".join(rows[:-1]) + "\n")  # one planted outlier fewer
    again = build_bundle(cfg, log=lambda m: None)
    assert again.ran == ["metrics"]
    m = json.loads((cfg.out / "metrics.json").read_text())
    assert m["planted_outliers"]["n"] == len(rows) - 2


def test_bundle_refuses_changed_checkpoint(small_cfg, tiny_checkpoints, tmp_path):
    ck = tmp_path / "ck"
    shutil.copytree(tiny_checkpoints["classifier"], ck)
    from dataclasses import replace

    cfg = replace(small_cfg, classifier=ck)
    build_bundle(cfg, log=lambda m: None)
    open_bundle(cfg.out)  # fine as built
    w = ck / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF  # a retrained / different checkpoint under the same name
    w.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="changed since the build"):
        open_bundle(cfg.out)


def test_incomplete_bundle_is_refused(small_cfg):
    build_bundle(small_cfg, log=lambda m: None)
    mf = small_cfg.out / "manifest.json"
    m = json.loads(mf.read_text())
    m["complete"] = False
    mf.write_text(json.dumps(m))
    with pytest.raises(BundleError, match="did not finish"):
        open_bundle(small_cfg.out)
    with pytest.raises(BundleError, match="no artifact bundle"):
        open_bundle(small_cfg.out.parent / "nothing-here")


def test_unreadable_image_is_dropped_with_reason(small_cfg, tmp_path):
    coll = tmp_path / "coll"
    shutil.copytree(small_cfg.collection, coll)
    from artextract.catalog import read_catalog

    victim = read_catalog(coll).iloc[5]
    (coll / victim["image"]).write_bytes(b"not an image at all")
    from dataclasses import replace

    report = build_bundle(replace(small_cfg, collection=coll), log=lambda m: None)
    assert list(report.dropped) == [victim["id"]]
    b = open_bundle(small_cfg.out)
    assert len(b.items) == 119 and victim["id"] not in set(b.items["id"])


@pytest.mark.slow
def test_torchrun_sharded_embedding_matches_single_process(
    small_cfg, tiny_bundle, tiny_demo, tiny_checkpoints, tmp_path
):
    """Two ranks embed one shard each; rank 0 merges (and indexes the reference collection alone);
    the result equals the single-process build."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "sharded"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "artextract",
        "build",
        "--collection",
        str(small_cfg.collection),
        "--classifier",
        str(small_cfg.classifier),
        "--out",
        str(out),
        "--reference",
        str(tiny_demo["reference"]),
        "--encoder",
        str(tiny_checkpoints["encoder"]),
        "--projections",
        "tsne",
        "--precision",
        "fp32",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sharded = open_bundle(out)
    single = build_bundle(
        BuildConfig(
            collection=small_cfg.collection,
            classifier=small_cfg.classifier,
            out=tmp_path / "single",
            projections=("tsne",),
            precision="fp32",
            progress=False,
        ),
        log=lambda m: None,
    )
    ref = open_bundle(single.out)
    np.testing.assert_allclose(
        np.load(out / "embeddings.npy"), np.load(ref.root / "embeddings.npy"), atol=1e-4
    )
    assert sharded.items["id"].tolist() == ref.items["id"].tolist()
    assert (
        len(sharded.reference.items) == 40
        and sharded.reference.search(sharded.reference.embeddings[0], 1)["id"].iloc[0]
        == sharded.reference.items["id"].iloc[0]
    )
    assert not (out / "shards").exists() or not any((out / "shards").iterdir())


def test_a_second_bundle_reuses_the_reference_index_of_a_bundle_beside_it(
    small_cfg, tiny_demo, tiny_checkpoints, monkeypatch
):
    """Every imported collection is built against the same reference: its index is copied, not rebuilt."""
    from dataclasses import replace

    import artextract.build as build

    cfg = replace(small_cfg, reference=tiny_demo["reference"], encoder=tiny_checkpoints["encoder"])
    first = build_bundle(cfg, log=lambda m: None)
    assert "reference" in first.ran
    calls = []
    real = build.embed_catalog
    monkeypatch.setattr(
        build, "embed_catalog", lambda ckpt, paths, **kw: calls.append(len(paths)) or real(ckpt, paths, **kw)
    )
    second = build_bundle(replace(cfg, out=cfg.out.parent / "second"), log=lambda m: None)
    assert "reference" in second.ran and calls == [120]  # only the collection was embedded
    a, b = open_bundle(cfg.out), open_bundle(second.out)
    np.testing.assert_array_equal(a.reference.embeddings, b.reference.embeddings)
    assert b.manifest["retrieval"] == a.manifest["retrieval"]
    hits = b.reference.search(b.reference.embeddings[5], k=3)
    assert hits["id"].iloc[0] == b.reference.items["id"].iloc[5]
