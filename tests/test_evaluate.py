"""Retrieval evaluation over many queries: label precision always, CLIP agreement when weights exist."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from artextract.analysis import clip_agreement as ca
from artextract.bundle import open_bundle
from artextract.cli import main
from artextract.errors import OfflineError
from artextract.evaluate import evaluate_retrieval


def test_label_precision_matches_a_brute_force_count(tiny_bundle):
    b = open_bundle(tiny_bundle)
    res = evaluate_retrieval(b, queries=25, k=3, progress=False)
    assert res.queries == 25 and res.clip is None
    ref = b.reference
    unit = ref.embeddings / np.linalg.norm(ref.embeddings, axis=1, keepdims=True)
    q = np.sort(np.random.default_rng(0).choice(len(ref.items), 25, replace=False))
    sims = unit[q] @ unit.T
    sims[np.arange(25), q] = -np.inf  # leave one out
    nb = np.argsort(-sims, axis=1)[:, :3]
    lab = ref.items["artist"].to_numpy()
    assert res.precision["artist"] == pytest.approx((lab[nb] == lab[q][:, None]).mean(), abs=0.03)


def test_clip_agreement_with_a_random_clip(tiny_bundle, capsys):
    code = main(["evaluate", "--bundle", str(tiny_bundle), "--queries", "20", "--k", "3",
                 "--clip", "ViT-B-32", "--clip-weights", "random", "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["clip_error"] is None
    c = out["clip"]
    assert c["queries"] == 20 and c["k"] == 3
    assert -1 <= c["mean_random_sim"] <= 1 and -1 <= c["mean_neighbour_sim"] <= c["top5_pairs_sim"] <= 1.0001


def test_offline_without_weights_fails_fast_in_one_line(tiny_bundle, monkeypatch, capsys):
    monkeypatch.delenv("ARTEXTRACT_CLIP_WEIGHTS", raising=False)
    monkeypatch.setattr(ca, "_reachable", lambda *a, **k: False)
    monkeypatch.setattr(ca, "_cached_weights", lambda *a, **k: None)
    t0 = time.perf_counter()
    with pytest.raises(OfflineError, match="--clip-weights"):
        ca.load_clip("ViT-B-32")
    assert time.perf_counter() - t0 < 30  # no minute of hub retries (generous: a noisy machine)
    code = main(["evaluate", "--bundle", str(tiny_bundle), "--queries", "10", "--k", "3"])
    out, err = capsys.readouterr()
    assert code == 2 and "precision@3 same artist" in out  # the label metrics still print
    assert err.count("\n") == 1 and err.startswith("artextract: error: CLIP weights")


def test_evaluate_gives_identical_figures_on_every_run(tiny_bundle, tiny_demo, tiny_checkpoints, tmp_path):
    """Two separate builds of the reference index, two evaluations with a wide k: the same figures."""
    from artextract.build import BuildConfig, build_bundle

    other = tmp_path / "again"
    build_bundle(
        BuildConfig(collection=tiny_demo["collection"], classifier=tiny_checkpoints["classifier"],
                    reference=tiny_demo["reference"], encoder=tiny_checkpoints["encoder"], out=other,
                    name="demo", progress=False, projections=("tsne",)),
        log=lambda _m: None,
    )  # fmt: skip
    first = evaluate_retrieval(open_bundle(tiny_bundle), queries=30, k=20, progress=False)
    second = evaluate_retrieval(open_bundle(other), queries=30, k=20, progress=False)
    again = evaluate_retrieval(open_bundle(tiny_bundle), queries=30, k=5, progress=False)
    repeat = evaluate_retrieval(open_bundle(tiny_bundle), queries=30, k=5, progress=False)
    assert first.precision == second.precision
    assert again.precision == repeat.precision
