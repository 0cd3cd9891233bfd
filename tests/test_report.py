"""The held-out report: per-head figures through the app's inference path, the frozen-feature probe,
retrieval precision against a brute-force count, and the release step's sample figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from artextract.report import logistic_probe, paired_difference, random_precision, retrieval, run_report


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


def test_paired_difference_counts_the_discordant_paintings():
    ref = np.array([True] * 60 + [False] * 40)
    other = ref.copy()
    other[:10] = False  # 10 paintings only the reference gets right
    other[60:90] = True  # 30 only the other gets right
    d = paired_difference(ref, other)
    assert (d["n"], d["ref_only"], d["other_only"]) == (100, 10, 30)
    assert d["diff"] == pytest.approx(0.20)
    # McNemar exact: two-sided binomial tail of 30 of 40 discordant at 1/2
    from math import comb

    tail = sum(comb(40, i) for i in range(30, 41)) / 2**40
    assert d["p"] == pytest.approx(2 * tail)
    lo, hi = d["ci95"]
    assert 0.0 < lo < 0.20 < hi < 0.40
    back = paired_difference(other, ref)
    assert back["diff"] == pytest.approx(-0.20) and back["p"] == pytest.approx(d["p"])
    same = paired_difference(ref, ref)
    assert same["diff"] == 0 and same["p"] == 1.0 and same["ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError):
        paired_difference(ref, ref[:5])


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
    from conftest import save_untrained

    # the same weights again but one style class fewer: the paintings of that class do not count for its
    # style head, so the paired comparison leaves style out and pairs the other heads
    card = json.loads((tiny_checkpoints["classifier"] / "card.json").read_text())
    heads = {**card["heads"], "style": card["heads"]["style"][:-1]}
    save_untrained(tmp_path / "again", card["arch"], heads, input_size=card["input_size"])
    res = run_report(
        tiny_demo["collection"],
        classifiers={"untrained": tiny_checkpoints["classifier"], "again": tmp_path / "again"},
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
    assert {"untrained embedding", "again embedding", "encoder"} == set(res["retrieval"])
    # paired on the same genre paintings: the difference is the difference of the two top-1 figures
    assert res["paired"]["reference"] == "untrained"
    assert set(res["paired"]["models"]["again"]) == {"artist", "genre"}
    d = res["paired"]["models"]["again"]["genre"]
    g0, g1 = (res["classification"][m]["genre"] for m in ("untrained", "again"))
    assert d["n"] == g0["n"] == g1["n"] > 0
    assert d["diff"] == pytest.approx(g1["top1"] - g0["top1"])
    md = (tmp_path / "rep.md").read_text()
    assert "| untrained | style |" in md and "random ranking" in md
    assert "## Paired differences against untrained" in md and f"| again | genre | {d['diff']:+.3f} |" in md


def test_release_puts_the_sample_figures_on_the_card_and_measures_them_again_in_place(
    tiny_demo, tiny_checkpoints, tmp_path
):
    """``artextract release RUN DEST --sample S`` copies the checkpoint and writes its figures on S; with
    DEST as RUN (the sample changed) it measures them again and leaves the weights as they are."""
    import shutil

    from artextract.cli import main
    from artextract.nets.checkpoint import load_checkpoint
    from artextract.report import release, sample_metrics

    sample = tiny_demo["collection"]
    dest = tmp_path / "models" / "clf"
    card = release(tiny_checkpoints["classifier"], dest, sample=sample)
    weights = (dest / "model.safetensors").read_bytes()
    assert weights == (tiny_checkpoints["classifier"] / "model.safetensors").read_bytes()
    figures = {k: v for k, v in card["sample_metrics"].items() if k != "collection"}
    assert figures == sample_metrics(dest, sample) and figures["style"]["n"] > 0

    # the sample changes (a quarter of it left): in place, the figures follow it and nothing else moves
    smaller = tmp_path / "smaller"
    shutil.copytree(sample, smaller)
    cat = pd.read_csv(smaller / "catalog.csv", keep_default_na=False, dtype=str)
    cat.iloc[: len(cat) // 4].to_csv(smaller / "catalog.csv", index=False)
    assert main(["release", str(dest), str(dest), "--sample", str(smaller)]) == 0
    again = json.loads((dest / "card.json").read_text())
    assert again["sample_metrics"]["collection"] == smaller.as_posix()
    assert again["sample_metrics"]["style"]["n"] < figures["style"]["n"]
    assert (dest / "model.safetensors").read_bytes() == weights
    assert {k: v for k, v in again.items() if k != "sample_metrics"} == {
        k: v for k, v in card.items() if k != "sample_metrics"
    }
    load_checkpoint(dest)  # still a valid checkpoint: card and weights agree

    enc = release(tiny_checkpoints["encoder"], tmp_path / "models" / "enc", sample=sample)
    assert 0 <= enc["sample_retrieval"]["precision_at_10_same_style"] <= 1
