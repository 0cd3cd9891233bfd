"""The held-out report: per-head figures through the app's inference path, the frozen-feature probe,
retrieval precision against a brute-force count, and the release step's sample figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from artextract.report import logistic_probe, random_precision, retrieval, run_report


def test_retrieval_precision_matches_a_brute_force_count():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 8)).astype(np.float32)
    rows = pd.DataFrame(
        {"style": rng.choice(["a", "b", "c"], 60), "artist": [""] * 30 + ["x", "y"] * 15, "genre": ""}
    )
    got = retrieval(emb, rows, k=5)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -2)
    nb = np.argsort(-sims, axis=1)[:, :5]
    lab = rows["style"].to_numpy()
    assert got["style"] == pytest.approx((lab[nb] == lab[:, None]).mean())
    assert "genre" not in got  # nobody labelled
    # artist: only the 30 labelled paintings take part, as queries and as neighbours
    u = unit[30:]
    s = u @ u.T
    np.fill_diagonal(s, -2)
    la = rows["artist"].to_numpy()[30:]
    assert got["artist"] == pytest.approx((la[np.argsort(-s, axis=1)[:, :5]] == la[:, None]).mean())
    assert random_precision(rows)["style"] == pytest.approx(
        sum((rows["style"] == c).mean() ** 2 for c in "abc")
    )


def test_logistic_probe_learns_a_separable_problem():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 16)) * 4
    y = rng.integers(0, 4, 400)
    x = centres[y] + rng.normal(size=(400, 16))
    y_train = y.copy()
    y_train[:20] = -1  # unlabelled rows are left out of the fit
    p = logistic_probe(x[:300], y_train[:300], x[300:], ["a", "b", "c", "d"])
    assert p.shape == (100, 4) and (p.argmax(1) == y[300:]).mean() > 0.95


def test_report_on_a_small_collection(tiny_demo, tiny_checkpoints, tmp_path):
    res = run_report(
        tiny_demo["collection"],
        classifiers={"untrained": tiny_checkpoints["classifier"]},
        encoders={"encoder": tiny_checkpoints["encoder"]},
        imagenet_weights=None,
        out=tmp_path / "rep",
        progress=False,
        log=lambda _m: None,
    )
    on_disk = json.loads((tmp_path / "rep.json").read_text())
    assert on_disk["n_val"] == res["n_val"] > 0
    style = res["classification"]["untrained"]["style"]
    assert style["n"] > 0 and 0 <= style["top1"] <= 1 and style["chance"] == pytest.approx(1 / 6)
    assert set(style["recall"]) <= set(
        json.loads((tiny_checkpoints["classifier"] / "card.json").read_text())["heads"]["style"]
    )
    assert {"untrained embedding", "encoder"} == set(res["retrieval"])
    md = (tmp_path / "rep.md").read_text()
    assert "| untrained | style |" in md and "random ranking" in md
