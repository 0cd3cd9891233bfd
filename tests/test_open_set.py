"""The open-set gate: which paintings are by none of a head's classes (artextract.analysis.open_set)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from artextract.analysis.open_set import (
    GATE_CARD,
    GATE_WEIGHTS,
    OpenSetGate,
    fit_gate,
    gate_figures,
    known_truth,
    load_gate,
    save_gate,
)
from artextract.errors import CheckpointError

CLASSES = ["Claude_Monet", "Pierre_Auguste_Renoir", "Rembrandt"]


def _clusters(n_known: int, n_other: int, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Known artists' paintings around one direction, others' around another, overlapping a little."""
    rng = np.random.default_rng(seed)
    a, o = np.zeros(dim), np.zeros(dim)
    a[0], o[1] = 3.0, 3.0
    x = np.vstack([a + rng.normal(0, 1.0, (n_known, dim)), o + rng.normal(0, 1.0, (n_other, dim))])
    return x.astype(np.float32), np.r_[np.ones(n_known, bool), np.zeros(n_other, bool)]


def test_known_truth_reads_the_label_or_the_name_and_skips_rows_naming_no_one():
    rows = pd.DataFrame(
        {
            "artist": ["Claude_Monet", "", "", "Adriaen_Brouwer", ""],
            "artist_name": ["Claude Monet", "Pierre-Auguste Renoir", "Alfred Sisley", "Adriaen Brouwer", ""],
        }
    )
    known, usable = known_truth(rows, "artist", CLASSES)
    assert known.tolist() == [True, True, False, False, False]
    assert usable.tolist() == [True, True, True, True, False]
    # accents and punctuation do not hide a known artist
    accented = pd.DataFrame({"artist": ["", ""], "artist_name": ["Salvador Dalí", "Pierre-Auguste RENOIR"]})
    assert known_truth(accented, "artist", ["Salvador_Dali", "Pierre_Auguste_Renoir"])[0].tolist() == [
        True,
        True,
    ]
    # missing values (a parquet table) name no one either
    rows.loc[4, ["artist", "artist_name"]] = None
    assert known_truth(rows, "artist", CLASSES)[1].tolist() == [True, True, True, True, False]


def test_fit_gate_chooses_on_the_selection_set_and_lets_the_asked_share_through():
    xt, kt = _clusters(300, 900, seed=1)
    xs, ks = _clusters(100, 300, seed=2)
    gate = fit_gate(xt, kt, xs, ks, attribute="artist", classes=CLASSES, keep=0.95)
    assert gate.card["C"] in [t["C"] for t in gate.card["tried"]]
    best = max(t["selection_auroc"] for t in gate.card["tried"])
    assert gate.card["selection"]["auroc"] == pytest.approx(best)
    p = gate.p_known(xs)
    assert np.mean(p[ks] >= gate.threshold) >= 0.95  # the rule, on the set that set it
    # held out: separable clusters are separated, both ways
    xv, kv = _clusters(200, 600, seed=3)
    fig = gate_figures(gate.p_known(xv), kv, gate.threshold)
    assert fig["auroc"] > 0.95 and fig["known_let_through"] > 0.85 and fig["other_stopped"] > 0.8
    # the gate works on raw embeddings: scale does not change the answer (cosine geometry)
    np.testing.assert_allclose(gate.p_known(xv * 7.0), gate.p_known(xv), rtol=1e-6)


def test_fit_gate_needs_both_kinds_of_painting():
    xt, kt = _clusters(50, 50)
    with pytest.raises(CheckpointError, match="known and by other"):
        fit_gate(xt, np.ones(100, bool), xt, kt, attribute="artist", classes=CLASSES)


def test_gate_figures_count_the_head_right_only_when_let_through():
    p = np.array([0.9, 0.9, 0.1, 0.1, 0.9])
    known = np.array([True, True, True, False, False])
    correct = np.array([True, False, True, False, False])
    f = gate_figures(p, known, 0.5, correct)
    assert f["known_let_through"] == pytest.approx(2 / 3) and f["other_stopped"] == pytest.approx(1 / 2)
    assert f["top1_known"] == pytest.approx(2 / 3) and f["top1_known_after_gate"] == pytest.approx(1 / 3)


def _card(sha: str = "ab" * 32, dim: int = 16) -> dict:
    return {"weights_sha256": sha, "embedding_dim": dim, "heads": {"artist": CLASSES, "style": ["a", "b"]}}


def test_saved_gate_loads_and_answers_the_same(tmp_path):
    xt, kt = _clusters(100, 300)
    gate = fit_gate(xt, kt, xt, kt, attribute="artist", classes=CLASSES)
    assert load_gate(tmp_path, _card()) is None  # no gate beside the checkpoint: none used
    save_gate(tmp_path, gate, "ab" * 32, note="x")
    back = load_gate(tmp_path, _card())
    assert isinstance(back, OpenSetGate) and back.classes == tuple(CLASSES)
    np.testing.assert_allclose(back.p_known(xt), gate.p_known(xt), rtol=1e-5, atol=1e-6)
    assert back.threshold == pytest.approx(gate.threshold) and back.card["note"] == "x"


@pytest.mark.parametrize(
    "card, match",
    [
        (_card(sha="cd" * 32), "other weights"),
        ({**_card(), "heads": {"artist": CLASSES[:2]}}, "classes differ"),
        (_card(dim=32), "do not fit"),
    ],
)
def test_a_gate_for_another_checkpoint_is_refused_in_one_line(tmp_path, card, match):
    xt, kt = _clusters(60, 60)
    save_gate(tmp_path, fit_gate(xt, kt, xt, kt, attribute="artist", classes=CLASSES), "ab" * 32)
    with pytest.raises(CheckpointError, match=match) as exc:
        load_gate(tmp_path, card)
    assert "\n" not in str(exc.value)


def test_a_corrupt_or_hostile_gate_is_refused_in_one_line(tmp_path):
    (tmp_path / GATE_WEIGHTS).write_bytes(b"\x80\x04pickle? no" * 10)
    (tmp_path / GATE_CARD).write_text(json.dumps({"format": "artextract-open-set/1"}))
    with pytest.raises(CheckpointError, match="unreadable open-set gate") as exc:
        load_gate(tmp_path, _card())
    assert "\n" not in str(exc.value)
    (tmp_path / GATE_CARD).write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_gate(tmp_path, _card())


def test_a_gate_meets_an_embedding_of_another_size_with_one_clear_error():
    gate = OpenSetGate("artist", tuple(CLASSES), np.ones(16, np.float32), 0.0, 0.5)
    with pytest.raises(CheckpointError, match="16-d embeddings, got 8-d"):
        gate.p_known(np.ones((2, 8)))


def test_the_similar_table_names_no_artist_when_the_gate_stops_the_painting():
    from artextract.app.data import label_table

    labels = {"style": [("Ukiyo_e", 0.99)], "artist": [("Martiros_Saryan", 0.98), ("Marc_Chagall", 0.01)]}
    stopped = label_table(labels, {"artist": {"p_known": 0.001, "threshold": 0.01, "n_classes": 16}})
    row = stopped.set_index("attribute").loc["artist"]
    assert row["top-1"] == "none of the 16 artists it knows"
    assert row["top-3"].startswith("closest of those: Martiros Saryan 0.98")
    assert stopped.set_index("attribute").loc["style", "top-1"] == "Ukiyo-e"
    through = label_table(labels, {"artist": {"p_known": 0.5, "threshold": 0.01, "n_classes": 16}})
    assert through.set_index("attribute").loc["artist", "top-1"] == "Martiros Saryan"
    assert label_table(labels).equals(through)


def test_a_gate_with_unusable_numbers_or_for_an_unhashed_checkpoint_is_refused(tmp_path):
    from safetensors.numpy import save_file

    xt, kt = _clusters(60, 60)
    save_gate(tmp_path, fit_gate(xt, kt, xt, kt, attribute="artist", classes=CLASSES), "ab" * 32)
    with pytest.raises(CheckpointError, match="names no weights hash"):
        load_gate(tmp_path, {**_card(), "weights_sha256": ""})
    card = json.loads((tmp_path / GATE_CARD).read_text())
    for bad in (float("nan"), 1.5):
        (tmp_path / GATE_CARD).write_text(json.dumps({**card, "threshold": bad}))
        with pytest.raises(CheckpointError, match="not a usable number"):
            load_gate(tmp_path, _card())
    (tmp_path / GATE_CARD).write_text(json.dumps(card))
    save_file(
        {"weight": np.zeros(16, np.float32), "bias": np.array([np.inf], np.float32)},
        str(tmp_path / GATE_WEIGHTS),
    )
    with pytest.raises(CheckpointError, match="not a usable number"):
        load_gate(tmp_path, _card())


def test_an_embedding_it_cannot_judge_is_stopped_everywhere():
    from artextract.analysis.open_set import stops

    gate = OpenSetGate("artist", tuple(CLASSES), np.ones(4, np.float32), 5.0, 0.5)
    x = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [np.nan, 0, 0, 0]], dtype=np.float32)
    p = gate.p_known(x)
    assert p[0] > 0.99 and np.isnan(p[1:]).all()  # an unreadable image (zeros) gets no score
    assert gate.known(x).tolist() == [True, False, False]
    assert stops(p, 0.5).tolist() == [False, True, True] and bool(stops(float("nan"), 0.5))
    assert gate_figures(p, np.array([True, True, False]), 0.5)["known_let_through"] == 0.5


def test_sample_only_measures_the_stored_gate_again_and_refits_nothing(tiny_demo, tiny_checkpoints, tmp_path):
    """``open-set --sample-only`` (after the committed sample changed): the gate beside the checkpoint is
    scored on the new sample; its weights, threshold and other figures stay; the report's sample row
    follows. Without a gate, or without --sample, one clear error."""
    import shutil

    from artextract.catalog import read_catalog
    from artextract.errors import ArtExtractError
    from artextract.nets.checkpoint import read_card
    from artextract.predict import load_embedder
    from artextract.train.open_set import evaluate, main, to_markdown

    ckpt = tmp_path / "clf"
    shutil.copytree(tiny_checkpoints["classifier"], ckpt)
    card = read_card(ckpt)
    sample = tiny_demo["collection"]
    cat = read_catalog(sample)
    res = load_embedder(ckpt).embed_paths([sample / p for p in cat["image"]], progress=False)
    classes = card["heads"]["artist"]
    with pytest.raises(ArtExtractError, match="no open-set gate"):
        main(
            ["--checkpoint", str(ckpt), "--collection", str(sample), "--sample", str(sample), "--sample-only"]
        )

    half = np.arange(len(cat)) % 2 == 0  # any two groups will do: the figures are what is checked
    third = [np.arange(n) % 3 == 0 for n in (half.sum(), (~half).sum())]
    gate = fit_gate(
        res.embeddings[half], third[0], res.embeddings[~half], third[1], attribute="artist", classes=classes
    )
    save_gate(ckpt, gate, card["weights_sha256"], sample={"n_known": -1}, val={"auroc": 0.5})
    weights = (ckpt / GATE_WEIGHTS).read_bytes()
    fig = evaluate(gate, res.embeddings, res.probs["artist"], cat)
    fig.pop("per_style")
    report = {**json.loads((ckpt / GATE_CARD).read_text()), "checkpoint": str(ckpt), "command": "fit"}
    report.update(selection=fig, val=fig, sample={"n_known": -1})
    (tmp_path / "rep.json").write_text(json.dumps(report))

    with pytest.raises(ArtExtractError, match="needs --sample"):
        main(["--checkpoint", str(ckpt), "--collection", str(sample), "--sample-only"])
    argv = [
        "--checkpoint",
        str(ckpt),
        "--collection",
        str(sample),
        "--sample",
        str(sample),
        "--sample-only",
        "--out",
        str(tmp_path / "rep"),
        "--no-progress",
    ]
    assert main(argv) == 0
    stored = json.loads((ckpt / GATE_CARD).read_text())
    assert stored["sample"] == pytest.approx(fig) and stored["sample"]["n_known"] > 0
    assert stored["val"] == {"auroc": 0.5} and stored["threshold"] == gate.threshold
    assert (ckpt / GATE_WEIGHTS).read_bytes() == weights
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["sample"] == stored["sample"] and rep["command"] == "fit"
    assert (tmp_path / "rep.md").read_text() == to_markdown(rep)


def test_auroc_is_the_rank_statistic_with_ties_counted_half():
    from sklearn.metrics import roc_auc_score

    from artextract.analysis.open_set import auroc

    rng = np.random.default_rng(3)
    for t in range(60):
        n = int(rng.integers(3, 200))
        scores = rng.integers(0, 6, n).astype(float) if t % 2 else rng.normal(size=n)  # many ties, or none
        scores[rng.integers(0, n, 2)] = np.nan  # no score: ranked lowest
        positive = rng.random(n) < 0.4
        if positive.all() or not positive.any():
            continue
        want = roc_auc_score(positive, np.where(np.isfinite(scores), scores, -1.0))
        assert auroc(scores, positive) == pytest.approx(want, abs=1e-12)
    assert auroc(np.array([0.1, 0.9]), np.array([False, True])) == 1.0
    assert auroc(np.array([0.5, 0.5]), np.array([False, True])) == 0.5
    assert auroc(np.array([0.5, 0.7]), np.array([True, True])) is None


def test_the_app_reads_a_card_and_its_open_set_gate_without_importing_torch(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from artextract.nets.card import read_card\n"
        "from artextract.analysis.open_set import auroc, gate_figures, load_gate\n"
        "import numpy as np\n"
        "gate_figures(np.array([0.2, 0.9]), np.array([False, True]), 0.5)\n"
        f"assert load_gate({str(tmp_path)!r}, {{}}) is None\n"
        "print('torch' in sys.modules, 'sklearn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
